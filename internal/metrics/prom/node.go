package prom

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// nodeGauges are the runtime figures of Node instances (api.Instance.Node)
// exposed as tend_node_<name>, with their help.
var nodeGauges = map[string]string{
	"eventloop_delay_p50_seconds": "Median event-loop delay over the last interval (perf_hooks.monitorEventLoopDelay).",
	"eventloop_delay_p99_seconds": "99th percentile of the event-loop delay over the last interval.",
	"eventloop_delay_max_seconds": "Longest event-loop delay over the last interval.",
	"eventloop_utilization":       "Share of the last interval the event loop was busy (0 to 1).",
	"heap_used_bytes":             "V8 heap in use.",
	"heap_total_bytes":            "V8 heap allocated.",
	"heap_limit_bytes":            "V8 heap size limit.",
	"external_bytes":              "Memory of C++ objects bound to JavaScript objects.",
	"array_buffers_bytes":         "Memory of ArrayBuffers and SharedArrayBuffers.",
	"active_resources":            "Active handles and requests keeping the event loop alive.",
}

// nodeDescs describe the tend_node_* series.
type nodeDescs struct {
	gauges           map[string]*prometheus.Desc
	gcCount, gcPause *prometheus.Desc
	rejections       *prometheus.Desc
}

func newNodeDescs(inst []string) *nodeDescs {
	d := &nodeDescs{gauges: map[string]*prometheus.Desc{}}
	for name, help := range nodeGauges {
		d.gauges[name] = prometheus.NewDesc("tend_node_"+name, help, inst, nil)
	}
	kind := append(append([]string(nil), inst...), "kind")
	d.gcCount = prometheus.NewDesc("tend_node_gc_total", "Garbage collections by kind (minor, major, incremental, weakcb).", kind, nil)
	d.gcPause = prometheus.NewDesc("tend_node_gc_pause_seconds_total", "Time spent in garbage collection by kind.", kind, nil)
	d.rejections = prometheus.NewDesc("tend_node_unhandled_rejections_total", "Unhandled promise rejections since the process started.", inst, nil)
	return d
}

func (d *nodeDescs) describe(ch chan<- *prometheus.Desc) {
	for _, g := range d.gauges {
		ch <- g
	}
	ch <- d.gcCount
	ch <- d.gcPause
	ch <- d.rejections
}

// collect emits one instance's figures; names it does not know are left out.
func (d *nodeDescs) collect(figs map[string]float64, gauge, counter func(*prometheus.Desc, float64, ...string)) {
	for name, v := range figs {
		if g := d.gauges[name]; g != nil {
			gauge(g, v)
			continue
		}
		if name == "unhandled_rejections_total" {
			counter(d.rejections, v)
			continue
		}
		rest, ok := strings.CutPrefix(name, "gc_")
		if !ok {
			continue
		}
		if kind, ok := strings.CutSuffix(rest, "_pause_seconds_total"); ok && validKind(kind) {
			counter(d.gcPause, v, kind)
		} else if kind, ok := strings.CutSuffix(rest, "_total"); ok && validKind(kind) {
			counter(d.gcCount, v, kind)
		}
	}
}

func validKind(k string) bool {
	switch k {
	case "minor", "major", "incremental", "weakcb", "other":
		return true
	}
	return false
}
