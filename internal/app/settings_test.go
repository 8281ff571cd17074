package app

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/logs"
	"github.com/tendhq/tend/internal/spec"
)

// fileLines polls a log file (written by the capture's and the file's own
// goroutines, which say nothing when they are done) until cond holds for
// its lines, or fails after 10 s.
func fileLines(t *testing.T, path string, cond func([]string) bool) []string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		var lines []string
		if s := strings.TrimSuffix(string(b), "\n"); s != "" {
			lines = strings.Split(s, "\n")
		}
		if cond(lines) {
			return lines
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: lines %q", path, lines)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Update applies log settings to the process that runs: a new out_file
// takes the next line and the format changes with it, a max_size and
// retain rotate the file in use; the process is the same throughout.
func TestUpdateReconfiguresTheLogsOfRunningProcesses(t *testing.T) {
	w := newWorld(t)
	w.keepStdout = true
	dir := t.TempDir()
	first, second := filepath.Join(dir, "first.log"), filepath.Join(dir, "second.log")
	a := w.newApp(spec.App{Autorestart: true, OutFile: first})
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	p := w.proc(0)
	w.waitFor(a, "online", online(p.pid))
	p.say(t, "one\n")
	fileLines(t, first, func(l []string) bool { return slices.Equal(l, []string{"one"}) })

	s, _ := a.Spec()
	s.OutFile, s.Time, s.LogDateFormat = second, true, "YYYY"
	if err := a.Update(s); err != nil {
		t.Fatal(err)
	}
	p.say(t, "two\n")
	year := fmt.Sprint(time.Now().Year())
	fileLines(t, second, func(l []string) bool { return slices.Equal(l, []string{year + ": two"}) })
	if l := fileLines(t, first, func([]string) bool { return true }); !slices.Equal(l, []string{"one"}) {
		t.Errorf("old out_file has %q after the switch", l)
	}

	// A path that cannot be opened (its directory is a file) changes
	// nothing, and says which setting.
	bad := s
	bad.OutFile, bad.MaxRestarts = filepath.Join(first, "x.log"), 7
	if err := a.Update(bad); err == nil || !strings.Contains(err.Error(), "out_file") || !strings.Contains(err.Error(), "nothing changed") {
		t.Errorf("update to an out_file that cannot be opened: %v", err)
	}
	if got, _ := a.Spec(); got.OutFile != second || got.MaxRestarts != s.MaxRestarts {
		t.Errorf("a failed update changed the settings: out_file %q, max_restarts %d", got.OutFile, got.MaxRestarts)
	}

	s.Time, s.MaxSize, s.Retain = false, 1024, 1
	if err := a.Update(s); err != nil {
		t.Fatal(err)
	}
	for i := range 100 { // 20-byte lines: 2000 bytes rotate at least once
		p.say(t, fmt.Sprintf("line %014d\n", i))
	}
	fileLines(t, second, func(l []string) bool { return len(l) > 0 && l[len(l)-1] == fmt.Sprintf("line %014d", 99) })
	rotated, err := logs.RotatedFiles(second)
	if err != nil || len(rotated) != 1 {
		t.Errorf("rotated files %v (%v), want 1 kept by retain 1", rotated, err)
	}
	if fi, err := os.Stat(second); err != nil || fi.Size() > 1024 {
		t.Errorf("second.log: %v, want at most 1024 bytes", err)
	}
	if n := w.spawned(); n != 1 {
		t.Errorf("%d processes spawned, want 1: log settings touch no process", n)
	}
	if err := a.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// Update changes the restart policy for the next exit, keeping the
// history: max_restarts lowered below the unstable restarts counted errors
// the instance at its next crash.
func TestUpdateLowersMaxRestartsForTheNextExit(t *testing.T) {
	w := newWorld(t)
	a := w.newApp(spec.App{Autorestart: true, MaxRestarts: 10, MinUptime: spec.Duration(time.Minute)})
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		p := w.proc(i)
		w.waitFor(a, "online", online(p.pid))
		p.end(1, "")
		w.waitFor(a, "restarted", func(st api.App) bool { return st.Instances[0].Restarts == i+1 })
	}
	s, _ := a.Spec()
	s.MaxRestarts = 2
	if err := a.Update(s); err != nil {
		t.Fatal(err)
	}
	p := w.proc(3)
	w.waitFor(a, "online", online(p.pid))
	p.end(1, "")
	st := w.waitFor(a, "errored", func(st api.App) bool { return st.Status == api.StatusErrored })
	if st.Instances[0].Restarts != 3 || !strings.Contains(st.Reason, "3 unstable restarts in a row") {
		t.Errorf("restarts %d, reason %q; want errored at the first crash after the change", st.Instances[0].Restarts, st.Reason)
	}
}
