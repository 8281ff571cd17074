package transform

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/tendhq/tend/internal/edge/edgeconf"
)

func TestCompressionNegotiation(t *testing.T) {
	for _, tc := range []struct {
		accept string
		want   Coding
	}{
		{"", Identity},
		{"identity", Identity},
		{"gzip", CodingGzip},
		{"x-gzip", CodingGzip},
		{"gzip, deflate, br, zstd", CodingBr}, // browsers: a tie, br first
		{"gzip, zstd", CodingGzip},            // zstd only when preferred
		{"zstd, gzip;q=0.9", CodingZstd},
		{"gzip;q=0.5, br;q=0.8", CodingBr},
		{"br;q=0, gzip", CodingGzip},
		{"gzip;q=0", Identity},
		{"*", CodingBr},
		{"*;q=0.5, br;q=0", CodingGzip},
		{"GZIP; Q=0.3, deflate", CodingGzip},
		{"gzip;q=nonsense", Identity},
		{"deflate, compress", Identity},
	} {
		if got := Negotiate([]string{tc.accept}); got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.accept, got, tc.want)
		}
	}
}

func TestCookieEdit(t *testing.T) {
	def := NewCookiePolicy(&edgeconf.Options{})
	rename := NewCookiePolicy(&edgeconf.Options{Cookies: &edgeconf.CookieOptions{Rename: &edgeconf.CookieRename{To: "sid"}}})
	var none edgeconf.CookieOptions
	none.UnmarshalJSON([]byte("false"))
	noFlags := NewCookiePolicy(&edgeconf.Options{Cookies: &none})
	strict := NewCookiePolicy(&edgeconf.Options{Cookies: &edgeconf.CookieOptions{SameSite: "strict", HTTPOnlyAllow: []string{"ui"}}})
	for _, tc := range []struct {
		p      *CookiePolicy
		secure bool
		in     string
		want   string
	}{
		{def, false, "a=1", "a=1; SameSite=Lax; HttpOnly"},
		{def, true, "a=1; Path=/", "a=1; Path=/; SameSite=Lax; Secure; HttpOnly"},
		// Attributes net/http does not know survive, in place.
		{def, true, "a=1; Priority=High; Partitioned; Path=/", "a=1; Priority=High; Partitioned; Path=/; SameSite=Lax; Secure; HttpOnly"},
		{def, true, "a=1; secure; HTTPONLY; samesite=strict", "a=1; secure; HTTPONLY; samesite=strict"},
		{def, false, "a=1; SameSite=None", "a=1; SameSite=None; Secure; HttpOnly"},
		{def, false, "XSRF-TOKEN=t; Path=/", "XSRF-TOKEN=t; Path=/; SameSite=Lax"},
		{def, false, "a=1;", "a=1; SameSite=Lax; HttpOnly"},
		{def, false, "garbage", "garbage"},
		{strict, false, "ui=dark", "ui=dark; SameSite=Strict"},
		{strict, false, "XSRF-TOKEN=t", "XSRF-TOKEN=t; SameSite=Strict; HttpOnly"},
		{noFlags, true, "a=1", "a=1"},
		{rename, true, "connect.sid=s%3Aabc; Path=/; HttpOnly", "sid=s%3Aabc; Path=/; HttpOnly; SameSite=Lax; Secure"},
		{rename, false, "connect.sidx=1; HttpOnly; SameSite=Lax", "connect.sidx=1; HttpOnly; SameSite=Lax"},
	} {
		if got := tc.p.edit(tc.in, tc.secure); got != tc.want {
			t.Errorf("%q (secure %v):\n got %q\nwant %q", tc.in, tc.secure, got, tc.want)
		}
	}
}

func TestCookieRenameRequest(t *testing.T) {
	p := NewCookiePolicy(&edgeconf.Options{Cookies: &edgeconf.CookieOptions{Rename: &edgeconf.CookieRename{To: "sid"}}})
	for _, tc := range []struct{ in, want []string }{
		{[]string{"sid=abc"}, []string{"connect.sid=abc"}},
		{[]string{"a=1; sid=abc; b=2"}, []string{"a=1; connect.sid=abc; b=2"}},
		{[]string{"connect.sid=forged; sid=abc"}, []string{"connect.sid=abc"}},
		{[]string{"connect.sid=forged"}, nil},
		{[]string{"sidx=1; xsid=2"}, []string{"sidx=1; xsid=2"}},
		{[]string{"a=1", "sid=abc"}, []string{"a=1", "connect.sid=abc"}}, // HTTP/2 sends one header per cookie
	} {
		r, _ := http.NewRequest("GET", "/", nil)
		r.Header["Cookie"] = tc.in
		p.Request(r.Header)
		if got := r.Header["Cookie"]; strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("%q: got %q, want %q", tc.in, got, tc.want)
		}
	}
}

// DefaultOptions spelt out compile to the policies of the zero Options.
func TestDefaultPolicies(t *testing.T) {
	b, _ := json.Marshal(edgeconf.DefaultOptions())
	var raw any
	json.Unmarshal(b, &raw)
	d, errs := edgeconf.DecodeOptions(raw, "")
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	zero, def := edgeconf.Options{}.WithDefaults(), d.WithDefaults()
	if !sameRules(NewHeaderPolicy(&zero), NewHeaderPolicy(&def)) {
		t.Error("the default headers differ from the zero Options'")
	}
	if !cookiesEqual(NewCookiePolicy(&zero), NewCookiePolicy(&def)) {
		t.Error("the default cookie flags differ from the zero Options'")
	}
}

func sameRules(a, b *HeaderPolicy) bool {
	if len(a.rules) != len(b.rules) || strings.Join(a.remove, ",") != strings.Join(b.remove, ",") {
		return false
	}
	for i := range a.rules {
		x, y := a.rules[i], b.rules[i]
		if x.name != y.name || x.value[0] != y.value[0] || x.override != y.override || x.off != y.off || x.tlsOnly != y.tlsOnly {
			return false
		}
	}
	return true
}

func cookiesEqual(a, b *CookiePolicy) bool {
	if a.secure != b.secure || a.httpOnly != b.httpOnly || a.sameSite != b.sameSite || a.from != b.from || a.to != b.to || len(a.allow) != len(b.allow) {
		return false
	}
	for k := range a.allow {
		if !b.allow[k] {
			return false
		}
	}
	return true
}
