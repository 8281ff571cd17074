package app

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/spec"
	"github.com/tendhq/tend/internal/supervise"
)

// outputs keeps the fake processes' ends of their stdout pipes, as real
// children would hold them, so that a test writes their output.
type outputs struct {
	mu  sync.Mutex
	out map[int]*os.File // by pid
}

func (o *outputs) spawn(w *world) func(supervise.Config) (Process, error) {
	return func(c supervise.Config) (Process, error) {
		f, err := c.Stdout.(*os.File)
		if !err {
			w.t.Fatalf("stdout is %T", c.Stdout)
		}
		mine, derr := dupFile(f)
		if derr != nil {
			w.t.Fatal(derr)
		}
		// Its stderr stays closed: a process may close it and go on.
		p, _ := w.spawn(c)
		o.mu.Lock()
		o.out[p.Pid()] = mine
		o.mu.Unlock()
		return p, nil
	}
}

func (o *outputs) write(t *testing.T, pid int, s string) {
	t.Helper()
	o.mu.Lock()
	f := o.out[pid]
	o.mu.Unlock()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

func (o *outputs) close() {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, f := range o.out {
		f.Close()
	}
}

// An app handed over and adopted by a new App keeps its processes, their
// restart counts and their output, a partial line included, and the new
// App supervises them: an exit is seen and restarted.
func TestHandoverThenAdoptKeepsProcessesRestartsAndOutput(t *testing.T) {
	w := newWorld(t)
	logDir := t.TempDir()
	o := &outputs{out: map[int]*os.File{}}
	defer o.close()
	newApp := func() *App {
		a := New(Config{
			Spec:      spec.App{Name: "t", Script: "/bin/fake", Mode: spec.ModeFork, Instances: 2, KillSignal: "SIGINT", Autorestart: true, MaxRestarts: 16, MergeLogs: true},
			LogDir:    logDir,
			RunDir:    t.TempDir(),
			OnChange:  w.wake,
			Files:     tempFiles{},
			Effects:   &Effects{Spawn: o.spawn(w), Now: w.Now, AfterFunc: w.afterFunc, Dial: w.dialer},
			afterTurn: w.wake,
		})
		t.Cleanup(a.Close)
		return a
	}
	bothOnline := func(st api.App) bool {
		return len(st.Instances) == 2 && st.Instances[0].Status == api.StatusOnline && st.Instances[1].Status == api.StatusOnline
	}
	a := newApp()
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	w.waitFor(a, "both online", bothOnline)
	w.proc(0).end(1, "") // a crash: instance 0 restarts once
	st := w.waitFor(a, "instance 0 back", func(st api.App) bool { return bothOnline(st) && st.Instances[0].Restarts == 1 })
	before := []int{st.Instances[0].PID, st.Instances[1].PID}
	o.write(t, before[0], "whole\nhal")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := a.Quiesce(ctx); err != nil {
		t.Fatal(err)
	}
	h, err := a.Handover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	procs := map[int]Process{}
	for _, s := range h.Slots {
		// Its stderr, at EOF, may be handed over or not: either way the
		// next capture finds it at EOF.
		if s.Proc == nil || s.Proc.Stdout < 0 {
			t.Fatalf("slot %d handed without its process or its stdout: %+v", s.Index, s.Proc)
		}
		procs[s.Proc.PID] = w.procByPID(s.Proc.PID)
	}
	if _, err := a.Status(); err != ErrDeleted {
		t.Errorf("the handed app still answers: %v", err)
	}
	o.write(t, before[0], "f\n") // written while no daemon reads

	b := newApp()
	if err := b.Adopt(h, procs); err != nil {
		t.Fatal(err)
	}
	st = w.waitFor(b, "both adopted online", bothOnline)
	if got := []int{st.Instances[0].PID, st.Instances[1].PID}; got[0] != before[0] || got[1] != before[1] || st.Instances[0].Restarts != 1 || st.Instances[1].Restarts != 0 {
		t.Fatalf("adopted pids %v restarts %d %d, want %v, 1, 0", got, st.Instances[0].Restarts, st.Instances[1].Restarts, before)
	}
	o.write(t, before[0], "after\n")
	log := filepath.Join(logDir, "t-out.log")
	for deadline := time.Now().Add(10 * time.Second); ; {
		b, _ := os.ReadFile(log)
		if strings.Contains(string(b), "after") {
			if got := strings.Fields(string(b)); strings.Join(got, " ") != "whole half after" {
				t.Fatalf("log %q, want the lines whole, half, after once each", b)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the adopted capture never wrote %q: %q", "after", b)
		}
		time.Sleep(5 * time.Millisecond)
	}
	w.procByPID(before[1]).end(1, "")
	w.waitFor(b, "instance 1 restarted by the adopter", func(st api.App) bool {
		return bothOnline(st) && st.Instances[1].Restarts == 1 && st.Instances[1].PID != before[1]
	})
}
