package edge

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tendhq/tend/internal/edge/edgeconf"
	"github.com/tendhq/tend/internal/edge/internal/edgetest"
)

// Under the edge: files from the directory with the edge's headers and
// compression, everything else from the app; with spa, page navigations
// get index.html and the app keeps its API.
func TestStaticUnderFront(t *testing.T) {
	dir := edgetest.Site(t)
	f, url := startFront(t, Config{Options: edgeconf.Options{Static: &edgeconf.StaticOptions{Prefix: "/", Dir: dir, SPA: true}}})
	b, _ := startApp(t, "app", echoApp)
	f.Add(b)
	c := plainClient(t)
	for _, tc := range []struct {
		path, accept, want, backend string
	}{
		{"/app.js", "", edgetest.AppJS, ""},
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
	if res.Header.Get("Content-Encoding") != "br" || decode(t, "br", body) != edgetest.AppJS || !strings.HasPrefix(res.Header.Get("ETag"), `W/"`) {
		t.Fatalf("static file through compression: %v", res.Header)
	}
	// Under a prefix: stripped before looking in the directory.
	f2, url2 := startFront(t, Config{Options: edgeconf.Options{Static: &edgeconf.StaticOptions{Prefix: "/assets", Dir: dir}}})
	f2.Add(b)
	for path, want := range map[string]string{"/assets/app.js": edgetest.AppJS, "/app.js": "GET /app.js ", "/assetsx": "GET /assetsx ", "/assets/nope": "GET /assets/nope "} {
		if r := get(t, c, url2+path); r.body != want {
			t.Errorf("prefix /assets, %s: %q", path, r.body)
		}
	}
	if r := edgetest.RawExchange(t, f2.Addr().String(), "GET /assets/%2e%2e/secret.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); !strings.HasPrefix(r, "HTTP/1.1 400") {
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
