package main

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// result is what one section contributes to the report: rows of the
// summary table and, where one table per section reads better, Markdown
// of its own.
type result struct {
	rows   []row
	detail string
}

func (r *result) add(x row) { r.rows = append(r.rows, x) }

// row is one line of the summary table, every cell already formatted.
type row struct {
	figure, tend, pm2, base, vs, target, met string
}

var header = row{"figure", "tend", "PM2", "baseline", "tend vs PM2", "target", "met"}

// report renders the header, the sections' own tables, then the summary
// table, as Markdown ready for the README.
func report(about string, results []result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n### %s\n\n%s\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), about)
	var rows [][]string
	for _, r := range results {
		if r.detail != "" {
			b.WriteString("\n" + r.detail)
		}
		for _, x := range r.rows {
			rows = append(rows, []string{x.figure, x.tend, x.pm2, x.base, x.vs, x.target, x.met})
		}
	}
	if len(rows) > 0 {
		b.WriteString("\n")
		h := header
		b.WriteString(table(append([][]string{{h.figure, h.tend, h.pm2, h.base, h.vs, h.target, h.met}}, rows...)))
	}
	return b.String()
}

// table renders rows (the first is the header) as a Markdown table with
// aligned columns.
func table(rows [][]string) string {
	var b strings.Builder
	widths := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, c := range r {
			widths[i] = max(widths[i], len([]rune(c)))
		}
	}
	line := func(r []string) {
		b.WriteString("|")
		for i, c := range r {
			fmt.Fprintf(&b, " %s%s |", c, strings.Repeat(" ", widths[i]-len([]rune(c))))
		}
		b.WriteString("\n")
	}
	line(rows[0])
	sep := make([]string, len(widths))
	for i, w := range widths {
		sep[i] = strings.Repeat("-", w)
	}
	line(sep)
	for _, r := range rows[1:] {
		line(r)
	}
	return b.String()
}

// Cells. NaN, the mark of a figure not measured, shows as "–".

func cell(v float64, format string) string {
	if math.IsNaN(v) {
		return "–"
	}
	return fmt.Sprintf(format, v)
}

func ms1(v float64) string   { return cell(v, "%.1f ms") }
func mib(v float64) string   { return cell(v, "%.1f MiB") }
func times(v float64) string { return cell(v, "%.2f×") }
func us(v float64) string    { return cell(v, "%.0f µs") }

// perSec formats a rate with thousands separators: 512,345/s.
func perSec(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return thousands(int64(math.Round(v))) + "/s"
}

func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// lower and higher fill the "tend vs PM2" column: how many times better
// tend does, for a figure where lower is better (time, memory) and for one
// where higher is (a rate). Above 1, tend is ahead.
func lower(tend, pm2 float64) string {
	if math.IsNaN(tend) || math.IsNaN(pm2) || tend <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f×", pm2/tend)
}

func higher(tend, pm2 float64) string {
	if math.IsNaN(tend) || math.IsNaN(pm2) || pm2 <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f×", tend/pm2)
}

// skipped is the row of a figure left out for want of a tool.
func skipped(figure, tool string) row {
	return row{figure, "skipped: no " + tool, "–", "–", "–", "", "`" + installHint + "`"}
}

func met(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

var none = math.NaN()

// stat applies f to name's samples, or is NaN when there are none.
func stat(s map[string][]float64, name string, f func([]float64) float64) float64 {
	if len(s[name]) == 0 {
		return none
	}
	return f(s[name])
}

// logSamples prints a figure's raw samples on stderr, to judge the noise
// behind a median.
func logSamples(figure string, s map[string][]float64) {
	for _, who := range slices.Sorted(maps.Keys(s)) {
		logf("%s, %s: %.1f", figure, who, s[who])
	}
}

// median and p90 (nearest rank) of samples.
func median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func p90(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	return s[int(math.Ceil(0.9*float64(len(s))))-1]
}

// pairedRatio is the median over runs of a[i] / b[i]: pairing the samples
// of one interleaved run cancels the slow swings in load of a shared
// machine, which a ratio of two medians keeps.
func pairedRatio(a, b []float64) float64 {
	if len(a) == 0 || len(a) != len(b) {
		return none
	}
	r := make([]float64, len(a))
	for i := range a {
		r[i] = a[i] / b[i]
	}
	return median(r)
}

// overhead is the median over runs of name's crash-to-serving minus the bare
// start of the same run, paired for the same reason as pairedRatio.
func overhead(crash map[string][]float64, name string) float64 {
	m, b := crash[name], crash["bare"]
	if len(m) == 0 || len(m) != len(b) {
		return none
	}
	d := make([]float64, len(m))
	for i := range m {
		d[i] = m[i] - b[i]
	}
	return median(d)
}

func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
