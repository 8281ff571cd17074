package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/tendhq/tend/internal/api"
)

// newAction builds stop, restart, reset: verbs on "name|id|namespace|all".
func newAction(e *env, verb, short string, extra func(*cobra.Command) func() api.ActionRequest) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   verb + " <name|id|namespace|all|ecosystem file>...",
		Short: short,
		Args:  cobra.MinimumNArgs(1),
	}
	req := func() api.ActionRequest { return api.ActionRequest{} }
	if extra != nil {
		req = extra(cmd)
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := e.connect(cmd.Context())
		if err != nil {
			return err
		}
		targets, err := e.expandTargets(cmd.Context(), c, args)
		if err != nil {
			return err
		}
		var done []api.App
		for _, t := range targets {
			apps, err := c.Action(cmd.Context(), t, verb, req())
			if err != nil {
				return friendly(err)
			}
			done = append(done, apps...)
		}
		if err := e.showApps(cmd.Context(), c, done, asJSON); err != nil {
			return err
		}
		if verb == "restart" || verb == "reload" {
			return notReady(done)
		}
		return nil
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the apps acted on as JSON")
	return cmd
}

func newStop(e *env) *cobra.Command {
	return newAction(e, "stop", "Stop apps (signal, kill_timeout, then SIGKILL of the whole process group)", nil)
}

func newReset(e *env) *cobra.Command {
	return newAction(e, "reset", "Reset the restart counters of apps", nil)
}

func newRestart(e *env) *cobra.Command {
	return newAction(e, "restart", "Stop apps and start them again", func(cmd *cobra.Command) func() api.ActionRequest {
		var update bool
		cmd.Flags().BoolVar(&update, "update-env", false, "replace the inherited environment with this shell's (variables removed here are gone)")
		return func() api.ActionRequest {
			if !update {
				return api.ActionRequest{}
			}
			return api.ActionRequest{UpdateEnv: true, Env: e.callerEnv()}
		}
	})
}

func newReload(e *env) *cobra.Command {
	cmd := newAction(e, "reload", "Replace every instance with zero downtime (start new, wait ready, then stop old)", nil)
	cmd.Long = `Reload apps with zero downtime: for each instance (reload_batch at a time) start its
replacement, wait until it is ready, put it in the pool, take the old one out, let its
requests finish (bounded by kill_timeout), then stop it. If a replacement never becomes
ready it is stopped, the old instances keep serving, and reload exits non-zero naming
the instance and its last stderr lines. restart, by contrast, stops then starts.`
	return cmd
}

func newScale(e *env) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "scale <name|id|namespace|all> <N|+N|-N>",
		Short: "Set the number of instances at run time, with no failed request",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.connect(cmd.Context())
			if err != nil {
				return err
			}
			apps, err := c.Action(cmd.Context(), args[0], "scale", api.ActionRequest{Instances: args[1]})
			if err != nil {
				return friendly(err)
			}
			if err := e.showApps(cmd.Context(), c, apps, asJSON); err != nil {
				return err
			}
			return notReady(apps)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the scaled apps as JSON")
	// "-2" after the app is a count, not a flag.
	cmd.Flags().SetInterspersed(false)
	return cmd
}

func newDelete(e *env) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "delete <name|id|namespace|all|ecosystem file>...",
		Aliases: []string{"del"},
		Short:   "Stop apps and forget them",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.connect(cmd.Context())
			if err != nil {
				return err
			}
			targets, err := e.expandTargets(cmd.Context(), c, args)
			if err != nil {
				return err
			}
			var gone []api.App
			for _, t := range targets {
				apps, err := c.Delete(cmd.Context(), t)
				if err != nil {
					return friendly(err)
				}
				gone = append(gone, apps...)
			}
			if asJSON {
				return e.printJSON(appsOrEmpty(gone))
			}
			for _, a := range gone {
				fmt.Fprintf(e.stdout, "deleted %s (id %d)\n", a.Name, a.ID)
			}
			all, err := c.List(cmd.Context())
			if err != nil {
				return friendly(err)
			}
			printTable(e.stdout, all)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the deleted apps as JSON")
	return cmd
}

func newSignal(e *env) *cobra.Command {
	return &cobra.Command{
		Use:     "signal <SIGNAL> <name|id|namespace|all>",
		Aliases: []string{"sendSignal"},
		Short:   "Send a signal to every process of apps (e.g. SIGUSR2)",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.connect(cmd.Context())
			if err != nil {
				return err
			}
			apps, err := c.Action(cmd.Context(), args[1], "signal", api.ActionRequest{Signal: args[0]})
			if err != nil {
				return friendly(err)
			}
			for _, a := range apps {
				fmt.Fprintf(e.stdout, "sent %s to %s\n", strings.ToUpper(args[0]), a.Name)
			}
			return nil
		},
	}
}

func newSave(e *env) *cobra.Command {
	return &cobra.Command{
		Use:     "save",
		Aliases: []string{"dump"},
		Short:   "Save the app list to $TEND_HOME/dump.json for resurrect",
		Long:    "Save the app list for `tend resurrect`. tend already restores its apps when the daemon\nstarts (from state.json); save keeps a snapshot you choose, as PM2's save does.",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := e.connect(cmd.Context())
			if err != nil {
				return err
			}
			s, err := c.Save(cmd.Context())
			if err != nil {
				return friendly(err)
			}
			fmt.Fprintf(e.stdout, "saved %d apps to %s\n", len(s.Apps), s.File)
			return nil
		},
	}
}

func newResurrect(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "resurrect",
		Short: "Start the saved apps that are not running (never duplicates)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := e.connect(cmd.Context())
			if err != nil {
				return err
			}
			s, err := c.Resurrect(cmd.Context())
			if err != nil {
				return friendly(err)
			}
			fmt.Fprintf(e.stdout, "resurrected %d apps from %s\n", len(s.Apps), s.File)
			for _, n := range s.Apps {
				fmt.Fprintf(e.stdout, "  %s\n", n)
			}
			all, err := c.List(cmd.Context())
			if err != nil {
				return friendly(err)
			}
			printTable(e.stdout, all)
			return nil
		},
	}
}
