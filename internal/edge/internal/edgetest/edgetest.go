// Package edgetest holds the test helpers the rooms of internal/edge
// share: raw HTTP/1 exchanges over a bounded connection, a loopback port
// nobody listens on, a quiet logger, a keep-alive client that closes with
// the test, and a directory of files to serve. Test code only.
package edgetest

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// FreePort is a loopback port nobody listens on.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// RawExchange sends req as bytes on a new connection and returns all the
// server sends until it closes the connection (or 10s pass: a bound, not
// a wait the test relies on).
func RawExchange(t testing.TB, addr, req string) string {
	t.Helper()
	c := DialBounded(t, addr)
	defer c.Close()
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(c)
	return string(got)
}

// DialBounded connects to addr for the rest of the test, with a 10 s
// deadline on everything done on the connection: a bound, not a wait the
// test relies on.
func DialBounded(t testing.TB, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

// ReadResponses parses n responses from a raw connection's bytes.
func ReadResponses(t testing.TB, raw string, n int) []*http.Response {
	t.Helper()
	br := bufio.NewReader(strings.NewReader(raw))
	var out []*http.Response
	for range n {
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("response %d of %q: %v", len(out)+1, raw, err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		res.Body = io.NopCloser(strings.NewReader(string(body)))
		out = append(out, res)
	}
	return out
}

// Discard is a logger that writes nothing.
func Discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// NewClient is a keep-alive client of its own, so no idle connection of
// the default transport outlives the test.
func NewClient(t testing.TB) *http.Client {
	tr := &http.Transport{MaxIdleConnsPerHost: 256}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// AppJS is the body of Site's app.js: large enough to be compressed.
var AppJS = strings.Repeat("console.log('hello from a static file');\n", 64)

// Site makes root/public (to serve) beside root/secret.txt (not to), and
// returns root/public.
func Site(t testing.TB) string {
	t.Helper()
	root := t.TempDir()
	pub := filepath.Join(root, "public")
	for name, body := range map[string]string{
		"secret.txt":                   "secret",
		"public/index.html":            "<h1>spa</h1>",
		"public/app.js":                AppJS,
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

// EdgeBlocks runs fn, as a subtest, on the edge block of each
// testdata/edge/*.yaml (dir is that directory, absolute): edgeconf checks
// how each decodes, the edge that what decodes compiles.
func EdgeBlocks(t *testing.T, dir string, fn func(t *testing.T, file string, block any)) {
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if len(files) == 0 {
		t.Fatal("no cases")
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var doc map[string]any
			if err := yaml.Unmarshal(b, &doc); err != nil {
				t.Fatal(err)
			}
			fn(t, file, doc["edge"])
		})
	}
}
