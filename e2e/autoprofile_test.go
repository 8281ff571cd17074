package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/api"
)

// storedProfiles is `tend profile ls --json` (of app, or every app).
func (h *home) storedProfiles(app ...string) []api.StoredProfile {
	h.t.Helper()
	var ps []api.StoredProfile
	mustJSON(h.t, h.ok(append([]string{"profile", "ls", "--json"}, app...)...), &ps)
	return ps
}

// waitCount polls url, a counter the fixture answers, until it is at least
// n.
func waitCount(t *testing.T, url string, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := strconv.Atoi(strings.TrimSpace(get(t, url)))
		if err == nil && got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s stayed at %d, want %d or more", url, got, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func isProfileEvent(trigger string, ok bool) func(api.StreamEvent) bool {
	return func(e api.StreamEvent) bool {
		return e.Type == api.EventProfile && e.Action == trigger && (e.Error == "") == ok
	}
}

// A fixture that blocks its event loop 500 ms every second, in windows the
// test opens and closes: tend profiles each window once, by itself, and no
// more than max_per_hour.
func TestProfileOnStallTakesOneProfilePerStallWindow(t *testing.T) {
	h := newHome(t)
	// Every report covers a whole block (1 s period + 500 ms block): one
	// stall window is an unbroken run of reports above the threshold.
	os.WriteFile(filepath.Join(h.dir, "daemon.yaml"), []byte("metrics_interval: 1500ms\n"), 0o600)
	port := freePort(t)
	eco := filepath.Join(t.TempDir(), "tend.yaml")
	writeEco(t, eco, fmt.Sprintf(`apps:
  - name: stall
    script: %s/stall-window.js
    port: %d
    profile_on_stall: {threshold: 200ms, duration: 2s, max_per_hour: 2}
`, fixtures, port))
	h.ls() // the daemon is up
	sc := h.events(t, "")
	h.ok("apply", eco)
	h.waitApp("stall", "online", allOnline)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	quiet := func() {
		get(t, base+"/off")
		h.waitApp("stall", "reporting a quiet event loop", func(a api.App) bool {
			f := a.Instances[0].Node
			return f != nil && f["eventloop_delay_max_seconds"] < 0.2
		})
	}

	get(t, base+"/on")
	first := waitEvent(t, sc, "a stall profile", isProfileEvent(api.ProfileTriggerStall, true))
	// The window goes on for two whole reports after the profile: no
	// second profile.
	n, _ := strconv.Atoi(get(t, base+"/count"))
	waitCount(t, base+"/count", n+4)
	if ps := h.storedProfiles("stall"); len(ps) != 1 || ps[0].File != first.Message {
		t.Fatalf("one stall window, profiles %+v, want the one of the event %+v", ps, first)
	}
	quiet()

	get(t, base+"/on")
	second := waitEvent(t, sc, "the second stall's profile", isProfileEvent(api.ProfileTriggerStall, true))
	quiet()
	get(t, base+"/on")
	skipped := waitEvent(t, sc, "the third stall, not profiled", isProfileEvent(api.ProfileTriggerStall, false))
	if !strings.Contains(skipped.Error, "max_per_hour") {
		t.Errorf("the third stall's event says %q, want max_per_hour named", skipped.Error)
	}
	get(t, base+"/off")

	ps := h.storedProfiles()
	if len(ps) != 2 || ps[0].File != first.Message || ps[1].File != second.Message {
		t.Fatalf("profiles %+v, want those of the events %q and %q", ps, first.Message, second.Message)
	}
	dir := filepath.Join(h.dir, "profiles")
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("profiles directory: %v %v, want mode 0700", st.Mode(), err)
	}
	for _, p := range ps {
		if p.App != "stall" || p.Instance != 0 || p.Trigger != api.ProfileTriggerStall || p.Size == 0 {
			t.Errorf("listed %+v", p)
		}
		if filepath.Dir(p.File) != dir || !strings.HasPrefix(filepath.Base(p.File), "stall-0-") || !strings.HasSuffix(p.File, ".cpuprofile") {
			t.Errorf("file %s, want %s/stall-0-<time>.cpuprofile", p.File, dir)
		}
		if st, err := os.Stat(p.File); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v, want mode 0600", p.File, st.Mode(), err)
		}
		prof := readCPUProfile(t, p.File)
		if top := prof.TopSelf(3); !slices.Contains(top, "stallForProfile") {
			t.Logf("top of %s: %q (%d samples)", p.File, prof.TopSelf(8), len(prof.Samples))
			t.Errorf("stallForProfile is not among the top self-time functions %q of %s", top, p.File)
		}
	}
	if out := h.ok("profile", "ls"); !strings.Contains(out, "TRIGGER") || strings.Count(out, "stall-0-") != 2 {
		t.Errorf("profile ls:\n%s", out)
	}
	if out := h.ok("describe", "stall"); !strings.Contains(out, "profiles tend took (2") || !strings.Contains(out, first.Message) {
		t.Errorf("describe does not list the profiles:\n%s", out)
	}
	if a := h.app("stall"); a.Instances[0].Restarts != 0 || a.Status != api.StatusOnline {
		t.Errorf("the app was touched: %+v", a.Instances[0])
	}
}

// heap_snapshot_on_memory_limit: an instance over max_memory_restart is
// snapshotted, then replaced.
func TestHeapSnapshotOnMemoryLimit(t *testing.T) {
	h := newHome(t)
	os.WriteFile(filepath.Join(h.dir, "daemon.yaml"), []byte("metrics_interval: 300ms\n"), 0o600)
	dir := t.TempDir()
	claim := filepath.Join(dir, "claim")
	os.WriteFile(claim, nil, 0o600)
	eco := filepath.Join(dir, "tend.yaml")
	writeEco(t, eco, fmt.Sprintf(`apps:
  - name: hog
    script: %s/heap-hog.js
    max_memory_restart: 100M
    heap_snapshot_on_memory_limit: true
    env:
      HOG_FILE: %s
      HOG_MB: "150"
`, fixtures, claim))
	h.ls() // the daemon is up
	sc := h.events(t, "")
	h.ok("apply", eco)
	ev := waitEvent(t, sc, "a heap snapshot", func(e api.StreamEvent) bool { return e.Type == api.EventProfile })
	if ev.Error != "" || ev.Action != api.ProfileTriggerMemory {
		t.Fatalf("profile event %+v, want a heap snapshot written", ev)
	}
	h.waitApp("hog", "replaced", func(a api.App) bool {
		return len(a.Instances) == 1 && a.Instances[0].PID != ev.PID && a.Instances[0].PID > 0
	})
	ps := h.storedProfiles("hog")
	if len(ps) == 0 || ps[0].File != ev.Message || ps[0].Trigger != api.ProfileTriggerMemory || !strings.HasSuffix(ps[0].File, ".heapsnapshot") {
		t.Fatalf("profiles %+v, want the snapshot of the event %+v", ps, ev)
	}
	if n := snapshotCount(t, ps[0].File, "HeapHog"); n < 1000 {
		t.Errorf("the snapshot has %d HeapHog objects, want the instance's many", n)
	}
}
