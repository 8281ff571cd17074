package spec

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/tendhq/tend/internal/conf"
)

// The keys whose values take more than one form: argument lists (a list or
// a shell-like string), environment blocks, exit codes, instance counts.

// args reads a list of arguments, or a string split like a shell would.
func args(d *conf.Decoder, key string, v any) []string {
	var out []string
	switch x := v.(type) {
	case string:
		var err error
		if out, err = splitArgs(x); err != nil {
			d.Errorf(key, "%v", err)
		}
	case []any:
		for i, e := range x {
			s, ok := conf.Scalar(e)
			if !ok {
				d.Errorf(conf.Index(key, i), "want a string, got %s", conf.Describe(e))
			}
			out = append(out, s)
		}
	default:
		d.Errorf(key, "want a list of strings or a string, got %s", conf.Describe(v))
	}
	for _, s := range out {
		if strings.ContainsRune(s, 0) {
			d.Errorf(key, "arguments cannot contain NUL bytes")
			break
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// env merges the env block and the selected env_<name> block.
func env(d *conf.Decoder, name string) map[string]string {
	env := map[string]string{}
	envBlock(d, "env", env)
	if name != "" {
		envBlock(d, "env_"+name, env)
	}
	if len(env) == 0 {
		return nil
	}
	return env
}

func envBlock(d *conf.Decoder, key string, env map[string]string) {
	v, ok := d.Get(key)
	if !ok {
		return
	}
	m, ok := v.(map[string]any)
	if !ok {
		d.Errorf(key, "want a mapping of variable names to values, got %s", conf.Describe(v))
		return
	}
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		p := key + "." + k
		s, ok := conf.Scalar(m[k])
		switch {
		case k == "" || strings.ContainsAny(k, "=\x00"):
			d.Errorf(p, "%q cannot name an environment variable", k)
		case !ok:
			d.Errorf(p, "want a string, number or boolean, got %s", conf.Describe(m[k]))
		case strings.ContainsRune(s, 0):
			d.Errorf(p, "value cannot contain NUL bytes")
		default:
			env[k] = s
		}
	}
}

// setInstances reads PM2's forms: a count; "max" or 0 for one per CPU; -1
// for one per CPU but one. A count beyond the daemon's ceiling is refused
// (it would cost memory before a single process starts); one above four
// per CPU is allowed with a warning.
func setInstances(d *conf.Decoder, key string, v any, t *target) {
	if s, ok := v.(string); ok && strings.TrimSpace(s) == "max" {
		t.Instances = t.o.NumCPU
		return
	}
	ceiling := t.o.maxInstances()
	n, err := conf.Int(v)
	switch {
	case err != nil:
		d.Errorf(key, "want a number or \"max\", got %s", conf.Describe(v))
	case n < -1:
		d.Errorf(key, "must be at least 1, or \"max\" or 0 (one per CPU), or -1 (one per CPU but one), got %d", n)
	case n == 0:
		t.Instances = t.o.NumCPU
	case n == -1:
		t.Instances = max(1, t.o.NumCPU-1)
	case n > ceiling:
		d.Errorf(key, "%d is more than the %d instances an app may have (max_instances in daemon.yaml)", n, ceiling)
	default:
		t.Instances = n
		if n > 4*t.o.NumCPU {
			d.Warnf(key, "%d instances on %d CPUs: more than 4 per CPU mostly adds memory and context switches", n, t.o.NumCPU)
		}
	}
}

// exitCodes reads an exit code or a list of them.
func exitCodes(d *conf.Decoder, key string, v any) []int {
	list, isList := v.([]any)
	if !isList {
		list = []any{v}
	}
	var codes []int
	for i, e := range list {
		at := key
		if isList {
			at = conf.Index(key, i)
		}
		n, err := conf.Int(e)
		switch {
		case err != nil:
			d.Errorf(at, "want an exit code or a list of them, got %s", conf.Describe(e))
		case n < 0 || n > 255:
			d.Errorf(at, "must be an exit code between 0 and 255, got %d", n)
		default:
			codes = append(codes, n)
		}
	}
	return codes
}

// splitArgs splits s into words as a POSIX shell would, honouring quotes and
// backslashes, without expanding anything.
func splitArgs(s string) ([]string, error) {
	var (
		args    []string
		cur     strings.Builder
		inWord  bool
		quote   rune
		escaped bool
	)
	for _, r := range s {
		switch {
		case escaped:
			// Inside double quotes a backslash only escapes these.
			if quote == '"' && !strings.ContainsRune("\"\\$`\n", r) {
				cur.WriteByte('\\')
			}
			cur.WriteRune(r)
			escaped = false
		case quote == '\'':
			if r == '\'' {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case quote == '"':
			switch r {
			case '"':
				quote = 0
			case '\\':
				escaped = true
			default:
				cur.WriteRune(r)
			}
		case r == '\\':
			escaped, inWord = true, true
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t' || r == '\n':
			if inWord {
				args = append(args, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	switch {
	case escaped:
		return nil, errors.New("ends with a lone backslash")
	case quote != 0:
		return nil, fmt.Errorf("unterminated %c quote; close it or use a list", quote)
	}
	if inWord {
		args = append(args, cur.String())
	}
	return args, nil
}
