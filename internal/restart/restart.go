// Package restart decides what happens after an app's process exits: restart
// it (and after how long), leave it stopped, or mark it errored. It follows
// PM2's rules for autorestart, max_restarts, min_uptime, restart_delay,
// exp_backoff_restart_delay and stop_exit_codes.
//
// A Tracker is a pure decision object, in the manner of Nomad's restart
// tracker: it starts no goroutines, sets no timers and never reads the clock.
// Everything it needs about time arrives in the Exit it is given, so a test
// can drive it through a whole crash loop without running a process. Waiting
// out the Delay and starting the process again are the caller's job.
package restart

import (
	"fmt"
	"slices"
	"time"
)

// Exponential backoff constants, as PM2 has them.
const (
	// BackoffCap is the longest a backoff grows to; PM2 stops at 15 s so a
	// crashing app is still retried a few times a minute.
	BackoffCap = 15 * time.Second
	// BackoffResetAfter is how long a process must have been up for its
	// backoff to start again from the initial delay: it had recovered, so its
	// next crash is a new incident rather than more of the old one.
	BackoffResetAfter = 30 * time.Second
	// BackoffFactor is how much each restart's backoff grows over the previous
	// one.
	BackoffFactor = 1.5
)

// Policy is an app's restart settings (PM2 semantics).
//
// Negative durations and a negative MaxRestarts are treated as 0.
type Policy struct {
	// Autorestart restarts the app when it exits; when false every exit
	// leaves it stopped.
	Autorestart bool
	// MaxRestarts is how many unstable restarts in a row are allowed before
	// the app is errored. 0 errors it on its first unstable exit.
	MaxRestarts int
	// MinUptime is how long a process must have been up for its exit to count
	// as stable. An exit sooner than this is "unstable".
	MinUptime time.Duration
	// RestartDelay is a fixed delay before each restart.
	RestartDelay time.Duration
	// ExpBackoff is the initial exponential backoff delay; 0 turns backoff
	// off. When on, it is added to RestartDelay.
	ExpBackoff time.Duration
	// StopExitCodes are exit codes that mean "done, do not restart".
	StopExitCodes []int
}

// Exit describes how one process ended. A stop the user asked for never
// reaches the tracker: the caller knows it asked, and no policy applies.
type Exit struct {
	// Code is the exit code, -1 when the process was killed by a signal.
	Code int
	// Signal names the signal that killed the process, e.g. "SIGKILL";
	// empty when it exited on its own.
	Signal string
	// Started is when the process was started.
	Started time.Time
	// Ended is when the process was seen to exit.
	Ended time.Time
}

// Uptime is how long the process ran. An Ended before Started (a clock step
// between the two readings) counts as no uptime at all, so a confused clock
// can only make an exit look unstable, never hide a crash loop.
func (e Exit) Uptime() time.Duration {
	return max(e.Ended.Sub(e.Started), 0)
}

// describe says how the process ended, as the start of a Reason.
func (e Exit) describe() string {
	if e.Signal != "" {
		return fmt.Sprintf("killed by %s after %s", e.Signal, human(e.Uptime()))
	}
	return fmt.Sprintf("exited with code %d after %s", e.Code, human(e.Uptime()))
}

// Action is what to do with an app after its process exited.
type Action int

// The zero Action is deliberately none of these, so a Decision that was
// never filled in is not mistaken for one to restart.
const (
	// Restart starts the process again after Decision.Delay.
	Restart Action = iota + 1
	// Stop leaves the app stopped. It is not an error: autorestart is off or
	// the process exited with one of its stop exit codes.
	Stop
	// Errored leaves the app stopped in the errored state: it kept crashing
	// soon after start, and restarting it more would only spin.
	Errored
)

// String returns the action's name as tend shows it.
func (a Action) String() string {
	switch a {
	case Restart:
		return "restart"
	case Stop:
		return "stop"
	case Errored:
		return "errored"
	default:
		return fmt.Sprintf("Action(%d)", int(a))
	}
}

// Decision is what a Tracker decided about one exit.
type Decision struct {
	Action Action
	// Delay is how long to wait before restarting; 0 unless Action is
	// Restart.
	Delay time.Duration
	// Reason is human text for `tend describe`, e.g. "exited with code 1
	// after 120ms (unstable 3/16); restarting in 150ms".
	Reason string
}

// Tracker remembers one instance's history of exits and decides what to do
// after each. It is not safe for concurrent use: the goroutine that owns the
// instance calls it.
type Tracker struct {
	policy Policy
	// unstable counts unstable restarts in a row.
	unstable int
	// backoff is the backoff the last restart waited; 0 when none has since
	// the history began or was reset.
	backoff time.Duration
}

// NewTracker returns a Tracker for an instance with no exits yet.
func NewTracker(p Policy) *Tracker {
	return &Tracker{policy: clean(p)}
}

