package cli

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/tendhq/tend/internal/api"
)

func newList(e *env) *cobra.Command {
	var asJSON, watch bool
	var sortBy, format string
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list", "l", "status", "jlist", "prettylist"},
		Short:   "List apps and their instances",
		Long:    "List apps. --json prints an array of apps, each with id, name, namespace, status and\ninstances (index, pid, status, restarts, uptime_ms, cpu_percent, memory_bytes, last_exit);\nsee the README for the full schema.",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := sortApps(nil, sortBy); err != nil {
				return err
			}
			c, err := e.connect(cmd.Context())
			if err != nil {
				return err
			}
			json := asJSON || cmd.CalledAs() == "jlist" || cmd.CalledAs() == "prettylist"
			switch format {
			case "tend":
			case "pm2":
				if watch || !json {
					return fmt.Errorf("--format pm2 is a JSON shape: use it with --json (or jlist), without --watch")
				}
				return e.printPM2List(cmd.Context(), c, sortBy)
			default:
				return fmt.Errorf("--format %s: want tend or pm2", format)
			}
			if watch {
				return e.watchList(cmd.Context(), c, asJSON, sortBy)
			}
			apps, err := c.List(cmd.Context())
			if err != nil {
				return friendly(err)
			}
			if err := sortApps(apps, sortBy); err != nil {
				return err
			}
			if json {
				return e.printJSON(appsOrEmpty(apps))
			}
			printTable(e.stdout, apps)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (a stable, documented schema)")
	cmd.Flags().StringVar(&sortBy, "sort", "", "order apps by name, namespace, id, pid, cpu, mem, uptime, restarts or status, with :asc (default) or :desc (e.g. --sort cpu:desc)")
	cmd.Flags().StringVar(&format, "format", "tend", "JSON shape: tend, or pm2 for the shape of `pm2 jlist` (one entry per process, pm2_env, monit)")
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "print the list again whenever the daemon reports a change, until interrupted (with --json: one array per line)")
	return cmd
}

