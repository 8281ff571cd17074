package edge

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tendhq/tend/internal/edge/edgeconf"
)

var appJS = strings.Repeat("console.log('hello from a static file');\n", 64)

// site makes root/public (to serve) beside root/secret.txt (not to).
func site(t testing.TB) string {
	t.Helper()
	root := t.TempDir()
	pub := filepath.Join(root, "public")
	for name, body := range map[string]string{
		"secret.txt":                   "secret",
		"public/index.html":            "<h1>spa</h1>",
		"public/app.js":                appJS,
		"public/sub/index.html":        "<h1>sub</h1>",
		"public/.env":                  "KEY=secret",
		"public/.well-known/security":  "contact",
		"public/dir with space/a.txt":  "spaced",
		"public/inside/target.txt":     "inside",
		"public/.git/config":           "[core]",
		"public/notes/readme.markdown": "notes",
	} {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(root, "secret.txt"), filepath.Join(pub, "escape.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../secret.txt", filepath.Join(pub, "relescape.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("inside/target.txt", filepath.Join(pub, "link.txt")); err != nil {
		t.Fatal(err)
	}
	return pub
}

func TestServeDirRefusesTraversal(t *testing.T) {
	srv := httptest.NewServer(ServeDir(site(t), false))
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
		got := rawExchange(t, srv.Listener.Addr().String(), "GET "+tc.target+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		res := readResponses(t, got, 1)[0]
		if res.StatusCode != tc.want {
			t.Errorf("%s: %d, want %d", tc.target, res.StatusCode, tc.want)
		}
		if strings.Contains(got, "secret") && !strings.Contains(got, "secret.txt") {
			t.Errorf("%s leaked: %q", tc.target, got)
		}
	}
}

func TestServeDirFiles(t *testing.T) {
	dir := site(t)
	srv := httptest.NewServer(ServeDir(dir, false))
	defer srv.Close()
	c := newClient(t)

	r := get(t, c, srv.URL+"/app.js")
	etag := r.header.Get("ETag")
	if r.status != 200 || r.body != appJS || !strings.HasPrefix(etag, `"`) || r.header.Get("Last-Modified") == "" ||
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
	if r := do(t, c, req); r.status != 206 || r.body != appJS[8:11] {
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
	srv := httptest.NewServer(ServeDir(site(t), true))
	defer srv.Close()
	c := newClient(t)
	for path, want := range map[string]int{"/route/deep": 200, "/route": 200, "/missing.js": 404, "/app.js": 200} {
		r := get(t, c, srv.URL+path)
		if r.status != want || want == 200 && path != "/app.js" && r.body != "<h1>spa</h1>" {
			t.Errorf("%s: %d %q", path, r.status, r.body)
		}
	}
}

// Under the edge: files from the directory with the edge's headers and
// compression, everything else from the app; with spa, page navigations
// get index.html and the app keeps its API.
func TestStaticUnderFront(t *testing.T) {
	dir := site(t)
	f, url := startFront(t, Config{Options: edgeconf.Options{Static: &edgeconf.StaticOptions{Prefix: "/", Dir: dir, SPA: true}}})
	b, _ := startApp(t, "app", echoApp)
	f.Add(b)
	c := plainClient(t)
	for _, tc := range []struct {
		path, accept, want, backend string
	}{
		{"/app.js", "", appJS, ""},
		{"/api/users", "application/json", "GET /api/users ", "app"},
		{"/dashboard", "text/html,application/xhtml+xml", "<h1>spa</h1>", ""},
		{"/missing.js", "text/html", "GET /missing.js ", "app"},
	} {
		req, _ := http.NewRequest("GET", url+tc.path, nil)
		req.Header.Set("Accept", tc.accept)
		r := do(t, c, req)
		if r.status != 200 || r.body != tc.want || r.backend != tc.backend {
			t.Errorf("%s: %d %q from %q", tc.path, r.status, r.body, r.backend)
		}
		if r.header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: no security headers", tc.path)
		}
	}
	res, body := fetch(t, c, "GET", url+"/app.js", "br")
	if res.Header.Get("Content-Encoding") != "br" || decode(t, "br", body) != appJS || !strings.HasPrefix(res.Header.Get("ETag"), `W/"`) {
		t.Fatalf("static file through compression: %v", res.Header)
	}
	// Under a prefix: stripped before looking in the directory.
	f2, url2 := startFront(t, Config{Options: edgeconf.Options{Static: &edgeconf.StaticOptions{Prefix: "/assets", Dir: dir}}})
	f2.Add(b)
	for path, want := range map[string]string{"/assets/app.js": appJS, "/app.js": "GET /app.js ", "/assetsx": "GET /assetsx ", "/assets/nope": "GET /assets/nope "} {
		if r := get(t, c, url2+path); r.body != want {
			t.Errorf("prefix /assets, %s: %q", path, r.body)
		}
	}
	if r := rawExchange(t, f2.Addr().String(), "GET /assets/%2e%2e/secret.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); !strings.HasPrefix(r, "HTTP/1.1 400") {
		t.Errorf("traversal under the edge: %q", r)
	}
}

// A file larger than the server's buffers goes out whole, as a plain body
// (sendfile over plain TCP) and as a range.
func TestStaticLargeFileUnderFront(t *testing.T) {
	dir := t.TempDir()
	big := make([]byte, 3<<20+17)
	for i := range big {
		big[i] = byte(i*7 + i>>10)
	}
	if err := os.WriteFile(filepath.Join(dir, "big.bin"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	_, url := startFront(t, Config{Options: edgeconf.Options{Static: &edgeconf.StaticOptions{Prefix: "/", Dir: dir}}})
	c := plainClient(t)
	if r := get(t, c, url+"/big.bin"); r.status != 200 || r.body != string(big) || r.header.Get("Content-Length") != itoa(len(big)) {
		t.Fatalf("big.bin: %d, %d bytes (Content-Length %q), want %d", r.status, len(r.body), r.header.Get("Content-Length"), len(big))
	}
	req, _ := http.NewRequest("GET", url+"/big.bin", nil)
	req.Header.Set("Range", "bytes=1048570-2097160")
	if r := do(t, c, req); r.status != 206 || r.body != string(big[1048570:2097161]) {
		t.Fatalf("range: %d, %d bytes", r.status, len(r.body))
	}
}
