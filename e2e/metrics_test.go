package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/api"
)

// scrape fetches /metrics from the daemon's metrics address.
func scrape(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestPrometheusMetrics(t *testing.T) {
	h := newHome(t)
	port := freePort(t)
	mport := freePort(t)
	os.WriteFile(filepath.Join(h.dir, "daemon.yaml"), []byte(fmt.Sprintf("metrics_addr: 127.0.0.1:%d\nmetrics_token: s3cret\nmetrics_interval: 200ms\n", mport)), 0o600)
	h.ok("start", "hog.js", "--name", "web", "-i", "2", "--port", strconv.Itoa(port))
	for range 20 {
		get(t, fmt.Sprintf("http://127.0.0.1:%d/", port))
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/metrics", mport)
	if code, _ := scrape(t, url, ""); code != http.StatusUnauthorized {
		t.Errorf("scrape without the token: %d, want 401", code)
	}
	h.waitApp("web", "reporting", func(a api.App) bool {
		return a.Instances[0].Metrics != nil && a.Instances[1].Metrics != nil && a.Instances[0].HTTP != nil
	})
	code, body := scrape(t, url, "s3cret")
	if code != 200 {
		t.Fatalf("scrape: %d\n%s", code, body)
	}
	for _, want := range []string{
		`tend_instance_memory_bytes{app="web",instance="0",namespace="default"}`,
		`tend_instance_memory_bytes{app="web",instance="1",namespace="default"}`,
		`tend_instance_up{app="web",instance="1",namespace="default"} 1`,
		`tend_app_metric{app="web",instance="0",name="served",namespace="default"}`,
		`tend_http_requests_total{app="web",code="2xx",instance="0",namespace="default"}`,
		`tend_http_request_duration_seconds_bucket{app="web",instance="0",namespace="default",le=`,
		"go_goroutines",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool is needed (Debian package prometheus)")
		}
		t.Skip("no promtool")
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}

	// The same over the control socket, as JSON.
	var ms []api.Metric
	if err := json.Unmarshal([]byte(h.ok("metrics", "--json")), &ms); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, m := range ms {
		if m.Name == "tend_instance_memory_bytes" && m.Labels["app"] == "web" && m.Value > 0 {
			found = true
		}
	}
	if !found {
		t.Errorf("tend metrics --json lacks the memory of web")
	}
}

func TestMetricsBeyondLoopbackNeedAToken(t *testing.T) {
	h := newHome(t)
	os.WriteFile(filepath.Join(h.dir, "daemon.yaml"), []byte("metrics_addr: 0.0.0.0:0\n"), 0o600)
	r := h.run("ls")
	if r.code == 0 || !strings.Contains(r.stderr+readLog(h), "metrics_token") {
		t.Errorf("daemon with metrics on 0.0.0.0 and no token: exit %d, %s", r.code, r.stderr)
	}
}

func readLog(h *home) string {
	b, _ := os.ReadFile(filepath.Join(h.dir, "tend.log"))
	return string(b)
}

// rps follows the traffic of the last seconds, not the minute's average:
// right after a burst it is the burst's rate, well above rps_1m.
func TestRPSIsTheCurrentRate(t *testing.T) {
	h := newHome(t)
	port := freePort(t)
	h.ok("start", "hog.js", "--name", "web", "--port", strconv.Itoa(port))
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	for range 60 {
		get(t, url)
	}
	a := h.waitApp("web", "a complete second of traffic in rps", func(a api.App) bool {
		return a.Instances[0].HTTP != nil && a.Instances[0].HTTP.RPS > 0
	})
	s := a.Instances[0].HTTP
	if s.RPSMinute <= 0 || s.RPS <= 2*s.RPSMinute {
		t.Errorf("after 60 requests: rps %v, rps_1m %v; want rps well above the minute's average", s.RPS, s.RPSMinute)
	}
}
