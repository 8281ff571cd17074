package app

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/metrics"
	"github.com/tendhq/tend/internal/spec"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func online(pid int) func(api.App) bool {
	return func(st api.App) bool { return st.Instances[0].Status == api.StatusOnline && st.Instances[0].PID == pid }
}

func TestCrashLoopBacksOffThenErrors(t *testing.T) {
	w := newWorld(t)
	a := w.newApp(spec.App{
		Autorestart: true, MaxRestarts: 2,
		MinUptime:              spec.Duration(10 * time.Second),
		ExpBackoffRestartDelay: spec.Duration(100 * time.Millisecond),
	})
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		p := w.proc(i)
		w.waitFor(a, "the process online", online(p.pid))
		p.end(1, "")
		st := w.waitFor(a, "a restart to wait", func(st api.App) bool { return st.Instances[0].Status == api.StatusWaiting })
		in := st.Instances[0]
		if !strings.Contains(in.LastExit.Reason, "restarting in") || in.LastExit.Expected {
			t.Errorf("crash %d: last exit %+v, want an unexpected exit restarting later", i+1, in.LastExit)
		}
		wait := in.NextRestartAt.Sub(w.Now())
		if wait <= 0 {
			t.Fatalf("crash %d: next restart at %v, now %v", i+1, in.NextRestartAt, w.Now())
		}
		// Nothing restarts before the backoff has passed.
		w.advance(wait - time.Millisecond)
		if st, _ := a.Status(); st.Instances[0].Status != api.StatusWaiting || w.spawned() != i+1 {
			t.Fatalf("crash %d: %s with %d spawned before the backoff passed", i+1, st.Instances[0].Status, w.spawned())
		}
		w.advance(time.Millisecond)
		st = w.waitFor(a, "the restart", online(w.proc(i+1).pid))
		if st.Instances[0].Restarts != i+1 {
			t.Errorf("restarts %d, want %d", st.Instances[0].Restarts, i+1)
		}
	}
	w.proc(2).end(1, "")
	st := w.waitFor(a, "errored", func(st api.App) bool { return st.Status == api.StatusErrored })
	if !strings.HasPrefix(st.Reason, "instance 0: ") {
		t.Errorf("reason %q, want one naming instance 0", st.Reason)
	}
	if len(st.Crashes) != 3 {
		t.Errorf("%d crashes recorded, want 3", len(st.Crashes))
	}
	w.advance(time.Hour)
	if n := w.spawned(); n != 3 {
		t.Errorf("%d processes spawned, want 3: an errored app is not restarted", n)
	}
}

func TestReloadRollsBackWhenTheReplacementIsNotReady(t *testing.T) {
	for _, tc := range []struct {
		name string
		fail func(w *world, p *fakeProc, timers int)
		want string
	}{
		{"never ready", func(w *world, p *fakeProc, timers int) {
			w.waitTimersMade(timers + 1) // its listen_timeout
			w.advance(5 * time.Second)
		}, "did not signal ready within listen_timeout 5s"},
		{"exits first", func(w *world, p *fakeProc, _ int) { p.end(1, "") }, "exited before it was ready"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			a := w.newApp(spec.App{
				Instances: 2, ReloadBatch: 1, WaitReady: true, Autorestart: true,
				ListenTimeout: spec.Duration(5 * time.Second),
			})
			started := make(chan error, 1)
			go func() { started <- a.Start(context.Background()) }()
			old := []*fakeProc{w.proc(0), w.proc(1)}
			old[0].ready(t)
			old[1].ready(t)
			if err := <-started; err != nil {
				t.Fatal(err)
			}

			timers := w.timersMade()
			reloaded := make(chan error, 1)
			go func() { reloaded <- a.Reload(context.Background()) }()
			next := w.proc(2)
			tc.fail(w, next, timers)
			err := <-reloaded
			if !errors.Is(err, ErrReload) || !strings.Contains(err.Error(), "instance 0: new process "+tc.want) {
				t.Fatalf("reload: %v, want %v naming instance 0: %s", err, ErrReload, tc.want)
			}
			// The failed replacement is gone; the old instances serve on,
			// and the reload stopped before instance 1.
			<-next.Done()
			st := w.waitFor(a, "settled", func(st api.App) bool { return st.Status == api.StatusOnline })
			for i, in := range st.Instances {
				if in.PID != old[i].pid || old[i].stopped() {
					t.Errorf("instance %d: pid %d (stopped %v), want the old %d running", i, in.PID, old[i].stopped(), old[i].pid)
				}
			}
			if n := w.spawned(); n != 3 {
				t.Errorf("%d processes spawned, want 3: the reload goes no further", n)
			}
		})
	}
}

