package inspect

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// preloadReports runs the app with the runtime preload over an IPC
// channel, as tend does, and returns the event loop delay max of its
// first n reports (one a second).
func preloadReports(t *testing.T, app string, n int) []float64 {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("node is required: %v", err)
		}
		t.Skipf("needs node: %v", err)
	}
	preload := filepath.Join(t.TempDir(), "runtime-preload.js")
	if err := os.WriteFile(preload, RuntimePreloadJS, 0o600); err != nil {
		t.Fatal(err)
	}
	_, file, _, _ := runtime.Caller(0)
	cmd := exec.Command("node", filepath.Join(filepath.Dir(file), "testdata", "fork.js"), preload, app, strconv.Itoa(n))
	cmd.Env = append(os.Environ(), "TEND_METRICS_INTERVAL_MS=1000")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("fork.js %s: %v\n%s", app, err, out)
	}
	var maxes []float64
	for _, line := range strings.Fields(string(out)) {
		v, err := strconv.ParseFloat(line, 64)
		if err != nil {
			t.Fatalf("fork.js printed %q", line)
		}
		maxes = append(maxes, v)
	}
	if len(maxes) != n {
		t.Fatalf("%d reports, want %d: %v", len(maxes), n, maxes)
	}
	return maxes
}

// An app that blocks its loop for 500 ms in a 1 s timer of its own, which
// runs in the same turn of the loop as the preload's report: every report
// shows the block. (A histogram reset at each report forgot the time
// around the report, and most reports said the loop was never late.)
func TestRuntimePreloadSeesEveryBlockOfTheLoop(t *testing.T) {
	maxes := preloadReports(t, fixture("stall.js"), 5)
	for i, m := range maxes {
		if m < 0.4 {
			t.Errorf("report %d: event loop delay max %.3fs, want the 500 ms block (all: %v)", i, m, maxes)
		}
	}
}

// One block of 300 ms is reported once, in one report, not in two.
func TestRuntimePreloadReportsABlockOnce(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	maxes := preloadReports(t, filepath.Join(filepath.Dir(file), "testdata", "block-once.js"), 4)
	seen := 0
	for _, m := range maxes {
		if m >= 0.25 {
			seen++
		}
	}
	if seen != 1 {
		t.Errorf("the 300 ms block is in %d reports, want 1: %v", seen, maxes)
	}
}
