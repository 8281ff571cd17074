package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"github.com/muesli/termenv"
	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/client"
	"go.uber.org/goleak"
)

// fakeBackend records what the model asks for. The model calls the backend
// inside Update, so the record is complete without running any command.
type fakeBackend struct {
	lists   int      // lists asked for
	follows []string // "target#gen"
	actions []string // "verb target instances"
}

func (f *fakeBackend) list() tea.Cmd {
	f.lists++
	return func() tea.Msg { return nil }
}

func (f *fakeBackend) action(a api.App, verb, instances string) tea.Cmd {
	f.actions = append(f.actions, strings.TrimSpace(fmt.Sprintf("%s %d %s", verb, a.ID, instances)))
	return func() tea.Msg { return actionMsg{verb: verb, app: a.Name, id: a.ID, instances: instances} }
}

func (f *fakeBackend) follow(target string, gen int) tea.Cmd {
	f.follows = append(f.follows, fmt.Sprintf("%s#%d", target, gen))
	return func() tea.Msg { return nil }
}

func (f *fakeBackend) lastFollow() string {
	if len(f.follows) == 0 {
		return ""
	}
	return f.follows[len(f.follows)-1]
}

var fixtureTime = time.Date(2026, 3, 1, 12, 34, 56, 0, time.UTC)

// fixtureApps is 3 apps × 2 instances: one behind the edge, one with a name
// too long for the table, one with an instance backing off.
func fixtureApps() []api.App {
	http := func(rps, p95 float64) *api.HTTPStats { return &api.HTTPStats{RPS: rps, P95MS: p95} }
	return []api.App{
		{ID: 0, Name: "api", Status: api.StatusOnline, Mode: "proxy", Instances: []api.Instance{
			{Index: 0, PID: 41001, Status: api.StatusOnline, Restarts: 2, UptimeMS: 3_600_000, CPUPercent: 12.5, MemoryBytes: 83 << 20, HTTP: http(153.2, 12.4)},
			{Index: 1, PID: 41002, Status: api.StatusOnline, UptimeMS: 59_000, CPUPercent: 399.9, MemoryBytes: 1023 << 20, HTTP: http(0, 0)},
		}},
		{ID: 1, Name: "billing-reconciliation-worker", Status: api.StatusOnline, Mode: "fork", Instances: []api.Instance{
			{Index: 0, PID: 4194301, Status: api.StatusOnline, UptimeMS: 200_000_000, CPUPercent: 0.3, MemoryBytes: 31 << 20},
			{Index: 1, PID: 4194302, Status: api.StatusOnline, UptimeMS: 200_000_000, CPUPercent: 0, MemoryBytes: 30 << 20},
		}},
		{ID: 7, Name: "cron", Status: api.StatusOnline, Mode: "fork", Instances: []api.Instance{
			{Index: 0, PID: 41010, Status: api.StatusOnline, Restarts: 1234, UptimeMS: 1000, MemoryBytes: 12 << 20},
			{Index: 1, Status: api.StatusWaiting, Restarts: 7},
		}},
	}
}

// testModel returns a model drawing with profile (termenv.Ascii: no
// escapes at all), whatever the environment says.
func testModel(profile termenv.Profile) (*model, *fakeBackend) {
	b := &fakeBackend{}
	r := lipgloss.NewRenderer(io.Discard)
	r.SetColorProfile(profile)
	return newModel(b, r), b
}

func plainModel() (*model, *fakeBackend) { return testModel(termenv.Ascii) }

// feed runs msgs through Update, returning the last command.
func feed(m *model, msgs ...tea.Msg) tea.Cmd {
	var cmd tea.Cmd
	for _, msg := range msgs {
		_, cmd = m.Update(msg)
	}
	return cmd
}

func keyMsg(s string) tea.KeyMsg {
	switch s {
	case "up":
		return tea.KeyMsg{Type: tea.KeyUp}
	case "down":
		return tea.KeyMsg{Type: tea.KeyDown}
	case "ctrl+c":
		return tea.KeyMsg{Type: tea.KeyCtrlC}
	}
	return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(s)}
}

