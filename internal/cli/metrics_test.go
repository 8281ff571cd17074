package cli

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/golden"
)

// tend metrics prints a gauge as its value (a whole number in full), a histogram as its count, sum
// and estimated quantiles, a summary as its own quantiles.
func TestPrintMetrics(t *testing.T) {
	inst := map[string]string{"app": "web", "namespace": "default", "instance": "0"}
	ms := []api.Metric{
		{Name: "tend_instance_memory_bytes", Type: "gauge", Labels: inst, Value: 46108672},
		{Name: "tend_instance_cpu_percent", Type: "gauge", Labels: inst, Value: 12.5},
		{Name: "go_memstats_alloc_bytes_total", Type: "counter", Value: 1e18},
		{Name: "tend_http_requests_total", Type: "counter", Labels: map[string]string{"app": "web", "code": "2xx"}, Value: 100},
		// 100 requests: 50 up to 1ms, 40 in (1ms, 5ms], 8 in (5ms, 50ms], 2 beyond.
		{Name: "tend_http_request_duration_seconds", Type: "histogram", Labels: inst, Value: 100, Sum: 0.4321,
			Buckets: []api.Bucket{{LE: 0.001, Count: 50}, {LE: 0.005, Count: 90}, {LE: 0.05, Count: 98}}},
		{Name: "tend_http_request_duration_seconds", Type: "histogram", Labels: map[string]string{"app": "idle"}, Value: 0,
			Buckets: []api.Bucket{{LE: 0.001}, {LE: 0.005}}},
		{Name: "rpc_size_bytes", Type: "histogram", Value: 4, Sum: 3000,
			Buckets: []api.Bucket{{LE: 100, Count: 1}, {LE: 1000, Count: 3}, {LE: 10000, Count: 4}}},
		{Name: "go_gc_duration_seconds", Type: "summary", Value: 12, Sum: 0.0021,
			Quantiles: []api.Quantile{{Q: 0, Value: 0.00002}, {Q: 0.5, Value: 0.0001}, {Q: 1, Value: 0.0009}}},
	}
	var b bytes.Buffer
	printMetrics(&b, ms)
	golden.Check(t, filepath.Join("..", "..", "testdata", "cli", "metrics.txt"), b.Bytes())
}
