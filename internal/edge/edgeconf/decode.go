package edgeconf

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration that reads "10s" or a number of
// milliseconds, as PM2's settings are.
type Duration time.Duration

// D returns the duration as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalJSON writes the duration as a string such as "10s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a number of milliseconds or a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var ms float64
	if json.Unmarshal(b, &ms) == nil {
		if ms < 0 || ms > math.MaxInt64/float64(time.Millisecond) || math.IsNaN(ms) {
			return fmt.Errorf("%v ms is out of range", ms)
		}
		*d = Duration(ms * float64(time.Millisecond))
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New(`want a duration such as "10s" or a number of milliseconds`)
	}
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		return d.UnmarshalJSON([]byte(strconv.FormatFloat(n, 'f', -1, 64)))
	}
	p, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf(`%q: want a duration such as "10s", "1m30s" or a number of milliseconds`, s)
	}
	*d = Duration(p)
	return nil
}

// Size is a number of bytes that reads "32K", "10M", "1G" (powers of
// 1024, with an optional B or iB) or a plain number.
type Size int64

// MarshalJSON writes the size in the largest unit that divides it.
func (s Size) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

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

// UnmarshalJSON reads a number of bytes or a size string.
func (s *Size) UnmarshalJSON(b []byte) error {
	var n float64
	if json.Unmarshal(b, &n) == nil {
		if n < 0 || n > math.MaxInt64 || n != math.Trunc(n) {
			return fmt.Errorf("%v is not a size in bytes", n)
		}
		*s = Size(n)
		return nil
	}
	var str string
	if err := json.Unmarshal(b, &str); err != nil {
		return errors.New(`want a size such as "32K", "10M" or a number of bytes`)
	}
	v, err := ParseSize(str)
	if err != nil {
		return err
	}
	*s = Size(v)
	return nil
}

// ParseSize reads "512", "32K", "32KB", "32KiB", "10M", "1.5G" (units are
// powers of 1024, case-insensitive).
func ParseSize(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "B"), "I")
	mult := 1.0
	if t != "" {
		switch t[len(t)-1] {
		case 'K':
			mult = 1 << 10
		case 'M':
			mult = 1 << 20
		case 'G':
			mult = 1 << 30
		case 'T':
			mult = 1 << 40
		}
		if mult != 1 {
			t = t[:len(t)-1]
		}
	}
	n, err := strconv.ParseFloat(strings.TrimSpace(t), 64)
	if err != nil || n < 0 || math.IsInf(n, 0) || n*mult > math.MaxInt64 {
		return 0, fmt.Errorf(`%q: want a size such as "32K", "10M" or a number of bytes`, s)
	}
	return int64(n * mult), nil
}

// FieldError is one reason Options were refused. Path is the key path
// inside the edge block, such as "tls.cert" or "rate_limits[1].path".
type FieldError struct{ Path, Reason string }

func (e FieldError) Error() string {
	if e.Path == "" {
		return e.Reason
	}
	return e.Path + ": " + e.Reason
}

// JoinFieldErrors joins errors into one, each path under "edge.", for
// the front's Listen and Update.
func JoinFieldErrors(es []FieldError) error {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = "edge." + e.Error()
	}
	return errors.New(strings.Join(lines, "; "))
}

// DecodeOptions reads an edge block decoded from YAML, JSON or TOML (maps
// with string keys, slices and scalars) into Options, and validates them
// (see Validate). Every unknown key and every value of the wrong type is
// reported, by key path, not only the first.
func DecodeOptions(raw any, baseDir string) (Options, []FieldError) {
	var o Options
	if raw == nil {
		return o, nil
	}
	errs := unknownKeys(raw, reflect.TypeFor[Options](), "")
	b, err := json.Marshal(raw)
	if err != nil {
		return o, append(errs, FieldError{Reason: fmt.Sprintf("not a map of settings: %v", err)})
	}
	errs = append(errs, decodeFields(b, &o)...)
	// Validate what did decode: a key that did not is left at its
	// default, and only its decoding error is reported.
	for _, e := range o.Validate(baseDir) {
		if !slices.ContainsFunc(errs, func(d FieldError) bool { return d.Path == e.Path || strings.HasPrefix(e.Path, d.Path+".") }) {
			errs = append(errs, e)
		}
	}
	if len(errs) > 0 {
		slices.SortStableFunc(errs, func(a, b FieldError) int { return strings.Compare(a.Path, b.Path) })
		return Options{}, errs
	}
	return o, nil
}

// decodeFields decodes b into o field by field, so that one bad value
// does not hide the next.
func decodeFields(b []byte, o *Options) []FieldError {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return []FieldError{{Reason: "want a map of settings, such as {tls: {cert: a.pem, key: b.pem}}"}}
	}
	var errs []FieldError
	v := reflect.ValueOf(o).Elem()
	t := v.Type()
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		for i := range t.NumField() {
			if jsonName(t.Field(i)) != k {
				continue
			}
			if err := json.Unmarshal(fields[k], v.Field(i).Addr().Interface()); err != nil {
				errs = append(errs, FieldError{k, decodeReason(k, err)})
			}
		}
	}
	return errs
}

// decodeReason turns a json error into a reason a user can act on.
func decodeReason(key string, err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		where := ""
		if te.Field != "" {
			where = " at " + te.Field
		}
		return fmt.Sprintf("%s%s is %s, want %s", key, where, te.Value, kindName(te.Type))
	}
	return err.Error()
}

func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Slice:
		return "a list"
	case reflect.Map, reflect.Struct, reflect.Pointer:
		return "a map"
	}
	return t.String()
}

func jsonName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	return name
}

// unknownKeys walks raw along t and reports keys t has no field for.
// Maps of free names (Headers) are not walked.
func unknownKeys(raw any, t reflect.Type, path string) []FieldError {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var errs []FieldError
	switch t.Kind() {
	case reflect.Struct:
		m, ok := raw.(map[string]any)
		if !ok {
			return nil // a type error, or a shorthand; decoding says which
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			f, ok := fieldByJSON(t, k)
			if !ok {
				errs = append(errs, FieldError{join(path, k), "unknown key; " + knownKeys(t)})
				continue
			}
			errs = append(errs, unknownKeys(m[k], f.Type, join(path, k))...)
		}
	case reflect.Slice:
		if l, ok := raw.([]any); ok {
			for i, e := range l {
				errs = append(errs, unknownKeys(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i))...)
			}
		}
	}
	return errs
}

func fieldByJSON(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		if f := t.Field(i); jsonName(f) == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func knownKeys(t reflect.Type) string {
	var names []string
	for i := range t.NumField() {
		if n := jsonName(t.Field(i)); n != "" && n != "-" {
			names = append(names, n)
		}
	}
	return "known keys: " + strings.Join(names, ", ")
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
