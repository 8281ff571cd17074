package cli

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/tendhq/tend/internal/api"
)

func newAlerts(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "alerts",
		Short: "List recent alerts, or send a sample to every webhook (alerts: in daemon.yaml)",
		Long: `Alerts are webhooks (a JSON POST, or Slack- and Discord-compatible with format: slack)
the daemon sends when an app goes errored, crash-loops, is replaced for its memory limit,
or a reload fails: once per incident, then once when it is over. They are set in
$TEND_HOME/daemon.yaml under alerts:, read when the daemon starts; see the README.`,
		Args: cobra.NoArgs,
	}
	var lsJSON, testJSON bool
	ls := &cobra.Command{
		Use:   "ls",
		Short: "List the recent alerts and how each target took them",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := e.connect(cmd.Context())
			if err != nil {
				return err
			}
			a, err := c.Alerts(cmd.Context())
			if err != nil {
				return friendly(err)
			}
			if lsJSON {
				return e.printJSON(a)
			}
			printAlerts(e.stdout, a)
			return nil
		},
	}
	ls.Flags().BoolVar(&lsJSON, "json", false, "print the targets and alerts as JSON")
	test := &cobra.Command{
		Use:   "test",
		Short: "Send a sample alert to every target and print the HTTP status each answered (exit 1 when one failed)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := e.connect(cmd.Context())
			if err != nil {
				return err
			}
			res, err := c.TestAlerts(cmd.Context())
			if err != nil {
				return friendly(err)
			}
			if testJSON {
				if err := e.printJSON(res); err != nil {
					return err
				}
			} else {
				tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "TARGET\tFORMAT\tANSWER")
				for _, r := range res {
					fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Target, r.Format, answer(r.Code, r.Error))
				}
				tw.Flush()
			}
			failed := 0
			for _, r := range res {
				if r.Error != "" {
					failed++
				}
			}
			if failed > 0 {
				return fmt.Errorf("%d of %d targets did not take the sample: check their URL, and that the host can reach them", failed, len(res))
			}
			return nil
		},
	}
	test.Flags().BoolVar(&testJSON, "json", false, "print each target's answer as JSON")
	cmd.AddCommand(ls, test)
	cmd.RunE = ls.RunE
	cmd.Flags().BoolVar(&lsJSON, "json", false, "print the targets and alerts as JSON")
	return cmd
}

// answer is an HTTP status as a person reads it, or why there was none.
func answer(code int, err string) string {
	switch {
	case code > 0:
		return fmt.Sprintf("%d %s", code, http.StatusText(code))
	case err != "":
		return err
	}
	return "-"
}

func printAlerts(w io.Writer, a api.Alerts) {
	if len(a.Targets) == 0 {
		fmt.Fprintln(w, "no alert targets: add alerts: to daemon.yaml in the tend home and restart the daemon (see the README)")
	}
	for _, t := range a.Targets {
		fmt.Fprintf(w, "target %s (%s): %d delivered, %d failed, %d dropped, %d suppressed, %d queued\n",
			t.URL, t.Format, t.Delivered, t.Failed, t.Dropped, t.Suppressed, t.Queued)
	}
	if len(a.Alerts) == 0 {
		fmt.Fprintln(w, "no alerts yet")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tAPP\tKIND\tDELIVERY\tMESSAGE")
	for _, al := range a.Alerts {
		kind := al.Kind
		if al.Recovered {
			kind += " recovered"
		}
		app := al.App
		if app == "" {
			app = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", al.Time.Local().Format("2006-01-02 15:04:05"), app, kind, deliveries(al.Deliveries), al.Message)
	}
	tw.Flush()
}

// deliveries sums up how an alert went to its targets: one status when
// they agree, else each target's.
func deliveries(ds []api.Delivery) string {
	if len(ds) == 0 {
		return "no targets"
	}
	one := func(d api.Delivery) string {
		s := d.Status
		if d.Status == api.DeliveryFailed || (d.Status == api.DeliveryPending && d.Attempts > 0) {
			s += fmt.Sprintf(" (%s: %s)", attempts(d.Attempts), answer(d.Code, d.Error))
		}
		return s
	}
	same := true
	for _, d := range ds[1:] {
		same = same && one(d) == one(ds[0])
	}
	if same {
		return one(ds[0])
	}
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = d.Target + " " + one(d)
	}
	return strings.Join(parts, ", ")
}

func attempts(n int) string {
	if n == 1 {
		return "1 attempt"
	}
	return fmt.Sprintf("%d attempts", n)
}
