package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/spec"
)

func newApply(e *env) *cobra.Command {
	var prune, dryRun, asJSON bool
	var envName string
	cmd := &cobra.Command{
		Use:   "apply <ecosystem file>",
		Short: "Make what runs equal to a file, doing the least (start, scale, reload, change in place)",
		Long: `Compare an ecosystem file with what runs and do the least that makes them equal: start
new apps, scale changed instance counts, reload (zero downtime) apps whose command, env
or process settings changed, and change traffic and policy settings in place with no
restart. Apps missing from the file are listed, and deleted with --prune. --dry-run
prints the plan and changes nothing; an invalid file changes nothing either.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			apps, warnings, err := spec.LoadFile(args[0], spec.LoadOptions{EnvName: envName, MaxInstances: e.maxInstances(), Elsewhere: e.host != ""})
			printWarnings(e, warnings)
			if err != nil {
				return err
			}
			raw, err := rawApps(apps)
			if err != nil {
				return err
			}
			req := api.ApplyRequest{Apps: raw, Env: e.callerEnv(), Prune: prune, DryRun: dryRun}
			c, err := e.connect(cmd.Context())
			if err != nil {
				return err
			}
			e.warnMemory(cmd.Context(), c, apps)
			res, err := c.Apply(cmd.Context(), req)
			if err := e.printPlan(res, err, dryRun, asJSON); err != nil || dryRun {
				return err
			}
			// The apps whose processes the plan started must be ready; an
			// in-place update or an unchanged app asked for none.
			all, err := c.List(cmd.Context())
			if err != nil {
				return friendly(err)
			}
			want := map[string]bool{}
			for _, st := range res.Steps {
				switch st.Kind {
				case "start", "replace", "scale", "reload":
					want[st.App] = true
				}
			}
			var acted []api.App
			for _, a := range all {
				if want[a.Namespace+"/"+a.Name] {
					acted = append(acted, a)
				}
			}
			return notReady(acted)
		},
	}
	cmd.Flags().BoolVar(&prune, "prune", false, "delete running apps that are not in the file")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print the plan and change nothing")
	cmd.Flags().StringVar(&envName, "env-name", "", "merge each app's env_NAME block over env")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the plan as JSON")
	return cmd
}

// printPlan prints what apply or set planned and did.
func (e *env) printPlan(res api.ApplyResult, err error, dryRun, asJSON bool) error {
	if asJSON && err == nil {
		return e.printJSON(res)
	}
	if res.Text != "" {
		if dryRun {
			fmt.Fprint(e.stdout, "plan (nothing changed):\n")
		}
		for _, line := range strings.Split(strings.TrimRight(res.Text, "\n"), "\n") {
			fmt.Fprintf(e.stdout, "  %s\n", line)
		}
	}
	if err != nil {
		if res.Done > 0 {
			fmt.Fprintf(e.stderr, "%d steps done before the failure\n", res.Done)
		}
		return friendly(err)
	}
	if !dryRun {
		fmt.Fprintln(e.stdout, "applied")
	}
	return nil
}

func newSet(e *env) *cobra.Command {
	var dryRun, asJSON bool
	cmd := &cobra.Command{
		Use:   "set <name|id|namespace|all> key=value...",
		Short: "Change settings of running apps (validated like a file, persisted, least disruption)",
		Long: `Change settings from the command line, validated like an ecosystem file and kept in
the daemon's state:

  tend set api instances=6 max_memory_restart=512M env.LOG_LEVEL=debug

Dotted keys reach into env, autoscale and edge blocks. Values are read as YAML (6 is a
number, true a boolean). The change is applied as apply would: in place when it can,
a scale or a zero-downtime reload when it must.`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := api.SetRequest{Set: map[string]string{}, DryRun: dryRun}
			for _, kv := range args[1:] {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return fmt.Errorf("%q: want key=value (unset a key with tend unset)", kv)
				}
				req.Set[k] = v
			}
			c, err := e.connect(cmd.Context())
			if err != nil {
				return err
			}
			res, err := c.Set(cmd.Context(), args[0], req)
			return e.printPlan(res, err, dryRun, asJSON)
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print the plan and change nothing")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the plan as JSON")
	return cmd
}

func newUnset(e *env) *cobra.Command {
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "unset <name|id|namespace|all> key...",
		Short: "Restore settings of running apps to their defaults",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.connect(cmd.Context())
			if err != nil {
				return err
			}
			res, err := c.Set(cmd.Context(), args[0], api.SetRequest{Unset: args[1:], DryRun: dryRun})
			return e.printPlan(res, err, dryRun, false)
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print the plan and change nothing")
	return cmd
}