func TestReloadReplacesEveryInstance(t *testing.T) {
	w := newWorld(t)
	a := w.newApp(spec.App{Instances: 2, ReloadBatch: 1, WaitReady: true, Autorestart: true, ListenTimeout: spec.Duration(5 * time.Second)})
	started := make(chan error, 1)
	go func() { started <- a.Start(context.Background()) }()
	w.proc(0).ready(t)
	w.proc(1).ready(t)
	if err := <-started; err != nil {
		t.Fatal(err)
	}
	reloaded := make(chan error, 1)
	go func() { reloaded <- a.Reload(context.Background()) }()
	// One batch at a time: the second replacement starts once the first
	// is ready and its old process gone.
	w.proc(2).ready(t)
	w.proc(3).ready(t)
	if err := <-reloaded; err != nil {
		t.Fatal(err)
	}
	st, _ := a.Status()
	for i, in := range st.Instances {
		if in.PID != w.proc(2+i).pid || in.Status != api.StatusOnline || in.Restarts != 1 || !w.proc(i).stopped() {
			t.Errorf("instance %d: %+v, want the new process %d online and the old one stopped", i, in, w.proc(2+i).pid)
		}
	}
}

func TestScaleUpAndDown(t *testing.T) {
	w := newWorld(t)
	a := w.newApp(spec.App{Autorestart: true})
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := a.Scale(context.Background(), 3); err != nil {
		t.Fatal(err)
	}
	st, _ := a.Status()
	if len(st.Instances) != 3 || st.Status != api.StatusOnline || w.spawned() != 3 {
		t.Fatalf("after scale up: %d instances %s, %d spawned; want 3 online", len(st.Instances), st.Status, w.spawned())
	}
	if err := a.Scale(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	st, _ = a.Status()
	if len(st.Instances) != 1 || st.Instances[0].PID != w.proc(0).pid {
		t.Fatalf("after scale down: %+v, want instance 0 alone", st.Instances)
	}
	for i := 1; i < 3; i++ {
		if !w.proc(i).stopped() {
			t.Errorf("process of removed instance %d not stopped", i)
		}
	}
	if w.proc(0).stopped() {
		t.Error("the remaining instance was stopped")
	}
	if err := a.Scale(context.Background(), 0); err == nil {
		t.Error("scale to 0 succeeded")
	}
}

func TestMemoryLimitReplacesTheInstance(t *testing.T) {
	w := newWorld(t)
	a := w.newApp(spec.App{Autorestart: true, MaxMemoryRestart: 100 << 20})
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	old := w.proc(0)
	over := map[int]metrics.Usage{old.pid: {MemoryBytes: 200 << 20}}
	// One sample above the limit, then one below: no replacement.
	for _, u := range []map[int]metrics.Usage{over, {old.pid: {MemoryBytes: 50 << 20}}, over} {
		if err := a.Observe(u); err != nil {
			t.Fatal(err)
		}
	}
	if n := w.spawned(); n != 1 {
		t.Fatalf("%d processes after samples that were not 2 in a row over the limit", n)
	}
	if err := a.Observe(over); err != nil {
		t.Fatal(err)
	}
	st := w.waitFor(a, "the replacement", func(st api.App) bool {
		in := st.Instances[0]
		return in.PID != old.pid && in.Status == api.StatusOnline && in.RestartReason != ""
	})
	if in := st.Instances[0]; in.PID != w.proc(1).pid || !strings.HasPrefix(in.RestartReason, "max_memory_restart: memory 200.0MB above the limit 100.0MB") {
		t.Errorf("instance %+v, want process %d replacing it for max_memory_restart", in, w.proc(1).pid)
	}
	if !old.stopped() {
		t.Error("the old process was not stopped")
	}
}

// A port wait that runs when the app is closed ends before Close returns.
func TestCloseEndsReadinessWaits(t *testing.T) {
	w := newWorld(t)
	var closed atomic.Bool
	dialing := make(chan struct{}, 1)
	w.dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if closed.Load() {
			t.Errorf("dialed %s after Close returned", addr)
		}
		select {
		case dialing <- struct{}{}:
		default:
		}
		return nil, errors.New("refused")
	}
	a := w.newApp(spec.App{Port: 1, ListenTimeout: spec.Duration(time.Minute)})
	started := make(chan error, 1)
	go func() { started <- a.Start(context.Background()) }()
	<-dialing
	a.Close()
	closed.Store(true)
	<-started
	w.proc(0).end(0, "")
}

