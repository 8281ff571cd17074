package spec

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/tendhq/tend/internal/conf"
	"go.yaml.in/yaml/v3"
)

// LoadOptions selects what LoadFile returns.
type LoadOptions struct {
	EnvName string   // selects the env_<EnvName> blocks (PM2's --env)
	Only    []string // keeps only the apps of these names (PM2's --only); nil keeps all
	NumCPU  int      // for instances "max"; 0 means runtime.NumCPU()
	// MaxInstances is the ceiling on an app's instances (daemon.yaml's
	// max_instances); 0 means DefaultMaxInstances.
	MaxInstances int
	// Elsewhere: the file's apps run on another host (tend --host); see
	// DecodeOptions.Elsewhere. Their cwd must then be absolute.
	Elsewhere bool
}

// IsEcosystemFile reports whether a path names an ecosystem file by its name:
// *.yaml, *.yml, *.json, *.toml, *.config.js, *.config.cjs, *.config.mjs
// (e.g. ecosystem.config.js, tend.yaml). Any other .js file is a script.
func IsEcosystemFile(path string) bool {
	base := strings.ToLower(filepath.Base(path))
	for _, ext := range []string{".yaml", ".yml", ".json", ".toml", ".config.js", ".config.cjs", ".config.mjs"} {
		if strings.HasSuffix(base, ext) && len(base) > len(ext) {
			return true
		}
	}
	return false
}

// LoadFile reads an ecosystem file, validates every app in it, and returns
// them all or an error naming every problem. Nothing partial. Relative paths
// in the file are resolved against the file's directory. With o.Only, apps
// not selected are not validated, so that one app can be started on a
// machine where another one could not run.
func LoadFile(path string, o LoadOptions) ([]App, []Warning, error) {
	m, err := readTop(path)
	if err != nil {
		return nil, nil, err
	}
	var warns []Warning
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		switch k {
		case "apps", "deploy": // deploy: tend deploy FILE ENV (LoadDeploy)
		default:
			warns = append(warns, Warning{File: path, Path: k, Message: msgUnknown})
		}
	}

	var items []any
	var paths []string
	switch x := m["apps"].(type) {
	case nil:
		return nil, warns, Errors{{File: path, Path: "apps", Reason: "required: a list of apps"}}
	case map[string]any: // PM2 accepts a single app
		items, paths = []any{x}, []string{"apps"}
	case []any:
		items = x
		for i := range x {
			paths = append(paths, fmt.Sprintf("apps[%d]", i))
		}
	default:
		return nil, warns, Errors{{File: path, Path: "apps", Reason: "want a list of apps, got " + conf.Describe(x)}}
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, warns, err
	}
	do := DecodeOptions{File: path, BaseDir: filepath.Dir(abs), EnvName: o.EnvName, NumCPU: o.NumCPU, MaxInstances: o.MaxInstances, Elsewhere: o.Elsewhere}
	apps, w, err := decodeAll(items, paths, do, o.Only)
	return apps, append(warns, w...), err
}

// readTop reads an ecosystem file's top-level mapping.
func readTop(path string) (map[string]any, error) {
	fail := func(format string, args ...any) (map[string]any, error) {
		return nil, Errors{{File: path, Reason: fmt.Sprintf(format, args...)}}
	}
	if !IsEcosystemFile(path) {
		return fail("not an ecosystem file: name it *.yaml, *.yml, *.json, *.toml or *.config.js")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return fail("%v", err)
	}
	b, err := os.ReadFile(abs)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fail("cannot read the file: %v", err)
	}

	var top any
	switch ext := strings.ToLower(filepath.Ext(abs)); ext {
	case ".yaml", ".yml":
		err = yaml.Unmarshal(b, &top)
		var te *yaml.TypeError
		if errors.As(err, &te) { // such as a key given twice
			err = errors.New(strings.Join(te.Errors, "; "))
		} else if err != nil {
			err = yamlError(b, err)
		}
		top = normalize(top)
	case ".toml":
		m := map[string]any{}
		_, err = toml.Decode(string(b), &m)
		var pe toml.ParseError
		if errors.As(err, &pe) {
			err = fmt.Errorf("line %d, column %d: %s", pe.Position.Line, pe.Position.Col, pe.Message)
		}
		top = normalize(m)
	case ".json":
		top, err = parseJSON(b)
	default: // .js, .cjs, .mjs
		top, err = evalJS(abs)
	}
	if err != nil {
		return fail("%v", err)
	}

	if top == nil {
		return fail("the file is empty; define your apps in an \"apps\" list")
	}
	m, ok := top.(map[string]any)
	if !ok {
		return fail("want a mapping with an \"apps\" list at the top level, got %s", conf.Describe(top))
	}
	return m, nil
}

