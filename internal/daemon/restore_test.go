package daemon

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/app"
	"github.com/tendhq/tend/internal/home"
	"github.com/tendhq/tend/internal/metrics"
	"github.com/tendhq/tend/internal/spec"
)

// neverReady writes a state.json of n apps that wait for a readiness
// message they never send, each for up to a minute.
func neverReady(t *testing.T, dir string, n int) {
	t.Helper()
	var raw []map[string]any
	for i := range n {
		raw = append(raw, map[string]any{
			"name": "slow" + string(rune('a'+i)), "script": "/bin/sleep", "args": "3600", "interpreter": "none", "cwd": "/",
			"wait_ready": true, "listen_timeout": "60s",
		})
	}
	b, _ := json.Marshal(raw)
	specs, _, err := spec.DecodeJSON(b, spec.DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	st := State{Version: stateVersion, NextID: n}
	for i, s := range specs {
		st.Apps = append(st.Apps, app.Record{ID: i, Spec: s, CreatedAt: time.Now()})
	}
	b, _ = json.Marshal(st)
	if err := os.WriteFile(filepath.Join(dir, home.StateName), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// The socket answers while the saved apps come back (ping says so), and a
// daemon told to stop meanwhile stops at once, leaving no process: it does
// not first wait out every app's listen_timeout, one after another.
func TestRestoreNeitherHoldsTheSocketNorTheStop(t *testing.T) {
	dir, err := os.MkdirTemp("", "tdd") // short: a socket path has a limit
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	neverReady(t, dir, 3)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	serving := make(chan struct{})
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Home: dir, Version: "test", Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
			Serving: func() { close(serving) }, Ready: func() { close(ready) }})
	}()
	// The bounds below are far below one listen_timeout, and far above
	// what the steps take.
	select {
	case <-serving:
	case err := <-done:
		t.Fatalf("daemon: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the socket did not answer while the apps were restoring")
	}
	sock := filepath.Join(dir, home.SocketName)
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	code, body := call(t, c, "GET", "/v1/ping", "")
	var p api.Ping
	if err := json.Unmarshal([]byte(body), &p); code != 200 || err != nil || !p.Restoring {
		t.Fatalf("ping while restoring: %d %s, want restoring", code, body)
	}
	code, body = call(t, c, "GET", "/v1/apps", "")
	var apps []api.App
	if err := json.Unmarshal([]byte(body), &apps); code != 200 || err != nil || len(apps) != 3 {
		t.Fatalf("ls while restoring: %d %s, want the 3 saved apps", code, body)
	}
	c.CloseIdleConnections()

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("daemon: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the daemon did not stop while restoring")
	}
	select {
	case <-ready:
		t.Error("the daemon said ready without having restored its apps")
	default:
	}
	for _, st := range metrics.Stats() {
		if st.PPID == os.Getpid() && st.State != 'Z' {
			t.Errorf("process %d left running by the stopped daemon", st.PID)
		}
	}
}
