package spec

import (
	"fmt"
	"path/filepath"
	"strings"
	"unicode"

	"github.com/tendhq/tend/internal/conf"
)

// setName sets Name from the name key.
func setName(d *conf.Decoder, key string, v any, t *target) {
	s, err := conf.String(v)
	if err != nil {
		d.Errorf(key, "%v", err)
		return
	}
	t.Name = s
	if reason := checkName(s); reason != "" {
		d.Errorf(key, "%s", reason)
	}
}

// defaultName is the script's base name without extension, as PM2 does.
func defaultName(d *conf.Decoder, t *target) {
	if t.given == "" {
		return // the script error says it all
	}
	base := filepath.Base(t.given)
	t.Name = strings.TrimSuffix(base, filepath.Ext(base))
	if reason := checkName(t.Name); reason != "" {
		d.Errorf("name", "%s (taken from script %q); set name", reason, t.given)
	}
}

// checkName returns why s cannot name an app or namespace, or "". Names are
// used on command lines next to app ids and "all", and in file names.
func checkName(s string) string {
	switch {
	case s == "":
		return "must not be empty"
	case s == "all":
		return `"all" is reserved: it selects every app in commands`
	case s == "." || s == "..":
		return fmt.Sprintf("%q cannot be used as a name", s)
	case strings.Trim(s, "0123456789") == "":
		return fmt.Sprintf("%q is all digits, which commands read as an app id; add a letter", s)
	}
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) || r == '/' {
			return fmt.Sprintf("%q contains %q; use letters, digits, '-', '_' or '.'", s, r)
		}
	}
	return ""
}

// CheckName returns why s cannot name an app, or "".
func CheckName(s string) string { return checkName(s) }
