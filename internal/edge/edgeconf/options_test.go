package edgeconf

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/edge/internal/edgetest"
	"github.com/tendhq/tend/internal/golden"
)

// testdata is the absolute fixture directory; goldens spell it $DIR.
func testdata(t testing.TB) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "..", "testdata", "edge"))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// checkGolden compares got, with the testdata directory written $DIR, with
// the golden file at path.
func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	golden.Check(t, path, bytes.ReplaceAll(got, []byte(testdata(t)), []byte("$DIR")))
}

// Each testdata/edge/*.yaml is an app's edge block: decoded, it gives the
// options in its .golden file, or the errors.
func TestDecodeOptionsGolden(t *testing.T) {
	dir := testdata(t)
	edgetest.EdgeBlocks(t, dir, func(t *testing.T, file string, block any) {
		o, errs := DecodeOptions(block, dir)
		var out []byte
		if len(errs) > 0 {
			for _, e := range errs {
				out = append(out, e.Error()...)
				out = append(out, '\n')
			}
		} else {
			out, _ = json.MarshalIndent(o, "", "  ")
			out = append(out, '\n')
		}
		checkGolden(t, strings.TrimSuffix(file, ".yaml")+".golden", out)
	})
}

// DefaultOptions spelt out, for `tend describe`, decode to themselves.
// (internal/edge checks that they compile to the front of the zero
// Options.)
func TestDefaultOptions(t *testing.T) {
	d := DefaultOptions()
	b, _ := json.MarshalIndent(d, "", "  ")
	checkGolden(t, filepath.Join(testdata(t), "default_options.golden"), append(b, '\n'))
	var raw any
	json.Unmarshal(b, &raw)
	o, errs := DecodeOptions(raw, "")
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	ob, _ := json.MarshalIndent(o, "", "  ")
	if string(ob) != string(b) {
		t.Errorf("decoded defaults differ:\n%s\n%s", ob, b)
	}
}

func TestSizeAndDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{`"10s"`: 10 * time.Second, `1500`: 1500 * time.Millisecond, `"250"`: 250 * time.Millisecond, `"1m30s"`: 90 * time.Second} {
		var d Duration
		if err := json.Unmarshal([]byte(in), &d); err != nil || d.D() != want {
			t.Errorf("Duration %s = %v, %v; want %v", in, d.D(), err, want)
		}
	}
	for _, in := range []string{`"soon"`, `-5`, `true`} {
		var d Duration
		if err := json.Unmarshal([]byte(in), &d); err == nil {
			t.Errorf("Duration %s took it", in)
		}
	}
	for s, want := range map[Size]string{32 << 10: "32K", 10 << 20: "10M", 1 << 30: "1G", 1000: "1000", 0: "0"} {
		if s.String() != want {
			t.Errorf("Size(%d) = %s, want %s", int64(s), s, want)
		}
	}
}

// Lists and maps from a file have ceilings, and a value of the wrong shape
// is named by its path, through the same key tables as the spec.
func TestDecodeCeilingsAndShapes(t *testing.T) {
	many := func(n int, e any) []any {
		l := make([]any, n)
		for i := range l {
			l[i] = e
		}
		return l
	}
	headers := map[string]any{}
	for i := range maxHeaders + 1 {
		headers[fmt.Sprintf("X-H%d", i)] = "v"
	}
	for _, tt := range []struct {
		raw  map[string]any
		want string
	}{
		{map[string]any{"rate_limits": many(maxRateLimits+1, map[string]any{"path": "/", "per_minute": 1})}, "rate_limits: 257 rules; at most 256 are allowed"},
		{map[string]any{"headers": headers}, "headers: 257 headers; at most 256 are allowed"},
		{map[string]any{"trusted_proxies": many(maxProxies+1, "10.0.0.1")}, "trusted_proxies: 1025 entries; at most 1024 are allowed"},
		{map[string]any{"rate_limits": []any{"x"}}, `rate_limits[0]: want a mapping such as {path: /login, per_minute: 10}, got string "x"`},
		{map[string]any{"headers": map[string]any{"X-A": 3}}, "headers.X-A: want a string value or off, got number 3"},
		{map[string]any{"tls": 3}, `tls: want {cert: FILE, key: FILE}, {self_signed: true} or "self-signed", got number 3`},
		{map[string]any{"compression": "yes"}, `compression: want true or false, got string "yes"`},
	} {
		_, errs := DecodeOptions(tt.raw, "")
		if len(errs) != 1 || errs[0].Error() != tt.want {
			t.Errorf("got %v\nwant %s", errs, tt.want)
		}
	}
}
