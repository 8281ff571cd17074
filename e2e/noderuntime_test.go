package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

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
	a := h.waitApp("stall", "reporting a stall", func(a api.App) bool {
		return len(a.Instances) == 1 && a.Instances[0].Node["eventloop_delay_max_seconds"] >= 0.4
	})
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
