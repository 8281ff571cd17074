package daemon

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/events"
)

// sse reads server-sent events of GET /v1/events.
type sse struct {
	t    *testing.T
	body io.ReadCloser
	sc   *bufio.Scanner
}

// follow opens path (an events URL) with header Last-Event-ID set to
// lastID unless it is "". The stream is closed when the test ends; its
// deadline keeps a missing event from hanging the test.
func follow(t *testing.T, c *http.Client, path, lastID string) *sse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://tend"+path, nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %d %s %s", path, resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	return &sse{t: t, body: resp.Body, sc: sc}
}

// next returns the next event; ok is false at the end of the stream. It
// checks that the id line and the event line agree with the data.
func (s *sse) next() (e api.StreamEvent, ok bool) {
	s.t.Helper()
	var id, typ, data string
	for s.sc.Scan() {
		line := s.sc.Text()
		switch {
		case line == "":
			if data == "" {
				continue // after a comment
			}
			if err := json.Unmarshal([]byte(data), &e); err != nil {
				s.t.Fatalf("event data %q: %v", data, err)
			}
			if typ != e.Type || (e.ID == 0) != (id == "") || id != "" && id != strconv.FormatUint(e.ID, 10) {
				s.t.Fatalf("event lines id %q, event %q disagree with the data %s", id, typ, data)
			}
			return e, true
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "id: "):
			id = line[4:]
		case strings.HasPrefix(line, "event: "):
			typ = line[7:]
		case strings.HasPrefix(line, "data: "):
			data = line[6:]
		default:
			s.t.Fatalf("unexpected line %q", line)
		}
	}
	return e, false
}

// until reads events until one satisfies cond and returns those read.
func (s *sse) until(what string, cond func(api.StreamEvent) bool) []api.StreamEvent {
	s.t.Helper()
	var got []api.StreamEvent
	for {
		e, ok := s.next()
		if !ok {
			s.t.Fatalf("stream ended before %s; got %+v", what, got)
		}
		got = append(got, e)
		if cond(e) {
			return got
		}
	}
}

func TestEventsStreamStateChangesAndResume(t *testing.T) {
	c, _ := startDaemon(t)
	s := follow(t, c, "/v1/events?app=sleeper", "")
	code, body := call(t, c, "POST", "/v1/apps", `{"apps":[{"name":"sleeper","script":"/bin/sleep","args":["300"],"interpreter":"none","cwd":"/"}]}`)
	if code != 200 {
		t.Fatalf("start: %d %s", code, body)
	}
	// Start answers once the app is ready: its command event comes last.
	started := s.until("the start command", func(e api.StreamEvent) bool { return e.Type == api.EventCommand })
	var pid int
	var online bool
	for _, e := range started {
		if e.App != "sleeper" || e.Namespace != "default" {
			t.Errorf("event of another app: %+v", e)
		}
		if e.Type == api.EventInstanceState && e.Status == api.StatusOnline {
			pid = e.PID
		}
		online = online || e.Type == api.EventAppState && e.Status == api.StatusOnline
	}
	if pid == 0 || !online {
		t.Errorf("the app and an instance with a pid did not go online: %+v", started)
	}
	if last := started[len(started)-1]; last.Action != "start" || last.Error != "" {
		t.Errorf("command event %+v, want a start that worked", last)
	}
	for i := 1; i < len(started); i++ {
		if started[i].ID <= started[i-1].ID {
			t.Errorf("ids do not increase: %+v", started)
		}
	}

	// A reload says how each instance was replaced.
	if code, body := call(t, c, "POST", "/v1/apps/sleeper/reload", ""); code != 200 {
		t.Fatalf("reload: %d %s", code, body)
	}
	var steps []string
	reloaded := s.until("the reload command", func(e api.StreamEvent) bool { return e.Type == api.EventCommand })
	for _, e := range reloaded {
		if e.Type == api.EventReloadStep {
			steps = append(steps, e.Message)
		}
	}
	if len(steps) != 2 || !strings.Contains(steps[0], "started") || !strings.Contains(steps[1], fmt.Sprintf("took over from %d", pid)) {
		t.Errorf("reload steps %q, want a new process started, then taking over from %d", steps, pid)
	}

	if code, body := call(t, c, "POST", "/v1/apps/sleeper/stop", ""); code != 200 {
		t.Fatalf("stop: %d %s", code, body)
	}
	stopped := s.until("the stop command", func(e api.StreamEvent) bool { return e.Type == api.EventCommand })
	var exit *api.Exit
	for _, e := range stopped {
		if e.Type == api.EventInstanceExit {
			exit = e.Exit
		}
	}
	if exit == nil || !exit.Expected {
		t.Errorf("no expected exit before the stop command ended: %+v", stopped)
	}
	if last := stopped[len(stopped)-1]; last.Action != "stop" || last.Error != "" {
		t.Errorf("command event %+v, want a stop that worked", last)
	}

	// A reader that resumes after the first event reads the same events
	// again, by header or by query.
	all := append(append(started, reloaded...), stopped...)
	for _, r := range []struct{ path, header string }{
		{"/v1/events?app=sleeper", strconv.FormatUint(all[0].ID, 10)},
		{"/v1/events?app=sleeper&since=" + strconv.FormatUint(all[0].ID, 10), ""},
	} {
		again := follow(t, c, r.path, r.header).until("the stop command", func(e api.StreamEvent) bool { return e.ID == all[len(all)-1].ID })
		if len(again) != len(all)-1 {
			t.Fatalf("resumed %s %s: %d events, want %d", r.path, r.header, len(again), len(all)-1)
		}
		for i, e := range again {
			if e.ID != all[i+1].ID || e.Type != all[i+1].Type {
				t.Errorf("resumed event %d: %d %s, want %d %s", i, e.ID, e.Type, all[i+1].ID, all[i+1].Type)
			}
		}
	}
	// A resume id from another daemon run is said to be unknown.
	e, _ := follow(t, c, "/v1/events", "999999").next()
	if e.Type != api.EventGap || e.Gap == nil || !strings.Contains(e.Gap.Reason, "restarted") {
		t.Errorf("first event after an unknown id: %+v", e)
	}
}

