package schedule

import (
	"testing"
	"time"
)

// FuzzParse: no expression makes Parse panic, and one it accepts names a
// time after any given one, soon enough (cron repeats within four years
// and a bit: 29 February on a given weekday takes up to 28), as Parse
// itself promises by refusing the expressions that never fire.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"* * * * *", "0 3 * * *", "*/15 9-17 * * mon-fri", "0 0 29 2 *", "0 0 30 2 *",
		"0 0 31 4,6,9,11 *", "0 0 * * 7", "0 0 * * 5-7", "0 0 * * 7/2", "5/20 * * * *",
		"0 0 1 jan,JUL sun", "@daily", "@every 1h", "@reboot", " @Weekly ", "61 * * * *",
		"0 0 0 * *", "* * * * * *", "1-0 * * * *", "*/0 * * * *", "a-b * * * *", "", "0 0 13 * fri",
		"0 0 29 2 mon", "59 23 31 12 6", "0-59/1 * * * ?", "-1 * * * *", "1--2 * * * *", "*/-1 * * * *",
	} {
		f.Add(s, int64(0))
	}
	f.Add("0 0 29 2 *", int64(3976214400)) // 2096-01-01: the last 29 February before 2104
	f.Fuzz(func(t *testing.T, expr string, at int64) {
		s, err := Parse(expr)
		if err != nil {
			return
		}
		// Between 1970 and 2096, in a zone with daylight saving time.
		// (Not later: robfig/cron looks 5 years ahead, and from March
		// 2096 the next 29 February is in 2104, as 2100 is no leap
		// year: "0 0 29 2 *" would then find nothing.)
		const span = 126 * 365 * 86400
		from := time.Unix(at%span, 0)
		if at < 0 {
			from = time.Unix(-(at % span), 0)
		}
		loc, err := time.LoadLocation("Europe/Paris")
		if err != nil {
			loc = time.UTC
		}
		from = from.In(loc)
		next := s.Next(from)
		if next.IsZero() {
			t.Fatalf("Parse(%q) accepted, but nothing after %v", expr, from)
		}
		if !next.After(from) {
			t.Fatalf("Parse(%q): Next(%v) = %v, not after it", expr, from, next)
		}
		if next.Sub(from) > 9*366*24*time.Hour {
			t.Fatalf("Parse(%q): Next(%v) = %v, years later", expr, from, next)
		}
		if again := s.Next(next); !again.IsZero() && !again.After(next) {
			t.Fatalf("Parse(%q): Next(%v) = %v, not after it", expr, next, again)
		}
	})
}