// printTable prints one row per instance.
func printTable(w io.Writer, apps []api.App) {
	if len(apps) == 0 {
		fmt.Fprintln(w, "no apps: start one with `tend start app.js`")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tNAMESPACE\tMODE\t#\tPID\tUPTIME\t↺\tSTATUS\tCPU\tMEM")
	for _, a := range apps {
		for _, in := range a.Instances {
			pid, up := "-", "-"
			if in.PID > 0 {
				pid = fmt.Sprint(in.PID)
				up = humanDuration(time.Duration(in.UptimeMS) * time.Millisecond)
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%s\t%s\t%d\t%s\t%.1f%%\t%s\n",
				a.ID, a.Name, a.Namespace, a.Mode, in.Index, pid, up, in.Restarts, in.Status, in.CPUPercent, humanBytes(in.MemoryBytes))
		}
	}
	tw.Flush()
	for _, a := range apps {
		if a.Reason != "" && (a.Status == api.StatusErrored || a.Status == api.StatusStopped || a.Status == api.StatusUnready) {
			fmt.Fprintf(w, "%s %s: %s\n", a.Name, a.Status, a.Reason)
		}
	}
}

func newDescribe(e *env) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "describe <name|id|namespace|all>",
		Aliases: []string{"show", "info", "desc"},
		Short:   "Show everything about apps: settings, instances, last exits",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.connect(cmd.Context())
			if err != nil {
				return err
			}
			apps, err := c.Describe(cmd.Context(), args[0])
			if err != nil {
				return friendly(err)
			}
			if asJSON {
				return e.printJSON(appsOrEmpty(apps))
			}
			for i, a := range apps {
				if i > 0 {
					fmt.Fprintln(e.stdout)
				}
				printDescribe(e.stdout, a)
				// A daemon older than the profile store has no list: it
				// is left out.
				if ps, err := c.Profiles(cmd.Context(), a.Name); err == nil && len(ps) > 0 {
					fmt.Fprintf(e.stdout, "profiles tend took (%d, `tend profile ls %s`):\n", len(ps), a.Name)
					printStoredProfiles(e.stdout, ps)
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (ls's schema plus spec)")
	return cmd
}

func printDescribe(w io.Writer, a api.App) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k string, v any) { fmt.Fprintf(tw, "%s\t%v\n", k, v) }
	row("name", a.Name)
	row("id", a.ID)
	row("namespace", a.Namespace)
	row("status", a.Status)
	if a.Reason != "" {
		row("reason", a.Reason)
	}
	row("mode", a.Mode)
	row("created", a.CreatedAt.Local().Format(time.RFC3339))
	if s := a.Spec; s != nil {
		row("script", s.Script)
		if len(s.Args) > 0 {
			row("args", strings.Join(s.Args, " "))
		}
		interp := s.Interpreter
		if len(s.InterpreterArgs) > 0 {
			interp += " " + strings.Join(s.InterpreterArgs, " ")
		}
		row("interpreter", interp)
		if s.ResolvedFrom != "" {
			row("resolved from", s.ResolvedFrom)
		}
		row("cwd", s.Cwd)
		row("instances", s.Instances)
		if s.Port > 0 {
			row("port", s.Port)
		}
		row("autorestart", s.Autorestart)
		row("max_restarts", s.MaxRestarts)
		row("min_uptime", s.MinUptime.D())
		row("restart_delay", s.RestartDelay.D())
		if s.ExpBackoffRestartDelay > 0 {
			row("exp_backoff_restart_delay", s.ExpBackoffRestartDelay.D())
		}
		row("kill_signal", s.KillSignal)
		row("kill_timeout", s.KillTimeout.D())
		if len(s.StopExitCodes) > 0 {
			row("stop_exit_codes", fmt.Sprint(s.StopExitCodes))
		}
		if p := s.ProfileOnStall; p != nil {
			row("profile_on_stall", fmt.Sprintf("threshold %s, duration %s, max_per_hour %d", p.Threshold.D(), p.Duration.D(), p.MaxPerHour))
		}
		if s.HeapSnapshotOnMemoryLimit {
			row("heap_snapshot_on_memory_limit", true)
		}
		for _, k := range slices.Sorted(maps.Keys(s.Env)) {
			row("env."+k, s.Env[k])
		}
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tPID\tSTATUS\tUPTIME\t↺\tUNSTABLE\tCPU\tMEM\tLAST EXIT")
	for _, in := range a.Instances {
		pid, up := "-", "-"
		if in.PID > 0 {
			pid = fmt.Sprint(in.PID)
			up = humanDuration(time.Duration(in.UptimeMS) * time.Millisecond)
		}
		last := "-"
		if x := in.LastExit; x != nil {
			last = exitText(x)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%d\t%.1f%%\t%s\t%s\n", in.Index, pid, in.Status, up, in.Restarts, in.Unstable, in.CPUPercent, humanBytes(in.MemoryBytes), last)
	}
	tw.Flush()
	if n := len(a.Crashes); n > 0 {
		last := a.Crashes[n-1]
		fmt.Fprintf(w, "crashes in the last 24 hours: %d (latest: instance %d, %s)\n", n, last.Instance, last.What())
	}
	for _, in := range a.Instances {
		if x := in.LastExit; x != nil && x.Reason != "" && !x.Expected {
			fmt.Fprintf(w, "instance %d last crash: %s\n", in.Index, x.Reason)
			if len(x.Stderr) > 0 {
				fmt.Fprintf(w, "  last stderr lines:\n")
				for _, l := range x.Stderr {
					fmt.Fprintf(w, "    %s\n", l)
				}
			}
		}
		if in.RestartReason != "" {
			fmt.Fprintf(w, "instance %d replaced by tend: %s\n", in.Index, in.RestartReason)
		}
		if in.Status == api.StatusUnready {
			fmt.Fprintf(w, "instance %d unready: %s\n", in.Index, in.Reason)
			if len(in.RecentStderr) > 0 {
				fmt.Fprintf(w, "  recent stderr lines:\n")
				for _, l := range in.RecentStderr {
					fmt.Fprintf(w, "    %s\n", l)
				}
			}
		}
		if len(in.Metrics) > 0 {
			var parts []string
			for _, k := range slices.Sorted(maps.Keys(in.Metrics)) {
				parts = append(parts, fmt.Sprintf("%s=%g", k, in.Metrics[k]))
			}
			fmt.Fprintf(w, "instance %d metrics: %s\n", in.Index, strings.Join(parts, " "))
		}
		if len(in.Actions) > 0 {
			fmt.Fprintf(w, "instance %d actions: %s (tend trigger)\n", in.Index, strings.Join(in.Actions, ", "))
		}
		if line := nodeRuntimeText(in.Node); line != "" {
			fmt.Fprintf(w, "instance %d node: %s\n", in.Index, line)
		}
		if !in.NextRestartAt.IsZero() {
			fmt.Fprintf(w, "instance %d restarts in %s\n", in.Index, time.Until(in.NextRestartAt).Round(time.Millisecond))
		}
	}
}

func exitText(x *api.Exit) string {
	what := fmt.Sprintf("code %d", x.Code)
	if x.Signal != "" {
		what = x.Signal
	}
	ago := humanDuration(time.Since(x.At))
	if x.Expected {
		return fmt.Sprintf("%s (stopped by tend) %s ago", what, ago)
	}
	return fmt.Sprintf("%s after %s, %s ago", what, humanDuration(time.Duration(x.UptimeMS)*time.Millisecond), ago)
}

func newEnv(e *env) *cobra.Command {
	var instance int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "env <name|id>",
		Short: "Print the environment an app's instance was started with",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.connect(cmd.Context())
			if err != nil {
				return err
			}
			envs, err := c.Env(cmd.Context(), args[0])
			if err != nil {
				return friendly(err)
			}
			if asJSON {
				return e.printJSON(envs)
			}
			for _, ae := range envs {
				for _, ie := range ae.Instances {
					if ie.Index != instance {
						continue
					}
					for _, k := range slices.Sorted(maps.Keys(ie.Env)) {
						fmt.Fprintf(e.stdout, "%s=%s\n", k, ie.Env[k])
					}
				}
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&instance, "instance", 0, "which instance")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print every instance's environment as JSON")
	return cmd
}

// humanDuration prints PM2-style short durations: 45s, 12m, 3h, 2D.
func humanDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	default:
		return fmt.Sprintf("%dD", int(d.Hours()/24))
	}
}

func humanBytes(b uint64) string {
	switch {
	case b == 0:
		return "0b"
	case b < 1<<10:
		return fmt.Sprintf("%db", b)
	case b < 1<<20:
		return fmt.Sprintf("%.1fkb", float64(b)/(1<<10))
	case b < 1<<30:
		return fmt.Sprintf("%.1fmb", float64(b)/(1<<20))
	default:
		return fmt.Sprintf("%.2fgb", float64(b)/(1<<30))
	}
}
