package conf

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Describe names the type and value of a decoded value for error messages.
func Describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return fmt.Sprintf("boolean %v", x)
	case string:
		return fmt.Sprintf("string %q", x)
	case float64, int, int64, uint64, json.Number:
		return fmt.Sprintf("number %v", x)
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	default:
		return fmt.Sprintf("%T", v)
	}
}

// Int reads a whole number from any numeric form, or a numeric string
// (environment-templated files often quote numbers).
func Int(v any) (int, error) {
	bad := fmt.Errorf("want a whole number, got %s", Describe(v))
	var f float64
	switch x := v.(type) {
	case int:
		return x, nil
	case int64:
		if x < math.MinInt || x > math.MaxInt {
			return 0, bad
		}
		return int(x), nil
	case uint64:
		if x > math.MaxInt {
			return 0, bad
		}
		return int(x), nil
	case float64:
		f = x
	case json.Number, string:
		s := strings.TrimSpace(fmt.Sprint(x))
		if n, err := strconv.ParseInt(s, 10, 0); err == nil {
			return int(n), nil
		}
		p, err := strconv.ParseFloat(s, 64)
		if _, isStr := x.(string); err != nil || isStr {
			return 0, bad // "1e3" in quotes is not a number anyone meant
		}
		f = p
	default:
		return 0, bad
	}
	// 2^63 is exactly representable; anything at or past it overflows int64.
	if f != math.Trunc(f) || f < math.MinInt64 || f >= 1<<63 {
		return 0, bad
	}
	return int(f), nil
}

// Float reads a number from any numeric form or a numeric string.
func Float(v any) (float64, error) {
	var f float64
	var err error
	switch x := v.(type) {
	case float64:
		f = x
	case int:
		f = float64(x)
	case int64:
		f = float64(x)
	case uint64:
		f = float64(x)
	case json.Number:
		f, err = x.Float64()
	case string:
		f, err = strconv.ParseFloat(strings.TrimSpace(x), 64)
	default:
		return 0, fmt.Errorf("want a number, got %s", Describe(v))
	}
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("want a number, got %s", Describe(v))
	}
	return f, nil
}

// Bool reads true or false.
func Bool(v any) (bool, error) {
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("want true or false, got %s", Describe(v))
	}
	return b, nil
}

// String reads a string.
func String(v any) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("want a string, got %s", Describe(v))
	}
	return s, nil
}

// Scalar writes a string, number or boolean the way a shell variable
// would hold it: 3.0 is "3", as JavaScript's String(3.0) is.
func Scalar(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case bool:
		return strconv.FormatBool(x), true
	case int:
		return strconv.Itoa(x), true
	case int64:
		return strconv.FormatInt(x, 10), true
	case uint64:
		return strconv.FormatUint(x, 10), true
	case float64:
		return formatFloat(x), true
	case json.Number:
		s := string(x)
		if strings.Trim(strings.TrimPrefix(s, "-"), "0123456789") == "" {
			return s, true // keep big integers exact
		}
		if f, err := x.Float64(); err == nil {
			return formatFloat(f), true
		}
		return s, true
	}
	return "", false
}

func formatFloat(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1e21 {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}
