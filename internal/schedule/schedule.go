// Package schedule reads cron_restart expressions and fires at the times
// they name. Parsing is checked here, field by field, so that an error names
// the field and the allowed range; the times themselves come from
// robfig/cron, whose Next handles month lengths, leap years, the day of
// month/day of week rule and daylight saving time.
package schedule

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
)

// Schedule gives the times an expression names.
type Schedule interface {
	// Next returns the first time after the given one, in its location; the
	// zero time if there is none.
	Next(after time.Time) time.Time
}

// field is one of the five fields of an expression.
type field struct {
	name     string
	min, max int
	names    []string // names[i] stands for min+i
}

var fields = [5]field{
	{name: "minute", max: 59},
	{name: "hour", max: 23},
	{name: "day of month", min: 1, max: 31},
	{name: "month", min: 1, max: 12, names: strings.Fields("jan feb mar apr may jun jul aug sep oct nov dec")},
	// 7 is Sunday too, as in Vixie cron.
	{name: "day of week", max: 7, names: strings.Fields("sun mon tue wed thu fri sat")},
}

// dowOnly parses a day of week field alone.
var dowOnly = cron.NewParser(cron.Dow)

// descriptors are the shorthands Parse accepts, as in Vixie cron.
var descriptors = map[string]string{
	"@hourly":   "0 * * * *",
	"@daily":    "0 0 * * *",
	"@midnight": "0 0 * * *",
	"@weekly":   "0 0 * * 0",
	"@monthly":  "0 0 1 * *",
	"@yearly":   "0 0 1 1 *",
	"@annually": "0 0 1 1 *",
}

// Parse reads a standard 5-field cron expression (minute hour day-of-month
// month day-of-week, each a list of *, N, N-M, with an optional /step;
// month and day names such as jan or mon) or one of @hourly, @daily,
// @midnight, @weekly, @monthly, @yearly, @annually. Times are in the
// daemon's local time zone. As in cron, when both day of month and day of
// week are restricted, a day matching either one fires. An expression that
// never fires (0 0 30 2 *) is refused.
func Parse(expr string) (Schedule, error) {
	fail := func(format string, args ...any) (Schedule, error) {
		return nil, fmt.Errorf("cron %q: %s", expr, fmt.Sprintf(format, args...))
	}
	std := strings.TrimSpace(expr)
	if strings.HasPrefix(std, "@") {
		d, ok := descriptors[strings.ToLower(std)]
		if !ok {
			return fail("unknown shorthand (use @hourly, @daily, @weekly, @monthly or @yearly)")
		}
		std = d
	}
	parts := strings.Fields(std)
	if len(parts) != len(fields) {
		return fail("want 5 fields (minute hour day-of-month month day-of-week), got %d", len(parts))
	}
	for i, f := range fields {
		bits, err := f.parse(parts[i])
		if err != nil {
			return fail("%s: %v", f.name, err)
		}
		// robfig/cron knows Sunday only as 0: a field it refuses for a 7 is
		// handed over as the list of days. Other fields are handed over as
		// written, since cron treats a day field of * specially.
		if f.max == 7 {
			if _, err := dowOnly.Parse(parts[i]); err != nil {
				parts[i] = list(bits&^(1<<7) | bits>>7)
			}
		}
	}
	s, err := cron.ParseStandard(strings.Join(parts, " "))
	if err != nil {
		return fail("%v", err) // not expected: the fields were checked above
	}
	if s.Next(time.Now()).IsZero() {
		return fail("no date matches it")
	}
	return s, nil
}

