package prom

import (
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/tendhq/tend/internal/api"
)

// apps is one app of one online instance with traffic, as `tend ls` sees it.
func apps() []api.App {
	return []api.App{{
		Name: "web", Namespace: "default",
		Instances: []api.Instance{{
			Index: 0, Status: api.StatusOnline, Restarts: 2, UptimeMS: 1500, CPUPercent: 12.5, MemoryBytes: 4096, Processes: 1,
			Metrics: map[string]float64{"served": 7},
			HTTP: &api.HTTPStats{
				Requests: map[string]uint64{"2xx": 3}, InFlight: 1, BytesIn: 10, BytesOut: 20, Count: 3, SumSeconds: 0.5,
				Buckets: []api.Bucket{{LE: 0.1, Count: 2}, {LE: 1, Count: 3}},
			},
		}},
	}}
}

// TestExposition pins the text scrapers read of tend's own series: names,
// help, labels, types, values.
func TestExposition(t *testing.T) {
	reg := NewRegistry(apps, func() int { return 4 })
	want := `# HELP tend_app_instances Instances the app is configured to run.
# TYPE tend_app_instances gauge
tend_app_instances{app="web",namespace="default"} 1
# HELP tend_app_metric A figure the app published itself.
# TYPE tend_app_metric gauge
tend_app_metric{app="web",instance="0",name="served",namespace="default"} 7
# HELP tend_http_request_bytes_total Request body bytes through the edge.
# TYPE tend_http_request_bytes_total counter
tend_http_request_bytes_total{app="web",instance="0",namespace="default"} 10
# HELP tend_http_request_duration_seconds Latency of requests through the edge.
# TYPE tend_http_request_duration_seconds histogram
tend_http_request_duration_seconds_bucket{app="web",instance="0",namespace="default",le="0.1"} 2
tend_http_request_duration_seconds_bucket{app="web",instance="0",namespace="default",le="1"} 3
tend_http_request_duration_seconds_bucket{app="web",instance="0",namespace="default",le="+Inf"} 3
tend_http_request_duration_seconds_sum{app="web",instance="0",namespace="default"} 0.5
tend_http_request_duration_seconds_count{app="web",instance="0",namespace="default"} 3
# HELP tend_http_requests_in_flight Requests in flight through the edge.
# TYPE tend_http_requests_in_flight gauge
tend_http_requests_in_flight{app="web",instance="0",namespace="default"} 1
# HELP tend_http_requests_total Requests through the edge by status class.
# TYPE tend_http_requests_total counter
tend_http_requests_total{app="web",code="2xx",instance="0",namespace="default"} 3
# HELP tend_http_response_bytes_total Response body bytes through the edge.
# TYPE tend_http_response_bytes_total counter
tend_http_response_bytes_total{app="web",instance="0",namespace="default"} 20
# HELP tend_http_retries_total Requests retried on another instance after this one failed.
# TYPE tend_http_retries_total counter
tend_http_retries_total{app="web",instance="0",namespace="default"} 0
# HELP tend_http_upstream_errors_total Failed connections or responses from the instance.
# TYPE tend_http_upstream_errors_total counter
tend_http_upstream_errors_total{app="web",instance="0",namespace="default"} 0
# HELP tend_instance_cpu_percent CPU use of the instance's process tree, percent of one core.
# TYPE tend_instance_cpu_percent gauge
tend_instance_cpu_percent{app="web",instance="0",namespace="default"} 12.5
# HELP tend_instance_memory_bytes Resident memory of the instance's process tree.
# TYPE tend_instance_memory_bytes gauge
tend_instance_memory_bytes{app="web",instance="0",namespace="default"} 4096
# HELP tend_instance_processes Processes in the instance's tree.
# TYPE tend_instance_processes gauge
tend_instance_processes{app="web",instance="0",namespace="default"} 1
# HELP tend_instance_restarts_total Restarts of the instance.
# TYPE tend_instance_restarts_total counter
tend_instance_restarts_total{app="web",instance="0",namespace="default"} 2
# HELP tend_instance_up 1 when the instance is online.
# TYPE tend_instance_up gauge
tend_instance_up{app="web",instance="0",namespace="default"} 1
# HELP tend_instance_uptime_seconds Time since the instance's process started.
# TYPE tend_instance_uptime_seconds gauge
tend_instance_uptime_seconds{app="web",instance="0",namespace="default"} 1.5
# HELP tend_log_followers Clients following app logs.
# TYPE tend_log_followers gauge
tend_log_followers 4
`
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	var got strings.Builder
	for line := range strings.Lines(rec.Body.String()) {
		// The daemon's own runtime figures vary; the apps' do not.
		if strings.Contains(line, "tend_") && !strings.Contains(line, "tend_daemon_") {
			got.WriteString(line)
		}
	}
	if got.String() != want {
		t.Errorf("exposition:\n%s\nwant:\n%s", got.String(), want)
	}
}

func TestFamilies(t *testing.T) {
	fams, err := Families(NewRegistry(apps, func() int { return 0 }))
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]api.Metric{}
	for _, m := range fams {
		if strings.HasPrefix(m.Name, "tend_") && !strings.HasPrefix(m.Name, "tend_daemon_") {
			found[m.Name] = m
		}
	}
	for name, want := range map[string]api.Metric{
		"tend_instance_up":                   {Type: "gauge", Value: 1},
		"tend_instance_restarts_total":       {Type: "counter", Value: 2},
		"tend_http_request_duration_seconds": {Type: "histogram", Value: 3, Sum: 0.5},
	} {
		got, ok := found[name]
		if !ok || got.Type != want.Type || got.Value != want.Value || got.Sum != want.Sum || got.Labels["app"] != "web" {
			t.Errorf("%s: %+v, want %+v with app=web", name, got, want)
		}
	}
	// A histogram carries its finite buckets, cumulative; a summary its quantiles.
	if got := found["tend_http_request_duration_seconds"].Buckets; !slices.Equal(got, []api.Bucket{{LE: 0.1, Count: 2}, {LE: 1, Count: 3}}) {
		t.Errorf("histogram buckets %+v", got)
	}
	i := slices.IndexFunc(fams, func(m api.Metric) bool { return m.Name == "go_gc_duration_seconds" })
	if i < 0 || fams[i].Type != "summary" || len(fams[i].Quantiles) == 0 {
		t.Errorf("go_gc_duration_seconds: want a summary with its quantiles in %+v", fams)
	}
}