// yamlError places a YAML syntax error on the line where it is. The
// decoder reports some errors at the line where the enclosing block began
// ("line 1: did not find expected '-' indicator" for a bad indentation on
// line 4); the real line is the first that no longer parses: the line after
// the longest prefix of the file that does.
func yamlError(b []byte, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	lines := bytes.SplitAfter(b, []byte("\n"))
	if len(lines) > maxYAMLScan {
		return errors.New(msg)
	}
	if _, rest, ok := strings.Cut(msg, ": "); ok && strings.HasPrefix(msg, "line ") {
		msg = rest
	}
	bad := len(lines)
	for bad > 1 {
		var v any
		if yaml.Unmarshal(bytes.Join(lines[:bad-1], nil), &v) == nil {
			break
		}
		bad--
	}
	text := strings.TrimRight(string(lines[bad-1]), "\r\n")
	return fmt.Errorf("line %d: %s: %q", bad, msg, text)
}

// maxYAMLScan bounds yamlError's search, which parses the file once per
// line in the worst case.
const maxYAMLScan = 2000

// DecodeJSON decodes an API request body: a JSON array of app objects (paths
// "apps[i]"). Each app needs an absolute cwd, as a request has no directory
// of its own (o.BaseDir is ignored); a relative script is found from that
// cwd. It runs on untrusted input and must never panic.
func DecodeJSON(b []byte, o DecodeOptions) ([]App, []Warning, error) {
	top, err := parseJSON(b)
	if err != nil {
		return nil, nil, Errors{{File: o.File, Reason: err.Error()}}
	}
	items, ok := top.([]any)
	if !ok {
		return nil, nil, Errors{{File: o.File, Reason: "want a JSON array of apps, got " + conf.Describe(top)}}
	}
	paths := make([]string, len(items))
	for i := range items {
		paths[i] = fmt.Sprintf("apps[%d]", i)
	}
	o.BaseDir = ""
	return decodeAll(items, paths, o, nil)
}

// decodeAll decodes the app objects items, found at paths, keeps those named
// in only (all when only is nil), and checks names are unique.
func decodeAll(items []any, paths []string, o DecodeOptions, only []string) ([]App, []Warning, error) {
	var (
		apps   []App
		warns  []Warning
		errs   Errors
		names  []string // of all apps, for messages
		found  = map[string]bool{}
		seen   = map[string]string{} // app key -> path
		ports  = map[int]string{}    // port -> path and name of its app
		hasEnv bool
	)
	if len(items) == 0 {
		return nil, nil, Errors{{File: o.File, Path: "apps", Reason: "is empty; add at least one app"}}
	}
	for i, item := range items {
		raw, ok := item.(map[string]any)
		if !ok {
			errs = append(errs, &FieldError{File: o.File, Path: paths[i], Reason: "want a mapping (one app), got " + conf.Describe(item)})
			continue
		}
		ao := o
		ao.Path = paths[i]
		a, w, e := decode(raw, ao)
		if a.Name != "" {
			names = append(names, a.Name)
		}
		if only != nil && !slices.Contains(only, a.Name) {
			continue
		}
		found[a.Name] = true
		if _, ok := raw["env_"+o.EnvName]; ok {
			hasEnv = true
		}
		warns, errs = append(warns, w...), append(errs, e...)
		if a.Name == "" || checkName(a.Name) != "" {
			continue // already reported
		}
		if prev, ok := seen[a.Key()]; ok {
			errs = append(errs, &FieldError{File: o.File, Path: paths[i] + ".name",
				Reason: fmt.Sprintf("%q is also the name of %s in namespace %q; names must be unique within a namespace", a.Name, prev, a.Namespace)})
		}
		seen[a.Key()] = paths[i]
		if a.Port > 0 && !o.PortsPlaced {
			if prev, ok := ports[a.Port]; ok {
				errs = append(errs, &FieldError{File: o.File, Path: paths[i] + ".port",
					Reason: fmt.Sprintf("%d is also the port of %s; two apps cannot listen on one port", a.Port, prev)})
			}
			ports[a.Port] = fmt.Sprintf("%s (%s)", paths[i], a.Name)
		}
		apps = append(apps, a)
	}
	for _, n := range only {
		if !found[n] {
			errs = append(errs, &FieldError{File: o.File, Reason: fmt.Sprintf("no app is named %q; the apps are: %s", n, strings.Join(names, ", "))})
		}
	}
	if o.EnvName != "" && !hasEnv && len(errs) == 0 {
		warns = append(warns, Warning{File: o.File, Message: fmt.Sprintf("no app has an env_%s block, so environment %q changes nothing", o.EnvName, o.EnvName)})
	}
	if len(errs) > 0 {
		return nil, warns, errs
	}
	return apps, warns, nil
}

// parseJSON decodes one JSON value, numbers kept exact, and places syntax
// errors by line and column.
func parseJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		return nil, fmt.Errorf("%s: %v", lineCol(b, se.Offset-1), err)
	case errors.Is(err, io.EOF):
		return nil, errors.New("no JSON value: the input is empty")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return nil, errors.New("unexpected end of JSON input")
	case err != nil:
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%s: unexpected data after the JSON value", lineCol(b, dec.InputOffset()))
	}
	if err := duplicateKeys(b); err != nil {
		return nil, err
	}
	return v, nil
}

