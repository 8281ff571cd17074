package cli

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/client"
	"github.com/tendhq/tend/internal/spec"
)

// startFlags maps each `tend start` flag to its ecosystem key.
// Numeric flags are sent as numbers when they parse as one, so that a
// duration of "1600" means milliseconds as in a file; boolean ones as
// true or false. Two flags may name one key (PM2's spellings): one of them
// may be given.
var startFlags = []struct {
	flag, key        string
	numeric, boolean bool
}{
	{"name", "name", false, false},
	{"namespace", "namespace", false, false},
	{"instances", "instances", true, false},
	{"interpreter", "interpreter", false, false},
	{"interpreter-args", "interpreter_args", false, false},
	{"cwd", "cwd", false, false},
	{"port", "port", true, false},
	{"max-restarts", "max_restarts", true, false},
	{"min-uptime", "min_uptime", true, false},
	{"restart-delay", "restart_delay", true, false},
	{"exp-backoff-restart-delay", "exp_backoff_restart_delay", true, false},
	{"kill-timeout", "kill_timeout", true, false},
	{"kill-signal", "kill_signal", false, false},
	{"balance", "balance", false, false},
	{"health-path", "health_path", false, false},
	{"listen-timeout", "listen_timeout", true, false},
	{"reload-batch", "reload_batch", true, false},
	{"max-memory-restart", "max_memory_restart", false, false},
	{"watch-delay", "watch_delay", true, false},
	{"cron-restart", "cron_restart", false, false},
	{"cron", "cron_restart", false, false},
	{"node-args", "interpreter_args", false, false},
	{"output", "out_file", false, false},
	{"error", "error_file", false, false},
	{"log", "log_file", false, false},
	{"merge-logs", "merge_logs", false, true},
	{"time", "time", false, true},
	{"log-date-format", "log_date_format", false, false},
	{"instance-var", "instance_var", false, false},
	{"shutdown-with-message", "shutdown_with_message", false, true},
	{"source-map-support", "source_map_support", false, true},
}

// bareLog gives PM2's bare -l (--log with no path: both streams combined in
// the logs directory, spec.LogFileDefault) its value in the arguments of
// start and run: a string flag takes the next word as its value, so
// `start app.js -l --time` would take --time for the path. A -l followed
// by a word that is not a flag keeps that word as its path, as in PM2.
func bareLog(args []string) []string {
	verb := slices.IndexFunc(args, func(a string) bool { return a == "start" || a == "run" })
	if verb < 0 {
		return args
	}
	out := slices.Clone(args)
	for i := verb + 1; i < len(out); i++ {
		switch {
		case out[i] == "--":
			return out
		case (out[i] == "-l" || out[i] == "--log") && (i+1 == len(out) || strings.HasPrefix(out[i+1], "-")):
			out[i] = "--log=" + spec.LogFileDefault
		}
	}
	return out
}

// startOpts are the flags shared by start and run.
type startOpts struct {
	envVars   []string
	envName   string
	only      []string
	noRestart bool
	waitReady bool
	socket    bool
	watchOn   bool
	ignore    []string
	stopCodes []int
	// maxInstances is daemon.yaml's max_instances, so that the CLI refuses
	// what the daemon would (0: the default).
	maxInstances int
	// elsewhere: the daemon is another host's (--host), whose paths these
	// are; nothing is looked up or checked here (spec's Elsewhere).
	elsewhere bool
}

// errNotAScript means the target is neither a file nor a command: start
// takes it for a registered app.
var errNotAScript = errors.New("not a script")

