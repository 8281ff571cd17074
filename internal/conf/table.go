package conf

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Decoder reads one mapping of settings and collects its problems. A
// sub-decoder (Sub) reports into the same lists, under a longer key path.
type Decoder struct {
	File string         // for messages; "" for flags and the API
	Path string         // key path of the mapping, "" at the top
	Raw  map[string]any // the mapping

	sink *sink
}

type sink struct {
	errs  Errors
	warns []Warning
}

// NewDecoder returns a decoder of raw, found in file at path.
func NewDecoder(file, path string, raw map[string]any) *Decoder {
	return &Decoder{File: file, Path: path, Raw: raw, sink: &sink{}}
}

// Sub returns a decoder of raw, the mapping under key, reporting into d's
// lists.
func (d *Decoder) Sub(key string, raw map[string]any) *Decoder {
	return &Decoder{File: d.File, Path: d.At(key), Raw: raw, sink: d.sink}
}

// Errs is every problem reported so far.
func (d *Decoder) Errs() Errors { return d.sink.errs }

// Warns is every warning reported so far.
func (d *Decoder) Warns() []Warning { return d.sink.warns }

// At is the key path of key in d's mapping.
func (d *Decoder) At(key string) string {
	if strings.HasPrefix(key, "[") {
		return d.Path + key
	}
	return Join(d.Path, key)
}

// Errorf reports a problem with key.
func (d *Decoder) Errorf(key, format string, args ...any) {
	d.sink.errs = append(d.sink.errs, &FieldError{File: d.File, Path: d.At(key), Reason: fmt.Sprintf(format, args...)})
}

// Warnf reports a warning about key.
func (d *Decoder) Warnf(key, format string, args ...any) {
	d.sink.warns = append(d.sink.warns, Warning{File: d.File, Path: d.At(key), Message: fmt.Sprintf(format, args...)})
}

// Get returns a key's value. A null value counts as absent, so that an
// empty YAML key ("port:") leaves the default in place.
func (d *Decoder) Get(key string) (any, bool) {
	v := d.Raw[key]
	return v, v != nil
}

// Field declares one key of a mapping that is decoded into a T: its name,
// the other names it is known by, and the setter that checks its value
// (bounds included) and stores it. The constructors below (BoolField,
// IntField, ...) build the setter for each kind of value.
type Field[T any] struct {
	Key     string
	Aliases []string
	Set     func(d *Decoder, key string, v any, dst *T)
	// Absent, when set, runs in Set's place when the key is not given:
	// a default that depends on other keys, or "required".
	Absent func(d *Decoder, dst *T)
}

// Else returns f with absent run when the key is not given.
func (f Field[T]) Else(absent func(d *Decoder, dst *T)) Field[T] {
	f.Absent = absent
	return f
}

// Or returns f also known by aliases.
func (f Field[T]) Or(aliases ...string) Field[T] {
	f.Aliases = append(slices.Clone(f.Aliases), aliases...)
	return f
}

// Table is the keys of one mapping, decoded in the order they are declared
// (a setter may read what an earlier one stored).
type Table[T any] struct {
	Fields []Field[T]
	// Other, when set, is asked about each key no field declares, before
	// it is reported: it returns true when it dealt with the key (such as
	// PM2's keys that tend knows and ignores).
	Other func(d *Decoder, key string, v any) bool
	// Lenient reports undeclared keys as warnings ("ignored") instead of
	// errors.
	Lenient bool
}

// Keys are the declared names (not the aliases), in order.
func (t *Table[T]) Keys() []string {
	keys := make([]string, len(t.Fields))
	for i, f := range t.Fields {
		keys[i] = f.Key
	}
	return keys
}

// Has reports whether key is declared, by name or alias.
func (t *Table[T]) Has(key string) bool {
	for _, f := range t.Fields {
		if f.Key == key || slices.Contains(f.Aliases, key) {
			return true
		}
	}
	return false
}

// Decode reads d's mapping into dst: every undeclared key is reported
// first (sorted), then each field is set in order.
func (t *Table[T]) Decode(d *Decoder, dst *T) {
	keys := make([]string, 0, len(d.Raw))
	for k := range d.Raw {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if t.Has(k) || (t.Other != nil && t.Other(d, k, d.Raw[k])) {
			continue
		}
		t.unknown(d, k)
	}
	for _, f := range t.Fields {
		key, v, ok := "", any(nil), false
		for _, name := range append([]string{f.Key}, f.Aliases...) {
			w, has := d.Get(name)
			if !has {
				continue
			}
			if ok {
				d.Errorf(name, "%s is another name for %s; set only one of them", name, key)
				continue
			}
			key, v, ok = name, w, true
		}
		switch {
		case ok:
			f.Set(d, key, v, dst)
		case f.Absent != nil:
			f.Absent(d, dst)
		}
	}
}

func (t *Table[T]) unknown(d *Decoder, key string) {
	hint := ""
	if near := Nearest(key, t.Keys()); near != "" {
		hint = fmt.Sprintf(" (did you mean %s?)", near)
	}
	if t.Lenient {
		d.Warnf(key, "unknown key%s; ignored", hint)
		return
	}
	d.Errorf(key, "unknown key%s; known keys: %s", hint, strings.Join(t.Keys(), ", "))
}

// Nearest is the name among known closest to key by edit distance, when
// it is close enough to be a misspelling; "" otherwise.
func Nearest(key string, known []string) string {
	best, bestD := "", math.MaxInt
	for _, k := range known {
		if d := distance(strings.ToLower(key), k); d < bestD {
			best, bestD = k, d
		}
	}
	if bestD <= max(1, min(3, len(key)/3)) {
		return best
	}
	return ""
}

// distance is the edit distance of a and b, a swap of two neighbours
// counting as one edit (optimal string alignment).
func distance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

