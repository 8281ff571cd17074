package app

import (
	"context"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/logs"
	"github.com/tendhq/tend/internal/spec"
	"github.com/tendhq/tend/internal/supervise"
)

// world is the fake side of an app under test: a clock the test advances
// and processes whose exit the test triggers. Every owner turn, spawn and
// timer wakes waitFor, which then looks at the app's status again: the
// tests wait for states, never for time.
type world struct {
	t       *testing.T
	changed chan struct{} // one pending wake-up at most
	// dial answers the readiness probes' dials; nil refuses them all.
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// keepStdout gives each process a stdout it writes with fakeProc.say;
	// the test must end every process, or its capture never ends.
	keepStdout bool
	// listening are the ports every process listens on, as /proc says.
	listening []int

	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
	procs  []*fakeProc
}

func newWorld(t *testing.T) *world {
	return &world{t: t, changed: make(chan struct{}, 1), now: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
}

func (w *world) dialer(ctx context.Context, network, addr string) (net.Conn, error) {
	if w.dial != nil {
		return w.dial(ctx, network, addr)
	}
	return nil, syscall.ECONNREFUSED
}

func (w *world) wake() {
	select {
	case w.changed <- struct{}{}:
	default:
	}
}

// newApp makes an app of s on the fake world and closes it at the end.
func (w *world) newApp(s spec.App) *App {
	w.t.Helper()
	s.Mode = spec.ModeFork
	return w.newAppConfig(s, nil)
}

// newAppConfig is newApp with the mode of s, and edit applied to the
// app's Config.
func (w *world) newAppConfig(s spec.App, edit func(*Config)) *App {
	w.t.Helper()
	s.Name = "t"
	s.Script = "/bin/fake"
	if s.Instances == 0 {
		s.Instances = 1
	}
	if s.KillSignal == "" {
		s.KillSignal = "SIGINT"
	}
	c := Config{
		Spec:     s,
		LogDir:   w.t.TempDir(),
		RunDir:   w.t.TempDir(),
		OnChange: w.wake,
		Files:    tempFiles{},
		Effects: &Effects{
			Spawn:     w.spawn,
			Now:       w.Now,
			AfterFunc: w.afterFunc,
			Dial:      w.dialer,
			Listening: func(int) ([]int, error) { return w.listening, nil },
		},
		afterTurn: w.wake,
	}
	if edit != nil {
		edit(&c)
	}
	a := New(c)
	w.t.Cleanup(a.Close)
	return a
}

// waitFor returns the app's status once cond holds.
func (w *world) waitFor(a *App, what string, cond func(api.App) bool) api.App {
	w.t.Helper()
	for {
		st, err := a.Status()
		if err != nil {
			w.t.Fatalf("waiting for %s: %v", what, err)
		}
		if cond(st) {
			return st
		}
		<-w.changed
	}
}

// proc returns the i-th process spawned, waiting for it.
func (w *world) proc(i int) *fakeProc {
	for {
		w.mu.Lock()
		if i < len(w.procs) {
			p := w.procs[i]
			w.mu.Unlock()
			return p
		}
		w.mu.Unlock()
		<-w.changed
	}
}

func (w *world) spawned() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.procs)
}

func (w *world) Now() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.now
}

// advance moves the clock on and runs the timers that fall due, in order.
func (w *world) advance(d time.Duration) {
	w.mu.Lock()
	w.now = w.now.Add(d)
	var due []*fakeTimer
	for _, t := range w.timers {
		if !t.stopped && !t.fired && !t.at.After(w.now) {
			t.fired = true
			due = append(due, t)
		}
	}
	w.mu.Unlock()
	for _, t := range due {
		t.f()
	}
}

// timersMade is how many timers were ever set.
func (w *world) timersMade() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.timers)
}

// waitTimersMade waits until n timers were ever set: helpers set theirs on
// their own goroutines, after the event a test can see.
func (w *world) waitTimersMade(n int) {
	for w.timersMade() < n {
		<-w.changed
	}
}

