package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/client"
	"github.com/tendhq/tend/internal/spec"
)

// startFlags maps each `tend start` flag to its ecosystem key.
// Numeric flags are sent as numbers when they parse as one, so that a
// duration of "1600" means milliseconds as in a file.
var startFlags = []struct {
	flag, key string
	numeric   bool
}{
	{"name", "name", false},
	{"namespace", "namespace", false},
	{"instances", "instances", true},
	{"interpreter", "interpreter", false},
	{"interpreter-args", "interpreter_args", false},
	{"cwd", "cwd", false},
	{"port", "port", true},
	{"max-restarts", "max_restarts", true},
	{"min-uptime", "min_uptime", true},
	{"restart-delay", "restart_delay", true},
	{"exp-backoff-restart-delay", "exp_backoff_restart_delay", true},
	{"kill-timeout", "kill_timeout", true},
	{"kill-signal", "kill_signal", false},
	{"balance", "balance", false},
	{"health-path", "health_path", false},
	{"listen-timeout", "listen_timeout", true},
	{"reload-batch", "reload_batch", true},
	{"max-memory-restart", "max_memory_restart", false},
	{"watch-delay", "watch_delay", true},
	{"cron-restart", "cron_restart", false},
}

func newStart(e *env) *cobra.Command {
	var (
		envVars   []string
		envName   string
		only      []string
		noRestart bool
		waitReady bool
		socket    bool
		watchOn   bool
		ignore    []string
		stopCodes []int
		asJSON    bool
	)
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
.sh: bash); anything else is executed directly. Durations take milliseconds or a
unit (1600, 1.6s). PM2 selects an env_NAME block with --env NAME; tend spells it
--env-name NAME, because --env KEY=VALUE sets a variable.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			target, appArgs := args[0], []string(nil)
			if n := cmd.ArgsLenAtDash(); n >= 0 {
				if n != 1 {
					return fmt.Errorf("start takes one script, file or app before --, got %d", n)
				}
				appArgs = args[n:]
			} else if len(args) > 1 {
				return fmt.Errorf("start takes one script, file or app; put the app's own arguments after --")
			}
			for _, kv := range envVars {
				if !strings.Contains(kv, "=") {
					return fmt.Errorf("--env %s: want KEY=VALUE (to select an ecosystem env_%s block, use --env-name %s)", kv, kv, kv)
				}
			}
			req := api.StartRequest{Env: callerEnv()}
			var warnings []spec.Warning
			switch {
			case spec.IsEcosystemFile(target) && fileExists(target):
				for _, f := range startFlags {
					if cmd.Flags().Changed(f.flag) {
						return fmt.Errorf("--%s cannot be combined with an ecosystem file: set %s in %s", f.flag, f.key, target)
					}
				}
				for _, f := range []string{"env", "no-autorestart", "stop-exit-codes", "wait-ready", "socket", "watch", "ignore-watch"} {
					if cmd.Flags().Changed(f) {
						return fmt.Errorf("--%s cannot be combined with an ecosystem file: set it in %s", f, target)
					}
				}
				apps, w, err := spec.LoadFile(target, spec.LoadOptions{EnvName: envName, Only: splitList(only)})
				warnings = w
				if err != nil {
					printWarnings(e, warnings)
					return err
				}
				for _, a := range apps {
					b, err := json.Marshal(a)
					if err != nil {
						return err
					}
					req.Apps = append(req.Apps, b)
				}
			case !fileExists(target) && !onPath(target) && !strings.Contains(target, "/"):
				// Not a script: `tend start api` starts a registered app.
				return startExisting(cmd, e, target, asJSON)
			default:
				raw := map[string]any{"script": target}
				for _, f := range startFlags {
					if cmd.Flags().Changed(f.flag) {
						v := cmd.Flags().Lookup(f.flag).Value.String()
						if n, err := strconv.Atoi(v); err == nil && f.numeric {
							raw[f.key] = n
						} else {
							raw[f.key] = v
						}
					}
				}
				if len(appArgs) > 0 {
					args := make([]any, len(appArgs))
					for i, a := range appArgs {
						args[i] = a
					}
					raw["args"] = args
				}
				if len(envVars) > 0 {
					m := map[string]any{}
					for _, kv := range envVars {
						k, v, _ := strings.Cut(kv, "=")
						m[k] = v
					}
					raw["env"] = m
				}
				if noRestart {
					raw["autorestart"] = false
				}
				if waitReady {
					raw["wait_ready"] = true
				}
				if socket {
					raw["mode"] = "socket"
				}
				if watchOn {
					raw["watch"] = true
				}
				if len(ignore) > 0 {
					list := make([]any, len(ignore))
					for i, g := range ignore {
						list[i] = g
					}
					raw["ignore_watch"] = list
				}
				if cmd.Flags().Changed("stop-exit-codes") {
					codes := make([]any, len(stopCodes))
					for i, c := range stopCodes {
						codes[i] = c
					}
					raw["stop_exit_codes"] = codes
				}
				cwd, err := os.Getwd()
				if err != nil {
					return err
				}
				a, w, err := spec.Decode(raw, spec.DecodeOptions{BaseDir: cwd, NumCPU: runtime.NumCPU()})
				warnings = w
				if err != nil {
					return flagError(err)
				}
				b, err := json.Marshal(a)
				if err != nil {
					return err
				}
				req.Apps = append(req.Apps, b)
			}
			printWarnings(e, warnings)
			c, err := e.connect(cmd.Context())
			if err != nil {
				return err
			}
			started, err := c.Start(cmd.Context(), req)
			if err != nil {
				return friendly(err)
			}
			if asJSON {
				return e.printJSON(appsOrEmpty(started))
			}
			all, err := c.List(cmd.Context())
			if err != nil {
				return friendly(err)
			}
			printTable(e.stdout, all)
			for _, a := range started {
				if a.Port > 0 {
					fmt.Fprintf(e.stdout, "%s is served on http://localhost:%d\n", a.Name, a.Port)
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.String("name", "", "app name (default: the script's base name)")
	f.String("namespace", "", "namespace to group apps (default \"default\")")
	f.StringP("instances", "i", "", "number of instances, or \"max\" for one per CPU")
	f.String("interpreter", "", "interpreter (node, python3, bash, a path, or none)")
	f.String("interpreter-args", "", "arguments for the interpreter, e.g. \"--max-old-space-size=512\"")
	f.String("cwd", "", "working directory of the app (default: the current one)")
	f.String("port", "", "port the app serves on; it gets PORT in its environment")
	f.StringArrayVar(&envVars, "env", nil, "set an environment variable KEY=VALUE (repeatable)")
	f.StringVar(&envName, "env-name", "", "ecosystem file: merge the env_NAME block over env (PM2's --env NAME)")
	f.StringSliceVar(&only, "only", nil, "ecosystem file: start only these apps (comma-separated)")
	f.String("max-restarts", "", "unstable restarts in a row before the app is errored (default 16)")
	f.String("min-uptime", "", "an exit sooner than this after start is unstable (default 1s)")
	f.String("restart-delay", "", "wait this long before restarting a crashed app (default 0)")
	f.String("exp-backoff-restart-delay", "", "exponential backoff for restarts, starting at this delay")
	f.String("kill-timeout", "", "time between the stop signal and SIGKILL (default 1600ms)")
	f.String("kill-signal", "", "signal that asks the app to stop (default SIGINT)")
	f.BoolVar(&noRestart, "no-autorestart", false, "do not restart the app when it exits")
	f.String("balance", "", "proxy mode: least_conn (default), round_robin or sticky")
	f.BoolVar(&socket, "socket", false, "socket mode: every instance inherits the listening socket as fd 3 (no proxy)")
	f.BoolVar(&waitReady, "wait-ready", false, "an instance is ready when it says so: process.send('ready') or READY=1 on NOTIFY_SOCKET")
	f.String("health-path", "", "an instance is ready when GET on this path answers 2xx")
	f.String("listen-timeout", "", "how long to wait for an instance to be ready (default 3s, 8s with --wait-ready)")
	f.String("reload-batch", "", "instances replaced at once by reload (default 1)")
	f.String("max-memory-restart", "", "replace an instance whose process tree stays above this RSS (e.g. 300M)")
	f.BoolVar(&watchOn, "watch", false, "reload the app when a file under its cwd changes (node_modules, .git and logs ignored)")
	f.StringSliceVar(&ignore, "ignore-watch", nil, "more globs for --watch to ignore")
	f.String("watch-delay", "", "wait this long after the last change before reloading (default 1s)")
	f.String("cron-restart", "", "reload on a 5-field cron schedule, e.g. \"0 3 * * *\"")
	f.IntSliceVar(&stopCodes, "stop-exit-codes", nil, "exit codes after which the app is not restarted")
	f.BoolVar(&asJSON, "json", false, "print the started apps as JSON")
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
	if asJSON {
		return e.printJSON(appsOrEmpty(apps))
	}
	all, err := c.List(cmd.Context())
	if err != nil {
		return friendly(err)
	}
	printTable(e.stdout, all)
	return nil
}

// flagError names flags rather than ecosystem keys in a decode error.
func flagError(err error) error {
	msg := err.Error()
	for _, f := range startFlags {
		msg = strings.ReplaceAll(msg, f.key+":", "--"+f.flag+":")
	}
	return errors.New(msg)
}

func printWarnings(e *env, ws []spec.Warning) {
	for _, w := range ws {
		fmt.Fprintf(e.stderr, "warning: %s\n", w)
	}
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
