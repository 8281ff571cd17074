package conf

import (
	"strings"
	"testing"
	"time"
	_ "time/tzdata"
)

func TestParseMomentLayout(t *testing.T) {
	loc := time.FixedZone("X", -(3*3600 + 30*60))
	// A Wednesday afternoon, day 45 of the year, with 123456789 ns.
	tm := time.Date(2024, time.February, 14, 15, 4, 5, 123456789, loc)
	morning := time.Date(2024, time.March, 3, 0, 7, 9, 0, time.UTC) // a Sunday, just after midnight
	tests := []struct {
		layout string
		t      time.Time
		want   string
	}{
		{"YYYY-MM-DD HH:mm:ss Z", tm, "2024-02-14 15:04:05 -03:30"},
		{"YYYY-MM-DDTHH:mm:ss.SSSZZ", tm, "2024-02-14T15:04:05.123-0330"},
		{"YY M D H m s", morning, "24 3 3 0 7 9"},
		{"hh:mm A", tm, "03:04 PM"},
		{"h:mm a", morning, "12:07 am"},
		{"HHmmss", morning, "000709"},
		{"SSSSSSSSS S SS", tm, "123456789 1 12"},
		{"MMMM MMM", tm, "February Feb"},
		{"dddd ddd dd d", tm, "Wednesday Wed We 3"},
		{"dddd d", morning, "Sunday 0"},
		{"DDDD DDD", tm, "045 45"},
		{"X x", time.Unix(1700000000, 250e6), "1700000000 1700000000250"},
		{"[at] HH[h] [YYYY Monday 10]", tm, "at 15h YYYY Monday 10"},
		{"[]YYYY", tm, "2024"},
		{"", tm, ""},
		{"!!", tm, "!!"},
		{"Z", morning, "+00:00"},
	}
	for _, tt := range tests {
		ml, err := ParseMomentLayout(tt.layout)
		if err != nil {
			t.Errorf("ParseMomentLayout(%q): %v", tt.layout, err)
			continue
		}
		if got := ml.Format(tt.t); got != tt.want {
			t.Errorf("%q: got %q, want %q", tt.layout, got, tt.want)
		}
	}
}

func TestParseMomentLayoutErrors(t *testing.T) {
	for _, layout := range []string{"YYY", "YYYY-MM-DD Q", "MMMMM", "HHH", "AA", "[unclosed", "SSSSSSSSSS", "TT", "Do", "hh:mm:ss tt"} {
		if _, err := ParseMomentLayout(layout); err == nil {
			t.Errorf("ParseMomentLayout(%q) accepted a layout it should reject", layout)
		} else if !strings.Contains(err.Error(), layout) {
			t.Errorf("ParseMomentLayout(%q): error %q does not name the layout", layout, err)
		}
	}
}

func TestIntervalNext(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris") // time/tzdata is linked in: never missing
	if err != nil {
		t.Fatal(err)
	}
	at := func(s string) time.Time {
		tm, err := time.ParseInLocation("2006-01-02 15:04:05", s, paris)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	tests := []struct {
		interval, from, want string
	}{
		{"hourly", "2024-05-10 10:15:00", "2024-05-10 11:00:00"},
		{"hourly", "2024-05-10 23:59:59", "2024-05-11 00:00:00"},
		{"hourly", "2024-05-10 10:00:00", "2024-05-10 11:00:00"}, // strictly after
		{"daily", "2024-05-10 10:15:00", "2024-05-11 00:00:00"},
		{"daily", "2024-12-31 23:00:00", "2025-01-01 00:00:00"},
		{"daily", "2024-03-30 12:00:00", "2024-03-31 00:00:00"},  // the night before DST starts
		{"weekly", "2024-05-10 10:15:00", "2024-05-13 00:00:00"}, // Friday → Monday
		{"weekly", "2024-05-12 23:00:00", "2024-05-13 00:00:00"}, // Sunday → Monday
		{"weekly", "2024-05-13 00:00:00", "2024-05-20 00:00:00"}, // Monday → next Monday
		{"6h", "2024-05-10 10:15:00", "2024-05-10 12:00:00"},
		{"6h", "2024-05-10 18:00:00", "2024-05-11 00:00:00"},
		{"7h", "2024-05-10 22:00:00", "2024-05-11 00:00:00"}, // restarts at midnight
		{"30m", "2024-05-10 10:15:00", "2024-05-10 10:30:00"},
		{"6h", "2024-03-31 01:00:00", "2024-03-31 06:00:00"}, // wall clock across DST
	}
	for _, tt := range tests {
		iv, err := ParseInterval(tt.interval)
		if err != nil {
			t.Fatal(err)
		}
		got := iv.Next(at(tt.from))
		if !got.Equal(at(tt.want)) {
			t.Errorf("%s after %s: got %s, want %s", tt.interval, tt.from, got, tt.want)
		}
	}
	for _, bad := range []string{"monthly", "10s", "25h", "-1h", "daily "} {
		if _, err := ParseInterval(bad); err == nil {
			t.Errorf("ParseInterval(%q) accepted a bad interval", bad)
		}
	}
	if iv, err := ParseInterval(""); err != nil || !iv.IsZero() || !iv.Next(time.Now()).IsZero() {
		t.Errorf("ParseInterval(\"\") should never rotate")
	}
}