// screen checks that view fits w×h, the way a terminal shows it (escapes
// take no room), and returns its lines without escapes.
func screen(t *testing.T, view string, w, h int) []string {
	t.Helper()
	lines := strings.Split(view, "\n")
	if len(lines) > h {
		t.Errorf("%d lines, want at most %d", len(lines), h)
	}
	for i, l := range lines {
		plain := ansi.Strip(l)
		if n := utf8.RuneCountInString(plain); n > w {
			t.Errorf("line %d has %d runes, want at most %d: %q", i, n, w, plain)
		}
		if n := ansi.StringWidth(l); n > w {
			t.Errorf("line %d is %d columns, want at most %d: %q", i, n, w, plain)
		}
		lines[i] = plain
	}
	return lines
}

func lineWith(lines []string, s string) (string, bool) {
	for _, l := range lines {
		if strings.Contains(l, s) {
			return l, true
		}
	}
	return "", false
}

func TestMonitView80x24(t *testing.T) {
	m, b := plainModel()
	feed(m, tea.WindowSizeMsg{Width: 80, Height: 24}, appsMsg{apps: fixtureApps(), at: fixtureTime})
	if got := b.lastFollow(); got != "0#1" {
		t.Fatalf("follow after the first refresh: %q, want the first app (id 0, generation 1)", got)
	}
	for i := range 300 {
		feed(m, logMsg{gen: 1, line: api.LogLine{App: "api", Instance: i % 2, Stream: "out", Message: fmt.Sprintf("request %d served", i)}})
	}
	long := "\x1b[31mGET /\x1b[0m\t" + strings.Repeat("界x", 100) + " END"
	feed(m,
		logMsg{gen: 1, line: api.LogLine{App: "api", Instance: 1, Stream: "err", Message: long}},
		logMsg{gen: 1, line: api.LogLine{App: "api", Instance: 0, Stream: "out", Message: "last line\r"}},
	)

	lines := screen(t, m.View(), 80, 24)
	t.Logf("view:\n%s", strings.Join(lines, "\n"))
	if len(lines) != 24 {
		t.Errorf("%d lines, want the whole 24: the status line belongs at the bottom", len(lines))
	}
	for _, a := range fixtureApps() {
		for _, in := range a.Instances {
			want := strconv.Itoa(in.PID)
			if in.PID == 0 {
				want = in.Status
			}
			l, ok := lineWith(lines, " "+want+" ")
			if !ok {
				t.Errorf("no row for %s[%d] (%s)", a.Name, in.Index, want)
				continue
			}
			if !strings.Contains(l, a.Name[:min(8, len(a.Name))]) {
				t.Errorf("row of %s[%d] does not name the app: %q", a.Name, in.Index, l)
			}
			if in.HTTP == nil && !strings.HasSuffix(strings.TrimSpace(l), "-       -") {
				t.Errorf("row of %s[%d] without an edge should end with - for req/s and p95: %q", a.Name, in.Index, l)
			}
		}
	}
	if l, _ := lineWith(lines, "41001"); !strings.HasPrefix(l, "▸ api") || !strings.Contains(l, "153.2") || !strings.Contains(l, "12ms") {
		t.Errorf("selected row: %q, want it marked, with req/s and p95", l)
	}
	if l, _ := lineWith(lines, "41010"); strings.HasPrefix(l, "▸") {
		t.Errorf("an unselected app is marked: %q", l)
	}
	if _, ok := lineWith(lines, "billing-recon…"); !ok {
		t.Errorf("the long app name is not cut with an ellipsis")
	}
	if !strings.Contains(lines[0], "3 apps · 6 instances · 12:34:56") {
		t.Errorf("title: %q", lines[0])
	}
	if !strings.Contains(lines[8], "api logs") {
		t.Errorf("line 8 should be the log rule naming the app: %q", lines[8])
	}
	if got := lines[22]; got != "[0] last line" {
		t.Errorf("last log line: %q", got)
	}
	cut := lines[21]
	if !strings.HasPrefix(cut, "[1] GET /    界x界x") || !strings.HasSuffix(cut, "…") || strings.Contains(cut, "END") {
		t.Errorf("the long line should lose its escapes and tab, and be cut at 80 columns: %q", cut)
	}
	if !strings.Contains(lines[23], "q quit") {
		t.Errorf("status line: %q", lines[23])
	}
}