// apps builds the apps a target names: every app of an ecosystem file, or
// one app from a script and the flags. Everything is validated here, before
// the daemon sees it.
func (o *startOpts) apps(cmd *cobra.Command, args []string) ([]spec.App, []spec.Warning, error) {
	target, appArgs := args[0], []string(nil)
	if n := cmd.ArgsLenAtDash(); n >= 0 {
		if n != 1 {
			return nil, nil, fmt.Errorf("%s takes one script or file before --, got %d", cmd.Name(), n)
		}
		appArgs = args[n:]
	} else if len(args) > 1 {
		return nil, nil, fmt.Errorf("%s takes one script or file; put the app's own arguments after --", cmd.Name())
	}
	for _, kv := range o.envVars {
		if !strings.Contains(kv, "=") {
			return nil, nil, fmt.Errorf("--env %s: want KEY=VALUE (to select an ecosystem env_%s block, use --env-name %s)", kv, kv, kv)
		}
	}
	if spec.IsEcosystemFile(target) && fileExists(target) {
		for _, f := range startFlags {
			if cmd.Flags().Changed(f.flag) {
				return nil, nil, fmt.Errorf("--%s cannot be combined with an ecosystem file: set %s in %s", f.flag, f.key, target)
			}
		}
		for _, f := range []string{"env", "no-autorestart", "stop-exit-codes", "wait-ready", "socket", "watch", "ignore-watch"} {
			if cmd.Flags().Changed(f) {
				return nil, nil, fmt.Errorf("--%s cannot be combined with an ecosystem file: set it in %s", f, target)
			}
		}
		return spec.LoadFile(target, spec.LoadOptions{EnvName: o.envName, Only: splitList(o.only), MaxInstances: o.maxInstances, Elsewhere: o.elsewhere})
	}
	if o.elsewhere {
		// The script is a file of the daemon's host: only an absolute
		// path can name one from here; a bare word is an app's name.
		if !filepath.IsAbs(target) {
			if strings.Contains(target, "/") {
				return nil, nil, fmt.Errorf("%s: with --host, a script is an absolute path on the daemon's host", target)
			}
			return nil, nil, errNotAScript
		}
	} else {
		target, appArgs = commandLine(target, appArgs)
		if !fileExists(target) && !onPath(target) && !strings.Contains(target, "/") {
			return nil, nil, errNotAScript
		}
	}
	raw := map[string]any{"script": target}
	given := map[string]string{} // key: the flag that set it
	for _, f := range startFlags {
		if !cmd.Flags().Changed(f.flag) {
			continue
		}
		if other, ok := given[f.key]; ok {
			return nil, nil, fmt.Errorf("--%s and --%s are the same setting (%s): give one", other, f.flag, f.key)
		}
		given[f.key] = f.flag
		v := cmd.Flags().Lookup(f.flag).Value.String()
		if n, err := strconv.Atoi(v); err == nil && f.numeric {
			raw[f.key] = n
		} else if b, err := strconv.ParseBool(v); err == nil && f.boolean {
			raw[f.key] = b
		} else {
			raw[f.key] = v
		}
	}
	if len(appArgs) > 0 {
		raw["args"] = anyList(appArgs)
	}
	if len(o.envVars) > 0 {
		m := map[string]any{}
		for _, kv := range o.envVars {
			k, v, _ := strings.Cut(kv, "=")
			m[k] = v
		}
		raw["env"] = m
	}
	if o.noRestart {
		raw["autorestart"] = false
	}
	if o.waitReady {
		raw["wait_ready"] = true
	}
	if o.socket {
		raw["mode"] = "socket"
	}
	if o.watchOn {
		raw["watch"] = true
	}
	if len(o.ignore) > 0 {
		raw["ignore_watch"] = anyList(o.ignore)
	}
	if cmd.Flags().Changed("stop-exit-codes") {
		codes := make([]any, len(o.stopCodes))
		for i, c := range o.stopCodes {
			codes[i] = c
		}
		raw["stop_exit_codes"] = codes
	}
	cwd, err := os.Getwd()
	if err != nil {
		return nil, nil, err
	}
	if _, ok := raw["cwd"]; o.elsewhere && !ok {
		raw["cwd"] = filepath.Dir(target) // this host's directory means nothing there
	}
	a, w, err := spec.Decode(raw, spec.DecodeOptions{BaseDir: cwd, NumCPU: runtime.NumCPU(), MaxInstances: o.maxInstances, Elsewhere: o.elsewhere})
	if err != nil {
		return nil, w, flagError(cmd, err)
	}
	return []spec.App{a}, w, nil
}

// commandLine splits a target such as "npm start" (PM2 takes a command
// line as one argument) into the command and its arguments, when it is
// not a file and its first word is a command or file.
func commandLine(target string, args []string) (string, []string) {
	words := strings.Fields(target)
	if len(words) < 2 || fileExists(target) || !(fileExists(words[0]) || onPath(words[0])) {
		return target, args
	}
	return words[0], append(words[1:], args...)
}

func anyList(v []string) []any {
	out := make([]any, len(v))
	for i, s := range v {
		out[i] = s
	}
	return out
}

