// Package prom exposes the daemon's figures to Prometheus: every app's, from
// the statuses `tend ls` shows, and the daemon's own Go runtime and process.
// The daemon hands it snapshot functions and serves what it gathers, on
// /metrics (Serve) and as JSON on /v1/metrics (Families).
package prom

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/tendhq/tend/internal/api"
)

// collector exposes every app's figures at scrape time, from the same
// statuses `tend ls` shows, so Prometheus and the CLI never disagree.
type collector struct {
	apps func() []api.App

	cpu, mem, up, uptime, procs, restarts, custom, instances          *prometheus.Desc
	requests, inflight, latency, bytesIn, bytesOut, upErrors, retries *prometheus.Desc

	node *nodeDescs // tend_node_* (node.go)
}

func newCollector(apps func() []api.App) *collector {
	inst := []string{"app", "namespace", "instance"}
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &collector{
		node:      newNodeDescs(inst),
		apps:      apps,
		cpu:       desc("tend_instance_cpu_percent", "CPU use of the instance's process tree, percent of one core.", inst...),
		mem:       desc("tend_instance_memory_bytes", "Resident memory of the instance's process tree.", inst...),
		up:        desc("tend_instance_up", "1 when the instance is online.", inst...),
		uptime:    desc("tend_instance_uptime_seconds", "Time since the instance's process started.", inst...),
		procs:     desc("tend_instance_processes", "Processes in the instance's tree.", inst...),
		restarts:  desc("tend_instance_restarts_total", "Restarts of the instance.", inst...),
		custom:    desc("tend_app_metric", "A figure the app published itself.", append(inst, "name")...),
		instances: desc("tend_app_instances", "Instances the app is configured to run.", "app", "namespace"),
		requests:  desc("tend_http_requests_total", "Requests through the edge by status class.", append(inst, "code")...),
		inflight:  desc("tend_http_requests_in_flight", "Requests in flight through the edge.", inst...),
		latency:   desc("tend_http_request_duration_seconds", "Latency of requests through the edge.", inst...),
		bytesIn:   desc("tend_http_request_bytes_total", "Request body bytes through the edge.", inst...),
		bytesOut:  desc("tend_http_response_bytes_total", "Response body bytes through the edge.", inst...),
		upErrors:  desc("tend_http_upstream_errors_total", "Failed connections or responses from the instance.", inst...),
		retries:   desc("tend_http_retries_total", "Requests retried on another instance after this one failed.", inst...),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.cpu, c.mem, c.up, c.uptime, c.procs, c.restarts, c.custom, c.instances,
		c.requests, c.inflight, c.latency, c.bytesIn, c.bytesOut, c.upErrors, c.retries} {
		ch <- d
	}
	c.node.describe(ch)
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	for _, a := range c.apps() {
		ch <- prometheus.MustNewConstMetric(c.instances, prometheus.GaugeValue, float64(len(a.Instances)), a.Name, a.Namespace)
		for _, in := range a.Instances {
			l := []string{a.Name, a.Namespace, strconv.Itoa(in.Index)}
			gauge := func(d *prometheus.Desc, v float64, extra ...string) {
				ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, append(l, extra...)...)
			}
			counter := func(d *prometheus.Desc, v float64, extra ...string) {
				ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, append(l, extra...)...)
			}
			up := 0.0
			if in.Status == api.StatusOnline {
				up = 1
			}
			gauge(c.up, up)
			gauge(c.cpu, in.CPUPercent)
			gauge(c.mem, float64(in.MemoryBytes))
			gauge(c.uptime, float64(in.UptimeMS)/1000)
			gauge(c.procs, float64(in.Processes))
			counter(c.restarts, float64(in.Restarts))
			for name, v := range in.Metrics {
				gauge(c.custom, v, name)
			}
			c.node.collect(in.Node, gauge, counter)
			if h := in.HTTP; h != nil {
				for class, n := range h.Requests {
					counter(c.requests, float64(n), class)
				}
				gauge(c.inflight, float64(h.InFlight))
				counter(c.bytesIn, float64(h.BytesIn))
				counter(c.bytesOut, float64(h.BytesOut))
				counter(c.upErrors, float64(h.UpstreamErrors))
				counter(c.retries, float64(h.Retries))
				if len(h.Buckets) > 0 {
					buckets := make(map[float64]uint64, len(h.Buckets))
					for _, b := range h.Buckets {
						buckets[b.LE] = b.Count
					}
					ch <- prometheus.MustNewConstHistogram(c.latency, h.Count, h.SumSeconds, buckets, l...)
				}
			}
		}
	}
}