// SetPolicy changes the policy from the next exit on, keeping the history:
// a max_restarts lowered below the unstable restarts already counted errors
// the instance at its next unstable exit, as if it had been the limit all
// along, and a backoff under way goes on from where it is.
func (t *Tracker) SetPolicy(p Policy) {
	t.policy = clean(p)
	if t.policy.ExpBackoff == 0 {
		t.backoff = 0
	}
}

func clean(p Policy) Policy {
	p.MaxRestarts = max(p.MaxRestarts, 0)
	p.MinUptime = max(p.MinUptime, 0)
	p.RestartDelay = max(p.RestartDelay, 0)
	p.ExpBackoff = max(p.ExpBackoff, 0)
	// The caller's slice may change under us later; the policy must not.
	p.StopExitCodes = slices.Clone(p.StopExitCodes)
	return p
}

// Decide records one exit of the instance's process and says what to do
// next. Stop and Errored decisions leave the history as it was, so Unstable
// still tells why an errored app stopped; Reset clears it when the user starts
// the app again.
func (t *Tracker) Decide(e Exit) Decision {
	p := &t.policy
	if !p.Autorestart {
		return Decision{Action: Stop, Reason: e.describe() + "; autorestart is off, not restarting"}
	}
	// A signal death is the process being killed (by the OOM killer, by an
	// operator), not the app saying it is done, whatever number it carries.
	if e.Signal == "" && slices.Contains(p.StopExitCodes, e.Code) {
		return Decision{Action: Stop, Reason: fmt.Sprintf("%s, a stop exit code; not restarting", e.describe())}
	}

	uptime := e.Uptime()
	unstable := uptime < p.MinUptime
	if unstable && t.unstable >= p.MaxRestarts {
		return Decision{Action: Errored, Reason: t.erroredReason(e)}
	}
	if unstable {
		t.unstable++
	} else {
		t.unstable = 0
	}

	delay := p.RestartDelay + t.nextBackoff(uptime)
	reason := e.describe()
	if unstable {
		reason += fmt.Sprintf(" (unstable %d/%d)", t.unstable, p.MaxRestarts)
	}
	if delay > 0 {
		reason += "; restarting in " + human(delay)
	} else {
		reason += "; restarting now"
	}
	return Decision{Action: Restart, Delay: delay, Reason: reason}
}

// nextBackoff advances the exponential backoff for a restart after a process
// that was up for uptime, and returns what this restart waits for it.
func (t *Tracker) nextBackoff(uptime time.Duration) time.Duration {
	initial := t.policy.ExpBackoff
	if initial == 0 {
		return 0
	}
	switch {
	case t.backoff == 0 || uptime >= BackoffResetAfter:
		t.backoff = initial
	case t.backoff < BackoffCap:
		next := time.Duration(float64(t.backoff) * BackoffFactor)
		// PM2 counts whole milliseconds (Math.floor); doing the same keeps
		// the sequence identical to PM2's and the reasons readable. Below a
		// millisecond flooring would give 0, so only sub-ms backoffs (which
		// only tests use) keep their fraction.
		if next >= time.Millisecond {
			next = next.Truncate(time.Millisecond)
		}
		t.backoff = min(next, BackoffCap)
	}
	// A backoff at or over the cap stays where it is: an initial value above
	// the cap is what the user asked for, and PM2's shrinking it to the cap
	// on the second restart would be a surprise.
	return t.backoff
}

// erroredReason explains why an unstable exit errored the app.
func (t *Tracker) erroredReason(e Exit) string {
	p := &t.policy
	if p.MaxRestarts == 0 {
		return fmt.Sprintf("%s, less than min_uptime %s, and max_restarts is 0; not restarting",
			e.describe(), human(p.MinUptime))
	}
	restarts := "restarts"
	if t.unstable == 1 {
		restarts = "restart"
	}
	return fmt.Sprintf("%s; %d unstable %s in a row (each up less than %s); not restarting",
		e.describe(), t.unstable, restarts, human(p.MinUptime))
}

// Reset forgets the history: the unstable count and the backoff. Call it for
// `tend reset` and when the user restarts the app, so a fixed app is not held
// to the failures of the broken one.
func (t *Tracker) Reset() {
	t.unstable = 0
	t.backoff = 0
}

// Unstable returns how many unstable restarts in a row there have been so
// far.
func (t *Tracker) Unstable() int { return t.unstable }

// human formats a duration for a Reason: exact to the millisecond under a
// minute, where crash loops live, and to the second above it, where
// nanoseconds of uptime are noise.
func human(d time.Duration) string {
	switch {
	case d >= time.Minute:
		return d.Round(time.Second).String()
	case d >= time.Millisecond:
		return d.Round(time.Millisecond).String()
	default:
		return d.String()
	}
}