// addStartFlags registers the flags of start (and run) on cmd.
func addStartFlags(cmd *cobra.Command) *startOpts {
	o := &startOpts{}
	f := cmd.Flags()
	f.String("name", "", "app name (default: the script's base name)")
	f.String("namespace", "", "namespace to group apps (default \"default\")")
	f.StringP("instances", "i", "", "number of instances, or \"max\" for one per CPU")
	f.String("interpreter", "", "interpreter (node, python3, bash, a path, or none)")
	f.String("interpreter-args", "", "arguments for the interpreter, e.g. \"--max-old-space-size=512\"")
	f.String("cwd", "", "working directory of the app (default: the current one)")
	f.String("port", "", "public port: the edge listens there and balances over the instances (proxy mode)")
	f.StringArrayVar(&o.envVars, "env", nil, "set an environment variable KEY=VALUE (repeatable)")
	f.StringVar(&o.envName, "env-name", "", "ecosystem file: merge the env_NAME block over env (PM2's --env NAME)")
	f.StringSliceVar(&o.only, "only", nil, "ecosystem file: start only these apps (comma-separated)")
	f.String("max-restarts", "", "unstable restarts in a row before the app is errored (default 16)")
	f.String("min-uptime", "", "an exit sooner than this after start is unstable (default 1s)")
	f.String("restart-delay", "", "wait this long before restarting a crashed app (default 0)")
	f.String("exp-backoff-restart-delay", "", "exponential backoff for restarts, starting at this delay")
	f.String("kill-timeout", "", "time between the stop signal and SIGKILL (default 1600ms)")
	f.String("kill-signal", "", "signal that asks the app to stop (default SIGINT)")
	f.BoolVar(&o.noRestart, "no-autorestart", false, "do not restart the app when it exits")
	f.String("balance", "", "proxy mode: least_conn (default), round_robin or sticky")
	f.BoolVar(&o.socket, "socket", false, "socket mode: every instance inherits the listening socket as fd 3 (no proxy)")
	f.BoolVar(&o.waitReady, "wait-ready", false, "an instance is ready when it says so: process.send('ready') or READY=1 on NOTIFY_SOCKET")
	f.String("health-path", "", "an instance is ready when GET on this path answers 2xx")
	f.String("listen-timeout", "", "how long to wait for an instance to be ready (default 3s, 8s with --wait-ready)")
	f.String("reload-batch", "", "instances replaced at once by reload (default 1)")
	f.String("max-memory-restart", "", "replace an instance whose process tree stays above this RSS (e.g. 300M)")
	f.BoolVar(&o.watchOn, "watch", false, "reload the app when a file under its cwd changes (node_modules, .git and logs ignored)")
	f.StringSliceVar(&o.ignore, "ignore-watch", nil, "more globs for --watch to ignore")
	f.String("watch-delay", "", "wait this long after the last change before reloading (default 1s)")
	f.String("cron-restart", "", "reload on a 5-field cron schedule, e.g. \"0 3 * * *\"")
	f.String("cron", "", "PM2's spelling of --cron-restart")
	f.String("node-args", "", "PM2's spelling of --interpreter-args, for node")
	f.StringP("output", "o", "", "file for the app's stdout (default under $TEND_HOME/logs)")
	f.StringP("error", "e", "", "file for the app's stderr (default under $TEND_HOME/logs)")
	f.StringP("log", "l", "", "file for stdout and stderr combined, besides the two; bare -l: $TEND_HOME/logs/<name>.log")
	f.Bool("merge-logs", false, "every instance writes the same files (no -<instance> suffix)")
	f.Bool("time", false, "prefix each log line with its time (see --log-date-format)")
	f.String("log-date-format", "", "the time's format, in moment.js tokens, e.g. \"YYYY-MM-DD HH:mm:ss Z\" (implies --time)")
	f.String("instance-var", "", "the variable that holds the instance's index (default NODE_APP_INSTANCE)")
	f.Bool("shutdown-with-message", false, "Node: stop by sending 'shutdown' over IPC; the kill signal follows after kill_timeout")
	f.Bool("source-map-support", false, "Node: run with --enable-source-maps")
	f.IntSliceVar(&o.stopCodes, "stop-exit-codes", nil, "exit codes after which the app is not restarted")
	return o
}

