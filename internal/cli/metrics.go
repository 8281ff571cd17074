package cli

import (
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/metrics"
)

func newMetrics(e *env) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "metrics",
		Short: "Print every metric the daemon exposes to Prometheus",
		Long: `Print every metric series the daemon has: per instance CPU, memory, restarts, custom
metrics and HTTP traffic, and the daemon's own. A histogram prints as its count, sum
and the p50, p90 and p99 estimated from its buckets ("p99>10s": beyond the last
bucket); --json has the buckets themselves. Prometheus can scrape the same from
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
			printMetrics(e.stdout, ms)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (histograms with their buckets)")
	return cmd
}

// printMetrics prints one line per series: its value, or for a histogram
// or summary its count, sum and quantiles.
func printMetrics(w io.Writer, ms []api.Metric) {
	for _, m := range ms {
		var labels []string
		for _, k := range slices.Sorted(maps.Keys(m.Labels)) {
			labels = append(labels, fmt.Sprintf("%s=%q", k, m.Labels[k]))
		}
		name := m.Name
		if len(labels) > 0 {
			name += "{" + strings.Join(labels, ",") + "}"
		}
		switch m.Type {
		case "histogram", "summary":
			fmt.Fprintf(w, "%s %s\n", name, distribution(m))
		default:
			fmt.Fprintf(w, "%s %s\n", name, number(m.Value))
		}
	}
}

// distribution is a histogram's or summary's count, sum and quantiles, in
// the metric's unit (durations for a _seconds metric): a histogram's
// quantiles are estimated from its buckets, a summary's are its own.
func distribution(m api.Metric) string {
	unit := func(v float64) string { return strconv.FormatFloat(v, 'g', 4, 64) }
	if strings.HasSuffix(m.Name, "_seconds") {
		unit = seconds
	}
	count := uint64(m.Value)
	parts := []string{fmt.Sprintf("count=%d", count), "sum=" + unit(m.Sum)}
	if m.Type == "summary" {
		for _, q := range m.Quantiles {
			parts = append(parts, quantileName(q.Q)+"="+unit(q.Value))
		}
		return strings.Join(parts, " ")
	}
	for _, q := range []float64{0.5, 0.9, 0.99} {
		v, above, ok := metrics.Quantile(q, m.Buckets, count)
		switch {
		case !ok:
		case above:
			parts = append(parts, quantileName(q)+">"+unit(v))
		default:
			parts = append(parts, quantileName(q)+"="+unit(v))
		}
	}
	return strings.Join(parts, " ")
}

// number writes a whole number in full (46108672, not 4.6108672e+07),
// any other as %g.
func number(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// quantileName is p50 for 0.5, min and max for 0 and 1.
func quantileName(q float64) string {
	switch q {
	case 0:
		return "min"
	case 1:
		return "max"
	}
	return "p" + strconv.FormatFloat(q*100, 'f', -1, 64)
}

// seconds writes a duration in seconds with three or so significant digits.
func seconds(s float64) string {
	switch {
	case s == 0:
		return "0"
	case s < 1e-3:
		return fmt.Sprintf("%.0fµs", s*1e6)
	case s < 1e-2:
		return fmt.Sprintf("%.2fms", s*1e3)
	case s < 1e-1:
		return fmt.Sprintf("%.1fms", s*1e3)
	case s < 1:
		return fmt.Sprintf("%.0fms", s*1e3)
	case s < 10:
		return fmt.Sprintf("%.2fs", s)
	default:
		return fmt.Sprintf("%.1fs", s)
	}
}
