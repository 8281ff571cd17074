package daemon

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/spec"
)

func TestStallGateProfilesEachWindowOnceWithinMaxPerHour(t *testing.T) {
	set := spec.ProfileOnStall{Threshold: spec.Duration(200 * time.Millisecond), Duration: spec.Duration(time.Second), MaxPerHour: 2}
	var g stallGate
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	steps := []struct {
		key   string
		delay time.Duration
		at    time.Duration
		want  stallVerdict
		took  bool
	}{
		{"1/0", 50 * time.Millisecond, 0, stallNone, false},
		{"1/0", 500 * time.Millisecond, time.Second, stallProfile, true}, // a window opens
		{"1/0", 500 * time.Millisecond, 2 * time.Second, stallNone, false},
		{"1/0", 200 * time.Millisecond, 3 * time.Second, stallNone, false},   // the threshold itself is a stall
		{"1/1", 900 * time.Millisecond, 3 * time.Second, stallProfile, true}, // another instance
		{"1/0", 10 * time.Millisecond, 4 * time.Second, stallNone, false},    // the window closes
		{"1/0", 300 * time.Millisecond, 5 * time.Second, stallProfile, true},
		{"1/0", 0, 6 * time.Second, stallNone, false},
		{"1/0", 300 * time.Millisecond, 7 * time.Second, stallSkip, false}, // 2 in the last hour
		{"1/0", 0, 8 * time.Second, stallNone, false},
		{"1/0", 300 * time.Millisecond, time.Hour + time.Second, stallProfile, false}, // the first has left the hour
	}
	for i, s := range steps {
		now := t0.Add(s.at)
		if got := g.report(s.key, s.delay, set, now); got != s.want {
			t.Errorf("step %d (%s %s at %s): %v, want %v", i, s.key, s.delay, s.at, got, s.want)
		}
		if s.took {
			g.took(s.key, now)
		}
	}
	g.forget(1)
	if len(g.taken) != 0 || len(g.stalled) != 0 {
		t.Errorf("forget left %v %v", g.taken, g.stalled)
	}
}

func TestStoredProfilesAreParsedAndPruned(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	names := []string{}
	for i := range maxStoredProfiles + 3 {
		n := "my-api-" + []string{"0", "12"}[i%2] + "-" + t0.Add(time.Duration(i)*time.Second).Format(storedTimeLayout) + []string{".cpuprofile", ".heapsnapshot"}[i%2]
		names = append(names, n)
		os.WriteFile(filepath.Join(dir, n), []byte("{}"), 0o600)
	}
	for _, other := range []string{"notes.txt", ".my-api-0-x.cpuprofile.tmp1", "x-0-2026.cpuprofile", "api-zero-" + t0.Format(storedTimeLayout) + ".cpuprofile"} {
		os.WriteFile(filepath.Join(dir, other), nil, 0o600)
	}
	d := &Daemon{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	d.pruneProfiles(dir)
	all, err := storedProfiles(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != maxStoredProfiles {
		t.Fatalf("%d profiles kept, want %d", len(all), maxStoredProfiles)
	}
	if got := filepath.Base(all[0].File); got != names[3] {
		t.Errorf("oldest kept %s, want %s (the 3 oldest removed)", got, names[3])
	}
	p := all[1]
	if p.App != "my-api" || p.Instance != 0 || p.Trigger != api.ProfileTriggerStall || p.Size != 2 || !p.Time.Equal(t0.Add(4*time.Second)) {
		t.Errorf("parsed %+v", p)
	}
	if q := all[0]; q.Instance != 12 || q.Trigger != api.ProfileTriggerMemory {
		t.Errorf("parsed %+v", q)
	}
	if _, err := os.Stat(filepath.Join(dir, "notes.txt")); err != nil {
		t.Errorf("a file that is not a profile was touched: %v", err)
	}
	if none, _ := storedProfiles(dir, "other"); len(none) != 0 {
		t.Errorf("profiles of another app: %v", none)
	}
}
