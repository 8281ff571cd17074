package conf

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ParseSize reads a size: a number of bytes ("1048576"), or a number with a
// binary unit K, M, G or T, optionally followed by B or iB, in any case
// ("512K", "10M", "1.5G", "10mb", "32KiB"). It is the one size grammar of
// tend: edge limits, log rotation and memory limits all read it.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := len(t)
	for i > 0 && isLetter(t[i-1]) {
		i--
	}
	mult, ok := sizeUnits[strings.ToUpper(t[i:])]
	v, err := strconv.ParseFloat(strings.TrimSpace(t[:i]), 64)
	if !ok || err != nil || v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf(`%q: want a size such as "32K", "10M" or a number of bytes`, s)
	}
	if v*mult >= math.MaxInt64 {
		return 0, fmt.Errorf("%q: too large", s)
	}
	return int64(v * mult), nil
}

var sizeUnits = map[string]float64{
	"": 1, "B": 1,
	"K": 1 << 10, "KB": 1 << 10, "KIB": 1 << 10,
	"M": 1 << 20, "MB": 1 << 20, "MIB": 1 << 20,
	"G": 1 << 30, "GB": 1 << 30, "GIB": 1 << 30,
	"T": 1 << 40, "TB": 1 << 40, "TIB": 1 << 40,
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// SizeValue reads a size given as a decoded value: a whole number of bytes
// or a string for ParseSize.
func SizeValue(v any) (int64, error) {
	if s, ok := v.(string); ok {
		return ParseSize(s)
	}
	n, err := Int(v)
	if err != nil {
		return 0, fmt.Errorf(`want a size such as "32K", "10M" or a number of bytes, got %s`, Describe(v))
	}
	if n < 0 {
		return 0, fmt.Errorf("size must not be negative, got %d", n)
	}
	return int64(n), nil
}

// Size is a number of bytes that reads what SizeValue reads and writes
// itself in the largest unit that divides it ("32K").
type Size int64

func (s Size) String() string {
	for _, u := range []struct {
		suffix string
		n      int64
	}{{"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}} {
		if s != 0 && int64(s)%u.n == 0 {
			return strconv.FormatInt(int64(s)/u.n, 10) + u.suffix
		}
	}
	return strconv.FormatInt(int64(s), 10)
}

// MarshalJSON writes the size as String does.
func (s Size) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// UnmarshalJSON reads a number of bytes or a size string.
func (s *Size) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	n, err := SizeValue(v)
	if err != nil {
		return err
	}
	*s = Size(n)
	return nil
}
