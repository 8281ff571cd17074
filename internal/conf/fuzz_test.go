package conf

import (
	"testing"
	"time"
)

// The grammars read what users and API callers type: none may panic, and
// what one accepts must mean the same when written back.

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"0", "512K", "10mb", "1.5G", "32KiB", " 2 T ", "1e30T", "NaN", "-1K", "1KK", "10 M B"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSize(s)
		if err != nil {
			return
		}
		if n < 0 {
			t.Fatalf("ParseSize(%q) = %d, negative", s, n)
		}
		back, err := ParseSize(Size(n).String())
		if err != nil || back != n {
			t.Fatalf("ParseSize(%q) = %d, written %q, read back %d, %v", s, n, Size(n).String(), back, err)
		}
	})
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"1600", "1.6s", "2m", "-1s", "1e300", "soon", "1h2m3.5s", "0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			return
		}
		if d < 0 {
			t.Fatalf("ParseDuration(%q) = %v, negative", s, d)
		}
		back, err := ParseDuration(d.String())
		if err != nil || back != d {
			t.Fatalf("ParseDuration(%q) = %v, read back %v, %v", s, d, back, err)
		}
	})
}

func FuzzParseSignal(f *testing.F) {
	for _, s := range []string{"SIGTERM", "term", "9", "SIG34", "64", "65", "sigfoo", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sig, err := ParseSignal(s)
		if err != nil {
			return
		}
		if sig < 1 || sig > 64 {
			t.Fatalf("ParseSignal(%q) = %d", s, sig)
		}
		name, err := SignalName(s)
		if err != nil {
			t.Fatalf("SignalName(%q): %v", s, err)
		}
		if again, err := ParseSignal(name); err != nil || again != sig {
			t.Fatalf("ParseSignal(%q) = %d, named %s, read back %d, %v", s, sig, name, again, err)
		}
	})
}

func FuzzMomentLayout(f *testing.F) {
	for _, s := range []string{"YYYY-MM-DD HH:mm:ss Z", "[at] h:mm a", "x X SSS", "[unclosed", "Do MMMM gggg", ""} {
		f.Add(s)
	}
	tm := time.Date(2024, 2, 14, 15, 4, 5, 123456789, time.FixedZone("X", -(3*3600+30*60)))
	f.Fuzz(func(t *testing.T, s string) {
		ml, err := ParseMomentLayout(s)
		if err != nil {
			return
		}
		_ = ml.Format(tm)
		_ = ml.Format(time.Time{})
	})
}

func FuzzParseInterval(f *testing.F) {
	for _, s := range []string{"hourly", "daily", "weekly", "6h", "30m", "25h", "10s", ""} {
		f.Add(s)
	}
	from := time.Date(2024, 3, 31, 1, 30, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		iv, err := ParseInterval(s)
		if err != nil || iv.IsZero() {
			return
		}
		if next := iv.Next(from); !next.After(from) {
			t.Fatalf("ParseInterval(%q).Next(%v) = %v, not after", s, from, next)
		}
	})
}
