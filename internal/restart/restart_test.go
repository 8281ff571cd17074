package restart

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// base is the fixed time every test's clock starts at; tests move it forward
// by adding durations, so no test sleeps or reads the real clock.
var base = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

const ms = time.Millisecond

// run is one process's life in a test: how long it was up and how it ended.
type run struct {
	up     time.Duration
	code   int
	signal string
}

// crash is a run that ended with exit code 1.
func crash(up time.Duration) run { return run{up: up, code: 1} }

// want is what the tracker should decide about a run. Reason is checked only
// when set, as a substring, so steps that are about delays need not spell out
// the text.
type want struct {
	action   Action
	delay    time.Duration
	unstable int
	reason   string
}

// play feeds the runs to a new tracker one after another, each starting once
// the previous decision's delay has passed, and checks every decision.
func play(t *testing.T, p Policy, runs []run, wants []want) *Tracker {
	t.Helper()
	if len(runs) != len(wants) {
		t.Fatalf("bad test: %d runs, %d wants", len(runs), len(wants))
	}
	tr := NewTracker(p)
	now := base
	for i, r := range runs {
		e := Exit{Code: r.code, Signal: r.signal, Started: now, Ended: now.Add(r.up)}
		d := tr.Decide(e)
		w := wants[i]
		if d.Action != w.action || d.Delay != w.delay || tr.Unstable() != w.unstable {
			t.Fatalf("exit %d (%+v): got %v delay %v unstable %d (%q), want %v delay %v unstable %d",
				i+1, r, d.Action, d.Delay, tr.Unstable(), d.Reason, w.action, w.delay, w.unstable)
		}
		if !strings.Contains(d.Reason, w.reason) {
			t.Fatalf("exit %d: reason %q does not contain %q", i+1, d.Reason, w.reason)
		}
		now = e.Ended.Add(d.Delay)
	}
	return tr
}

// repeat returns n copies of v.
func repeat[T any](n int, v T) []T {
	s := make([]T, n)
	for i := range s {
		s[i] = v
	}
	return s
}