func TestEventsBadRequests(t *testing.T) {
	c, _ := startDaemon(t)
	for _, tc := range []struct{ path, header, want string }{
		{"/v1/events?types=bogus", "", "bogus"},
		{"/v1/events?since=x", "", `"x"`},
		{"/v1/events", "-1", `"-1"`},
	} {
		req, _ := http.NewRequest("GET", "http://tend"+tc.path, nil)
		if tc.header != "" {
			req.Header.Set("Last-Event-ID", tc.header)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var e api.Error
		_ = json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != 400 || !strings.Contains(e.Error, tc.want) {
			t.Errorf("%s (Last-Event-ID %q): %d %q, want 400 naming %s", tc.path, tc.header, resp.StatusCode, e.Error, tc.want)
		}
	}
}

// A reader that takes no bytes falls a ring behind while the daemon goes
// on publishing; when it reads again it gets what was written before, a
// "dropped" notice saying what it missed, and the end of the stream.
func TestSlowEventReaderIsDropped(t *testing.T) {
	d := &Daemon{log: slog.New(slog.NewTextHandler(io.Discard, nil)), events: events.New(64)}
	// A unix socket: its buffers are small and fixed, so the stream's
	// writes block long before the ring is lapped.
	ln, err := net.Listen("unix", filepath.Join(t.TempDir(), "s"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(d.eventStream))
	srv.Listener = ln
	srv.Start()
	defer srv.Close()
	defer d.events.Close()
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", ln.Addr().String())
	}}}
	s := follow(t, c, "/v1/events", "")

	const n = 20000 // ~4 MB of events: far more than the socket holds
	pad := strings.Repeat("x", 150)
	for i := range n {
		d.events.Publish(api.StreamEvent{Type: api.EventAppNote, App: "a", Instance: -1, Message: strconv.Itoa(i) + pad})
	}
	var last api.StreamEvent
	read := 0
	for {
		e, ok := s.next()
		if !ok {
			break
		}
		last = e
		read++
	}
	if last.Type != api.EventDropped || last.Gap == nil {
		t.Fatalf("last of %d events: %+v, want a dropped notice", read, last)
	}
	if g := last.Gap; g.Missed == 0 || g.After+g.Missed+1 != g.Oldest || int(g.After) != read-1 {
		t.Errorf("dropped notice %+v after reading %d events: want the ids it missed, from the last it read", g, read-1)
	}
}
