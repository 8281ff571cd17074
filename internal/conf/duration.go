package conf

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration that reads what ParseDuration reads and
// writes itself as a Go duration string ("1.6s").
type Duration time.Duration

// D returns the duration as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalJSON writes the duration as a string such as "1.6s".
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a number of milliseconds or a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	p, err := ParseDuration(v)
	if err != nil {
		return err
	}
	*d = Duration(p)
	return nil
}

// maxMillis is the largest number of milliseconds a time.Duration holds.
const maxMillis = float64(math.MaxInt64 / int64(time.Millisecond))

// ParseDuration reads a duration given as a decoded value, as PM2's
// settings take it: a number of milliseconds (1600, also as a string), or a
// string with a unit ("1.6s", "500ms", "2m", "1h"). Negative durations are
// refused.
func ParseDuration(v any) (time.Duration, error) {
	var d time.Duration
	var ms float64 // set for the numeric forms, checked for range below
	numeric := true
	switch x := v.(type) {
	case float64:
		ms = x
	case int:
		ms = float64(x)
	case int64:
		ms = float64(x)
	case uint64:
		ms = float64(x)
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return 0, fmt.Errorf("%q is not a number of milliseconds", x)
		}
		ms = f
	case string:
		s := strings.TrimSpace(x)
		if n, err := strconv.ParseFloat(s, 64); err == nil {
			ms = n
			break
		}
		numeric = false
		p, err := time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration (use milliseconds, or a unit: 500ms, 2s, 1m)", x)
		}
		d = p
	default:
		return 0, fmt.Errorf("want a duration (milliseconds, or a string such as \"2s\"), got %s", Describe(v))
	}
	if numeric {
		// Beyond ~292 years a Duration overflows; NaN compares false to all.
		if math.IsNaN(ms) || math.Abs(ms) > maxMillis {
			return 0, fmt.Errorf("%v milliseconds is out of range", v)
		}
		d = time.Duration(ms * float64(time.Millisecond))
	}
	if d < 0 {
		return 0, fmt.Errorf("duration must not be negative")
	}
	return d, nil
}