func TestDecide(t *testing.T) {
	crashLoop := Policy{Autorestart: true, MaxRestarts: 3, MinUptime: time.Second}

	tests := []struct {
		name   string
		policy Policy
		runs   []run
		wants  []want
	}{
		{
			name:   "crash loop errors after exactly MaxRestarts unstable restarts",
			policy: crashLoop,
			runs:   repeat(5, crash(120*ms)),
			wants: []want{
				{Restart, 0, 1, "exited with code 1 after 120ms (unstable 1/3); restarting now"},
				{Restart, 0, 2, "(unstable 2/3)"},
				{Restart, 0, 3, "(unstable 3/3)"},
				{Errored, 0, 3, "exited with code 1 after 120ms; 3 unstable restarts in a row (each up less than 1s); not restarting"},
				// Asked again, it does not count on: the app stays errored.
				{Errored, 0, 3, "3 unstable restarts in a row"},
			},
		},
		{
			name:   "stable exit resets the unstable count",
			policy: crashLoop,
			runs:   []run{crash(10 * ms), crash(10 * ms), crash(10 * ms), crash(time.Second), crash(10 * ms), crash(10 * ms), crash(10 * ms), crash(10 * ms)},
			wants: []want{
				{Restart, 0, 1, ""},
				{Restart, 0, 2, ""},
				{Restart, 0, 3, ""},
				// Up exactly MinUptime is stable: "sooner than" is strict.
				{Restart, 0, 0, "exited with code 1 after 1s; restarting now"},
				{Restart, 0, 1, ""},
				{Restart, 0, 2, ""},
				{Restart, 0, 3, ""},
				{Errored, 0, 3, ""},
			},
		},
		{
			name:   "a stable crash just under MinUptime is unstable",
			policy: crashLoop,
			runs:   []run{crash(time.Second - time.Nanosecond)},
			wants:  []want{{Restart, 0, 1, "(unstable 1/3)"}},
		},
		{
			name:   "exit code 0 restarts like any other",
			policy: Policy{Autorestart: true, MaxRestarts: 16, MinUptime: time.Second},
			runs:   []run{{up: time.Minute, code: 0}, {up: 5 * ms, code: 0}},
			wants: []want{
				{Restart, 0, 0, "exited with code 0 after 1m0s; restarting now"},
				{Restart, 0, 1, "exited with code 0 after 5ms (unstable 1/16)"},
			},
		},
		{
			name:   "stop exit code stops",
			policy: Policy{Autorestart: true, MaxRestarts: 16, MinUptime: time.Second, StopExitCodes: []int{0, 3}},
			runs:   []run{crash(10 * ms), {up: 2 * time.Second, code: 3}, {up: 10 * ms, code: 0}},
			wants: []want{
				{Restart, 0, 1, ""},
				// A stop leaves the history alone, whether stable or not.
				{Stop, 0, 1, "exited with code 3 after 2s, a stop exit code; not restarting"},
				{Stop, 0, 1, "exited with code 0 after 10ms, a stop exit code"},
			},
		},
		{
			name:   "signal death restarts even when its number is a stop exit code",
			policy: Policy{Autorestart: true, MaxRestarts: 16, MinUptime: time.Second, StopExitCodes: []int{-1, 9, 137}},
			runs: []run{
				{up: 2 * time.Second, code: -1, signal: "SIGKILL"},
				// The contract says -1, but a caller that put the signal's
				// number in Code must not turn a kill into a stop either.
				{up: 2 * time.Second, code: 9, signal: "SIGKILL"},
				{up: 2 * time.Second, code: 137},
			},
			wants: []want{
				{Restart, 0, 0, "killed by SIGKILL after 2s; restarting now"},
				{Restart, 0, 0, "killed by SIGKILL"},
				// A shell reporting a kill as 128+9 is an ordinary exit code.
				{Stop, 0, 0, "exited with code 137"},
			},
		},
		{
			name:   "autorestart off stops on any exit",
			policy: Policy{Autorestart: false, MaxRestarts: 16, MinUptime: time.Second, RestartDelay: time.Second, ExpBackoff: 100 * ms},
			runs:   []run{crash(10 * ms), {up: time.Hour, code: 0}, {up: time.Second, code: -1, signal: "SIGTERM"}},
			wants: []want{
				{Stop, 0, 0, "exited with code 1 after 10ms; autorestart is off, not restarting"},
				{Stop, 0, 0, "exited with code 0 after 1h0m0s; autorestart is off"},
				{Stop, 0, 0, "killed by SIGTERM after 1s; autorestart is off"},
			},
		},
		{
			name:   "MaxRestarts 0 errors on the first unstable exit but restarts stable ones",
			policy: Policy{Autorestart: true, MaxRestarts: 0, MinUptime: time.Second},
			runs:   []run{crash(2 * time.Second), crash(2 * time.Second), crash(500 * ms)},
			wants: []want{
				{Restart, 0, 0, ""},
				{Restart, 0, 0, ""},
				{Errored, 0, 0, "exited with code 1 after 500ms, less than min_uptime 1s, and max_restarts is 0; not restarting"},
			},
		},
		{
			name:   "negative MaxRestarts acts as 0",
			policy: Policy{Autorestart: true, MaxRestarts: -1, MinUptime: time.Second},
			runs:   []run{crash(500 * ms)},
			wants:  []want{{Errored, 0, 0, "max_restarts is 0"}},
		},
		{
			name:   "MinUptime 0 makes every exit stable",
			policy: Policy{Autorestart: true, MaxRestarts: 0},
			runs:   repeat(3, crash(0)),
			wants:  repeat(3, want{Restart, 0, 0, "exited with code 1 after 0s; restarting now"}),
		},
		{
			name:   "RestartDelay is a fixed delay",
			policy: Policy{Autorestart: true, MaxRestarts: 16, MinUptime: time.Second, RestartDelay: 3 * time.Second},
			runs:   []run{crash(120 * ms), crash(time.Minute), crash(120 * ms)},
			wants: []want{
				{Restart, 3 * time.Second, 1, "exited with code 1 after 120ms (unstable 1/16); restarting in 3s"},
				{Restart, 3 * time.Second, 0, "restarting in 3s"},
				{Restart, 3 * time.Second, 1, "restarting in 3s"},
			},
		},
		{
			name:   "RestartDelay is added to the backoff",
			policy: Policy{Autorestart: true, MaxRestarts: 16, MinUptime: time.Second, RestartDelay: time.Second, ExpBackoff: 100 * ms},
			runs:   repeat(3, crash(120*ms)),
			wants: []want{
				{Restart, 1100 * ms, 1, "restarting in 1.1s"},
				{Restart, 1150 * ms, 2, "restarting in 1.15s"},
				{Restart, 1225 * ms, 3, "restarting in 1.225s"},
			},
		},
		{
			name:   "errored and stopped exits wait for nothing",
			policy: Policy{Autorestart: true, MaxRestarts: 1, MinUptime: time.Second, RestartDelay: time.Second, ExpBackoff: time.Second, StopExitCodes: []int{2}},
			runs:   []run{crash(10 * ms), {up: 10 * ms, code: 2}, crash(10 * ms)},
			wants: []want{
				{Restart, 2 * time.Second, 1, ""},
				{Stop, 0, 1, ""},
				{Errored, 0, 1, "exited with code 1 after 10ms; 1 unstable restart in a row (each up less than 1s); not restarting"},
			},
		},
		{
			name:   "zero-value policy never restarts",
			policy: Policy{},
			runs:   []run{crash(time.Hour)},
			wants:  []want{{Stop, 0, 0, "autorestart is off"}},
		},
		{
			name:   "an end before the start counts as no uptime",
			policy: crashLoop,
			runs:   []run{crash(-time.Hour)},
			wants:  []want{{Restart, 0, 1, "after 0s (unstable 1/3)"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			play(t, tt.policy, tt.runs, tt.wants)
		})
	}
}

// TestBackoffSequence checks the whole exponential sequence against PM2's:
// each delay is the previous one times 1.5, floored to the millisecond and
// capped at 15 s.
func TestBackoffSequence(t *testing.T) {
	delays := []time.Duration{
		100 * ms, 150 * ms, 225 * ms, 337 * ms, 505 * ms, 757 * ms,
		1135 * ms, 1702 * ms, 2553 * ms, 3829 * ms, 5743 * ms, 8614 * ms,
		12921 * ms, 15 * time.Second, 15 * time.Second, 15 * time.Second,
	}
	// Stable but short runs: the backoff must grow on any restart, not only
	// unstable ones, and MaxRestarts must not get in the way.
	p := Policy{Autorestart: true, MaxRestarts: 0, MinUptime: time.Second, ExpBackoff: 100 * ms}
	wants := make([]want, len(delays))
	for i, d := range delays {
		wants[i] = want{action: Restart, delay: d, reason: fmt.Sprintf("restarting in %v", d)}
	}
	play(t, p, repeat(len(delays), crash(5*time.Second)), wants)
}

func TestBackoffReset(t *testing.T) {
	p := Policy{Autorestart: true, MaxRestarts: 16, MinUptime: time.Second, ExpBackoff: 100 * ms}
	tests := []struct {
		name  string
		runs  []run
		wants []want
	}{
		{
			name: "up 30s starts the backoff again",
			runs: []run{crash(10 * ms), crash(10 * ms), crash(10 * ms), crash(BackoffResetAfter), crash(10 * ms)},
			wants: []want{
				{Restart, 100 * ms, 1, ""},
				{Restart, 150 * ms, 2, ""},
				{Restart, 225 * ms, 3, ""},
				{Restart, 100 * ms, 0, "after 30s; restarting in 100ms"},
				{Restart, 150 * ms, 1, ""},
			},
		},
		{
			name: "a stable run shorter than 30s keeps it growing",
			runs: []run{crash(10 * ms), crash(10 * ms), crash(BackoffResetAfter - ms), crash(10 * ms)},
			wants: []want{
				{Restart, 100 * ms, 1, ""},
				{Restart, 150 * ms, 2, ""},
				// Stable, so the unstable count resets, but the backoff does not.
				{Restart, 225 * ms, 0, ""},
				{Restart, 337 * ms, 1, ""},
			},
		},
		{
			name: "a signal death resets it the same way",
			runs: []run{crash(10 * ms), crash(10 * ms), {up: time.Hour, code: -1, signal: "SIGKILL"}},
			wants: []want{
				{Restart, 100 * ms, 1, ""},
				{Restart, 150 * ms, 2, ""},
				{Restart, 100 * ms, 0, "killed by SIGKILL after 1h0m0s; restarting in 100ms"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			play(t, p, tt.runs, tt.wants)
		})
	}
}

func TestBackoffInitialAboveCap(t *testing.T) {
	// The user asked for 20 s; growing it is pointless and cutting it to the
	// cap would wait less than they asked for.
	p := Policy{Autorestart: true, MaxRestarts: 16, MinUptime: time.Second, ExpBackoff: 20 * time.Second}
	play(t, p, repeat(3, crash(10*ms)), []want{
		{Restart, 20 * time.Second, 1, ""},
		{Restart, 20 * time.Second, 2, ""},
		{Restart, 20 * time.Second, 3, ""},
	})
}

func TestBackoffBelowMillisecond(t *testing.T) {
	// Flooring to whole milliseconds as PM2 does would turn these into 0.
	p := Policy{Autorestart: true, MaxRestarts: 16, ExpBackoff: 100 * time.Microsecond}
	play(t, p, repeat(3, crash(0)), []want{
		{Restart, 100 * time.Microsecond, 0, "restarting in 100µs"},
		{Restart, 150 * time.Microsecond, 0, ""},
		{Restart, 225 * time.Microsecond, 0, ""},
	})
}

func TestReset(t *testing.T) {
	p := Policy{Autorestart: true, MaxRestarts: 2, MinUptime: time.Second, ExpBackoff: 100 * ms}
	tr := play(t, p, repeat(3, crash(10*ms)), []want{
		{Restart, 100 * ms, 1, ""},
		{Restart, 150 * ms, 2, ""},
		{Errored, 0, 2, ""},
	})

	tr.Reset()
	if got := tr.Unstable(); got != 0 {
		t.Fatalf("Unstable after Reset = %d, want 0", got)
	}
	// After a reset the app gets its full allowance again, and the backoff
	// starts from the beginning.
	start := base.Add(time.Hour)
	for i, w := range []want{{Restart, 100 * ms, 1, ""}, {Restart, 150 * ms, 2, ""}, {Errored, 0, 2, ""}} {
		d := tr.Decide(Exit{Code: 1, Started: start, Ended: start.Add(10 * ms)})
		if d.Action != w.action || d.Delay != w.delay || tr.Unstable() != w.unstable {
			t.Fatalf("exit %d after Reset: got %v delay %v unstable %d, want %v delay %v unstable %d",
				i+1, d.Action, d.Delay, tr.Unstable(), w.action, w.delay, w.unstable)
		}
		start = start.Add(10 * ms).Add(d.Delay)
	}
}

func TestPolicyCopied(t *testing.T) {
	codes := []int{3}
	tr := NewTracker(Policy{Autorestart: true, StopExitCodes: codes})
	codes[0] = 4
	if d := tr.Decide(Exit{Code: 3, Started: base, Ended: base}); d.Action != Stop {
		t.Fatalf("exit code 3 after the caller's slice changed: got %v, want stop", d.Action)
	}
}

func TestActionString(t *testing.T) {
	for a, want := range map[Action]string{
		Restart:   "restart",
		Stop:      "stop",
		Errored:   "errored",
		Action(0): "Action(0)",
	} {
		if got := a.String(); got != want {
			t.Errorf("Action(%d).String() = %q, want %q", int(a), got, want)
		}
	}
}

// SetPolicy keeps the history: a limit lowered below the unstable restarts
// counted so far errors the next unstable exit; raised, it lets more
// restarts through; autorestart turned off stops at the next exit.
func TestSetPolicyKeepsHistory(t *testing.T) {
	p := Policy{Autorestart: true, MaxRestarts: 10, MinUptime: time.Second}
	tr := play(t, p, []run{crash(ms), crash(ms), crash(ms)}, []want{
		{action: Restart, unstable: 1}, {action: Restart, unstable: 2}, {action: Restart, unstable: 3},
	})
	e := Exit{Code: 1, Started: base, Ended: base.Add(ms)}

	p.MaxRestarts = 2
	tr.SetPolicy(p)
	if d := tr.Decide(e); d.Action != Errored || !strings.Contains(d.Reason, "3 unstable restarts in a row") {
		t.Errorf("after lowering max_restarts to 2 with 3 counted: %v %q, want errored", d.Action, d.Reason)
	}
	p.MaxRestarts = 5
	tr.SetPolicy(p)
	if d := tr.Decide(e); d.Action != Restart || tr.Unstable() != 4 {
		t.Errorf("after raising max_restarts to 5: %v, unstable %d; want a restart, unstable 4", d.Action, tr.Unstable())
	}
	p.Autorestart = false
	tr.SetPolicy(p)
	if d := tr.Decide(e); d.Action != Stop {
		t.Errorf("after autorestart off: %v, want stop", d.Action)
	}
	p.StopExitCodes = []int{1}
	p.Autorestart = true
	tr.SetPolicy(p)
	p.StopExitCodes[0] = 2 // the tracker has its own copy
	if d := tr.Decide(e); d.Action != Stop {
		t.Errorf("after stop_exit_codes [1]: %v, want stop", d.Action)
	}
}