func TestMonitViewSizes(t *testing.T) {
	many := fixtureApps()
	big := api.App{ID: 9, Name: "fleet", Status: api.StatusOnline}
	for i := range 40 {
		big.Instances = append(big.Instances, api.Instance{Index: i, PID: 50000 + i, Status: api.StatusOnline})
	}
	many = append(many, big, api.App{ID: 10, Name: "zero", Status: api.StatusStopped})
	for _, size := range [][2]int{{80, 24}, {120, 40}, {100, 10}, {60, 20}, {40, 12}, {20, 5}, {10, 3}, {5, 2}, {1, 1}, {0, 0}} {
		t.Run(fmt.Sprintf("%dx%d", size[0], size[1]), func(t *testing.T) {
			m, _ := plainModel()
			feed(m, tea.WindowSizeMsg{Width: size[0], Height: size[1]}, appsMsg{apps: many, at: fixtureTime})
			m.status, m.statusErr = strings.Repeat("a long error ", 20), true
			feed(m, logMsg{gen: 1, line: api.LogLine{Message: strings.Repeat("wide 界 ", 40)}})
			w, h := size[0], size[1]
			if w == 0 {
				w, h = 80, 24 // before the first WindowSizeMsg
			}
			for range len(many) + 1 {
				screen(t, m.View(), w, h)
				feed(m, keyMsg("j"))
			}
		})
	}
}

func TestMonitScrollsToSelection(t *testing.T) {
	m, _ := plainModel()
	fleet := func(id int, name string, n, pid int) api.App {
		a := api.App{ID: id, Name: name, Status: api.StatusOnline}
		for i := range n {
			a.Instances = append(a.Instances, api.Instance{Index: i, PID: pid + i, Status: api.StatusOnline})
		}
		return a
	}
	// At 80×24, 17 rows fit: the table gives way to keep 3 log lines.
	apps := append(fixtureApps(), fleet(8, "small", 12, 50000), fleet(9, "huge", 40, 60000), api.App{ID: 10, Name: "zero", Status: api.StatusStopped})
	feed(m, tea.WindowSizeMsg{Width: 80, Height: 24}, appsMsg{apps: apps, at: fixtureTime})
	rows := func(lines []string) (sel []string) {
		for _, l := range lines {
			if strings.HasPrefix(l, "▸ ") {
				sel = append(sel, l)
			}
		}
		return sel
	}

	lines := screen(t, m.View(), 80, 24)
	if !strings.Contains(lines[0], "rows 1-17 · ") {
		t.Errorf("title should say which rows are shown: %q", lines[0])
	}
	feed(m, keyMsg("j"), keyMsg("j"), keyMsg("j"))
	lines = screen(t, m.View(), 80, 24)
	if sel := rows(lines); len(sel) != 12 || !strings.Contains(sel[11], " 50011 ") {
		t.Errorf("all of the selected app's 12 rows should show:\n%s", strings.Join(lines, "\n"))
	}
	if !strings.Contains(lines[0], "rows 2-18 · ") {
		t.Errorf("title: %q", lines[0])
	}
	feed(m, keyMsg("j"))
	lines = screen(t, m.View(), 80, 24)
	if sel := rows(lines); len(sel) != 17 || !strings.Contains(sel[0], " 60000 ") {
		t.Errorf("an app with more rows than fit should show from its first:\n%s", strings.Join(lines, "\n"))
	}
	if _, ok := lineWith(lines, "── huge logs"); !ok {
		t.Errorf("the log rule was pushed off the screen")
	}
	feed(m, keyMsg("j"))
	lines = screen(t, m.View(), 80, 24)
	if sel := rows(lines); len(sel) != 1 || !strings.Contains(sel[0], "zero") || !strings.Contains(sel[0], "stopped") {
		t.Errorf("an app with no instances should still show, selectable:\n%s", strings.Join(lines, "\n"))
	}
}