// Custom declares a key whose setter is written out.
func Custom[T any](key string, set func(d *Decoder, key string, v any, dst *T)) Field[T] {
	return Field[T]{Key: key, Set: set}
}

// BoolField declares a key that holds true or false.
func BoolField[T any](key string, field func(*T) *bool) Field[T] {
	return Custom(key, func(d *Decoder, key string, v any, dst *T) {
		if b, err := Bool(v); err != nil {
			d.Errorf(key, "%v", err)
		} else {
			*field(dst) = b
		}
	})
}

// OptBoolField declares a key that holds true or false, stored as a
// pointer so that "not set" stays apart from false.
func OptBoolField[T any](key string, field func(*T) **bool) Field[T] {
	return Custom(key, func(d *Decoder, key string, v any, dst *T) {
		if b, err := Bool(v); err != nil {
			d.Errorf(key, "%v", err)
		} else {
			*field(dst) = &b
		}
	})
}

// IntField declares a key that holds a whole number between lo and hi.
func IntField[T any](key string, lo, hi int, field func(*T) *int) Field[T] {
	return Custom(key, func(d *Decoder, key string, v any, dst *T) {
		n, err := Int(v)
		if err != nil {
			d.Errorf(key, "%v", err)
			return
		}
		if reason := outside(float64(n), float64(lo), float64(hi), fmt.Sprint(n)); reason != "" {
			d.Errorf(key, "%s", reason)
		}
		*field(dst) = n
	})
}

// FloatField declares a key that holds a number between lo and hi.
func FloatField[T any](key string, lo, hi float64, field func(*T) *float64) Field[T] {
	return Custom(key, func(d *Decoder, key string, v any, dst *T) {
		f, err := Float(v)
		if err != nil {
			d.Errorf(key, "%v", err)
			return
		}
		if reason := outside(f, lo, hi, fmt.Sprint(f)); reason != "" {
			d.Errorf(key, "%s", reason)
		}
		*field(dst) = f
	})
}

// Unbounded is the hi of a field with no ceiling of its own.
const Unbounded = math.MaxInt32

// outside says why n is not between lo and hi, or "".
func outside(n, lo, hi float64, shown string) string {
	switch {
	case n >= lo && n <= hi:
		return ""
	case hi >= Unbounded && lo == 0:
		return "must not be negative, got " + shown
	case hi >= Unbounded:
		return fmt.Sprintf("must be at least %s, got %s", num(lo), shown)
	}
	return fmt.Sprintf("must be between %s and %s, got %s", num(lo), num(hi), shown)
}

func num(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// DurationField declares a key that holds a duration (ParseDuration).
func DurationField[T any](key string, field func(*T) *Duration) Field[T] {
	return Custom(key, func(d *Decoder, key string, v any, dst *T) {
		p, err := ParseDuration(v)
		if err != nil {
			d.Errorf(key, "%v", err)
			return
		}
		*field(dst) = Duration(p)
	})
}

// SizeField declares a key that holds a size (SizeValue) between lo and
// hi bytes; 0 is always allowed, as "not set".
func SizeField[T any, S ~int64](key string, lo, hi int64, field func(*T) *S) Field[T] {
	return Custom(key, func(d *Decoder, key string, v any, dst *T) {
		n, err := SizeValue(v)
		if err != nil {
			d.Errorf(key, "%v", err)
			return
		}
		if n != 0 && (n < lo || n > hi) {
			d.Errorf(key, "%s: want between %s and %s", Size(n), Size(lo), Size(hi))
			return
		}
		*field(dst) = S(n)
	})
}

// StringField declares a key that holds a string; check, when set, says
// what is wrong with one ("" when nothing is).
func StringField[T any](key string, check func(string) string, field func(*T) *string) Field[T] {
	return Custom(key, func(d *Decoder, key string, v any, dst *T) {
		s, err := String(v)
		if err != nil {
			d.Errorf(key, "%v", err)
			return
		}
		if check != nil {
			if reason := check(s); reason != "" {
				d.Errorf(key, "%s", reason)
			}
		}
		*field(dst) = s
	})
}

// StringsField declares a key that holds a list of at most most strings
// (one string is a list of one); check, when set, says what is wrong with
// an element.
func StringsField[T any](key string, most int, check func(string) string, field func(*T) *[]string) Field[T] {
	return Custom(key, func(d *Decoder, key string, v any, dst *T) {
		*field(dst) = d.Strings(key, v, most, check)
	})
}

// Strings reads a list of at most most strings, or one string as a list of
// one, reporting each bad element at its index.
func (d *Decoder) Strings(key string, v any, most int, check func(string) string) []string {
	var list []any
	switch x := v.(type) {
	case string:
		list = []any{x}
	case []any:
		list = x
	default:
		d.Errorf(key, "want a string or a list of strings, got %s", Describe(v))
		return nil
	}
	if len(list) > most {
		d.Errorf(key, "%d entries; at most %d are allowed", len(list), most)
		return nil
	}
	out := make([]string, 0, len(list))
	for i, e := range list {
		at := key
		if _, isList := v.([]any); isList {
			at = Index(key, i)
		}
		s, ok := e.(string)
		if !ok {
			d.Errorf(at, "want a string, got %s", Describe(e))
			continue
		}
		if check != nil {
			if reason := check(s); reason != "" {
				d.Errorf(at, "%s", reason)
				continue
			}
		}
		out = append(out, s)
	}
	return out
}

// Map returns v as a mapping, or reports at key that it is not one, with
// an example of what is wanted.
func (d *Decoder) Map(key string, v any, example string) (map[string]any, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		d.Errorf(key, "want a mapping such as %s, got %s", example, Describe(v))
	}
	return m, ok
}
