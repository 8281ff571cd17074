package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/home"
)

// startDaemon runs a daemon in this process on a temporary home and returns
// an HTTP client dialing its socket.
func startDaemon(t *testing.T) (*http.Client, string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "tdd")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Home: dir, Version: "test", Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Ready: func() { close(ready) }})
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("daemon: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("daemon: %v", err)
		}
		os.RemoveAll(dir)
	})
	sock := filepath.Join(dir, home.SocketName)
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	return c, dir
}

func call(t *testing.T, c *http.Client, method, path, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, "http://tend"+path, strings.NewReader(body))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestMalformedRequestsGetA4xx(t *testing.T) {
	c, _ := startDaemon(t)
	abs, _ := filepath.Abs("daemon_test.go")
	cases := []struct {
		name, method, path, body string
		code                     int
		want                     string
	}{
		{"not json", "POST", "/v1/apps", "{", 400, "request body"},
		{"unknown field", "POST", "/v1/apps", `{"apps":[],"bogus":1}`, 400, "bogus"},
		{"no apps", "POST", "/v1/apps", `{"apps":[]}`, 400, "no apps"},
		{"app not an object", "POST", "/v1/apps", `{"apps":[42]}`, 400, "apps[0]"},
		{"relative script", "POST", "/v1/apps", `{"apps":[{"script":"x.js","cwd":"/"}]}`, 400, "x.js"},
		{"bad instances", "POST", "/v1/apps", `{"apps":[{"script":"` + abs + `","instances":-3,"cwd":"/"}]}`, 400, "apps[0].instances"},
		{"bad signal", "POST", "/v1/apps/all/signal", `{"signal":"SIGBOGUS"}`, 400, "SIGBOGUS"},
		{"unknown action", "POST", "/v1/apps/all/explode", "", 404, "explode"},
		{"unknown target", "POST", "/v1/apps/nope/stop", "", 404, "nope"},
		{"unknown endpoint", "GET", "/v2/apps", "", 404, "/v1"},
		{"wrong method", "PUT", "/v1/ping", "", 404, "PUT /v1/ping"},
		{"too large", "POST", "/v1/apps", `{"apps":[` + strings.Repeat(" ", maxBody+1) + `]}`, 413, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := call(t, c, tc.method, tc.path, tc.body)
			if code != tc.code || !strings.Contains(body, tc.want) {
				t.Errorf("%s %s: %d %s; want %d containing %q", tc.method, tc.path, code, body, tc.code, tc.want)
			}
			var e api.Error
			if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error == "" {
				t.Errorf("error body is not {\"error\": ...}: %s", body)
			}
		})
	}
	// Still alive and with nothing registered.
	code, body := call(t, c, "GET", "/v1/apps", "")
	if code != 200 || strings.TrimSpace(body) != "[]" {
		t.Errorf("after bad requests: %d %s", code, body)
	}
}

func TestPanicInHandlerIsA500(t *testing.T) {
	d := &Daemon{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	h := d.handle(func(*http.Request) (any, error) { panic("boom") })
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/ping", nil))
	if rec.Code != 500 || !strings.Contains(rec.Body.String(), "boom") {
		t.Errorf("panic: %d %s", rec.Code, rec.Body)
	}
}

func TestSecondDaemonRefused(t *testing.T) {
	_, dir := startDaemon(t)
	err := Run(context.Background(), Options{Home: dir})
	if !errors.Is(err, home.ErrRunning) {
		t.Fatalf("second daemon: %v, want ErrRunning", err)
	}
}

func TestStateWriteIsAtomicAndPrivate(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, home.StateName)
	if err := writeFileAtomic(p, []byte(`{"version":1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(p)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v %v", st.Mode(), err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("temporary files left: %v", ents)
	}
	if _, err := loadState(p); err != nil {
		t.Error(err)
	}
	os.WriteFile(p, []byte(`{"version":99}`), 0o600)
	if _, err := loadState(p); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Errorf("newer state: %v", err)
	}
	os.WriteFile(p, []byte(`{`), 0o600)
	if _, err := loadState(p); err == nil || !strings.Contains(err.Error(), p) {
		t.Errorf("corrupt state: %v", err)
	}
}
