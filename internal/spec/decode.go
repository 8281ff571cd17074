package spec

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/tendhq/tend/internal/edge/edgeconf"
	"github.com/tendhq/tend/internal/logs"
	"github.com/tendhq/tend/internal/schedule"

	"golang.org/x/sys/unix"
)

// DecodeOptions says where an app definition came from.
type DecodeOptions struct {
	File    string // file name for messages ("" for flags/API: then messages have no file prefix)
	Path    string // key path prefix, e.g. "apps[1]"
	BaseDir string // absolute dir that relative script/cwd are resolved against; "" means paths must be absolute (API)
	EnvName string // selects an `env_<EnvName>` block, merged over `env` (PM2's --env production)
	NumCPU  int    // for instances "max"; 0 means runtime.NumCPU()
}

// Warning is a problem that does not stop an app from running, such as a key
// tend ignores.
type Warning struct{ File, Path, Message string }

func (w Warning) String() string { return position(w.File, w.Path, w.Message) }

// FieldError is one reason an app definition was refused.
type FieldError struct{ File, Path, Reason string }

func (e *FieldError) Error() string { return position(e.File, e.Path, e.Reason) }

// Errors is every problem found in a definition, so that a user fixes a file
// in one round instead of one error per run.
type Errors []*FieldError

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

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

const (
	msgUnsupported = "not supported by this version of tend; ignored"
	msgUnknown     = "unknown key; ignored"
)

// supported are the keys Decode reads, aliases included.
var supported = keySet(`name namespace script args interpreter exec_interpreter
	interpreter_args node_args cwd env instances port autorestart max_restarts
	min_uptime restart_delay exp_backoff_restart_delay kill_timeout kill_signal stop_exit_codes
	mode exec_mode balance sticky_cookie wait_ready health_path listen_timeout reload_batch
	max_memory_restart watch ignore_watch watch_delay cron_restart cron autoscale
	out_file output out out_log error_file error err err_file err_log log_file log
	merge_logs combine_logs time log_date_format log_type max_size rotate_interval retain compress edge`)

// unsupported are PM2's other app keys (lib/API/schema.json, with aliases).
// They get a warning of their own so that a PM2 user knows the key was
// understood and deliberately ignored, rather than misspelt.
var unsupported = keySet(`watch_options shutdown_with_message
	pid_file pid disable_logs
	source_map_support disable_source_map_support vizion increment_var instance_var
	filter_env name_prefix install_url force post_update treekill pmx automation
	trace disable_trace v8 event_loop_inspector deep_monitoring io append_env_to_name
	execute_command kill_retry_time write windowsHide uid gid user username autostart`)

func keySet(keys string) map[string]bool {
	set := map[string]bool{}
	for _, k := range strings.Fields(keys) {
		set[k] = true
	}
	return set
}

// asTendDoes are values of unsupported keys that ask for what tend does
// anyway. Many PM2 files spell out such defaults; warning about them would
// only teach users to ignore warnings.
var asTendDoes = map[string][]any{
	"autostart":  {true},
	"force":      {false},
	"vizion":     {false},
	"pmx":        {false},
	"automation": {false},
}

// Decode turns one app object into an App: it applies defaults, resolves
// paths against the file system and PATH, and validates every key. The
// returned error is an Errors naming every problem of the object; the App is
// only meaningful when the error is nil.
func Decode(raw map[string]any, o DecodeOptions) (App, []Warning, error) {
	a, warns, errs := decode(raw, o)
	if len(errs) > 0 {
		return App{}, warns, errs
	}
	return a, warns, nil
}

// decoder collects the problems of one app object.
type decoder struct {
	o     DecodeOptions
	raw   map[string]any
	warns []Warning
	errs  Errors
}

// decode is Decode without discarding the partial App on error: loaders need
// its name to select and compare apps even when it has problems.
func decode(raw map[string]any, o DecodeOptions) (App, []Warning, Errors) {
	if o.NumCPU <= 0 {
		o.NumCPU = runtime.NumCPU()
	}
	if o.BaseDir != "" {
		if abs, err := filepath.Abs(o.BaseDir); err == nil {
			o.BaseDir = abs
		}
	}
	d := &decoder{o: o, raw: raw}
	d.checkKeys()

	a := App{
		Namespace:   DefaultNamespace,
		Instances:   1,
		Autorestart: true,
		MaxRestarts: DefaultMaxRestarts,
		MinUptime:   Duration(DefaultMinUptime),
		KillTimeout: Duration(DefaultKillTimeout),
		KillSignal:  DefaultKillSignal,
	}
	cwdOK := d.cwd(&a)
	given := d.script(&a, cwdOK)
	d.name(&a, given)
	if v, ok := d.get("namespace"); ok {
		if s, ok := d.str("namespace", v); ok {
			if reason := checkName(s); reason != "" {
				d.errorf("namespace", "%s", reason)
			}
			a.Namespace = s
		}
	}
	if v, ok := d.get("args"); ok {
		a.Args = d.args("args", v)
	}
	d.interpreter(&a, cwdOK)
	if key, v, ok := d.alias("interpreter_args", "node_args"); ok {
		a.InterpreterArgs = d.args(key, v)
	}
	a.Env = d.env()
	d.instances(&a)
	if v, ok := d.get("port"); ok {
		if n, ok := d.int("port", v); ok {
			if n < 1 || n > 65535 {
				d.errorf("port", "must be between 1 and 65535, got %d", n)
			}
			a.Port = n
		}
	}
	if v, ok := d.get("autorestart"); ok {
		if b, ok := v.(bool); ok {
			a.Autorestart = b
		} else {
			d.errorf("autorestart", "want true or false, got %s", describe(v))
		}
	}
	if v, ok := d.get("max_restarts"); ok {
		if n, ok := d.int("max_restarts", v); ok {
			if n < 0 {
				d.errorf("max_restarts", "must not be negative, got %d", n)
			}
			a.MaxRestarts = n
		}
	}
	d.duration("min_uptime", &a.MinUptime)
	d.duration("restart_delay", &a.RestartDelay)
	d.duration("exp_backoff_restart_delay", &a.ExpBackoffRestartDelay)
	d.duration("kill_timeout", &a.KillTimeout)
	if v, ok := d.get("kill_signal"); ok {
		if s, ok := v.(string); !ok {
			d.errorf("kill_signal", "want a signal name such as \"SIGTERM\", got %s", describe(v))
		} else if sig, err := canonicalSignal(s); err != nil {
			d.errorf("kill_signal", "%v", err)
		} else {
			a.KillSignal = sig
		}
	}
	a.StopExitCodes = d.exitCodes()
	d.traffic(&a)
	if v, ok := d.get("max_memory_restart"); ok {
		if n, err := sizeValue(v); err != nil {
			d.errorf("max_memory_restart", "%v", err)
		} else if n < 1<<20 {
			d.errorf("max_memory_restart", "%d bytes is less than 1M: no app fits", n)
		} else {
			a.MaxMemoryRestart = n
		}
	}
	d.runtime(&a)
	d.logs(&a)
	if v, ok := d.get("edge"); ok {
		o, errs := edgeconf.DecodeOptions(v, a.Cwd)
		for _, e := range errs {
			path := "edge"
			if e.Path != "" {
				path += "." + e.Path
			}
			d.errorf(path, "%s", e.Reason)
		}
		if len(errs) == 0 {
			a.Edge = &o
		}
	}
	return a, d.warns, d.errs
}

// logs reads where and how the app's output is written.
func (d *decoder) logs(a *App) {
	file := func(dst *string, key string, aliases ...string) {
		k, v, ok := key, any(nil), false
		for _, alt := range append([]string{key}, aliases...) {
			if w, has := d.get(alt); has {
				if ok {
					d.errorf(alt, "%s is another name for %s; set only one of them", alt, k)
					continue
				}
				k, v, ok = alt, w, true
			}
		}
		if !ok {
			return
		}
		s, ok := d.str(k, v)
		if !ok {
			return
		}
		switch {
		case s == "":
			d.errorf(k, "must not be empty (use /dev/null to discard)")
		case s == os.DevNull || filepath.IsAbs(s):
			*dst = filepath.Clean(s)
		case a.Cwd != "":
			*dst = filepath.Join(a.Cwd, s)
		default:
			d.errorf(k, "%q must be an absolute path", s)
		}
	}
	file(&a.OutFile, "out_file", "output", "out", "out_log")
	file(&a.ErrorFile, "error_file", "error", "err", "err_file", "err_log")
	file(&a.LogFile, "log_file", "log")
	if key, v, ok := d.alias("merge_logs", "combine_logs"); ok {
		if b, ok := v.(bool); ok {
			a.MergeLogs = b
		} else {
			d.errorf(key, "want true or false, got %s", describe(v))
		}
	}
	for key, dst := range map[string]*bool{"time": &a.Time, "compress": &a.Compress} {
		if v, ok := d.get(key); ok {
			if b, ok := v.(bool); ok {
				*dst = b
			} else {
				d.errorf(key, "want true or false, got %s", describe(v))
			}
		}
	}
	if v, ok := d.get("log_date_format"); ok {
		if s, ok := d.str("log_date_format", v); ok {
			if _, err := logs.ParseMomentLayout(s); err != nil {
				d.errorf("log_date_format", "%v", err)
			}
			a.LogDateFormat = s
		}
	}
	if v, ok := d.get("log_type"); ok {
		if s, ok := d.str("log_type", v); ok {
			switch s {
			case "json":
				a.LogType = s
			case "", "raw", "text":
			default:
				d.errorf("log_type", "want json (or leave it out for plain lines), got %q", s)
			}
		}
	}
	if v, ok := d.get("max_size"); ok {
		if n, err := sizeValue(v); err != nil {
			d.errorf("max_size", "%v", err)
		} else if n > 0 && n < 1024 {
			d.errorf("max_size", "%d bytes is too small to hold lines (at least 1K)", n)
		} else {
			a.MaxSize = n
		}
	}
	if v, ok := d.get("rotate_interval"); ok {
		if s, ok := d.str("rotate_interval", v); ok {
			if _, err := logs.ParseInterval(s); err != nil {
				d.errorf("rotate_interval", "%v", err)
			}
			a.RotateInterval = s
		}
	}
	if v, ok := d.get("retain"); ok {
		if n, ok := d.int("retain", v); ok {
			if n < 0 {
				d.errorf("retain", "must not be negative, got %d", n)
			}
			a.Retain = n
		}
	}
}

// runtime reads the settings that act while the app runs: watch, cron,
// autoscale.
func (d *decoder) runtime(a *App) {
	if v, ok := d.get("watch"); ok {
		switch x := v.(type) {
		case bool:
			if x {
				a.Watch = []string{"."}
			}
		default:
			a.Watch = d.strings("watch", v)
		}
	}
	if v, ok := d.get("ignore_watch"); ok {
		a.IgnoreWatch = d.strings("ignore_watch", v)
	}
	d.duration("watch_delay", &a.WatchDelay)
	if key, v, ok := d.alias("cron_restart", "cron"); ok {
		if s, ok := d.str(key, v); ok {
			if _, err := schedule.Parse(s); err != nil {
				d.errorf(key, "%v", err)
			}
			a.CronRestart = s
		}
	}
	if v, ok := d.get("autoscale"); ok {
		m, ok := v.(map[string]any)
		if !ok {
			d.errorf("autoscale", "want a mapping such as {min: 2, max: 8, target_cpu: 70}, got %s", describe(v))
			return
		}
		as := &Autoscale{}
		sub := &decoder{o: d.o, raw: m}
		sub.o.Path = d.path("autoscale")
		for k := range m {
			switch k {
			case "min", "max", "target_cpu", "target_in_flight", "target_p95", "up_window", "down_window":
			default:
				sub.errorf(k, "unknown key (min, max, target_cpu, target_in_flight, target_p95, up_window, down_window)")
			}
		}
		if v, ok := sub.get("min"); ok {
			as.Min, _ = sub.int("min", v)
		}
		if v, ok := sub.get("max"); ok {
			as.Max, _ = sub.int("max", v)
		}
		for key, dst := range map[string]*float64{"target_cpu": &as.TargetCPU, "target_in_flight": &as.TargetInFlight} {
			if v, ok := sub.get(key); ok {
				if f, err := floatValue(v); err != nil {
					sub.errorf(key, "%v", err)
				} else {
					*dst = f
				}
			}
		}
		sub.duration("target_p95", &as.TargetP95)
		sub.duration("up_window", &as.UpWindow)
		sub.duration("down_window", &as.DownWindow)
		if len(sub.errs) == 0 {
			if err := as.Policy().Validate(); err != nil {
				// Validate names its keys autoscale.x; give them the
				// app's path.
				for _, line := range strings.Split(err.Error(), "\n") {
					d.errs = append(d.errs, &FieldError{File: d.o.File, Path: strings.TrimSuffix(d.path(""), "."), Reason: line})
				}
			}
		}
		d.errs = append(d.errs, sub.errs...)
		a.Autoscale = as
		if a.Instances < as.Min || a.Instances > as.Max {
			a.Instances = min(max(a.Instances, as.Min), as.Max)
		}
	}
}

// strings reads a list of strings, or one string as a list of one.
func (d *decoder) strings(key string, v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		out := make([]string, 0, len(x))
		for i, e := range x {
			s, ok := e.(string)
			if !ok {
				d.errorf(fmt.Sprintf("%s[%d]", key, i), "want a string, got %s", describe(e))
				continue
			}
			out = append(out, s)
		}
		return out
	}
	d.errorf(key, "want a string or a list of strings, got %s", describe(v))
	return nil
}

func floatValue(v any) (float64, error) {
	switch x := v.(type) {
	case float64:
		return x, nil
	case int:
		return float64(x), nil
	case int64:
		return float64(x), nil
	case uint64:
		return float64(x), nil
	case json.Number:
		return x.Float64()
	case string:
		return strconv.ParseFloat(strings.TrimSpace(x), 64)
	}
	return 0, fmt.Errorf("want a number, got %s", describe(v))
}

// sizeValue reads a size: a number of bytes, or a string such as "300M".
func sizeValue(v any) (int64, error) {
	if s, ok := v.(string); ok {
		return logs.ParseSize(s)
	}
	n, err := intValue(v)
	if err != nil {
		return 0, fmt.Errorf("want a size such as \"300M\" or a number of bytes: %v", err)
	}
	if n < 0 {
		return 0, fmt.Errorf("size must not be negative, got %d", n)
	}
	return int64(n), nil
}

// traffic reads how the app is reached and when an instance is ready.
func (d *decoder) traffic(a *App) {
	if key, v, ok := d.alias("mode", "exec_mode"); ok {
		if s, ok := d.str(key, v); ok {
			switch s {
			case ModeFork, "fork_mode":
				a.Mode = ModeFork
			case ModeProxy, "cluster", "cluster_mode":
				// PM2's cluster mode is tend's proxy mode: N instances
				// behind one port. PM2 files often say cluster without
				// naming the port (node's cluster module shares whatever
				// the app binds); run those in fork mode rather than
				// refuse a file that worked under PM2.
				if a.Port == 0 && key == "exec_mode" {
					d.warns = append(d.warns, Warning{File: d.o.File, Path: d.path(key),
						Message: "cluster mode needs a port in tend (set port: the edge balances over the instances); running in fork mode"})
					a.Mode = ModeFork
				} else {
					a.Mode = ModeProxy
				}
			case ModeSocket:
				a.Mode = ModeSocket
			default:
				d.errorf(key, "want fork, proxy or socket, got %q", s)
			}
		}
	}
	switch {
	case a.Mode == "" && a.Port > 0:
		a.Mode = ModeProxy
	case a.Mode == "":
		a.Mode = ModeFork
	case a.Mode != ModeFork && a.Port == 0:
		d.errorf("port", "%s mode needs a port (set port, or use fork mode)", a.Mode)
	case a.Mode == ModeFork && a.Port > 0 && a.Instances > 1:
		d.errorf("instances", "%d instances in fork mode would all bind port %d; use proxy or socket mode", a.Instances, a.Port)
	}
	if v, ok := d.get("balance"); ok {
		if s, ok := d.str("balance", v); ok {
			switch s {
			case BalanceLeastConn, BalanceRoundRobin, BalanceSticky:
				a.Balance = s
			default:
				d.errorf("balance", "want least_conn, round_robin or sticky, got %q", s)
			}
		}
	}
	if v, ok := d.get("sticky_cookie"); ok {
		if s, ok := d.str("sticky_cookie", v); ok {
			if s == "" || strings.ContainsAny(s, " ;,=\t\"") {
				d.errorf("sticky_cookie", "%q is not a valid cookie name", s)
			}
			a.StickyCookie = s
		}
	}
	if v, ok := d.get("wait_ready"); ok {
		if b, ok := v.(bool); ok {
			a.WaitReady = b
		} else {
			d.errorf("wait_ready", "want true or false, got %s", describe(v))
		}
	}
	if v, ok := d.get("health_path"); ok {
		if s, ok := d.str("health_path", v); ok {
			if !strings.HasPrefix(s, "/") {
				d.errorf("health_path", "must start with /, got %q", s)
			} else if a.Port == 0 {
				d.errorf("health_path", "needs a port to probe")
			}
			a.HealthPath = s
		}
	}
	a.ListenTimeout = Duration(DefaultListenTimeout)
	if a.WaitReady {
		a.ListenTimeout = Duration(DefaultWaitReadyTimeout)
	}
	d.duration("listen_timeout", &a.ListenTimeout)
	a.ReloadBatch = DefaultReloadBatch
	if v, ok := d.get("reload_batch"); ok {
		if n, ok := d.int("reload_batch", v); ok {
			if n < 1 {
				d.errorf("reload_batch", "must be at least 1, got %d", n)
			}
			a.ReloadBatch = n
		}
	}
}

func (d *decoder) path(key string) string {
	if d.o.Path == "" {
		return key
	}
	return d.o.Path + "." + key
}

func (d *decoder) errorf(key, format string, args ...any) {
	d.errs = append(d.errs, &FieldError{File: d.o.File, Path: d.path(key), Reason: fmt.Sprintf(format, args...)})
}

// get returns a key's value. A null value counts as absent, so that an empty
// YAML key ("port:") leaves the default in place.
func (d *decoder) get(key string) (any, bool) {
	v := d.raw[key]
	return v, v != nil
}

// alias returns the value of whichever of two names for a key is set.
func (d *decoder) alias(key, alt string) (string, any, bool) {
	v, ok := d.get(key)
	w, okAlt := d.get(alt)
	switch {
	case ok && okAlt:
		d.errorf(alt, "%s is another name for %s; set only one of them", alt, key)
		return key, v, true
	case okAlt:
		return alt, w, true
	}
	return key, v, ok
}

func (d *decoder) str(key string, v any) (string, bool) {
	s, ok := v.(string)
	if !ok {
		d.errorf(key, "want a string, got %s", describe(v))
	}
	return s, ok
}

func (d *decoder) int(key string, v any) (int, bool) {
	n, err := intValue(v)
	if err != nil {
		d.errorf(key, "%v", err)
		return 0, false
	}
	return n, true
}

// checkKeys warns about keys Decode does not read, in a stable order.
func (d *decoder) checkKeys() {
	keys := make([]string, 0, len(d.raw))
	for k := range d.raw {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		var msg string
		switch {
		case supported[k] || strings.HasPrefix(k, "env_"):
			continue
		case unsupported[k]:
			if slices.Contains(asTendDoes[k], d.raw[k]) {
				continue
			}
			msg = msgUnsupported
		default:
			msg = msgUnknown
		}
		d.warns = append(d.warns, Warning{File: d.o.File, Path: d.path(k), Message: msg})
	}
}

// cwd sets a.Cwd and reports whether it names an existing directory, without
// which relative paths cannot be checked.
func (d *decoder) cwd(a *App) bool {
	dir := d.o.BaseDir
	if v, ok := d.get("cwd"); ok {
		s, ok := d.str("cwd", v)
		switch {
		case !ok:
			return false
		case s == "":
			d.errorf("cwd", "must not be empty")
			return false
		case filepath.IsAbs(s):
			dir = filepath.Clean(s)
		case d.o.BaseDir == "":
			d.errorf("cwd", "%q is relative; give an absolute path", s)
			return false
		default:
			dir = filepath.Join(d.o.BaseDir, s)
		}
	} else if dir == "" {
		d.errorf("cwd", "required: the absolute directory to run the app in")
		return false
	}
	a.Cwd = dir
	fi, err := os.Stat(dir)
	switch {
	case err != nil:
		d.errorf("cwd", "directory %s does not exist", dir)
		return false
	case !fi.IsDir():
		d.errorf("cwd", "%s is not a directory", dir)
		return false
	}
	return true
}

// script sets a.Script and returns the script as given, from which the
// default name is derived.
func (d *decoder) script(a *App, cwdOK bool) string {
	v, ok := d.get("script")
	if !ok {
		d.errorf("script", "required: the file or command to run")
		return ""
	}
	s, ok := d.str("script", v)
	if !ok {
		return ""
	}
	if s == "" {
		d.errorf("script", "must not be empty")
		return ""
	}
	a.Script = s
	if !cwdOK && !filepath.IsAbs(s) {
		return s
	}
	// A name with a slash, or a file next to the app, is a file; any other
	// bare name is a command, as a shell would have it.
	local := filepath.Join(a.Cwd, s)
	if filepath.IsAbs(s) {
		local = filepath.Clean(s)
	}
	fi, err := os.Stat(local)
	if strings.Contains(s, "/") || (err == nil && !fi.IsDir()) {
		a.Script = local
		switch {
		case errors.Is(err, fs.ErrNotExist):
			d.errorf("script", "file %s does not exist", local)
		case err != nil:
			d.errorf("script", "%v", err)
		case !fi.Mode().IsRegular():
			d.errorf("script", "%s is not a regular file", local)
		}
		return s
	}
	p, err := exec.LookPath(s)
	if err == nil {
		p, err = filepath.Abs(p)
	}
	if err != nil {
		d.errorf("script", "%q not found (looked in %s and PATH)", s, a.Cwd)
		return s
	}
	a.Script = p
	return s
}

// name sets a.Name, by default the script's base name without extension as
// PM2 does.
func (d *decoder) name(a *App, script string) {
	if v, ok := d.get("name"); ok {
		s, ok := d.str("name", v)
		if !ok {
			return
		}
		a.Name = s
		if reason := checkName(s); reason != "" {
			d.errorf("name", "%s", reason)
		}
		return
	}
	if script == "" {
		return // the script error says it all
	}
	base := filepath.Base(script)
	a.Name = strings.TrimSuffix(base, filepath.Ext(base))
	if reason := checkName(a.Name); reason != "" {
		d.errorf("name", "%s (taken from script %q); set name", reason, script)
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

// args reads a list of arguments, or a string split like a shell would.
func (d *decoder) args(key string, v any) []string {
	var out []string
	switch x := v.(type) {
	case string:
		var err error
		if out, err = splitArgs(x); err != nil {
			d.errorf(key, "%v", err)
		}
	case []any:
		for i, e := range x {
			s, ok := scalarString(e)
			if !ok {
				d.errorf(fmt.Sprintf("%s[%d]", key, i), "want a string, got %s", describe(e))
			}
			out = append(out, s)
		}
	default:
		d.errorf(key, "want a list of strings or a string, got %s", describe(v))
	}
	for _, s := range out {
		if strings.ContainsRune(s, 0) {
			d.errorf(key, "arguments cannot contain NUL bytes")
			break
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// interpreter sets a.Interpreter, by default from the script's extension.
func (d *decoder) interpreter(a *App, cwdOK bool) {
	key, v, ok := d.alias("interpreter", "exec_interpreter")
	if !ok {
		switch strings.ToLower(filepath.Ext(a.Script)) {
		case ".js", ".mjs", ".cjs":
			a.Interpreter = "node"
		case ".py":
			a.Interpreter = "python3"
		case ".sh":
			a.Interpreter = "bash"
		default:
			a.Interpreter = InterpreterNone
		}
		return
	}
	s, ok := d.str(key, v)
	if !ok {
		return
	}
	a.Interpreter = s
	switch {
	case s == "":
		d.errorf(key, "must not be empty (use %q to run the script directly)", InterpreterNone)
	case !strings.Contains(s, "/"):
		// A command name, looked up on PATH when the app starts.
	case !filepath.IsAbs(s) && !cwdOK:
		// Relative to a cwd that is already reported as wrong.
	default:
		if !filepath.IsAbs(s) {
			s = filepath.Join(a.Cwd, s)
		}
		a.Interpreter = filepath.Clean(s)
		if fi, err := os.Stat(a.Interpreter); err != nil || fi.IsDir() {
			d.errorf(key, "file %s does not exist", a.Interpreter)
		}
	}
}

// env merges the env block and the selected env_<name> block.
func (d *decoder) env() map[string]string {
	env := map[string]string{}
	d.envBlock("env", env)
	if d.o.EnvName != "" {
		d.envBlock("env_"+d.o.EnvName, env)
	}
	if len(env) == 0 {
		return nil
	}
	return env
}

func (d *decoder) envBlock(key string, env map[string]string) {
	v, ok := d.get(key)
	if !ok {
		return
	}
	m, ok := v.(map[string]any)
	if !ok {
		d.errorf(key, "want a mapping of variable names to values, got %s", describe(v))
		return
	}
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		p := key + "." + k
		s, ok := scalarString(m[k])
		switch {
		case k == "" || strings.ContainsAny(k, "=\x00"):
			d.errorf(p, "%q cannot name an environment variable", k)
		case !ok:
			d.errorf(p, "want a string, number or boolean, got %s", describe(m[k]))
		case strings.ContainsRune(s, 0):
			d.errorf(p, "value cannot contain NUL bytes")
		default:
			env[k] = s
		}
	}
}

// instances reads PM2's forms: a count, or "max" or 0 for one per CPU.
func (d *decoder) instances(a *App) {
	v, ok := d.get("instances")
	if !ok {
		return
	}
	if s, ok := v.(string); ok && strings.TrimSpace(s) == "max" {
		a.Instances = d.o.NumCPU
		return
	}
	n, err := intValue(v)
	switch {
	case err != nil:
		d.errorf("instances", "want a number or \"max\", got %s", describe(v))
	case n < 0:
		d.errorf("instances", "must be at least 1 or \"max\", got %d", n)
	case n == 0:
		a.Instances = d.o.NumCPU
	default:
		a.Instances = n
	}
}

func (d *decoder) duration(key string, dst *Duration) {
	v, ok := d.get(key)
	if !ok {
		return
	}
	p, err := ParseDuration(v)
	if err != nil {
		d.errorf(key, "%v", err)
		return
	}
	*dst = Duration(p)
}

// canonicalSignal turns "term", "TERM" or "SIGTERM" into "SIGTERM".
func canonicalSignal(s string) (string, error) {
	sig := strings.ToUpper(strings.TrimSpace(s))
	if !strings.HasPrefix(sig, "SIG") {
		sig = "SIG" + sig
	}
	if unix.SignalNum(sig) == 0 {
		return "", fmt.Errorf("unknown signal %q; use a name such as SIGINT or SIGTERM", s)
	}
	return sig, nil
}

func (d *decoder) exitCodes() []int {
	v, ok := d.get("stop_exit_codes")
	if !ok {
		return nil
	}
	list, isList := v.([]any)
	if !isList {
		list = []any{v}
	}
	var codes []int
	for i, e := range list {
		key := "stop_exit_codes"
		if isList {
			key = fmt.Sprintf("%s[%d]", key, i)
		}
		n, err := intValue(e)
		switch {
		case err != nil:
			d.errorf(key, "want an exit code or a list of them, got %s", describe(e))
		case n < 0 || n > 255:
			d.errorf(key, "must be an exit code between 0 and 255, got %d", n)
		default:
			codes = append(codes, n)
		}
	}
	return codes
}

// intValue reads a whole number from any numeric form, or a numeric string
// (environment-templated files often quote numbers).
func intValue(v any) (int, error) {
	bad := fmt.Errorf("want a whole number, got %s", describe(v))
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

// scalarString writes a string, number or boolean the way a shell variable
// would hold it: 3.0 is "3", as JavaScript's String(3.0) is.
func scalarString(v any) (string, bool) {
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