func TestMonitKeys(t *testing.T) {
	m, b := plainModel()
	// Keys before any app is known do nothing harmful.
	feed(m, keyMsg("j"), keyMsg("r"))
	if len(b.actions) != 0 || m.status != "no app selected" || !m.statusErr {
		t.Errorf("r with no apps: actions %v, status %q", b.actions, m.status)
	}

	feed(m, appsMsg{apps: fixtureApps(), at: fixtureTime})
	for _, step := range []struct {
		key, follow string
		sel         int
	}{
		{"down", "1#2", 1},
		{"j", "7#3", 7},
		{"j", "7#3", 7}, // at the bottom: stays, no new follow
		{"up", "1#4", 1},
		{"k", "0#5", 0},
		{"k", "0#5", 0},
	} {
		feed(m, keyMsg(step.key))
		if m.selID != step.sel || b.lastFollow() != step.follow {
			t.Errorf("after %s: selected %d following %s, want %d following %s", step.key, m.selID, b.lastFollow(), step.sel, step.follow)
		}
	}

	// Lines of an earlier follow, still in flight, are not the selected app's.
	feed(m, logMsg{gen: 4, line: api.LogLine{Message: "billing line"}}, logMsg{gen: 5, line: api.LogLine{Message: "api line"}})
	if len(m.logs) != 1 || m.logs[0].Message != "api line" {
		t.Errorf("logs %v, want only the current follow's line", m.logs)
	}

	feed(m, keyMsg("j"))
	for _, k := range []string{"r", "R", "+", "=", "-"} {
		feed(m, keyMsg(k))
	}
	want := []string{"restart 1", "reload 1", "scale 1 +1", "scale 1 +1", "scale 1 -1"}
	if fmt.Sprint(b.actions) != fmt.Sprint(want) {
		t.Errorf("actions %q, want %q", b.actions, want)
	}
	if m.status != "scaling billing-reconciliation-worker…" || m.statusErr {
		t.Errorf("status while scaling: %q", m.status)
	}

	// Keys typed faster than bubbletea reads come as one message.
	b.actions = nil
	feed(m, keyMsg("k-"))
	if m.selID != 0 || fmt.Sprint(b.actions) != "[scale 0 -1]" {
		t.Errorf("after \"k-\" in one read: selected %d, actions %v; want app 0 scaled down", m.selID, b.actions)
	}

	for _, k := range []string{"q", "ctrl+c"} {
		cmd := feed(m, keyMsg(k))
		if cmd == nil {
			t.Fatalf("%s: no command, want quit", k)
		}
		if _, ok := cmd().(tea.QuitMsg); !ok {
			t.Errorf("%s does not quit", k)
		}
	}
	if cmd := feed(m, keyMsg("x")); cmd != nil {
		t.Errorf("an unbound key returned a command")
	}
}

func TestMonitActionResult(t *testing.T) {
	m, b := testModel(termenv.ANSI)
	feed(m, tea.WindowSizeMsg{Width: 80, Height: 24}, appsMsg{apps: fixtureApps(), at: fixtureTime})

	scaled := fixtureApps()[0]
	scaled.Instances = append(scaled.Instances, api.Instance{Index: 2})
	feed(m, actionMsg{verb: "scale", app: "api", id: 0, instances: "+1", apps: []api.App{scaled}})
	lines := screen(t, m.View(), 80, 24)
	if last := lines[len(lines)-1]; !strings.HasSuffix(last, "  scaled api to 3") {
		t.Errorf("status after scaling: %q", last)
	}

	feed(m, actionMsg{verb: "reload", app: "api", id: 0, err: errors.New("app api has no port: a zero-downtime reload needs the edge; set port in its settings")})
	view := m.View()
	lines = screen(t, view, 80, 24)
	last := lines[len(lines)-1]
	if !strings.Contains(last, "reload api: app api has no port") || !strings.HasSuffix(last, "…") {
		t.Errorf("status after a failed reload: %q, want the error cut to fit", last)
	}
	if !strings.HasPrefix(last, monitHelpShort+"  ") {
		t.Errorf("the keys should shrink to leave room for the error: %q", last)
	}
	raw := strings.Split(view, "\n")
	if !strings.Contains(raw[len(raw)-1], "\x1b[31mreload api") {
		t.Errorf("the error is not red: %q", raw[len(raw)-1])
	}

	feed(m, actionMsg{verb: "restart", app: "api", id: 0, err: errors.New("daemon exited at start (exit status 1):\n  bad config\n  line 2")})
	lines = screen(t, m.View(), 80, 24)
	if last := lines[len(lines)-1]; !strings.Contains(last, "restart api: daemon exited at start (exit status 1):  bad config") {
		t.Errorf("a multi-line error should be drawn on the status line alone: %q", last)
	}

	feed(m, appsMsg{apps: fixtureApps()}) // the answer of the lists asked for so far
	feed(m, appsMsg{apps: fixtureApps()})
	b.lists = 0
	feed(m, actionMsg{verb: "restart", app: "api", id: 0})
	if m.status != "restarted api" || m.statusErr {
		t.Errorf("status after restart: %q (error %v)", m.status, m.statusErr)
	}
	if b.lists != 1 {
		t.Errorf("lists after an action: %d, want one refresh", b.lists)
	}
}