// duplicateKeys refuses an object that names a key twice, as the YAML and
// TOML decoders do: encoding/json would keep the last one without a word,
// so a file with "apps" twice would start only the second list. b is
// known to be one valid JSON value.
func duplicateKeys(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	type frame struct {
		object  bool
		keyNext bool           // the next string is a key
		keys    map[string]int // key -> line of its first use
	}
	var stack []*frame
	line := func() int { return bytes.Count(b[:dec.InputOffset()], []byte("\n")) + 1 }
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if _, isDelim := tok.(json.Delim); !isDelim && top != nil && top.object && top.keyNext {
			key, _ := tok.(string)
			if first, ok := top.keys[key]; ok {
				return fmt.Errorf("line %d: mapping key %q already defined at line %d", line(), key, first)
			}
			top.keys[key] = line()
			top.keyNext = false
			continue
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{object: true, keyNext: true, keys: map[string]int{}})
			continue
		case json.Delim('['):
			stack = append(stack, &frame{})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		// A value ended: in an object, a key comes next.
		if len(stack) > 0 && stack[len(stack)-1].object {
			stack[len(stack)-1].keyNext = true
		}
	}
}

// lineCol describes a byte offset of b as "line L, column C", both from 1.
func lineCol(b []byte, off int64) string {
	off = max(0, min(off, int64(len(b))))
	before := b[:off]
	line := bytes.Count(before, []byte("\n")) + 1
	col := len(before) - bytes.LastIndexByte(before, '\n')
	return fmt.Sprintf("line %d, column %d", line, col)
}

// normalize turns what YAML and TOML decoders produce into the types Decode
// reads: mappings with string keys, []any lists, and strings for dates.
func normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = normalize(e)
		}
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[fmt.Sprint(k)] = normalize(e)
		}
		return m
	case []any:
		for i, e := range x {
			x[i] = normalize(e)
		}
	case []map[string]any: // TOML arrays of tables
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = normalize(e)
		}
		return l
	case time.Time: // YAML !!timestamp, TOML dates
		return x.Format(time.RFC3339Nano)
	case []byte: // YAML !!binary
		return string(x)
	}
	return v
}

// jsTimeout bounds evaluating a JavaScript file; a variable for tests.
var jsTimeout = 10 * time.Second

// jsEval loads an ecosystem file (CommonJS or ES module) and writes it as
// JSON to a file rather than stdout, so that whatever the file itself prints
// cannot corrupt the result. It exits explicitly because a file may leave
// timers or sockets open. Frames inside node are cut from stack traces: only
// the user's own files help.
const jsEval = `const [file, out] = process.argv.slice(1);
import(require("url").pathToFileURL(file).href).then((m) => {
  require("fs").writeFileSync(out, JSON.stringify(m.default ?? m) ?? "null");
  process.exit(0);
}, (e) => {
  const s = (e && e.stack) || String(e);
  console.error(s.split("\n").filter((l) => l.trim() && !/\(node:|at node:/.test(l)).join("\n"));
  process.exit(1);
});`

// commandRunner, when set, runs the node that evaluates a JS ecosystem
// file (SetCommandRunner).
var commandRunner atomic.Pointer[func(context.Context, *exec.Cmd) error]

// SetCommandRunner makes run start and wait for the commands this package
// runs (node, for a JS ecosystem file), in place of cmd.Run: a daemon
// whose orphan reaper would take their exit status starts them as it
// starts apps. run must end the command when ctx is done.
func SetCommandRunner(run func(ctx context.Context, cmd *exec.Cmd) error) {
	commandRunner.Store(&run)
}

func runCommand(ctx context.Context, cmd *exec.Cmd) error {
	if run := commandRunner.Load(); run != nil {
		return (*run)(ctx, cmd)
	}
	return cmd.Run()
}

// evalJS evaluates a PM2 ecosystem file with node and tend's environment, as
// PM2 would. It runs in the file's directory, so that paths the file computes
// with path.resolve agree with how relative paths in it are resolved.
func evalJS(file string) (any, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, errors.New("evaluating a JavaScript ecosystem file needs node on PATH (install Node.js, or convert the file to tend.yaml)")
	}
	out, err := os.CreateTemp("", "tend-ecosystem-*.json")
	if err != nil {
		return nil, fmt.Errorf("evaluate with node: %w", err)
	}
	out.Close()
	defer os.Remove(out.Name())

	ctx, cancel := context.WithTimeout(context.Background(), jsTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "-e", jsEval, "--", file, out.Name())
	cmd.Dir = filepath.Dir(file)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	// A child the file started may hold stderr open after node is killed.
	cmd.WaitDelay = time.Second
	err = runCommand(ctx, cmd)
	switch {
	case ctx.Err() != nil:
		return nil, fmt.Errorf("node did not finish evaluating the file within %v; does it start a server or wait for input?", jsTimeout)
	case err != nil:
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 4096 {
			msg = strings.ToValidUTF8(msg[:4096], "") + "…"
		}
		if msg == "" {
			msg = err.Error()
		}
		return nil, fmt.Errorf("evaluating the file with node failed:\n%s", msg)
	}
	b, err := os.ReadFile(out.Name())
	if err != nil || len(b) == 0 {
		return nil, errors.New("node evaluated the file but produced nothing; does the file call process.exit?")
	}
	return parseJSON(b)
}