// NewRegistry holds the daemon's metrics: the apps' (apps is called at each
// scrape and returns every app's status, without events), the number of log
// followers, and the daemon's own Go runtime and process figures.
func NewRegistry(apps func() []api.App, followers func() int) *prometheus.Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(newCollector(apps), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{Namespace: "tend_daemon"}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tend_log_followers", Help: "Clients following app logs."},
			func() float64 { return float64(followers()) }))
	return r
}

// Families gathers g for GET /v1/metrics: one api.Metric per series.
func Families(g prometheus.Gatherer) ([]api.Metric, error) {
	fams, err := g.Gather()
	if err != nil {
		return nil, err
	}
	out := []api.Metric{}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			am := api.Metric{Name: f.GetName(), Type: typeName(f.GetType()), Labels: map[string]string{}}
			for _, lp := range m.GetLabel() {
				am.Labels[lp.GetName()] = lp.GetValue()
			}
			switch {
			case m.Gauge != nil:
				am.Value = m.Gauge.GetValue()
			case m.Counter != nil:
				am.Value = m.Counter.GetValue()
			case m.Histogram != nil:
				am.Value = float64(m.Histogram.GetSampleCount())
				am.Sum = m.Histogram.GetSampleSum()
				for _, b := range m.Histogram.GetBucket() {
					if !math.IsInf(b.GetUpperBound(), 1) {
						am.Buckets = append(am.Buckets, api.Bucket{LE: b.GetUpperBound(), Count: b.GetCumulativeCount()})
					}
				}
			case m.Summary != nil:
				am.Value = float64(m.Summary.GetSampleCount())
				am.Sum = m.Summary.GetSampleSum()
				for _, q := range m.Summary.GetQuantile() {
					am.Quantiles = append(am.Quantiles, api.Quantile{Q: q.GetQuantile(), Value: q.GetValue()})
				}
			case m.Untyped != nil:
				am.Value = m.Untyped.GetValue()
			}
			out = append(out, am)
		}
	}
	return out, nil
}

func typeName(t dto.MetricType) string {
	switch t {
	case dto.MetricType_COUNTER:
		return "counter"
	case dto.MetricType_GAUGE:
		return "gauge"
	case dto.MetricType_HISTOGRAM:
		return "histogram"
	case dto.MetricType_SUMMARY:
		return "summary"
	}
	return "untyped"
}

// Serve serves g as /metrics on addr until stop is called, which waits for
// the server to end. Beyond loopback it requires a bearer token: metrics
// name every app and its load.
func Serve(addr, token string, g prometheus.Gatherer, log *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics_addr %s: %w", addr, err)
	}
	if token == "" && !isLoopback(ln.Addr()) {
		ln.Close()
		return nil, fmt.Errorf("metrics_addr %s is not loopback: set metrics_token too (scrapers send it as a bearer token)", addr)
	}
	h := promhttp.HandlerFor(g, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
	mux := http.NewServeMux()
	mux.Handle("/metrics", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if token != "" && subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte("Bearer "+token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="tend"`)
			http.Error(w, "metrics need the bearer token (metrics_token)", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Info("serving metrics", "addr", ln.Addr().String())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server", "err", err)
		}
	}()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	}, nil
}

func isLoopback(a net.Addr) bool {
	t, ok := a.(*net.TCPAddr)
	return ok && t.IP.IsLoopback()
}
