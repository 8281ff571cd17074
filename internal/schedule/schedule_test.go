package schedule

import (
	"slices"
	"sync"
	"testing"
	"time"
)

func TestParseErrors(t *testing.T) {
	for expr, want := range map[string]string{
		"0 25 * * *":       `cron "0 25 * * *": hour: 25 is out of range 0-23`,
		"60 * * * *":       `cron "60 * * * *": minute: 60 is out of range 0-59`,
		"0 0 0 * *":        `cron "0 0 0 * *": day of month: 0 is out of range 1-31`,
		"0 0 * 13 *":       `cron "0 0 * 13 *": month: 13 is out of range 1-12`,
		"0 0 * * 8":        `cron "0 0 * * 8": day of week: 8 is out of range 0-7`,
		"0 0 * foo *":      `cron "0 0 * foo *": month: "foo" is not a number or a name (jan-dec)`,
		"x * * * *":        `cron "x * * * *": minute: "x" is not a number`,
		"*/0 * * * *":      `cron "*/0 * * * *": minute: step "0" is not a positive number`,
		"0 10-2 * * *":     `cron "0 10-2 * * *": hour: range 10-2 is backwards (10 > 2)`,
		"0 1,,2 * * *":     `cron "0 1,,2 * * *": hour: "" is not a number`,
		"0 3 * *":          `cron "0 3 * *": want 5 fields (minute hour day-of-month month day-of-week), got 4`,
		"0 0 3 * * *":      `cron "0 0 3 * * *": want 5 fields (minute hour day-of-month month day-of-week), got 6`,
		"":                 `cron "": want 5 fields (minute hour day-of-month month day-of-week), got 0`,
		"@every 1h":        `cron "@every 1h": unknown shorthand (use @hourly, @daily, @weekly, @monthly or @yearly)`,
		"0 0 30 2 *":       `cron "0 0 30 2 *": no date matches it`,
		"TZ=UTC 0 3 * * *": `cron "TZ=UTC 0 3 * * *": want 5 fields (minute hour day-of-month month day-of-week), got 6`,
	} {
		_, err := Parse(expr)
		if err == nil || err.Error() != want {
			t.Errorf("Parse(%q) = %v\n want %s", expr, err, want)
		}
	}
}

func TestNext(t *testing.T) {
	at := func(s string) time.Time {
		tm, err := time.ParseInLocation("2006-01-02 15:04:05 Mon", s, time.Local)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	for _, c := range []struct{ expr, after, want string }{
		{"0 3 * * *", "2025-03-10 02:59:59 Mon", "2025-03-10 03:00:00 Mon"},
		{"0 3 * * *", "2025-03-10 03:00:00 Mon", "2025-03-11 03:00:00 Tue"},
		{"*/15 * * * *", "2025-03-10 10:07:30 Mon", "2025-03-10 10:15:00 Mon"},
		{"5/20 * * * *", "2025-03-10 10:26:00 Mon", "2025-03-10 10:45:00 Mon"},
		{"0 9-17/4 * * *", "2025-03-10 13:00:00 Mon", "2025-03-10 17:00:00 Mon"},
		{"30 4 * * mon-fri", "2025-03-14 05:00:00 Fri", "2025-03-17 04:30:00 Mon"},
		{"0 0 * * 7", "2025-03-10 00:00:00 Mon", "2025-03-16 00:00:00 Sun"},
		{"0 0 * * 5-7", "2025-03-15 12:00:00 Sat", "2025-03-16 00:00:00 Sun"},
		{"0 0 * * 0", "2025-03-10 00:00:00 Mon", "2025-03-16 00:00:00 Sun"},
		// Both day fields restricted: either one matches.
		{"0 0 1 * mon", "2025-03-10 00:00:00 Mon", "2025-03-17 00:00:00 Mon"},
		{"0 0 31 * *", "2025-04-01 00:00:00 Tue", "2025-05-31 00:00:00 Sat"},
		{"0 0 29 feb *", "2025-03-01 00:00:00 Sat", "2028-02-29 00:00:00 Tue"},
		{"@hourly", "2025-03-10 10:00:00 Mon", "2025-03-10 11:00:00 Mon"},
		{"@daily", "2025-03-10 10:00:00 Mon", "2025-03-11 00:00:00 Tue"},
		{"@weekly", "2025-03-10 10:00:00 Mon", "2025-03-16 00:00:00 Sun"},
		{"@monthly", "2025-03-10 10:00:00 Mon", "2025-04-01 00:00:00 Tue"},
		{"@YEARLY", "2025-03-10 10:00:00 Mon", "2026-01-01 00:00:00 Thu"},
	} {
		s, err := Parse(c.expr)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.expr, err)
			continue
		}
		if got := s.Next(at(c.after)); !got.Equal(at(c.want)) {
			t.Errorf("%q after %s: got %s, want %s", c.expr, c.after, got.Format("2006-01-02 15:04:05 Mon"), c.want)
		}
	}
}

