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
	var ms float64
	if x, ok := v.(string); ok {
		s := strings.TrimSpace(x)
		n, err := strconv.ParseFloat(s, 64)
		if err != nil {
			d, err := time.ParseDuration(s)
			if err != nil {
				return 0, fmt.Errorf("%q is not a duration (use milliseconds, or a unit: 500ms, 2s, 1m)", x)
			}
			return checkDuration(d)
		}
		ms = n
	} else {
		n, err := Float(v)
		if err != nil {
			return 0, fmt.Errorf("want a duration (milliseconds, or a string such as \"2s\"), got %s", Describe(v))
		}
		ms = n
	}
	// Beyond ~292 years a Duration overflows; NaN compares false to all.
	if math.IsNaN(ms) || math.Abs(ms) > maxMillis {
		return 0, fmt.Errorf("%v milliseconds is out of range", v)
	}
	return checkDuration(time.Duration(ms * float64(time.Millisecond)))
}

func checkDuration(d time.Duration) (time.Duration, error) {
	if d < 0 {
		return 0, fmt.Errorf("duration must not be negative")
	}
	return d, nil
}
