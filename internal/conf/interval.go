package conf

import (
	"fmt"
	"time"
)

// Interval is a rotation schedule: boundaries in local time (the location of
// the times it is given) at which a log file starts afresh.
type Interval struct {
	kind  string        // "hourly", "daily", "weekly" or "" for every
	every time.Duration // for kind "": boundaries at midnight + k·every
}

// MinInterval is the shortest duration ParseInterval accepts: a shorter one
// would produce files faster than anyone reads them.
const MinInterval = time.Minute

// ParseInterval parses a rotate_interval: "hourly", "daily", "weekly"
// (Mondays at 00:00), or a Go duration from MinInterval to 24h ("6h",
// "30m"), whose boundaries fall at local midnight and every multiple of the
// duration after it within the day. "" is the zero Interval: never.
func ParseInterval(s string) (Interval, error) {
	switch s {
	case "":
		return Interval{}, nil
	case "hourly", "daily", "weekly":
		return Interval{kind: s}, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < MinInterval || d > 24*time.Hour {
		return Interval{}, fmt.Errorf("rotate interval %q: want hourly, daily, weekly or a duration from 1m to 24h such as 6h", s)
	}
	return Interval{every: d}, nil
}

// IsZero reports whether the interval never rotates.
func (iv Interval) IsZero() bool { return iv.kind == "" && iv.every == 0 }

// Next returns the first boundary strictly after t, in t's location. It
// builds boundaries from calendar fields rather than adding durations so that
// they stay on the wall clock across daylight-saving changes. The zero
// Interval returns the zero time.
func (iv Interval) Next(t time.Time) time.Time {
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	loc := t.Location()
	switch iv.kind {
	case "hourly":
		return time.Date(y, mo, d, h+1, 0, 0, 0, loc)
	case "daily":
		return time.Date(y, mo, d+1, 0, 0, 0, 0, loc)
	case "weekly":
		days := (8 - int(t.Weekday())) % 7
		if days == 0 {
			days = 7
		}
		return time.Date(y, mo, d+days, 0, 0, 0, 0, loc)
	}
	if iv.every == 0 {
		return time.Time{}
	}
	step := int(iv.every / time.Second)
	k := (h*3600+mi*60+s)/step + 1
	if k*step >= 24*3600 {
		return time.Date(y, mo, d+1, 0, 0, 0, 0, loc)
	}
	return time.Date(y, mo, d, 0, 0, k*step, 0, loc)
}
