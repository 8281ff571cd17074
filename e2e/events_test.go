package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/api"
)

// events reads GET /v1/events over the control socket as any SSE client
// would (curl --unix-socket): lines, with the JSON of each event on its
// data line.
func (h *home) events(t *testing.T, query string) *bufio.Scanner {
	t.Helper()
	sock := filepath.Join(h.dir, "tend.sock")
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://tend/v1/events"+query, nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET /v1/events: %d %s", resp.StatusCode, b)
	}
	return bufio.NewScanner(resp.Body)
}

// waitEvent reads events until one satisfies cond.
func waitEvent(t *testing.T, sc *bufio.Scanner, what string, cond func(api.StreamEvent) bool) api.StreamEvent {
	t.Helper()
	var seen []string
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var e api.StreamEvent
		if err := json.Unmarshal([]byte(data), &e); err != nil {
			t.Fatalf("event %s: %v", data, err)
		}
		if cond(e) {
			return e
		}
		seen = append(seen, e.Type+" "+e.Status+e.Action)
	}
	t.Fatalf("the event stream ended (%v) before %s; saw %v", sc.Err(), what, seen)
	return api.StreamEvent{}
}

func TestEventStreamShowsStartAndStop(t *testing.T) {
	h := newHome(t)
	h.ok("ls") // starts a daemon to connect to
	sc := h.events(t, "?app=web&types=app.state,instance.exit,command")
	h.ok("start", "idle.js", "--name", "web", "-i", "2")
	waitEvent(t, sc, "web online", func(e api.StreamEvent) bool {
		return e.Type == api.EventAppState && e.App == "web" && e.Status == api.StatusOnline
	})
	h.ok("stop", "web")
	exit := waitEvent(t, sc, "an exit", func(e api.StreamEvent) bool { return e.Type == api.EventInstanceExit })
	if exit.Exit == nil || !exit.Exit.Expected {
		t.Errorf("exit after tend stop: %+v", exit.Exit)
	}
	waitEvent(t, sc, "web stopped", func(e api.StreamEvent) bool {
		return e.Type == api.EventAppState && e.Status == api.StatusStopped
	})
	waitEvent(t, sc, "the stop command", func(e api.StreamEvent) bool { return e.Type == api.EventCommand && e.Action == "stop" })
}

func TestLsWatchPrintsTheTableAgainOnAChange(t *testing.T) {
	h := newHome(t)
	h.ok("ls") // starts the daemon
	cmd := exec.Command(tendBin, "ls", "--watch")
	cmd.Env = h.env
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	sc := bufio.NewScanner(out)
	until := func(what string, cond func(string) bool) {
		t.Helper()
		for sc.Scan() {
			if cond(sc.Text()) {
				return
			}
		}
		t.Fatalf("ls --watch ended before %s", what)
	}
	until("the first table", func(l string) bool { return strings.Contains(l, "no apps") })
	h.ok("start", "idle.js", "--name", "watched")
	until("the app online", func(l string) bool { return strings.Contains(l, "watched") && strings.Contains(l, "online") })

	// Interrupted, it ends cleanly.
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, out)
	if err := <-done; err != nil {
		t.Errorf("ls --watch after an interrupt: %v", err)
	}
	done <- nil // for the cleanup
}
