package e2e

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/api"
)

func TestNodeRuntimeMetricsWithoutCode(t *testing.T) {
	h := newHome(t)
	mport := freePort(t)
	os.WriteFile(filepath.Join(h.dir, "daemon.yaml"), []byte(fmt.Sprintf("metrics_addr: 127.0.0.1:%d\n", mport)), 0o600)
	h.ok("start", "stall.js", "--name", "stall", "--port", strconv.Itoa(freePort(t)))
	fport := freePort(t)
	h.ok("start", "frozen.js", "--name", "frozen", "--port", strconv.Itoa(fport))

	// The fixture blocks its loop for 500 ms each second: the delay the
	// preload reports cannot be less than most of that.
	a := waitStall(t, h)
	f := a.Instances[0].Node
	t.Logf("stall.js figures: %v", f)
	if !(f["heap_used_bytes"] > 0 && f["heap_total_bytes"] >= f["heap_used_bytes"] && f["heap_limit_bytes"] >= f["heap_total_bytes"]) {
		t.Errorf("heap figures: %v", f)
	}
	if u := f["eventloop_utilization"]; u <= 0 || u > 1 {
		t.Errorf("event loop utilization %v", u)
	}
	for _, k := range []string{"active_resources", "gc_minor_total", "eventloop_delay_p50_seconds", "external_bytes"} {
		if _, ok := f[k]; !ok {
			t.Errorf("no %s in %v", k, f)
		}
	}
	if d := h.ok("describe", "stall"); !strings.Contains(d, "instance 0 node: event loop delay p50") {
		t.Errorf("describe shows no runtime figures:\n%s", d)
	}
	_, body := scrape(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", mport), "")
	for _, want := range []string{
		`tend_node_eventloop_delay_max_seconds{app="stall",instance="0",namespace="default"}`,
		`tend_node_heap_used_bytes{app="stall",instance="0",namespace="default"}`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// An app that freezes what the preload uses still runs and serves.
	h.waitApp("frozen", "online", allOnline)
	if got := get(t, fmt.Sprintf("http://127.0.0.1:%d/", fport)); got != "ok\n" {
		t.Errorf("frozen.js answered %q", got)
	}
	if a := h.app("frozen"); a.Instances[0].Restarts != 0 {
		t.Errorf("frozen.js restarted %d times", a.Instances[0].Restarts)
	}
}

// The preload reports every metrics_interval of the daemon, which it
// learns from TEND_METRICS_INTERVAL_MS, and TEND_NODE_RUNTIME=0 in an
// app's env turns it off.
func TestNodeRuntimeReportsEveryMetricsInterval(t *testing.T) {
	h := newHome(t)
	os.WriteFile(filepath.Join(h.dir, "daemon.yaml"), []byte("metrics_interval: 300ms\n"), 0o600)
	h.ok("start", "idle.js", "--name", "off", "--env", "TEND_NODE_RUNTIME=0")
	off := h.waitApp("off", "online", allOnline)
	h.ok("start", "stall.js", "--name", "stall", "--port", strconv.Itoa(freePort(t)))
	a := waitStall(t, h)
	env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", a.Instances[0].PID))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains("\x00"+string(env)+"\x00", "\x00TEND_METRICS_INTERVAL_MS=300\x00") {
		t.Errorf("the instance's environment lacks TEND_METRICS_INTERVAL_MS=300: %q", env)
	}
	// The app with the preload off started before this one reported.
	if n := h.app("off").Instances[0].Node; len(n) != 0 || h.app("off").Instances[0].PID != off.Instances[0].PID {
		t.Errorf("an app with TEND_NODE_RUNTIME=0 reports runtime figures: %v", n)
	}
}

// waitStall waits until the stall fixture's instance reports an event
// loop delay of most of its 500 ms block; should it never, the figures
// it did report last are shown, and when.
func waitStall(t *testing.T, h *home) api.App {
	t.Helper()
	var last map[string]float64
	var reports int
	var at time.Time
	defer func() {
		if t.Failed() {
			t.Logf("stall's last runtime figures (%d reports seen, last at %s): %v", reports, at.Format(time.StampMilli), last)
		}
	}()
	return h.waitApp("stall", "reporting a stall", func(a api.App) bool {
		if len(a.Instances) != 1 {
			return false
		}
		if n := a.Instances[0].Node; len(n) > 0 && !maps.Equal(n, last) {
			last, at = n, time.Now()
			reports++
		}
		return a.Instances[0].Node["eventloop_delay_max_seconds"] >= 0.4
	})
}
