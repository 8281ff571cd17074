package cli

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"github.com/spf13/cobra"
	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/client"
	"golang.org/x/sys/unix"
)

// tend monit is a bubbletea program over a model that never talks to the
// daemon itself: it asks a monitBackend for tea.Cmds and learns the answers
// as messages, so its tests feed it messages and read View() with no daemon.

const (
	// monitRetry is how long monit waits before it follows the daemon's
	// events again after the stream broke.
	monitRetry = time.Second
	// monitLogKeep is the log backlog asked for and the most lines kept:
	// more than any terminal shows, few enough to redraw cheaply.
	monitLogKeep = 200
	// monitMinLog is how many log lines stay visible when more instances
	// than fit compete for the rows; the table scrolls instead.
	monitMinLog = 3
)

func newMonit(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "monit",
		Short: "Live dashboard of every instance, the selected app's logs, and keys to restart, reload and scale",
		Long: `Show one row per instance (pid, status, CPU, memory, restarts, uptime, requests/s and
p95 latency through the edge; for Node instances, event-loop delay p50/p99/max, event-loop
utilization and heap used/total), refreshed as the daemon reports changes and samples (about
every second while apps run), and below it the selected app's
log tail. Keys: up/down (k/j) select an app, r restart, R reload (zero downtime),
+/- scale by one instance, q quit.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out, ok := e.stdout.(*os.File)
			if !ok || !isTerminal(out) {
				return errors.New("monit draws in a terminal: run it in one, or use `tend ls` and `tend logs` for plain text")
			}
			c, err := e.connect(cmd.Context())
			if err != nil {
				return err
			}
			return runMonit(cmd.Context(), c, out)
		},
	}
}

// isTerminal reports whether f is a terminal: drawn into a file or a pipe,
// the dashboard would be an endless stream of escape codes.
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// runMonit runs the dashboard until the user quits or ctx ends.
func runMonit(ctx context.Context, c *client.Client, out *os.File) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	f := newFollower(ctx, c.Logs)
	defer f.close()
	m := newModel(&daemonBackend{ctx: ctx, c: c, f: f}, lipgloss.NewRenderer(out))
	p := tea.NewProgram(m, tea.WithContext(ctx), tea.WithOutput(out), tea.WithAltScreen())
	// Set before Run: the follower only runs once the program asks it to.
	// Once Run returns, Send returns at once, so close cannot hang on it.
	f.send = p.Send
	// The table is listed again when the daemon says something changed
	// (each sample too), and when the stream breaks, so that the failure
	// shows. The watcher stops with ctx and is waited for.
	var watch sync.WaitGroup
	watch.Go(func() {
		refresh := func() { p.Send(refreshMsg{}) }
		_ = c.FollowEvents(ctx, client.EventsRequest{}, monitRetry, func(error) { refresh() }, func(api.StreamEvent) error {
			refresh()
			return nil
		})
	})
	defer func() { cancel(); watch.Wait() }()
	_, err := p.Run()
	if errors.Is(err, tea.ErrInterrupted) || err != nil && ctx.Err() != nil {
		// SIGINT or SIGTERM, caught by bubbletea or by Main: the user
		// asked to stop, as with q.
		return nil
	}
	return err
}

// Messages the model is fed.
type (
	// refreshMsg says the daemon reported a change: the table is listed
	// again.
	refreshMsg struct{}
	// appsMsg is the answer of a list.
	appsMsg struct {
		apps []api.App
		err  error
		at   time.Time
	}
	// logMsg is a line of the log follow started as generation gen; lines
	// of an older follow, still in flight after the selection changed, are
	// dropped.
	logMsg struct {
		gen  int
		line api.LogLine
	}
	// logEndMsg says the follow of generation gen stopped on its own (the
	// daemon went away, say); the next good refresh starts a new one.
	logEndMsg struct {
		gen int
		err error
	}
	// actionMsg is the outcome of restart, reload or scale.
	actionMsg struct {
		verb, app, instances string
		id                   int
		apps                 []api.App // the daemon's answer: the apps acted on
		err                  error
	}
)

// monitBackend is what the model asks of the daemon. Each method returns a
// tea.Cmd, which bubbletea runs off the event loop, so Update never blocks.
type monitBackend interface {
	// list fetches every app and answers with an appsMsg.
	list() tea.Cmd
	// action runs verb on app a and answers with an actionMsg.
	action(a api.App, verb, instances string) tea.Cmd
	// follow replaces the log follow with one of target, numbered gen.
	follow(target string, gen int) tea.Cmd
}

// daemonBackend is the monitBackend of a real daemon.
type daemonBackend struct {
	ctx context.Context // ends with monit, cancelling calls in flight
	c   *client.Client
	f   *follower
}

func (b *daemonBackend) list() tea.Cmd {
	return func() tea.Msg {
		apps, err := b.c.List(b.ctx)
		if err != nil {
			err = friendly(err)
		}
		return appsMsg{apps: apps, err: err, at: time.Now()}
	}
}

func (b *daemonBackend) action(a api.App, verb, instances string) tea.Cmd {
	return func() tea.Msg {
		// By id: a name can also be a namespace, an id is one app.
		apps, err := b.c.Action(b.ctx, strconv.Itoa(a.ID), verb, api.ActionRequest{Instances: instances})
		if err != nil {
			err = friendly(err)
		}
		return actionMsg{verb: verb, app: a.Name, instances: instances, id: a.ID, apps: apps, err: err}
	}
}

func (b *daemonBackend) follow(target string, gen int) tea.Cmd {
	return func() tea.Msg {
		b.f.follow(target, gen)
		return nil
	}
}

// follower owns the goroutine that follows the selected app's log. The
// model's follow commands start it (each replacing the last), and close,
// called by runMonit on the way out, stops it and waits for it.
type follower struct {
	ctx  context.Context
	logs func(context.Context, client.LogsRequest, func(api.LogLine) error) error
	send func(tea.Msg) // set once, before the first follow

	mu     sync.Mutex
	gen    int                // newest generation started; guarded by mu
	cancel context.CancelFunc // of the running follow; guarded by mu
	closed bool               // guarded by mu
	wg     sync.WaitGroup
}

func newFollower(ctx context.Context, logs func(context.Context, client.LogsRequest, func(api.LogLine) error) error) *follower {
	return &follower{ctx: ctx, logs: logs}
}

// follow stops the running follow and starts one of target. bubbletea runs
// commands concurrently, so two quick selection changes can arrive out of
// order: an older generation than the newest started is ignored.
func (f *follower) follow(target string, gen int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed || gen <= f.gen {
		return
	}
	f.gen = gen
	if f.cancel != nil {
		f.cancel()
	}
	ctx, cancel := context.WithCancel(f.ctx)
	f.cancel = cancel
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		err := f.logs(ctx, client.LogsRequest{App: target, Lines: monitLogKeep, Follow: true}, func(l api.LogLine) error {
			f.send(logMsg{gen: gen, line: l})
			return ctx.Err()
		})
		if ctx.Err() == nil {
			f.send(logEndMsg{gen: gen, err: err})
		}
	}()
}

// close stops the follow and waits for its goroutine.
func (f *follower) close() {
	f.mu.Lock()
	f.closed = true
	if f.cancel != nil {
		f.cancel()
	}
	f.mu.Unlock()
	f.wg.Wait()
}

// model is the dashboard's state. Update and View are pure: everything
// that reaches the daemon goes through b as a tea.Cmd.
type model struct {
	b  monitBackend
	st monitStyles

	width, height int // 0 until the first tea.WindowSizeMsg

	apps    []api.App
	listErr error     // the last refresh failed; apps are the last good ones
	updated time.Time // of apps
	// listing says a list is in flight; stale that a change was reported
	// meanwhile, so another list follows its answer.
	listing, stale bool
	// selID is the selected app's id (-1 for none): it follows the app
	// when a refresh reorders the list. selPos is its row, kept so that
	// when the app goes away the selection stays near where it was.
	selID, selPos int

	logGen   int           // generation of the follow whose lines are shown
	logs     []api.LogLine // the selected app's last lines, oldest first
	logEnded bool          // the follow stopped; restart it on the next refresh
	logErr   error         // why it stopped, if it said

	status    string // the last action's progress or outcome
	statusErr bool
}

type monitStyles struct {
	title, header, selected, dim, red, green, yellow lipgloss.Style
}

func newModel(b monitBackend, r *lipgloss.Renderer) *model {
	s := r.NewStyle()
	return &model{
		b: b,
		st: monitStyles{
			title:    s.Bold(true),
			header:   s.Bold(true).Faint(true),
			selected: s.Reverse(true),
			dim:      s.Faint(true),
			red:      s.Foreground(lipgloss.Color("1")),
			green:    s.Foreground(lipgloss.Color("2")),
			yellow:   s.Foreground(lipgloss.Color("3")),
		},
		selID: -1,
	}
}

func (m *model) Init() tea.Cmd { return m.refresh() }

// refresh lists the apps, unless a list is in flight: then one more
// follows its answer, so a burst of events costs two lists, not one each.
func (m *model) refresh() tea.Cmd {
	if m.listing {
		m.stale = true
		return nil
	}
	m.listing = true
	return m.b.list()
}

func (m *model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
	case tea.KeyMsg:
		return m, m.key(msg)
	case refreshMsg:
		return m, m.refresh()
	case appsMsg:
		m.listing = false
		var next tea.Cmd
		if m.stale {
			m.stale = false
			next = m.refresh()
		}
		if msg.err != nil {
			m.listErr = msg.err
			return m, next
		}
		m.listErr, m.apps, m.updated = nil, msg.apps, msg.at
		pos := m.selPos
		for i, a := range m.apps {
			if a.ID == m.selID {
				pos = i
			}
		}
		return m, tea.Batch(next, m.selectApp(pos))
	case logMsg:
		if msg.gen == m.logGen {
			m.logErr = nil
			m.logs = append(m.logs, msg.line)
			if len(m.logs) > 2*monitLogKeep {
				// Amortised trim: copy only once the slice has doubled.
				m.logs = append([]api.LogLine(nil), m.logs[len(m.logs)-monitLogKeep:]...)
			}
		}
	case logEndMsg:
		if msg.gen == m.logGen {
			m.logEnded, m.logErr = true, msg.err
		}
	case actionMsg:
		m.actionDone(msg)
		// Show what the action did now rather than at the next event.
		return m, m.refresh()
	}
	return m, nil
}

func (m *model) key(k tea.KeyMsg) tea.Cmd {
	if k.Type == tea.KeyRunes && len(k.Runes) > 1 && !k.Paste {
		// Keys typed faster than bubbletea reads arrive as one message
		// ("k+"): each is still a key.
		var cmds []tea.Cmd
		for _, r := range k.Runes {
			cmds = append(cmds, m.key(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}}))
		}
		return tea.Batch(cmds...)
	}
	switch k.String() {
	case "q", "ctrl+c":
		return tea.Quit
	case "up", "k":
		return m.selectApp(m.selPos - 1)
	case "down", "j":
		return m.selectApp(m.selPos + 1)
	case "r":
		return m.act("restart", "")
	case "R":
		return m.act("reload", "")
	case "+", "=": // "=" is "+" without shift on most keyboards
		return m.act("scale", "+1")
	case "-":
		return m.act("scale", "-1")
	}
	return nil
}

// selectApp selects the app at pos (clamped) and, when that is another app
// than before or the follow stopped, starts following its log.
func (m *model) selectApp(pos int) tea.Cmd {
	if len(m.apps) == 0 {
		if m.selID >= 0 {
			m.logGen++ // drop lines still coming from the old follow
		}
		m.selID, m.selPos = -1, 0
		m.logs, m.logEnded, m.logErr = nil, false, nil
		return nil
	}
	pos = max(0, min(pos, len(m.apps)-1))
	id := m.apps[pos].ID
	m.selPos = pos
	if id == m.selID && !m.logEnded {
		return nil
	}
	m.selID = id
	m.logGen++
	m.logs, m.logEnded = nil, false
	return m.b.follow(strconv.Itoa(id), m.logGen)
}

func (m *model) selected() (api.App, bool) {
	if m.selID < 0 || m.selPos >= len(m.apps) {
		return api.App{}, false
	}
	return m.apps[m.selPos], true
}

var monitDoing = map[string]string{"restart": "restarting", "reload": "reloading", "scale": "scaling"}

func (m *model) act(verb, instances string) tea.Cmd {
	a, ok := m.selected()
	if !ok {
		m.status, m.statusErr = "no app selected", true
		return nil
	}
	m.status, m.statusErr = fmt.Sprintf("%s %s…", monitDoing[verb], a.Name), false
	return m.b.action(a, verb, instances)
}

func (m *model) actionDone(msg actionMsg) {
	if msg.err != nil {
		what := msg.verb
		if msg.instances != "" {
			what += " " + msg.instances
		}
		m.status, m.statusErr = fmt.Sprintf("%s %s: %v", what, msg.app, msg.err), true
		return
	}
	m.statusErr = false
	switch msg.verb {
	case "restart":
		m.status = "restarted " + msg.app
	case "reload":
		m.status = "reloaded " + msg.app
	default:
		m.status = fmt.Sprintf("scaled %s %s", msg.app, msg.instances)
		for _, a := range msg.apps {
			if a.ID == msg.id {
				m.status = fmt.Sprintf("scaled %s to %d", msg.app, len(a.Instances))
			}
		}
	}
}

// View draws, top to bottom: a title, the instance table, a rule naming
// the selected app, its log tail, and the status line, in exactly the
// window's height and never wider than it: a line that wrapped would push
// everything below it down.
func (m *model) View() string {
	w, h := m.width, m.height
	if w <= 0 || h <= 0 {
		w, h = 80, 24 // before the terminal has said its size
	}
	rows, first, last := m.tableRows(w, max(1, h-4-monitMinLog))
	lines := []string{m.titleLine(w, first, last)}
	lines = append(lines, rows...)
	lines = append(lines, m.metricLines()...)
	lines = append(lines, m.rule(w))
	nlog := max(0, h-len(lines)-1)
	lines = append(lines, m.logLines(w, nlog)...)
	if len(lines) > h-1 {
		lines = lines[:max(0, h-1)]
	}
	lines = append(lines, m.statusLine(w))
	for i, l := range lines {
		lines[i] = ansi.Truncate(l, w, "")
	}
	return strings.Join(lines, "\n")
}

// monitMetricLines bounds the lines of the selected app's own metrics.
const monitMetricLines = 3

// metricLines are the selected app's own metrics (tend:metric, @pm2/io,
// tx2), one line per instance that has some, sorted by name.
func (m *model) metricLines() []string {
	a, ok := m.selected()
	if !ok {
		return nil
	}
	var out []string
	for _, in := range a.Instances {
		if len(in.Metrics) == 0 || len(out) == monitMetricLines {
			continue
		}
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(in.Metrics)) {
			parts = append(parts, fmt.Sprintf("%s=%g", clean(k), in.Metrics[k]))
		}
		out = append(out, m.st.dim.Render(fmt.Sprintf("  %s[%d] ", clean(a.Name), in.Index))+strings.Join(parts, " "))
	}
	return out
}

func (m *model) titleLine(w, first, last int) string {
	t := m.st.title.Render("tend monit")
	if m.listErr != nil {
		return t + "  " + m.st.red.Render(fit("refresh failed: "+m.listErr.Error(), w-12))
	}
	n := 0
	for _, a := range m.apps {
		n += len(a.Instances)
	}
	info := fmt.Sprintf("%d apps · %d instances", len(m.apps), n)
	if first > 0 || last < m.rowCount() {
		info += fmt.Sprintf(" · rows %d-%d", first+1, last)
	}
	if !m.updated.IsZero() {
		info += " · " + m.updated.Format("15:04:05")
	}
	return t + "  " + m.st.dim.Render(fit(info, w-12))
}

// monitCol is a column of the table: a cell is at least width wide, and
// when the terminal is too narrow, columns go in increasing drop order (0:
// never): a Node instance's runtime figures first, then uptime, restarts,
// which tell of a crash loop, last.
type monitCol struct {
	title string
	width int
	right bool
	drop  int
}

var monitCols = []monitCol{
	{"APP", 8, false, 0},
	{"#", 1, true, 0},
	{"PID", 7, true, 0},
	{"STATUS", 9, false, 0},
	{"CPU", 6, true, 0},
	{"MEM", 8, true, 0},
	{"↺", 3, true, 7},
	{"UPTIME", 6, true, 4},
	{"REQ/S", 7, true, 6},
	{"P95", 7, true, 5},
	{"LOOP p50/p99/max", 16, true, 1},
	{"ELU", 4, true, 3},
	{"HEAP", 11, true, 2},
}

// monitStatusCol is STATUS's index in monitCols: its cell is coloured.
const monitStatusCol = 3

// monitNameMin is the narrowest the APP column gets before other columns
// are dropped to make room for it.
const monitNameMin = 10

// monitMaxDrop is the highest drop order in monitCols.
const monitMaxDrop = 7

func (m *model) rowCount() int {
	n := 0
	for _, a := range m.apps {
		n += max(1, len(a.Instances))
	}
	return n
}

// tableRows renders the header and at most maxRows instance rows, scrolled
// so that the selected app's rows are on screen, and says which rows
// [first, last) those are.
func (m *model) tableRows(w, maxRows int) (lines []string, first, last int) {
	type row struct {
		app   int
		cells []string
		state string
	}
	var rows []row
	for i, a := range m.apps {
		if len(a.Instances) == 0 { // scaled to zero: still selectable
			rows = append(rows, row{i, []string{clean(a.Name), "-", "-", a.Status, "-", "-", "-", "-", "-", "-", "-", "-", "-"}, a.Status})
		}
		for _, in := range a.Instances {
			rows = append(rows, row{i, instanceCells(a.Name, in), in.Status})
		}
	}

	// Widths: each column as wide as its content. When that is too wide
	// the name gives way first, down to monitNameMin, then whole columns
	// in their drop order; the name takes back any room a drop freed.
	widths := make([]int, len(monitCols))
	for i, c := range monitCols {
		widths[i] = max(c.width, ansi.StringWidth(c.title))
		for _, r := range rows {
			widths[i] = max(widths[i], ansi.StringWidth(r.cells[i]))
		}
	}
	nameW := widths[0]
	shown := make([]bool, len(monitCols))
	for i := range shown {
		shown[i] = true
	}
	total := func() int {
		t := 2 // the selection marker
		for i := range widths {
			if shown[i] {
				t += widths[i] + 1
			}
		}
		return t - 1
	}
	for drop := 1; ; drop++ {
		if over := total() - w; over > 0 && widths[0] > monitNameMin {
			widths[0] = max(monitNameMin, widths[0]-over)
		}
		if total() <= w || drop > monitMaxDrop {
			break
		}
		for i, c := range monitCols {
			if c.drop == drop {
				shown[i] = false
			}
		}
	}
	if room := w - total(); room > 0 {
		widths[0] = min(nameW, widths[0]+room)
	} else if room < 0 {
		widths[0] = max(3, widths[0]+room) // what is still too wide, View cuts
	}

	// format lays cells out in the columns; paint, if any, styles a cell's
	// text after it is measured, so escapes never count as width.
	format := func(cells []string, paint func(col int, s string) string) string {
		var b strings.Builder
		sep := ""
		for i, c := range monitCols {
			if !shown[i] {
				continue
			}
			s := fit(cells[i], widths[i])
			pad := strings.Repeat(" ", widths[i]-ansi.StringWidth(s))
			if paint != nil {
				s = paint(i, s)
			}
			b.WriteString(sep)
			sep = " "
			if c.right {
				b.WriteString(pad + s)
			} else {
				b.WriteString(s + pad)
			}
		}
		return b.String()
	}
	titles := make([]string, len(monitCols))
	for i, c := range monitCols {
		titles[i] = c.title
	}
	lines = append(lines, "  "+m.st.header.Render(format(titles, nil)))
	if len(rows) == 0 {
		return append(lines, "  no apps: start one with `tend start app.js`"), 0, 0
	}

	// Scroll: the selected app's last row on screen if it fits, and its
	// first row in any case.
	selFirst, selLast := -1, -1
	for i, r := range rows {
		if r.app == m.selPos && m.selID >= 0 {
			if selFirst < 0 {
				selFirst = i
			}
			selLast = i
		}
	}
	first, last = 0, min(len(rows), maxRows)
	if selLast >= last {
		first = selLast - maxRows + 1
	}
	if selFirst >= 0 && selFirst < first {
		first = selFirst
	}
	last = min(len(rows), first+maxRows)

	for _, r := range rows[first:last] {
		if r.app == m.selPos && m.selID >= 0 {
			// Pad to the full width so the highlight is a bar, and keep
			// the cells plain: an inner style's reset would end it.
			text := "▸ " + format(r.cells, nil)
			text += strings.Repeat(" ", max(0, w-ansi.StringWidth(text)))
			lines = append(lines, m.st.selected.Render(text))
			continue
		}
		st, ok := m.statusStyle(r.state)
		lines = append(lines, "  "+format(r.cells, func(col int, s string) string {
			if col == monitStatusCol && ok {
				return st.Render(s)
			}
			return s
		}))
	}
	return lines, first, last
}

func (m *model) statusStyle(status string) (lipgloss.Style, bool) {
	switch status {
	case api.StatusOnline:
		return m.st.green, true
	case api.StatusErrored:
		return m.st.red, true
	case api.StatusLaunching, api.StatusWaiting, api.StatusStopping, api.StatusUnready:
		return m.st.yellow, true
	case api.StatusStopped:
		return m.st.dim, true
	}
	return lipgloss.Style{}, false
}

func instanceCells(name string, in api.Instance) []string {
	pid, up := "-", "-"
	if in.PID > 0 {
		pid = strconv.Itoa(in.PID)
		up = humanDuration(time.Duration(in.UptimeMS) * time.Millisecond)
	}
	rps, p95 := "-", "-"
	if h := in.HTTP; h != nil {
		rps = fmt.Sprintf("%.1f", h.RPS)
		p95 = humanMS(h.P95MS)
	}
	loop, elu, heap := "-", "-", "-"
	if f := in.Node; len(f) > 0 {
		ms := func(k string) string { return humanLoopMS(f[k] * 1000) }
		loop = ms("eventloop_delay_p50_seconds") + "/" + ms("eventloop_delay_p99_seconds") + "/" + ms("eventloop_delay_max_seconds")
		elu = fmt.Sprintf("%.0f%%", f["eventloop_utilization"]*100)
		heap = humanBytes(uint64(f["heap_used_bytes"])) + "/" + humanBytes(uint64(f["heap_total_bytes"]))
	}
	return []string{
		clean(name), strconv.Itoa(in.Index), pid, in.Status,
		fmt.Sprintf("%.1f%%", in.CPUPercent), humanBytes(in.MemoryBytes),
		strconv.Itoa(in.Restarts), up, rps, p95, loop, elu, heap,
	}
}

// humanLoopMS prints an event-loop delay in at most 5 columns: whole
// milliseconds below 10 s.
func humanLoopMS(ms float64) string {
	if ms < 10000 {
		return fmt.Sprintf("%.0fms", ms)
	}
	return fmt.Sprintf("%.0fs", ms/1000)
}

// humanMS prints a latency in at most 7 columns.
func humanMS(ms float64) string {
	switch {
	case ms < 10:
		return fmt.Sprintf("%.1fms", ms)
	case ms < 10000:
		return fmt.Sprintf("%.0fms", ms)
	default:
		return fmt.Sprintf("%.1fs", ms/1000)
	}
}

func (m *model) rule(w int) string {
	label := " logs "
	if a, ok := m.selected(); ok {
		label = " " + a.Name + " logs "
	}
	if m.logEnded {
		end := "stream ended"
		if m.logErr != nil {
			end += ": " + m.logErr.Error()
		}
		label += "(" + end + ") "
	}
	label = fit(label, max(0, w-2))
	return m.st.dim.Render("──" + label + strings.Repeat("─", max(0, w-2-ansi.StringWidth(label))))
}

// logLines renders the last n lines of the selected app's log, padded with
// blank lines to n so the status line stays at the bottom.
func (m *model) logLines(w, n int) []string {
	out := make([]string, 0, n)
	for _, l := range m.logs[max(0, len(m.logs)-n):] {
		prefix := fmt.Sprintf("[%d] ", l.Instance)
		text := fit(prefix+l.Message, w)
		switch l.Stream {
		case "err":
			text = m.st.red.Render(text)
		case "tend":
			text = m.st.dim.Render(text)
		}
		out = append(out, text)
	}
	for len(out) < n {
		out = append(out, "")
	}
	return out
}

const (
	monitHelp      = "↑↓ select  r restart  R reload  +/- scale  q quit"
	monitHelpShort = "↑↓ r R +/- q"
)

// statusLine shows the keys and the last action's outcome, the keys
// shortened when both do not fit.
func (m *model) statusLine(w int) string {
	if m.status == "" {
		return m.st.dim.Render(fit(monitHelp, w))
	}
	help := monitHelp
	if ansi.StringWidth(help)+2+ansi.StringWidth(m.status) > w {
		help = monitHelpShort
	}
	s := fit(m.status, max(0, w-ansi.StringWidth(help)-2))
	if m.statusErr {
		s = m.st.red.Render(s)
	}
	return m.st.dim.Render(help) + "  " + s
}

// fit makes s one clean row of at most w columns, marking a cut. Errors
// are drawn through it too: some span lines (a daemon that failed to
// start quotes its log).
func fit(s string, w int) string {
	if w <= 0 {
		return ""
	}
	return ansi.Truncate(clean(s), w, "…")
}

// clean makes text from an app safe to draw in one row: its own colours
// and cursor moves would corrupt the screen, a tab's width depends on
// where it falls, and a newline would wrap.
func clean(s string) string {
	s = strings.ReplaceAll(ansi.Strip(s), "\t", "    ")
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
}
