package prom

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/tendhq/tend/internal/api"
)

func TestNodeRuntimeSeries(t *testing.T) {
	reg := NewRegistry(func() []api.App {
		return []api.App{{Name: "web", Namespace: "default", Instances: []api.Instance{{
			Index: 1, Status: api.StatusOnline,
			Node: map[string]float64{
				"eventloop_delay_p99_seconds": 0.25, "heap_used_bytes": 1024, "active_resources": 3,
				"gc_minor_total": 5, "gc_minor_pause_seconds_total": 0.01, "gc_bogus_total": 1, "unknown_figure": 9,
				"unhandled_rejections_total": 2,
			},
		}}}}
	}, func() int { return 0 })
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{
		`tend_node_eventloop_delay_p99_seconds{app="web",instance="1",namespace="default"} 0.25`,
		`tend_node_heap_used_bytes{app="web",instance="1",namespace="default"} 1024`,
		`tend_node_active_resources{app="web",instance="1",namespace="default"} 3`,
		`# TYPE tend_node_gc_total counter`,
		`tend_node_gc_total{app="web",instance="1",kind="minor",namespace="default"} 5`,
		`tend_node_gc_pause_seconds_total{app="web",instance="1",kind="minor",namespace="default"} 0.01`,
		`# TYPE tend_node_unhandled_rejections_total counter`,
		`tend_node_unhandled_rejections_total{app="web",instance="1",namespace="default"} 2`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("missing %s", want)
		}
	}
	for _, not := range []string{"bogus", "unknown_figure"} {
		if strings.Contains(body, not) {
			t.Errorf("%s exposed", not)
		}
	}
}
