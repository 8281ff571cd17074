package cli

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/cobra"
)

func newMetrics(e *env) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "metrics",
		Short: "Print every metric the daemon exposes to Prometheus",
		Long: `Print every metric series the daemon has: per instance CPU, memory, restarts, custom
metrics and HTTP traffic, and the daemon's own. Prometheus can scrape the same from
metrics_addr in $TEND_HOME/daemon.yaml.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := e.connect(cmd.Context())
			if err != nil {
				return err
			}
			ms, err := c.Metrics(cmd.Context())
			if err != nil {
				return friendly(err)
			}
			if asJSON {
				return e.printJSON(ms)
			}
			for _, m := range ms {
				var labels []string
				for _, k := range slices.Sorted(maps.Keys(m.Labels)) {
					labels = append(labels, fmt.Sprintf("%s=%q", k, m.Labels[k]))
				}
				name := m.Name
				if len(labels) > 0 {
					name += "{" + strings.Join(labels, ",") + "}"
				}
				fmt.Fprintf(e.stdout, "%s %g\n", name, m.Value)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
