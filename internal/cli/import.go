package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/pm2"
	"github.com/tendhq/tend/internal/spec"
)

func newImport(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "import",
		Short: "Bring apps over from another process manager (pm2)",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newImportPM2(e))
	return cmd
}

func newImportPM2(e *env) *cobra.Command {
	var start, dryRun bool
	var only []string
	cmd := &cobra.Command{
		Use:   "pm2 [PATH]",
		Short: "Register the apps of a PM2 dump (pm2 save) or of `pm2 jlist` output",
		Long: `Register the apps PM2 ran, with the same settings and environment: script, args, cwd,
interpreter and its args, instances, env, autorestart, max_restarts, min_uptime,
kill_timeout, restart_delay, max_memory_restart, cron_restart, watch, namespace, log
files you chose. PATH is the file ` + "`pm2 save`" + ` writes (default $PM2_HOME/dump.pm2, or
~/.pm2/dump.pm2), or the output of ` + "`pm2 jlist > apps.json`" + `.

The apps are registered stopped; --start starts them. Stop them in PM2 first if they
bind ports. What could not be carried over is listed per app. Variables of an app's
environment equal in this shell are inherited rather than copied; PM2's own and the
shell's bookkeeping (PM2_*, PWD, SHLVL, _) are left out. Nothing is registered if any
app is invalid here (e.g. its script is gone): fix it, or leave it out with --only.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path, err := pm2DumpPath(args)
			if err != nil {
				return err
			}
			procs, err := pm2.ReadFile(path)
			if err != nil {
				return err
			}
			apps, err := pm2.Convert(procs, pm2.Options{File: path, BaseEnv: callerEnv(), Only: splitList(only), MaxInstances: e.maxInstances()})
			if err != nil {
				return fmt.Errorf("%w\nnothing was imported", err)
			}
			for _, m := range pm2.Modules(procs) {
				fmt.Fprintf(e.stdout, "%s: a PM2 module, not an app; left out (tend rotates logs and exports metrics itself)\n", m)
			}
			if len(apps) == 0 {
				return fmt.Errorf("%s: no app to import, only PM2 modules", path)
			}
			specs := make([]spec.App, len(apps))
			for i, a := range apps {
				specs[i] = a.Spec
				printImported(e, a)
			}
			if dryRun {
				fmt.Fprintf(e.stdout, "%d apps would be imported (--dry-run: nothing changed)\n", len(apps))
				return nil
			}
			raw, err := rawApps(specs)
			if err != nil {
				return err
			}
			c, err := e.connect(cmd.Context())
			if err != nil {
				return err
			}
			got, err := c.Start(cmd.Context(), api.StartRequest{Apps: raw, Env: callerEnv(), Stopped: !start})
			if err != nil {
				return fmt.Errorf("%w\nnothing was imported", friendly(err))
			}
			if start {
				fmt.Fprintf(e.stdout, "imported and started %d apps from %s\n", len(got), path)
			} else {
				fmt.Fprintf(e.stdout, "imported %d apps from %s, stopped: start them with `tend start <name>` (or `tend start all`)\n", len(got), path)
			}
			return e.showApps(cmd.Context(), c, got, false)
		},
	}
	cmd.Flags().BoolVar(&start, "start", false, "start the apps once registered")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print what would be imported and change nothing")
	cmd.Flags().StringSliceVar(&only, "only", nil, "import only these apps (comma-separated names)")
	return cmd
}

// pm2DumpPath is the dump to read: the argument, or PM2's own default.
func pm2DumpPath(args []string) (string, error) {
	if len(args) == 1 {
		return args[0], nil
	}
	dir := os.Getenv("PM2_HOME")
	if dir == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("find PM2's dump: %w; give its path: tend import pm2 PATH", err)
		}
		dir = filepath.Join(h, ".pm2")
	}
	p := filepath.Join(dir, "dump.pm2")
	if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("no PM2 dump at %s: run `pm2 save` while your apps run, or give a path (`pm2 jlist > apps.json; tend import pm2 apps.json`)", p)
	}
	return p, nil
}

func printImported(e *env, a pm2.App) {
	s := a.Spec
	cmdline := s.Script
	if len(s.Args) > 0 {
		cmdline += " " + strings.Join(s.Args, " ")
	}
	was := ""
	if a.Status != "" {
		was = fmt.Sprintf("; %s in PM2", a.Status)
	}
	fmt.Fprintf(e.stdout, "%s (namespace %s): %d instance(s) of %s, %d env variable(s)%s\n", s.Name, s.Namespace, s.Instances, cmdline, len(s.Env), was)
	for _, l := range a.Lost {
		fmt.Fprintf(e.stdout, "  not carried over: %s\n", l)
	}
}