func newStart(e *env) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "start <script|binary|ecosystem file|app> [flags] [-- args...]",
		Short: "Start an app, the apps of an ecosystem file, or a stopped app",
		Long: `Start an app and keep it running.

  tend start app.js -i 4 --name api          a Node.js app, 4 instances
  tend start server.py -- --verbose          arguments after -- go to the app
  tend start tend.yaml --env-name production  every app of an ecosystem file,
                                             with its env_production block
  tend start api                             start a stopped app again

The interpreter follows the file's extension (.js/.mjs/.cjs: node, .py: python3,
.sh: bash, a #! line naming node: node); anything else is executed directly.
"npm start" and "npm run <x>" run the Node file package.json's script names, under
node, when the script is one ("node ./bin/www"); any other script runs under npm. Durations take milliseconds or a
unit (1600, 1.6s). PM2 selects an env_NAME block with --env NAME; tend spells it
--env-name NAME, because --env KEY=VALUE sets a variable.`,
		Args: cobra.MinimumNArgs(1),
	}
	o := addStartFlags(cmd)
	var noDaemon bool
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the started apps as JSON (with --no-daemon: the output as JSON lines)")
	cmd.Flags().BoolVar(&noDaemon, "no-daemon", false, "run in the foreground with these apps only, as `tend run` (PM2's --no-daemon)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		var cfg daemonConfig // --no-daemon's, as tend run's
		if noDaemon {
			var err error
			if cfg, err = loadDaemonConfig(e.home); err != nil {
				return err
			}
			o.maxInstances = cfg.MaxInstances
		} else {
			o.maxInstances = e.maxInstances()
		}
		o.elsewhere = e.elsewhere()
		apps, warnings, err := o.apps(cmd, args)
		printWarnings(e, warnings)
		if noDaemon {
			if errors.Is(err, errNotAScript) {
				return fmt.Errorf("%q is neither an ecosystem file, nor a script, nor a command on PATH (--no-daemon runs no registered app)", args[0])
			}
			if err != nil {
				return err
			}
			return e.runForeground(cfg, apps, asJSON)
		}
		if errors.Is(err, errNotAScript) {
			// Not a script: `tend start api` starts a registered app.
			return startExisting(cmd, e, args[0], asJSON)
		}
		if err != nil {
			return err
		}
		raw, err := rawApps(apps)
		if err != nil {
			return err
		}
		req := api.StartRequest{Apps: raw, Env: e.callerEnv()}
		c, err := e.connect(cmd.Context())
		if err != nil {
			return err
		}
		if isFileTarget(args[0]) {
			// Apps of the file tend has already are named, not an error (newApps).
			if req.Apps, err = e.newApps(cmd.Context(), c, args[0], apps, asJSON); err != nil || req.Apps == nil {
				if err == nil {
					err = e.showApps(cmd.Context(), c, nil, asJSON)
				}
				return err
			}
		}
		e.warnMemory(cmd.Context(), c, apps)
		started, err := c.Start(cmd.Context(), req)
		if err != nil {
			return friendly(err)
		}
		if asJSON {
			if err := e.printJSON(appsOrEmpty(started)); err != nil {
				return err
			}
			return notReady(started)
		}
		all, err := c.List(cmd.Context())
		if err != nil {
			return friendly(err)
		}
		printTable(e.stdout, all)
		tlsApps := map[string]bool{}
		for _, a := range apps {
			tlsApps[a.Namespace+"/"+a.Name] = a.Mode == spec.ModeProxy && a.Edge != nil && a.Edge.TLS != nil
		}
		e.printServed(cmd.Context(), started, tlsApps)
		return notReady(started)
	}
	return cmd
}

// startExisting starts a registered app by name, id or namespace.
func startExisting(cmd *cobra.Command, e *env, target string, asJSON bool) error {
	c, err := e.connect(cmd.Context())
	if err != nil {
		return err
	}
	apps, err := c.Action(cmd.Context(), target, "start", api.ActionRequest{})
	var ce *client.Error
	if errors.As(err, &ce) && ce.Status == http.StatusNotFound {
		return fmt.Errorf("%q is neither a file, nor a command on PATH, nor a registered app (see `tend ls`)", target)
	}
	if err != nil {
		return friendly(err)
	}
	if err := e.showApps(cmd.Context(), c, apps, asJSON); err != nil {
		return err
	}
	return notReady(apps)
}

// flagError names flags rather than ecosystem keys in a decode error: the
// flag given, of those that set a key.
func flagError(cmd *cobra.Command, err error) error {
	msg := err.Error()
	named := map[string]bool{}
	for _, f := range startFlags {
		if named[f.key] || !cmd.Flags().Changed(f.flag) {
			continue
		}
		named[f.key] = true
		re := regexp.MustCompile(`(^|\s)` + regexp.QuoteMeta(f.key) + `:`)
		msg = re.ReplaceAllString(msg, "${1}--"+f.flag+":")
	}
	return errors.New(msg)
}

func printWarnings(e *env, ws []spec.Warning) {
	for _, w := range ws {
		fmt.Fprintf(e.stderr, "warning: %s\n", w)
	}
}

// callerEnv is the environment the apps of a command inherit: this
// process's, or none for a remote daemon (whose apps then inherit its
// own: this host's PATH, HOME and secrets have no business there).
func (e *env) callerEnv() map[string]string {
	if e.elsewhere() {
		return nil
	}
	return callerEnv()
}

// callerEnv is this process's environment, which the app inherits.
func callerEnv() map[string]string {
	m := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok && k != "TEND_HOME" {
			m[k] = v
		}
	}
	return m
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

func onPath(name string) bool {
	if filepath.IsAbs(name) {
		return false
	}
	_, err := exec.LookPath(name)
	return err == nil
}

func splitList(v []string) []string {
	var out []string
	for _, s := range v {
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}