// An instance not ready by listen_timeout is unready, not online: it says
// why, keeps running, and goes online once a later probe finds it ready.
func TestUnreadyInstanceGoesOnlineWhenReady(t *testing.T) {
	w := newWorld(t)
	a := w.newApp(spec.App{WaitReady: true, Autorestart: true, ListenTimeout: spec.Duration(5 * time.Second)})
	started := make(chan error, 1)
	go func() { started <- a.Start(context.Background()) }()
	p := w.proc(0)
	w.waitTimersMade(1) // its listen_timeout
	w.advance(5 * time.Second)
	if err := <-started; err != nil {
		t.Fatalf("start: %v (an unready instance is the CLI's to report)", err)
	}
	st := w.waitFor(a, "unready", func(st api.App) bool { return st.Status == api.StatusUnready })
	in := st.Instances[0]
	if in.Status != api.StatusUnready || in.PID != p.pid || in.Reason != "did not signal ready within listen_timeout 5s" {
		t.Fatalf("instance %+v, want unready, running, with the reason", in)
	}
	if st.Reason != "instance 0: "+in.Reason {
		t.Errorf("app reason %q", st.Reason)
	}
	if p.stopped() {
		t.Fatal("the unready process was stopped")
	}

	p.ready(t)
	w.waitTimersMade(2) // the pause before the next probe
	w.advance(reprobeEvery)
	st = w.waitFor(a, "online", func(st api.App) bool { return st.Status == api.StatusOnline })
	if in := st.Instances[0]; in.Reason != "" || in.PID != p.pid {
		t.Errorf("instance %+v, want the same process online with no reason", in)
	}
	if n := len(st.Events); n == 0 || !strings.Contains(st.Events[n-1].Message, "became ready after all") {
		t.Errorf("events %+v, want the late readiness told", st.Events)
	}
}

// The reason of an unready instance with a port says which port it does
// listen on, when it is not the one it was given.
func TestUnreadyReasonNamesTheListeningPort(t *testing.T) {
	for _, tc := range []struct {
		ports []int
		want  string
	}{
		{[]int{3000}, "listening on 3000, not on PORT=1; port 1 accepted no connection within listen_timeout 2s"},
		{[]int{1, 3000}, "port 1 accepted no connection within listen_timeout 2s"},
		{nil, "not listening on any port; port 1 accepted no connection within listen_timeout 2s"},
	} {
		w := newWorld(t)
		w.listening = tc.ports
		a := w.newApp(spec.App{Port: 1, ListenTimeout: spec.Duration(2 * time.Second)})
		started := make(chan error, 1)
		go func() { started <- a.Start(context.Background()) }()
		w.proc(0)
		w.waitTimersMade(1)
		w.advance(2 * time.Second)
		if err := <-started; err != nil {
			t.Fatal(err)
		}
		st := w.waitFor(a, "unready", func(st api.App) bool { return st.Status == api.StatusUnready })
		if got := st.Instances[0].Reason; got != tc.want {
			t.Errorf("ports %v: reason %q, want %q", tc.ports, got, tc.want)
		}
	}
}

// In socket mode the shared socket stops listening when no process of the
// app is alive (a crash waiting out its restart delay), and listens again
// before the next process starts.
func TestSocketPausesWhileNoInstanceIsAlive(t *testing.T) {
	w := newWorld(t)
	var mu sync.Mutex
	var calls []string // guarded by mu
	record := func(what string) func(*os.File) error {
		return func(*os.File) error {
			mu.Lock()
			defer mu.Unlock()
			calls = append(calls, what)
			return nil
		}
	}
	seen := func() string {
		mu.Lock()
		defer mu.Unlock()
		return strings.Join(calls, ",")
	}
	a := w.newAppConfig(spec.App{Mode: spec.ModeSocket, Port: 1, Autorestart: true, RestartDelay: spec.Duration(time.Minute)}, func(c *Config) {
		c.ListenSocket = func(int) (*os.File, error) { return os.Open(os.DevNull) }
		c.PauseSocket = record("pause")
		c.ResumeSocket = record("resume")
	})
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := seen(); got != "resume" {
		t.Fatalf("calls %q after start, want resume before the spawn", got)
	}
	w.proc(0).end(1, "")
	w.waitFor(a, "waiting", func(st api.App) bool { return st.Status == api.StatusWaiting })
	if got := seen(); got != "resume,pause" {
		t.Fatalf("calls %q with no instance alive, want a pause", got)
	}
	w.waitTimersMade(1)
	w.advance(time.Minute)
	w.waitFor(a, "online again", func(st api.App) bool { return st.Status == api.StatusOnline })
	if got := seen(); got != "resume,pause,resume" {
		t.Errorf("calls %q once an instance starts again, want a resume", got)
	}
}