type fakeTimer struct {
	w              *world
	at             time.Time
	f              func()
	stopped, fired bool // guarded by w.mu
}

func (t *fakeTimer) Stop() bool {
	t.w.mu.Lock()
	defer t.w.mu.Unlock()
	was := !t.stopped && !t.fired
	t.stopped = true
	return was
}

func (w *world) afterFunc(d time.Duration, f func()) Timer {
	w.mu.Lock()
	t := &fakeTimer{w: w, at: w.now.Add(d), f: f}
	w.timers = append(w.timers, t)
	w.mu.Unlock()
	w.wake()
	return t
}

func (w *world) spawn(c supervise.Config) (Process, error) {
	w.mu.Lock()
	p := &fakeProc{w: w, pid: 5_000_000 + len(w.procs), started: w.now, done: make(chan struct{}), stops: make(chan syscall.Signal, 1)}
	for _, kv := range c.Env {
		if v, ok := strings.CutPrefix(kv, "NOTIFY_SOCKET="); ok {
			p.notify = v
		}
	}
	if f, ok := c.Stdout.(*os.File); ok && w.keepStdout {
		// The app closes its end once the process is spawned, as a
		// real child keeps its own.
		fd, err := syscall.Dup(int(f.Fd()))
		if err != nil {
			w.mu.Unlock()
			return nil, err
		}
		p.stdout = os.NewFile(uintptr(fd), "stdout")
	}
	w.procs = append(w.procs, p)
	w.mu.Unlock()
	w.wake()
	return p, nil
}

// fakeProc is a process that runs until the test ends it or the app stops it.
type fakeProc struct {
	w       *world
	pid     int
	started time.Time
	notify  string   // its NOTIFY_SOCKET
	stdout  *os.File // with world.keepStdout; closed when it ends
	stops   chan syscall.Signal

	once sync.Once
	done chan struct{}
	exit supervise.Exit // written once before done is closed
}

func (p *fakeProc) Pid() int                        { return p.pid }
func (p *fakeProc) Started() time.Time              { return p.started }
func (p *fakeProc) Done() <-chan struct{}           { return p.done }
func (p *fakeProc) Exit() supervise.Exit            { return p.exit }
func (p *fakeProc) Signal(sig syscall.Signal) error { return nil }

// Stop ends the process at once, as a process that obeys its signal does.
func (p *fakeProc) Stop(sig syscall.Signal, grace time.Duration) supervise.Exit {
	select {
	case p.stops <- sig:
	default:
	}
	p.end(-1, "SIGINT")
	return p.exit
}

// end makes the process exit now with code (or by signal).
func (p *fakeProc) end(code int, signal string) {
	p.once.Do(func() {
		p.exit = supervise.Exit{Code: code, Signal: signal, Started: p.started, Ended: p.w.Now()}
		if p.stdout != nil {
			p.stdout.Close()
		}
		close(p.done)
	})
}

// say writes text to the process's stdout (world.keepStdout).
func (p *fakeProc) say(t *testing.T, text string) {
	t.Helper()
	if _, err := p.stdout.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

func (p *fakeProc) stopped() bool {
	select {
	case <-p.stops:
		return true
	default:
		return false
	}
}

// ready says READY=1 on the process's notify socket, as sd_notify does.
func (p *fakeProc) ready(t *testing.T) {
	t.Helper()
	c, err := net.Dial("unixgram", p.notify)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("READY=1\n")); err != nil {
		t.Fatal(err)
	}
}

// tempFiles opens each log file on its own.
type tempFiles struct{}

func (tempFiles) Open(cfg logs.FileConfig) (*logs.File, error) { return logs.OpenFile(cfg) }
func (tempFiles) Release(f *logs.File)                         { f.Close() }

// procByPID returns the process spawned with pid.
func (w *world) procByPID(pid int) *fakeProc {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, p := range w.procs {
		if p.pid == pid {
			return p
		}
	}
	w.t.Fatalf("no process %d", pid)
	return nil
}
