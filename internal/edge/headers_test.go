package edge

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/tendhq/tend/internal/edge/edgeconf"
	"github.com/tendhq/tend/internal/edge/internal/edgetest"
)

// headerApp sets the headers named in the request's X-Set header list
// (name: value pairs), as an app with its own Helmet would.
func headerApp(w http.ResponseWriter, r *http.Request) {
	for _, kv := range r.Header.Values("X-Set") {
		name, value, _ := strings.Cut(kv, ": ")
		w.Header().Set(name, value)
	}
	w.Header().Set("X-Powered-By", "Express")
	io.WriteString(w, "ok")
}

func headerFront(t testing.TB, o edgeconf.Options) (*http.Client, string) {
	t.Helper()
	f, url := startFront(t, Config{Options: o})
	b, _ := startApp(t, "a", headerApp)
	f.Add(b)
	return edgetest.NewClient(t), url
}

func getWith(t testing.TB, c *http.Client, url string, set ...string) reply {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for _, s := range set {
		req.Header.Add("X-Set", s)
	}
	return do(t, c, req)
}

func TestSecurityHeadersDefaults(t *testing.T) {
	c, url := headerFront(t, edgeconf.Options{})
	r := getWith(t, c, url)
	want := map[string]string{
		"Content-Security-Policy":           "default-src 'self';base-uri 'self';font-src 'self' https: data:;form-action 'self';frame-ancestors 'self';img-src 'self' data:;object-src 'none';script-src 'self';script-src-attr 'none';style-src 'self' https: 'unsafe-inline'", // upgrade-insecure-requests over TLS only
		"Cross-Origin-Opener-Policy":        "same-origin",
		"Cross-Origin-Resource-Policy":      "same-origin",
		"Origin-Agent-Cluster":              "?1",
		"Referrer-Policy":                   "no-referrer",
		"X-Content-Type-Options":            "nosniff",
		"X-DNS-Prefetch-Control":            "off",
		"X-Download-Options":                "noopen",
		"X-Frame-Options":                   "SAMEORIGIN",
		"X-Permitted-Cross-Domain-Policies": "none",
		"X-XSS-Protection":                  "0",
	}
	for name, v := range want {
		if got := r.header.Values(name); len(got) != 1 || got[0] != v {
			t.Errorf("%s: %q, want %q", name, got, v)
		}
	}
	if v := r.header.Get("Strict-Transport-Security"); v != "" {
		t.Errorf("HSTS over plain HTTP: %q", v)
	}
	if v := r.header.Get("X-Powered-By"); v != "" {
		t.Errorf("X-Powered-By kept: %q", v)
	}
	if len(edgeconf.SecurityHeaders()) != 12 {
		t.Errorf("Helmet 8 sends 12 headers (HSTS over TLS): %v", edgeconf.SecurityHeaders())
	}
	// The edge's own answers get them too.
	_, url2 := startFront(t, Config{})
	if r := get(t, c, url2); r.status != 503 || r.header.Get("X-Frame-Options") != "SAMEORIGIN" {
		t.Errorf("503 of the edge: %d, X-Frame-Options %q", r.status, r.header.Get("X-Frame-Options"))
	}
}

func TestSecurityHeadersConfigured(t *testing.T) {
	c, url := headerFront(t, edgeconf.Options{
		Headers: edgeconf.Headers{
			"x-frame-options":         "DENY",
			"Content-Security-Policy": "off",
			"Referrer-Policy":         "strict-origin-when-cross-origin",
			"Permissions-Policy":      "camera=()",
			"X-Download-Options":      "off",
			"X-DNS-Prefetch-Control":  "",
		},
		HeadersOverride: []string{"Referrer-Policy", "X-Download-Options"},
		HeadersRemove:   []string{"Server"},
	})
	r := getWith(t, c, url,
		"X-Frame-Options: ALLOW-FROM app", // the app's own: kept
		"Referrer-Policy: unsafe-url",     // overridden
		"X-Download-Options: noopen",      // off and overridden: removed
		"Server: Express/4",
	)
	for name, want := range map[string]string{
		"X-Frame-Options":         "ALLOW-FROM app",
		"Content-Security-Policy": "",
		"Referrer-Policy":         "strict-origin-when-cross-origin",
		"Permissions-Policy":      "camera=()",
		"X-Download-Options":      "",
		"Server":                  "",
		"X-Content-Type-Options":  "nosniff",
		"X-Powered-By":            "Express", // headers_remove replaced the default list
		"X-DNS-Prefetch-Control":  "",
	} {
		if got := r.header.Get(name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	// Without the app's own, ours.
	if got := getWith(t, c, url).header.Get("X-Frame-Options"); got != "DENY" {
		t.Errorf("X-Frame-Options: %q, want DENY", got)
	}
}

func TestSecurityHeadersOverrideAll(t *testing.T) {
	c, url := headerFront(t, edgeconf.Options{HeadersOverride: []string{"*"}})
	r := getWith(t, c, url, "X-Frame-Options: ALLOWALL", "Referrer-Policy: unsafe-url", "X-Other: kept")
	if r.header.Get("X-Frame-Options") != "SAMEORIGIN" || r.header.Get("Referrer-Policy") != "no-referrer" || r.header.Get("X-Other") != "kept" {
		t.Fatalf("override *: %v", r.header)
	}
}

func TestHeadersChangeInPlace(t *testing.T) {
	f, url := startFront(t, Config{})
	b, _ := startApp(t, "a", headerApp)
	f.Add(b)
	c := edgetest.NewClient(t)
	if got := getWith(t, c, url).header.Get("X-Frame-Options"); got != "SAMEORIGIN" {
		t.Fatalf("before: %q", got)
	}
	o := f.Options()
	o.Headers = edgeconf.Headers{"X-Frame-Options": "DENY"}
	if err := f.Update(o); err != nil {
		t.Fatal(err)
	}
	if got := getWith(t, c, url).header.Get("X-Frame-Options"); got != "DENY" {
		t.Fatalf("after Update: %q", got)
	}
	// An invalid update changes nothing.
	o.Headers["X-Frame-Options"] = "SAMEORIGIN"
	o.Headers["Bad Name"] = "x"
	if err := f.Update(o); err == nil {
		t.Fatal("Update took an invalid header name")
	}
	if got := getWith(t, c, url).header.Get("X-Frame-Options"); got != "DENY" {
		t.Fatalf("after a refused Update: %q", got)
	}
}