func TestMonitRefresh(t *testing.T) {
	m, b := plainModel()
	if feed(m, refreshMsg{}) == nil || b.lists != 1 {
		t.Fatalf("an event should list: %d lists", b.lists)
	}
	// Events while a list is in flight cost one more list, after its
	// answer; nothing lists on its own.
	feed(m, refreshMsg{}, refreshMsg{}, refreshMsg{})
	if b.lists != 1 {
		t.Errorf("events during a list listed at once: %d lists", b.lists)
	}
	if cmd := feed(m, appsMsg{apps: fixtureApps()}); cmd == nil || b.lists != 2 {
		t.Errorf("the answer did not list again for the events meanwhile: %d lists", b.lists)
	}
	if cmd := feed(m, appsMsg{apps: fixtureApps()}); cmd != nil || b.lists != 2 {
		t.Errorf("an answer with no event meanwhile returned a command: %d lists", b.lists)
	}

	// The selection follows the app, not the row.
	feed(m, keyMsg("j"))
	apps := fixtureApps()
	apps[0], apps[1] = apps[1], apps[0]
	feed(m, appsMsg{apps: apps})
	if m.selID != 1 || m.selPos != 0 || b.lastFollow() != "1#2" {
		t.Errorf("after a reorder: selected %d at %d following %s, want app 1 at row 0, same follow", m.selID, m.selPos, b.lastFollow())
	}
	// When the selected app goes away, the one now in its row is selected.
	feed(m, appsMsg{apps: apps[1:]})
	if m.selID != 0 || b.lastFollow() != "0#3" || m.logs != nil {
		t.Errorf("after a delete: selected %d following %s with logs %v", m.selID, b.lastFollow(), m.logs)
	}

	// A failed refresh keeps the table and says so.
	feed(m, appsMsg{err: errors.New("no tend daemon is running")})
	lines := screen(t, m.View(), 80, 24)
	if !strings.Contains(lines[0], "refresh failed: no tend daemon is running") {
		t.Errorf("title after a failed refresh: %q", lines[0])
	}
	if _, ok := lineWith(lines, "41001"); !ok {
		t.Errorf("the last good table is gone after a failed refresh")
	}

	// A follow that ended is restarted by the next good refresh.
	feed(m, logEndMsg{gen: 3, err: errors.New("talk to daemon: EOF")})
	lines = screen(t, m.View(), 80, 24)
	if _, ok := lineWith(lines, "stream ended: talk to daemon: EOF"); !ok {
		t.Errorf("the end of the log stream is not shown")
	}
	feed(m, appsMsg{apps: apps[1:]})
	if b.lastFollow() != "0#4" || m.logEnded {
		t.Errorf("the follow was not restarted: %v", b.follows)
	}

	feed(m, appsMsg{apps: nil})
	lines = screen(t, m.View(), 80, 24)
	if _, ok := lineWith(lines, "no apps: start one"); !ok || m.selID != -1 {
		t.Errorf("with no apps: selected %d\n%s", m.selID, strings.Join(lines, "\n"))
	}
}

// fakeLogs stands in for client.Logs: it sends one line, then blocks until
// its follow is cancelled, and records which targets are running.
type fakeLogs struct {
	mu      sync.Mutex
	running map[string]bool
	started chan string
}

func (f *fakeLogs) logs(ctx context.Context, r client.LogsRequest, fn func(api.LogLine) error) error {
	f.mu.Lock()
	f.running[r.App] = true
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.running, r.App)
		f.mu.Unlock()
	}()
	if r.App == "gone" {
		return errors.New("no app matches")
	}
	if err := fn(api.LogLine{App: r.App, Message: "hello"}); err != nil {
		return err
	}
	f.started <- r.App
	<-ctx.Done()
	return nil
}