// parse checks one field and returns the set of values it names.
func (f field) parse(s string) (uint64, error) {
	var bits uint64
	for item := range strings.SplitSeq(s, ",") {
		rng, stepText, hasStep := strings.Cut(item, "/")
		lo, hi := f.min, f.max
		switch {
		case rng == "*" || rng == "?":
		case strings.Contains(rng, "-"):
			a, b, _ := strings.Cut(rng, "-")
			var err error
			if lo, err = f.value(a); err != nil {
				return 0, err
			}
			if hi, err = f.value(b); err != nil {
				return 0, err
			}
			if lo > hi {
				return 0, fmt.Errorf("range %s is backwards (%d > %d)", rng, lo, hi)
			}
		default:
			v, err := f.value(rng)
			if err != nil {
				return 0, err
			}
			lo = v
			if !hasStep {
				hi = v
			} // else N/step means N through the maximum, as in Vixie cron
		}
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepText)
			if err != nil || n <= 0 {
				return 0, fmt.Errorf("step %q is not a positive number", stepText)
			}
			step = n
		}
		for v := lo; v <= hi; v += step {
			bits |= 1 << v
		}
	}
	return bits, nil
}

// value reads a number or a name of the field.
func (f field) value(s string) (int, error) {
	for i, n := range f.names {
		if strings.EqualFold(s, n) {
			return f.min + i, nil
		}
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		if f.names != nil {
			return 0, fmt.Errorf("%q is not a number or a name (%s-%s)", s, f.names[0], f.names[len(f.names)-1])
		}
		return 0, fmt.Errorf("%q is not a number", s)
	}
	if v < f.min || v > f.max {
		return 0, fmt.Errorf("%d is out of range %d-%d", v, f.min, f.max)
	}
	return v, nil
}

// list writes a set of values as a comma-separated list.
func list(bits uint64) string {
	var vs []string
	for v := range 64 {
		if bits&(1<<v) != 0 {
			vs = append(vs, strconv.Itoa(v))
		}
	}
	return strings.Join(vs, ",")
}

// Clock is the time source of Run; tests give a fake one.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine once d has passed.
	AfterFunc(d time.Duration, f func()) Stopper
}

// Stopper stops a timer; Stop reports whether it stopped it before it fired.
type Stopper interface{ Stop() bool }

// SystemClock is the real clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// AfterFunc is time.AfterFunc.
func (SystemClock) AfterFunc(d time.Duration, f func()) Stopper { return time.AfterFunc(d, f) }

// maxWait bounds how long Run sleeps before it looks at the clock again.
// Timers run on the monotonic clock, which stops while the machine is
// suspended and ignores changes of the wall clock; schedules are on the
// wall clock. Waking up now and then keeps a fire at most this late.
const maxWait = 10 * time.Minute

// Run calls fire at each time of s, from now on, until stop is called. It
// fires once per time even when the clock's timers are early or late, and
// a time missed while the machine slept fires once, late, not once per
// missed time. fire runs in the clock's timer goroutine, one call at a time;
// it should hand long work (a reload) to its owner rather than block. After
// stop returns, fire is not called again; a call in progress is not waited
// for.
func Run(s Schedule, c Clock, fire func()) (stop func()) {
	r := &runner{s: s, c: c, fire: fire}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.arm(s.Next(c.Now()))
	return r.stop
}

type runner struct {
	s    Schedule
	c    Clock
	fire func()

	mu      sync.Mutex // guards the fields below
	timer   Stopper    // the armed timer; nil when none
	stopped bool
}

// arm sets the timer for due, or for a while if due is far. Called with mu.
func (r *runner) arm(due time.Time) {
	if due.IsZero() {
		return // the schedule has no time left
	}
	d := min(due.Sub(r.c.Now()), maxWait)
	r.timer = r.c.AfterFunc(d, func() { r.wake(due) })
}

// wake runs when a timer set for due expires.
func (r *runner) wake(due time.Time) {
	r.mu.Lock()
	if r.stopped {
		r.mu.Unlock()
		return
	}
	now := r.c.Now()
	if now.Before(due) {
		r.arm(due) // woke early: a long wait was cut, or the wall clock moved back
		r.mu.Unlock()
		return
	}
	r.mu.Unlock()
	r.fire()
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.stopped {
		// From now, not from due: times that passed while fire ran are
		// skipped rather than fired in a burst.
		r.arm(r.s.Next(r.c.Now()))
	}
}

func (r *runner) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopped = true
	if r.timer != nil {
		r.timer.Stop()
	}
}
