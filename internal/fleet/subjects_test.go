package fleet

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// CheckName and CheckLabels accept exactly what these expressions match.
var (
	nameSpec  = regexp.MustCompile(`^[a-z0-9]([a-z0-9_-]{0,62}[a-z0-9])?$`)
	labelSpec = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._-]{0,62}[A-Za-z0-9])?$`)
)

func TestNamesAndLabelsAreTokens(t *testing.T) {
	const chars = "az09AZ_-.:* /é"
	cases := []string{"", "a", "web-1", "-web", "web-", "Web", "w_1", "a.b", strings.Repeat("a", 64), strings.Repeat("a", 65), "a b", "a*", "é"}
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		b := make([]byte, r.IntN(70))
		for i := range b {
			b[i] = chars[r.IntN(len(chars))]
		}
		cases = append(cases, string(b))
	}
	for _, s := range cases {
		if got, want := CheckName(s) == nil, nameSpec.MatchString(s); got != want {
			t.Errorf("CheckName(%q) accepts: %v, want %v", s, got, want)
		}
		if got, want := CheckLabels(map[string]string{s: "v"}) == nil, labelSpec.MatchString(s); got != want {
			t.Errorf("label key %q accepted: %v, want %v", s, got, want)
		}
		if got, want := CheckLabels(map[string]string{"k": s}) == nil, labelSpec.MatchString(s); got != want {
			t.Errorf("label value %q accepted: %v, want %v", s, got, want)
		}
	}
}
