package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/client"
	"github.com/tendhq/tend/internal/metrics"
	"github.com/tendhq/tend/internal/spec"
)

// defaultNodeRSS is the memory tend counts for a Node instance that has
// not run yet: an idle Express app takes 40 to 60 MB of RSS.
const defaultNodeRSS = 50 << 20

// memoryNeed is what the new instances of one app are estimated to take.
type memoryNeed struct {
	app      string
	n        int    // instances to add
	each     uint64 // bytes per instance
	measured bool   // each is the mean RSS of the app's running instances
}

// memoryNeeds estimates the memory of the instances a start or apply adds:
// an app that runs adds what it asks beyond its running instances, each
// as large as their mean RSS; a new Node app's instances count
// defaultNodeRSS each; any other app that has not run is left out, having
// no figure to go by.
func memoryNeeds(apps []spec.App, running []api.App) []memoryNeed {
	byKey := map[string]api.App{}
	for _, r := range running {
		byKey[r.Namespace+"/"+r.Name] = r
	}
	var out []memoryNeed
	for _, a := range apps {
		live, measured := 0, []uint64{}
		for _, in := range byKey[a.Key()].Instances {
			if in.PID > 0 {
				live++
			}
			if in.PID > 0 && in.MemoryBytes > 0 {
				measured = append(measured, in.MemoryBytes)
			}
		}
		need := memoryNeed{app: a.Name, n: a.Instances - live}
		switch {
		case need.n <= 0:
			continue
		case len(measured) > 0:
			var sum uint64
			for _, m := range measured {
				sum += m
			}
			need.each, need.measured = sum/uint64(len(measured)), true
		case a.IsNode():
			need.each = defaultNodeRSS
		default:
			continue
		}
		out = append(out, need)
	}
	return out
}

// memoryWarning is the warning for needs beyond available bytes, or "".
func memoryWarning(needs []memoryNeed, available uint64) string {
	var total uint64
	n := 0
	var parts []string
	for _, m := range needs {
		total += uint64(m.n) * m.each
		n += m.n
		why := "tend's figure for a Node instance that has not run yet"
		if m.measured {
			why = fmt.Sprintf("measured on %s's running instances", m.app)
		}
		if len(needs) == 1 {
			parts = append(parts, fmt.Sprintf("%s each, %s", sizeText(m.each), why))
		} else {
			parts = append(parts, fmt.Sprintf("%s: %d × %s, %s", m.app, m.n, sizeText(m.each), why))
		}
	}
	if total <= available {
		return ""
	}
	return fmt.Sprintf("instances: %d new instances need about %s (%s) but %s is available (MemAvailable): when memory runs out the kernel kills processes; start fewer instances or free memory",
		n, sizeText(total), strings.Join(parts, "; "), sizeText(available))
}

// sizeText writes bytes as tend's sizes are written (300M, 1.5G).
func sizeText(b uint64) string {
	if b >= 1<<30 {
		return fmt.Sprintf("%.1fG", float64(b)/(1<<30))
	}
	return fmt.Sprintf("%.0fM", float64(b)/(1<<20))
}

// warnMemory prints a warning, not a refusal, when the instances apps add
// would need more memory than this machine has available (the daemon runs
// here: the CLI reaches it on a local socket). Any failure to tell is
// silent: the warning is advice.
func (e *env) warnMemory(ctx context.Context, c *client.Client, apps []spec.App) {
	if e.host != "" {
		return // this host's memory says nothing of the daemon's
	}
	mi, err := metrics.ReadMemInfo()
	if err != nil {
		return
	}
	avail := mi.Available
	running, err := c.List(ctx)
	if err != nil {
		return
	}
	if w := memoryWarning(memoryNeeds(apps, running), avail); w != "" {
		fmt.Fprintf(e.stderr, "warning: %s\n", w)
	}
}
