package app

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/metrics"
	"github.com/tendhq/tend/internal/spec"
)

// emitted collects what an app emits.
type emitted struct {
	mu  sync.Mutex
	evs []api.StreamEvent // guarded by mu
}

func (e *emitted) emit(ev api.StreamEvent) {
	e.mu.Lock()
	e.evs = append(e.evs, ev)
	e.mu.Unlock()
}

// of returns what was emitted of type typ, each shown by show.
func (e *emitted) of(typ string, show func(api.StreamEvent) string) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, ev := range e.evs {
		if ev.Type == typ {
			out = append(out, show(ev))
		}
	}
	return out
}

func showIncident(ev api.StreamEvent) string {
	s := ev.Kind + ": " + ev.Message
	if ev.Resolved {
		s += " (resolved)"
	}
	return s
}

func TestAFailedReloadIsAnIncidentUntilOneSucceeds(t *testing.T) {
	w := newWorld(t)
	var em emitted
	a := w.newAppConfig(spec.App{Mode: spec.ModeFork, WaitReady: true, Autorestart: true, ListenTimeout: spec.Duration(5 * time.Second)},
		func(c *Config) { c.Emit = em.emit })
	started := make(chan error, 1)
	go func() { started <- a.Start(context.Background()) }()
	w.proc(0).ready(t)
	if err := <-started; err != nil {
		t.Fatal(err)
	}
	reload := func(next func(p *fakeProc)) error {
		done := make(chan error, 1)
		n := w.spawned()
		go func() { done <- a.Reload(context.Background()) }()
		next(w.proc(n))
		return <-done
	}
	if err := reload(func(p *fakeProc) { p.end(1, "") }); err == nil {
		t.Fatal("a reload whose new process exited succeeded")
	}
	if err := reload(func(p *fakeProc) { p.end(1, "") }); err == nil {
		t.Fatal("a reload whose new process exited succeeded")
	}
	for range 2 {
		if err := reload(func(p *fakeProc) { p.ready(t) }); err != nil {
			t.Fatal(err)
		}
	}
	got := em.of(api.EventIncident, showIncident)
	want := []string{
		"reload_failed: reload failed: t: instance 0: new process exited before it was ready",
		"reload_failed: reload failed: t: instance 0: new process exited before it was ready",
		"reload_failed: a reload succeeded (resolved)",
	}
	if len(got) != len(want) {
		t.Fatalf("incidents %q; want %q", got, want)
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("incident %d: %q; want %q", i, got[i], want[i])
		}
	}
}

func TestAMemoryLimitReplacementIsAnIncident(t *testing.T) {
	w := newWorld(t)
	var em emitted
	a := w.newAppConfig(spec.App{Mode: spec.ModeFork, Autorestart: true, MaxMemoryRestart: 100 << 20}, func(c *Config) { c.Emit = em.emit })
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	old := w.proc(0)
	over := map[int]metrics.Usage{old.pid: {MemoryBytes: 200 << 20}}
	for range 2 {
		if err := a.Observe(over); err != nil {
			t.Fatal(err)
		}
	}
	w.waitFor(a, "the replacement", func(st api.App) bool { return st.Instances[0].RestartReason != "" })
	got := em.of(api.EventIncident, showIncident)
	want := []string{"memory_limit: instance 0 replaced: max_memory_restart: memory 200.0MB above the limit 100.0MB for 2 samples in a row"}
	if !slices.Equal(got, want) {
		t.Fatalf("incidents %q; want %q", got, want)
	}
}

func TestACrashSaysHowManyUnstableRestartsInARow(t *testing.T) {
	w := newWorld(t)
	var em emitted
	a := w.newAppConfig(spec.App{Mode: spec.ModeFork, Autorestart: true, MaxRestarts: 10, MinUptime: spec.Duration(10 * time.Second)},
		func(c *Config) { c.Emit = em.emit })
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		w.waitFor(a, "the process online", online(w.proc(i).pid))
		w.proc(i).end(1, "")
		w.waitFor(a, "the restart", func(st api.App) bool { return st.Instances[0].Restarts == i+1 })
	}
	got := em.of(api.EventInstanceExit, func(ev api.StreamEvent) string { return strings.Repeat("x", ev.Exit.Unstable) })
	if want := []string{"x", "xx", "xxx"}; !slices.Equal(got, want) {
		t.Fatalf("unstable counts %q; want %q", got, want)
	}
}
