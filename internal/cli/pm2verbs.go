package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/client"
	"github.com/tendhq/tend/internal/spec"
)

// PM2's verbs on ecosystem files: startOrReload, startOrRestart,
// startOrGracefulReload, and stop|restart|reload|delete with a file as
// their target.

// isFileTarget says a command argument names an ecosystem file rather
// than an app.
func isFileTarget(arg string) bool {
	return spec.IsEcosystemFile(arg) && fileExists(arg)
}

// fileApps loads an ecosystem file for the names of its apps.
func (e *env) fileApps(path, envName string, only []string) ([]spec.App, error) {
	apps, warnings, err := spec.LoadFile(path, spec.LoadOptions{EnvName: envName, Only: only, MaxInstances: e.maxInstances(), Elsewhere: e.host != ""})
	printWarnings(e, warnings)
	return apps, err
}

// registered returns the apps the daemon has, by namespace/name.
func registered(ctx context.Context, c *client.Client) (map[string]api.App, error) {
	all, err := c.List(ctx)
	if err != nil {
		return nil, friendly(err)
	}
	m := make(map[string]api.App, len(all))
	for _, a := range all {
		m[a.Namespace+"/"+a.Name] = a
	}
	return m, nil
}

// expandTargets replaces each ecosystem file among args by the apps of it
// that the daemon has, as namespace/name targets; apps of the file that
// are not registered are named on stderr. Other args are kept as they are.
func (e *env) expandTargets(ctx context.Context, c *client.Client, args []string) ([]string, error) {
	var out []string
	var have map[string]api.App
	for _, arg := range args {
		if !isFileTarget(arg) {
			out = append(out, arg)
			continue
		}
		apps, err := e.fileApps(arg, "", nil)
		if err != nil {
			return nil, err
		}
		if have == nil {
			if have, err = registered(ctx, c); err != nil {
				return nil, err
			}
		}
		n := 0
		for _, a := range apps {
			if _, ok := have[a.Key()]; !ok {
				fmt.Fprintf(e.stderr, "%s: %s is not registered in tend; skipped\n", arg, a.Name)
				continue
			}
			out = append(out, a.Key())
			n++
		}
		if n == 0 {
			return nil, fmt.Errorf("no app of %s is registered (see `tend ls`); start them with `tend start %s`", arg, arg)
		}
	}
	return out, nil
}

// newApps is what `tend start FILE` sends when some apps of the file are
// already registered: those are left as they are (a stopped one is
// started) and named, and only the others are returned to be started. It
// returns nil when nothing is left to start.
func (e *env) newApps(ctx context.Context, c *client.Client, file string, apps []spec.App, asJSON bool) ([]json.RawMessage, error) {
	out := e.stdout
	if asJSON { // keep stdout JSON
		out = e.stderr
	}
	have, err := registered(ctx, c)
	if err != nil {
		return nil, err
	}
	var fresh []spec.App
	var running []string
	for _, a := range apps {
		cur, ok := have[a.Key()]
		switch {
		case !ok:
			fresh = append(fresh, a)
		case cur.Status == api.StatusStopped || cur.Status == api.StatusErrored:
			if _, err := c.Action(ctx, a.Key(), "start", api.ActionRequest{}); err != nil {
				return nil, fmt.Errorf("start %s: %w", a.Name, friendly(err))
			}
			fmt.Fprintf(out, "started %s again (it was %s)\n", a.Name, cur.Status)
		default:
			running = append(running, a.Name)
		}
	}
	if len(running) > 0 {
		fmt.Fprintf(out, "already running: %s (left as they are; `tend startOrRestart %s` restarts them, as `pm2 start` does)\n",
			strings.Join(running, ", "), file)
	}
	if len(fresh) == 0 {
		return nil, nil
	}
	return rawApps(fresh)
}

// newStartOr builds startOrReload, startOrRestart and
// startOrGracefulReload: the file's apps that are not registered are
// started, the others get the file's settings (as apply would) and are
// then reloaded or restarted, unless applying them already replaced every
// process.
func newStartOr(e *env, verb, action, short string) *cobra.Command {
	var envName string
	var only []string
	var asJSON, updateEnv bool
	cmd := &cobra.Command{
		Use:   verb + " <ecosystem file>",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			req := api.ActionRequest{}
			if updateEnv {
				if action != "restart" {
					return fmt.Errorf("--update-env: a reload keeps the environment the app was started with; use `tend startOrRestart %s --update-env` (a restart), or set the variables in the file's env", args[0])
				}
				req = api.ActionRequest{UpdateEnv: true, Env: e.callerEnv()}
			}
			apps, err := e.fileApps(args[0], envName, splitList(only))
			if err != nil {
				return err
			}
			c, err := e.connect(ctx)
			if err != nil {
				return err
			}
			before, err := registered(ctx, c)
			if err != nil {
				return err
			}
			raw, err := rawApps(apps)
			if err != nil {
				return err
			}
			res, err := c.Apply(ctx, api.ApplyRequest{Apps: raw, Env: e.callerEnv()})
			if err != nil {
				return e.printPlan(res, err, false, false)
			}
			done := map[string]string{}
			for _, s := range res.Steps {
				switch s.Kind {
				case "start", "replace", "reload":
					done[s.App] = s.Kind
				}
			}
			out := e.stdout
			if asJSON {
				out = e.stderr
			}
			var acted []api.App
			for _, a := range apps {
				key := a.Key()
				// A reload by apply kept the old environment: with
				// --update-env the restart below still takes this shell's.
				if kind, ok := done[key]; ok && !(updateEnv && kind == "reload") {
					what := map[string]string{"start": "started", "replace": "replaced", "reload": "reloaded"}[kind]
					fmt.Fprintf(out, "%s %s\n", what, a.Name)
					continue
				}
				if _, ok := before[key]; !ok {
					continue
				}
				got, err := c.Action(ctx, key, action, req)
				if err != nil {
					return fmt.Errorf("%s %s: %w", action, a.Name, friendly(err))
				}
				acted = append(acted, got...)
				fmt.Fprintf(out, "%s %s\n", map[string]string{"reload": "reloaded", "restart": "restarted"}[action], a.Name)
			}
			if asJSON {
				all, err := c.List(ctx)
				if err != nil {
					return friendly(err)
				}
				var mine []api.App
				for _, a := range all {
					if slices.ContainsFunc(apps, func(s spec.App) bool { return s.Key() == a.Namespace+"/"+a.Name }) {
						mine = append(mine, a)
					}
				}
				return e.printJSON(appsOrEmpty(mine))
			}
			return e.showApps(ctx, c, acted, false)
		},
	}
	cmd.Flags().StringVar(&envName, "env-name", "", "merge each app's env_NAME block over env (PM2's --env NAME)")
	cmd.Flags().StringSliceVar(&only, "only", nil, "act only on these apps of the file (comma-separated)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the file's apps as JSON")
	cmd.Flags().BoolVar(&updateEnv, "update-env", false, "startOrRestart: the restarted apps take this shell's environment (as restart --update-env)")
	return cmd
}

func newStartOrVerbs(e *env) []*cobra.Command {
	return []*cobra.Command{
		newStartOr(e, "startOrReload", "reload", "Start the file's apps that are not running; reload (zero downtime) those that are"),
		newStartOr(e, "startOrRestart", "restart", "Start the file's apps that are not running; restart those that are"),
		// tend's reload is graceful already: it waits for readiness and
		// lets requests finish, which is what PM2's gracefulReload adds.
		newStartOr(e, "startOrGracefulReload", "reload", "Like startOrReload (tend's reload is always graceful)"),
	}
}
