package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadDaemonConfig(t *testing.T) {
	for _, tc := range []struct {
		yaml, err string
		procs     int
		every     time.Duration
	}{
		{yaml: "", procs: 0},
		{yaml: "procs: 3\nmetrics_interval: 2s\n", procs: 3, every: 2 * time.Second},
		{yaml: "procs: -1\n", err: "daemon.yaml: procs: want a number of CPUs"},
		{yaml: "metrics_interval: 10ms\n", err: "daemon.yaml: metrics_interval: want a duration of at least 100ms"},
		{yaml: "proc: 2\n", err: "daemon.yaml: proc: unknown key (did you mean procs?)"},
		{yaml: "log_max_size: lots\n", err: `daemon.yaml: log_max_size: "lots": want a size`},
		{yaml: "log_retain: -1\n", err: "daemon.yaml: log_retain: must be between 0 and 1000, got -1"},
		{yaml: "procs: [\n", err: "daemon.yaml: yaml:"},
		{yaml: "remote_addr: 0.0.0.0:8701\nremote_cert: /c.pem\nremote_key: /k.pem\n"},
		{yaml: "remote_addr: localhost\n", err: "daemon.yaml: remote_addr: want host:port"},
		{yaml: "remote_addr: 8701\n", err: "daemon.yaml: remote_addr: want a string"},
		{yaml: "remote_addr: \":70000\"\n", err: `daemon.yaml: remote_addr: port "70000": want 1 to 65535`},
		{yaml: "remote_addr: :8701\nremote_cert: /c.pem\n", err: "daemon.yaml: remote_key: required with remote_cert"},
		{yaml: "remote_addr: :8701\nremote_key: /k.pem\n", err: "daemon.yaml: remote_cert: required with remote_key"},
		{yaml: "remote_cert: /c.pem\nremote_key: /k.pem\n", err: "daemon.yaml: remote_cert: has no use without remote_addr"},
		{yaml: "alerts:\n  - url: https://hooks.example.com/x\n", procs: 0},
		{yaml: "alerts:\n  - url: file:///etc/passwd\n", err: "daemon.yaml: alerts[0].url: want an http:// or https:// URL, got scheme file"},
		{yaml: "alert: []\n", err: "daemon.yaml: alert: unknown key (did you mean alerts?)"},
	} {
		home := t.TempDir()
		if err := os.WriteFile(filepath.Join(home, "daemon.yaml"), []byte(tc.yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := loadDaemonConfig(home)
		every := c.MetricsInterval.D()
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want one containing %q", tc.yaml, err, tc.err)
			}
		case err != nil:
			t.Errorf("%q: %v", tc.yaml, err)
		case c.Procs != tc.procs || every != tc.every:
			t.Errorf("%q: procs %d, interval %v; want %d, %v", tc.yaml, c.Procs, every, tc.procs, tc.every)
		}
	}
}
