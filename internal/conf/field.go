package conf

import (
	"fmt"
	"strings"
)

// FieldError is one reason a setting was refused: the file it came from
// ("" for flags and the API), its key path ("apps[1].edge.tls.cert") and
// why.
type FieldError struct{ File, Path, Reason string }

func (e *FieldError) Error() string { return position(e.File, e.Path, e.Reason) }

// Errors is every problem found in one definition, so that a user fixes a
// file in one round instead of one error per run.
type Errors []*FieldError

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Warning is a problem that does not stop a definition from being used,
// such as a key tend ignores.
type Warning struct{ File, Path, Message string }

func (w Warning) String() string { return position(w.File, w.Path, w.Message) }

func position(file, path, msg string) string {
	var b strings.Builder
	for _, s := range []string{file, path} {
		if s != "" {
			b.WriteString(s)
			b.WriteString(": ")
		}
	}
	b.WriteString(msg)
	return b.String()
}

// Join appends key to a key path.
func Join(path, key string) string {
	if path == "" {
		return key
	}
	if key == "" {
		return path
	}
	return path + "." + key
}

// Index is the key path of element i of the list at path.
func Index(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }
