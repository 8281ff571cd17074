package pm2

import (
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"github.com/tendhq/tend/internal/conf"
	"github.com/tendhq/tend/internal/spec"
)

// Options says how Convert carries apps over.
type Options struct {
	// File names the input in messages.
	File string
	// BaseEnv is the environment the imported apps will inherit (the
	// importing shell's). A variable of a PM2 process's env with the same
	// value there is left to inheritance rather than copied into the app.
	BaseEnv map[string]string
	// Only keeps the apps of these names; nil keeps all.
	Only []string
	// MaxInstances and NumCPU are as in spec.DecodeOptions.
	MaxInstances, NumCPU int
}

// App is one PM2 app carried over to tend.
type App struct {
	Spec spec.App
	// Status is what PM2 said of the app's first process ("online",
	// "stopped", "errored", ...).
	Status string
	// Lost says what could not be carried over, one "key: why" each.
	Lost []string
}

// Convert groups processes into apps (by namespace and name, in the order
// of the file) and decodes each as an ecosystem entry, so that tend's own
// validation and defaults apply. Every app is checked before any is
// returned: the error names every problem, by file, app and key.
func Convert(procs []Process, o Options) ([]App, error) {
	type group struct {
		first Process
		n     int
	}
	var order []string
	groups := map[string]*group{}
	for _, p := range procs {
		if isModule(p) {
			continue
		}
		name, _ := p["name"].(string)
		ns, _ := p["namespace"].(string)
		if ns == "" {
			ns = spec.DefaultNamespace
		}
		key := ns + "/" + name
		g, ok := groups[key]
		if !ok {
			if o.Only != nil && !slices.Contains(o.Only, name) {
				continue
			}
			g = &group{first: p}
			groups[key] = g
			order = append(order, key)
		}
		g.n++
		// The entry of instance 0 carries the settings; the others differ
		// only in their instance number and log paths.
		if instanceOf(p) < instanceOf(g.first) {
			g.first = p
		}
	}
	for _, n := range o.Only {
		found := false
		for _, p := range procs {
			found = found || p["name"] == n
		}
		if !found {
			return nil, &spec.FieldError{File: o.File, Reason: fmt.Sprintf("no app is named %q in the dump", n)}
		}
	}
	var (
		apps []App
		errs spec.Errors
	)
	for _, key := range order {
		g := groups[key]
		raw, lost := ecosystem(g.first, g.n, o.BaseEnv)
		a, warns, err := spec.Decode(raw, spec.DecodeOptions{File: o.File, Path: key, MaxInstances: o.MaxInstances, NumCPU: o.NumCPU})
		if err != nil {
			var fe spec.Errors
			if ok := asErrors(err, &fe); ok {
				errs = append(errs, fe...)
			} else {
				errs = append(errs, &spec.FieldError{File: o.File, Path: key, Reason: err.Error()})
			}
			continue
		}
		for _, w := range warns {
			lost = append(lost, strings.TrimPrefix(w.Path, key+".")+": "+w.Message)
		}
		slices.Sort(lost)
		status, _ := g.first["status"].(string)
		apps = append(apps, App{Spec: a, Status: status, Lost: lost})
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return apps, nil
}

// Modules names the PM2 modules among procs (pm2 install NAME, such as
// pm2-logrotate), which Convert leaves out: they extend PM2 itself.
func Modules(procs []Process) []string {
	var out []string
	for _, p := range procs {
		if name, _ := p["name"].(string); isModule(p) && !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out
}

func isModule(p Process) bool { return p["pmx_module"] == true }

func asErrors(err error, out *spec.Errors) bool { return errors.As(err, out) }

// instanceOf is the process's instance number (NODE_APP_INSTANCE, or the
// key instance_var names).
func instanceOf(p Process) int {
	v := "NODE_APP_INSTANCE"
	if s, ok := p["instance_var"].(string); ok && s != "" {
		v = s
	}
	n, err := conf.Int(p[v])
	if err != nil {
		return 0
	}
	return n
}

// runtimeKeys are what PM2 records about a process rather than settings a
// user chose: nothing to carry over, nothing lost.
var runtimeKeys = keySet(`status pm_uptime created_at restart_time unstable_restarts
	version node_version _pm2_version unique_id pm_id km_link vizion_running
	axm_actions axm_monitor axm_options axm_dynamic pm_pid_path exit_code
	prev_restart_delay username windowsHide instances
	pm_exec_path pm_cwd exec_interpreter node_args interpreter_args exec_mode env
	pm_out_log_path pm_err_log_path pm_log_path merge_logs combine_logs
	out_file error_file log_file output error log
	versioning`)

// pm2Defaults are settings PM2 writes into every entry; at these values
// they ask for what tend does anyway.
var pm2Defaults = map[string]string{
	"vizion":          "true",
	"autostart":       "true",
	"pmx":             "true",
	"automation":      "true",
	"treekill":        "true",
	"watch":           "false",
	"instance_var":    "NODE_APP_INSTANCE",
	"kill_retry_time": "100",
	"filter_env":      "[]",
}

func isPM2Default(k string, v any) bool {
	d, ok := pm2Defaults[k]
	if !ok {
		return false
	}
	if l, isList := v.([]any); isList {
		return len(l) == 0 && d == "[]"
	}
	s, ok := conf.Scalar(v)
	return ok && s == d || k == "filter_env" && v == false
}

// shellVars are variables a shell sets for itself, and PM2's own; an app
// never needs them copied.
var shellVars = keySet(`_ PWD OLDPWD SHLVL NODE_APP_INSTANCE pm_id unique_id name namespace TEND_HOME`)

func keySet(s string) map[string]bool {
	m := map[string]bool{}
	for _, k := range strings.Fields(s) {
		m[k] = true
	}
	return m
}

// ecosystem turns a process's pm2_env into an ecosystem entry for an app
// of n instances, and says what it dropped on purpose.
func ecosystem(p Process, n int, base map[string]string) (map[string]any, []string) {
	raw := map[string]any{}
	var lost []string
	envVars := envOf(p)
	for k, v := range p {
		switch {
		case runtimeKeys[k]:
		case isEnvName(k) || envVars[k] != nil && reflect.DeepEqual(envVars[k], v):
			// PM2 copies the environment to the top level of pm2_env too.
		case isPM2Default(k, v):
		default:
			raw[k] = v
		}
	}
	raw["script"] = p["pm_exec_path"]
	if cwd, ok := p["pm_cwd"].(string); ok && cwd != "" {
		raw["cwd"] = cwd
	}
	if s, ok := p["exec_interpreter"].(string); ok && s != "" {
		raw["interpreter"] = s
	}
	if a := nodeArgs(p); a != nil {
		raw["interpreter_args"] = a
	}
	raw["instances"] = n
	switch p["exec_mode"] {
	case "cluster_mode", "cluster":
		raw["exec_mode"] = "cluster"
	}
	env := map[string]any{}
	for k, v := range envVars {
		s, ok := conf.Scalar(v)
		switch {
		case !ok: // PM2 keeps an object under the app's own name
		case shellVars[k] || strings.HasPrefix(k, "PM2_"):
		case base != nil && base[k] == s:
		default:
			env[k] = s
		}
	}
	if len(env) > 0 {
		raw["env"] = env
	}
	merged := n > 1 && p["merge_logs"] == true
	if merged {
		raw["merge_logs"] = true
	}
	home := pm2Home(p)
	for _, l := range []struct{ from, to string }{
		{"pm_out_log_path", "out_file"}, {"pm_err_log_path", "error_file"}, {"pm_log_path", "log_file"},
	} {
		path, _ := p[l.from].(string)
		switch {
		case path == "":
		case home != "" && strings.HasPrefix(path, filepath.Join(home, "logs")+"/"):
			// PM2's default place: tend's default place instead.
		case n > 1 && !merged:
			raw[l.to] = stripInstance(path, instanceOf(p))
			lost = append(lost, fmt.Sprintf("%s: each instance writes %s with -<instance> added before the extension (PM2 adds -<pm_id>)", l.to, raw[l.to]))
		default:
			raw[l.to] = path
		}
	}
	return raw, lost
}

// envOf is the process's environment: its env object, or else the
// variable-like keys of pm2_env (older dumps).
func envOf(p Process) map[string]any {
	if m, ok := p["env"].(map[string]any); ok {
		return m
	}
	m := map[string]any{}
	for k, v := range p {
		if isEnvName(k) {
			m[k] = v
		}
	}
	return m
}

// isEnvName says a pm2_env key is an environment variable copied there:
// PM2's own keys are lower case.
func isEnvName(k string) bool {
	if k == "" || k == "_" {
		return k == "_"
	}
	for _, c := range k {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

func nodeArgs(p Process) any {
	for _, k := range []string{"node_args", "interpreter_args"} {
		switch v := p[k].(type) {
		case []any:
			if len(v) > 0 {
				return v
			}
		case string:
			if strings.TrimSpace(v) != "" {
				return v
			}
		}
	}
	return nil
}

func pm2Home(p Process) string {
	for _, m := range []map[string]any{envOf(p), p} {
		if s, ok := m["PM2_HOME"].(string); ok && s != "" {
			return filepath.Clean(s)
		}
	}
	return ""
}

// stripInstance removes the "-<i>" PM2 added before a log file's
// extension for instance i.
func stripInstance(path string, i int) string {
	ext := filepath.Ext(path)
	base := strings.TrimSuffix(path, ext)
	return strings.TrimSuffix(base, fmt.Sprintf("-%d", i)) + ext
}
