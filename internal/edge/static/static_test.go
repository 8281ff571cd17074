package static

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tendhq/tend/internal/edge/internal/edgetest"
)

func TestServeDirRefusesTraversal(t *testing.T) {
	srv := httptest.NewServer(ServeDir(edgetest.Site(t), false))
	defer srv.Close()
	for _, tc := range []struct {
		target string
		want   int
	}{
		{"/../secret.txt", 400},
		{"/sub/../../secret.txt", 400},
		{"/%2e%2e/secret.txt", 400},
		{"/%2E%2E/secret.txt", 400},
		{"/.%2e/secret.txt", 400},
		{"/sub%2f..%2f..%2fsecret.txt", 400},
		{"/..%2fsecret.txt", 400},
		{"/..%5csecret.txt", 400},
		{"/..\\secret.txt", 400},
		{"/app.js%00.html", 400},
		{"/escape.txt", 404},    // a symbolic link out of the directory
		{"/relescape.txt", 404}, // the same, relative
		{"/.env", 404},
		{"/%2eenv", 404},
		{"/.git/config", 404},
		{"/link.txt", 200}, // a link that stays inside is fine
		{"/.well-known/security", 200},
		{"/dir%20with%20space/a.txt", 200},
		{"/app.js", 200},
		{"/missing.js", 404},
	} {
		got := edgetest.RawExchange(t, srv.Listener.Addr().String(), "GET "+tc.target+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		res := edgetest.ReadResponses(t, got, 1)[0]
		if res.StatusCode != tc.want {
			t.Errorf("%s: %d, want %d", tc.target, res.StatusCode, tc.want)
		}
		if strings.Contains(got, "secret") && !strings.Contains(got, "secret.txt") {
			t.Errorf("%s leaked: %q", tc.target, got)
		}
	}
}

func TestServeDirFiles(t *testing.T) {
	dir := edgetest.Site(t)
	srv := httptest.NewServer(ServeDir(dir, false))
	defer srv.Close()
	c := edgetest.NewClient(t)

	r := get(t, c, srv.URL+"/app.js")
	etag := r.header.Get("ETag")
	if r.status != 200 || r.body != edgetest.AppJS || !strings.HasPrefix(etag, `"`) || r.header.Get("Last-Modified") == "" ||
		!strings.Contains(r.header.Get("Content-Type"), "javascript") {
		t.Fatalf("app.js: %d %v", r.status, r.header)
	}
	req, _ := http.NewRequest("GET", srv.URL+"/app.js", nil)
	req.Header.Set("If-None-Match", etag)
	if r := do(t, c, req); r.status != 304 {
		t.Errorf("If-None-Match: %d", r.status)
	}
	req.Header.Del("If-None-Match")
	req.Header.Set("Range", "bytes=8-10")
	if r := do(t, c, req); r.status != 206 || r.body != edgetest.AppJS[8:11] {
		t.Errorf("range: %d %q", r.status, r.body)
	}
	if r := get(t, c, srv.URL+"/"); r.status != 200 || r.body != "<h1>spa</h1>" {
		t.Errorf("/: %d %q", r.status, r.body)
	}
	noFollow := &http.Client{Transport: c.Transport, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if r := get(t, noFollow, srv.URL+"/sub?x=1"); r.status != 301 || r.header.Get("Location") != "./sub/?x=1" {
		t.Errorf("/sub: %d %q", r.status, r.header.Get("Location"))
	}
	if r := get(t, c, srv.URL+"/sub/"); r.body != "<h1>sub</h1>" {
		t.Errorf("/sub/: %q", r.body)
	}
	req, _ = http.NewRequest("POST", srv.URL+"/app.js", nil)
	if r := do(t, c, req); r.status != 405 {
		t.Errorf("POST: %d", r.status)
	}
	if r := get(t, c, srv.URL+"/route/deep"); r.status != 404 {
		t.Errorf("no SPA: %d", r.status)
	}
}

func TestServeDirSPA(t *testing.T) {
	srv := httptest.NewServer(ServeDir(edgetest.Site(t), true))
	defer srv.Close()
	c := edgetest.NewClient(t)
	for path, want := range map[string]int{"/route/deep": 200, "/route": 200, "/missing.js": 404, "/app.js": 200} {
		r := get(t, c, srv.URL+path)
		if r.status != want || want == 200 && path != "/app.js" && r.body != "<h1>spa</h1>" {
			t.Errorf("%s: %d %q", path, r.status, r.body)
		}
	}
}

type reply struct {
	status int
	body   string
	header http.Header
}

func do(t testing.TB, c *http.Client, req *http.Request) reply {
	t.Helper()
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{res.StatusCode, string(b), res.Header}
}

func get(t testing.TB, c *http.Client, url string) reply {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return do(t, c, req)
}