func TestFollower(t *testing.T) {
	defer goleak.VerifyNone(t)
	fl := &fakeLogs{running: map[string]bool{}, started: make(chan string, 10)}
	f := newFollower(context.Background(), fl.logs)
	msgs := make(chan tea.Msg, 10)
	f.send = func(m tea.Msg) { msgs <- m }

	f.follow("a", 1)
	if got := <-fl.started; got != "a" {
		t.Fatalf("started %s", got)
	}
	if m := (<-msgs).(logMsg); m.gen != 1 || m.line.Message != "hello" {
		t.Errorf("line %+v", m)
	}
	f.follow("b", 3)
	f.follow("c", 2) // ran late: an older selection than b's
	if got := <-fl.started; got != "b" {
		t.Fatalf("started %s, want b", got)
	}
	<-msgs
	f.follow("gone", 4)
	if m := (<-msgs).(logEndMsg); m.gen != 4 || m.err == nil {
		t.Errorf("end %+v, want generation 4 with the error", m)
	}
	f.follow("d", 5)
	<-fl.started
	f.close()
	f.follow("e", 6) // after close: must not start anything
	fl.mu.Lock()
	defer fl.mu.Unlock()
	if len(fl.running) != 0 {
		t.Errorf("still following after close: %v", fl.running)
	}
	if len(fl.started) != 0 {
		t.Errorf("started %s, which was superseded or after close", <-fl.started)
	}
	select {
	case m := <-msgs:
		if _, ok := m.(logMsg); !ok {
			t.Errorf("unexpected %T after close", m)
		}
	default:
	}
}

func TestMonitShowsTheSelectedAppsOwnMetrics(t *testing.T) {
	m, _ := plainModel()
	apps := fixtureApps()
	apps[0].Instances[1].Metrics = map[string]float64{"jobs_done": 3, "Heap_Size": 9.5}
	feed(m, tea.WindowSizeMsg{Width: 80, Height: 24}, appsMsg{apps: apps, at: fixtureTime})
	lines := screen(t, m.View(), 80, 24)
	l, ok := lineWith(lines, "jobs_done=3")
	if !ok || !strings.Contains(l, "api[1]") || !strings.Contains(l, "Heap_Size=9.5 jobs_done=3") {
		t.Errorf("no line of api[1]'s metrics, sorted by name; view:\n%s", strings.Join(lines, "\n"))
	}
	if _, ok := lineWith(lines, "api[0]"); ok {
		t.Errorf("an instance without metrics has a metrics line")
	}
	if len(lines) != 24 {
		t.Errorf("%d lines, want 24", len(lines))
	}
}

// A Node instance's runtime figures get columns when the terminal is wide,
// and are the first to go when it is not.
func TestMonitShowsNodeRuntime(t *testing.T) {
	apps := fixtureApps()
	apps[0].Instances[0].Node = map[string]float64{
		"eventloop_delay_p50_seconds": 0.0012, "eventloop_delay_p99_seconds": 0.031, "eventloop_delay_max_seconds": 0.512,
		"eventloop_utilization": 0.42, "heap_used_bytes": 12 << 20, "heap_total_bytes": 20 << 20,
	}
	m, _ := plainModel()
	feed(m, tea.WindowSizeMsg{Width: 160, Height: 24}, appsMsg{apps: apps, at: fixtureTime})
	lines := screen(t, m.View(), 160, 24)
	t.Logf("view:\n%s", strings.Join(lines, "\n"))
	if !strings.Contains(lines[1], "LOOP p50/p99/max") || !strings.Contains(lines[1], "ELU") || !strings.Contains(lines[1], "HEAP") {
		t.Errorf("header lacks the runtime columns: %q", lines[1])
	}
	l, _ := lineWith(lines, "41001")
	for _, want := range []string{"1ms/31ms/512ms", "42%", "12.0mb/20.0mb"} {
		if !strings.Contains(l, want) {
			t.Errorf("row of api[0] lacks %q: %q", want, l)
		}
	}
	if l, _ := lineWith(lines, "41002"); !strings.HasSuffix(strings.Join(strings.Fields(l), " "), "0.0ms - - -") {
		t.Errorf("an instance without runtime figures should end with dashes: %q", l)
	}

	feed(m, tea.WindowSizeMsg{Width: 80, Height: 24})
	lines = screen(t, m.View(), 80, 24)
	if strings.Contains(lines[1], "LOOP") || !strings.Contains(lines[1], "P95") {
		t.Errorf("at 80 columns the runtime columns go before the edge's: %q", lines[1])
	}
}
