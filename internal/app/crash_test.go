package app

import (
	"testing"
	"time"

	"github.com/tendhq/tend/internal/api"
)

func TestErrorLineOf(t *testing.T) {
	for _, tc := range []struct {
		stderr []string
		want   string
	}{
		{[]string{"/app/a.js:3", "  throw new Error('boom');", "  ^", "", "Error: boom", "    at Object.<anonymous> (/app/a.js:3:9)", "", "Node.js v24.11.1"}, "Error: boom"},
		{[]string{"2026-11-26T10:00:00Z: TypeError: x is not a function"}, "TypeError: x is not a function"},
		{[]string{"node:internal/modules/cjs/loader:1228", "Error [ERR_MODULE_NOT_FOUND]: Cannot find package 'pg'"}, "Error [ERR_MODULE_NOT_FOUND]: Cannot find package 'pg'"},
		{[]string{"Traceback (most recent call last):", "  File \"app.py\", line 3", "KeyError: 'id'"}, "KeyError: 'id'"},
		{[]string{"<--- Last few GCs --->", "FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory"}, "FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory"},
		{[]string{"listening on 3000", "database gone, exiting", "    at x", "Node.js v24.11.1", ""}, "database gone, exiting"},
		{nil, ""},
	} {
		if got := errorLineOf(tc.stderr); got != tc.want {
			t.Errorf("errorLineOf(%q) = %q, want %q", tc.stderr, got, tc.want)
		}
	}
}

func TestCrashLog(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	a := &App{}
	a.recordCrash(0, &api.Exit{At: now.Add(-30 * time.Hour), Code: 1}, []string{"Error: old"}, now.Add(-30*time.Hour))
	a.recordCrash(1, &api.Exit{At: now.Add(-2 * time.Hour), Code: 1}, []string{"x", "TypeError: y is undefined", "    at z"}, now.Add(-2*time.Hour))
	a.recordCrash(0, &api.Exit{At: now.Add(-time.Hour), Code: -1, Signal: "SIGSEGV"}, nil, now.Add(-time.Hour))
	a.recordCrash(0, &api.Exit{At: now.Add(-time.Minute), Code: 0}, nil, now.Add(-time.Minute)) // a clean exit: no crash
	got := a.recentCrashes(now)
	want := []api.Crash{
		{At: now.Add(-2 * time.Hour), Instance: 1, Code: 1, Error: "TypeError: y is undefined"},
		{At: now.Add(-time.Hour), Instance: 0, Code: -1, Signal: "SIGSEGV"},
	}
	if len(got) != len(want) {
		t.Fatalf("crashes %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("crash %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	// A crash loop keeps the latest maxCrashes.
	for i := range maxCrashes + 10 {
		at := now.Add(time.Duration(i) * time.Second)
		a.recordCrash(0, &api.Exit{At: at, Code: 2}, nil, at)
	}
	got = a.recentCrashes(now.Add(time.Hour))
	if len(got) != maxCrashes || !got[len(got)-1].At.Equal(now.Add(time.Duration(maxCrashes+9)*time.Second)) {
		t.Errorf("after a crash loop: %d crashes, last at %v", len(got), got[len(got)-1].At)
	}
}