// fakeClock runs timers when the test advances it; no test waits.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	c    *fakeClock
	at   time.Time
	f    func()
	done bool
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) Stopper {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return t
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := t.done
	t.done = true
	return !was
}

// set moves the clock to tm, running the timers due on the way in order,
// each with the clock at its time (or at tm, when jump is set: the clock
// jumped, as after a suspend).
func (c *fakeClock) set(tm time.Time, jump bool) {
	for {
		c.mu.Lock()
		var next *fakeTimer
		for _, t := range c.timers {
			if !t.done && !t.at.After(tm) && (next == nil || t.at.Before(next.at)) {
				next = t
			}
		}
		if next == nil {
			c.now = tm
			c.mu.Unlock()
			return
		}
		next.done = true
		if !jump {
			c.now = next.at
		} else {
			c.now = tm
		}
		c.mu.Unlock()
		next.f()
	}
}

func (c *fakeClock) armed() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, t := range c.timers {
		if !t.done {
			n++
		}
	}
	return n
}

func TestRun(t *testing.T) {
	start := time.Date(2025, 3, 10, 2, 0, 0, 0, time.Local)
	c := &fakeClock{now: start}
	s, err := Parse("0 3 * * *")
	if err != nil {
		t.Fatal(err)
	}
	var fired []time.Time
	stop := Run(s, c, func() { fired = append(fired, c.Now()) })

	c.set(start.Add(59*time.Minute), false)
	if len(fired) != 0 {
		t.Fatalf("fired early: %v", fired)
	}
	c.set(start.Add(3*24*time.Hour), false)
	want := []time.Time{
		time.Date(2025, 3, 10, 3, 0, 0, 0, time.Local),
		time.Date(2025, 3, 11, 3, 0, 0, 0, time.Local),
		time.Date(2025, 3, 12, 3, 0, 0, 0, time.Local),
	}
	if !slices.EqualFunc(fired, want, time.Time.Equal) {
		t.Fatalf("fired at %v, want %v", fired, want)
	}

	// The machine slept through two days: one late fire, then on schedule.
	fired = nil
	c.set(time.Date(2025, 3, 15, 12, 0, 0, 0, time.Local), true)
	c.set(time.Date(2025, 3, 16, 4, 0, 0, 0, time.Local), false)
	want = []time.Time{
		time.Date(2025, 3, 15, 12, 0, 0, 0, time.Local),
		time.Date(2025, 3, 16, 3, 0, 0, 0, time.Local),
	}
	if !slices.EqualFunc(fired, want, time.Time.Equal) {
		t.Fatalf("after a sleep: fired at %v, want %v", fired, want)
	}

	stop()
	fired = nil
	c.set(time.Date(2025, 3, 20, 0, 0, 0, 0, time.Local), false)
	if len(fired) != 0 || c.armed() != 0 {
		t.Fatalf("after stop: fired %v, %d timers armed", fired, c.armed())
	}
}

// A timer that fires before its time by the wall clock does not fire the
// schedule; the schedule fires once, at its time.
func TestRunEarlyTimer(t *testing.T) {
	start := time.Date(2025, 3, 10, 2, 59, 0, 0, time.Local)
	c := &fakeClock{now: start}
	s, _ := Parse("0 3 * * *")
	n := 0
	stop := Run(s, c, func() { n++ })
	defer stop()
	c.mu.Lock()
	c.timers[0].at = start.Add(30 * time.Second) // wall clock is 30s behind the timer
	c.mu.Unlock()
	c.set(start.Add(30*time.Second), false)
	if n != 0 {
		t.Fatal("fired before its time")
	}
	c.set(start.Add(time.Minute), false)
	if n != 1 {
		t.Fatalf("fired %d times at its time, want 1", n)
	}
}
