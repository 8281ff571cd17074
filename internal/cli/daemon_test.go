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
		{yaml: "remote_cert: /c.pem\nremote_key: /k.pem\n", err: "daemon.yaml: remote_cert: has no use without remote_addr or dashboard_addr"},
		{yaml: "alerts:\n  - url: https://hooks.example.com/x\n", procs: 0},
		{yaml: "alerts:\n  - url: file:///etc/passwd\n", err: "daemon.yaml: alerts[0].url: want an http:// or https:// URL, got scheme file"},
		{yaml: "alert: []\n", err: "daemon.yaml: alert: unknown key (did you mean alerts?)"},
		{yaml: "dashboard_addr: 127.0.0.1:9300\nremote_cert: c.pem\nremote_key: k.pem\n"},
		{yaml: "dashboard_addr: localhost\n", err: "daemon.yaml: dashboard_addr: want host:port"},
		{yaml: "dashboard_addr: 127.0.0.1:99999\n", err: `daemon.yaml: dashboard_addr: port "99999": want 1 to 65535`},
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

func TestDaemonConfigHubSection(t *testing.T) {
	for _, tc := range []struct {
		yaml, err      string
		hub, agentName string
	}{
		{yaml: "hub: {listen: 127.0.0.1:4222}\n", hub: "127.0.0.1:4222"},
		{yaml: "hub: {url: tls://hub:4222, creds: web-1.creds, name: web-1, labels: {role: web}, fingerprint: ab}\n", agentName: "web-1"},
		{yaml: "hub: {listen: ':4222', name: hub-1}\n", hub: ":4222", agentName: "hub-1"},
		{yaml: "hub: {url: tls://hub:4222}\n", err: "daemon.yaml: hub.name: required with url"},
		{yaml: "hub: {name: web-1}\n", err: "daemon.yaml: hub.url: required with name"},
		{yaml: "hub: {}\n", err: "daemon.yaml: hub: give listen:"},
		{yaml: "hub: {url: tls://h:1, name: Web 1}\n", err: `daemon.yaml: hub.name: host name "Web 1"`},
		{yaml: "hub: {url: tls://h:1, name: w, labels: {role: [a]}}\n", err: "daemon.yaml: hub.labels.role: want a value"},
		{yaml: "hub: {listen: ':1', cert: c.pem}\n", err: "daemon.yaml: hub.cert: cert and key go together"},
		{yaml: "hub: {listn: ':1'}\n", err: "daemon.yaml: hub.listn: unknown key"},
		{yaml: "hub: yes\n", err: "daemon.yaml: hub: want a mapping"},
	} {
		home := t.TempDir()
		if err := os.WriteFile(filepath.Join(home, "daemon.yaml"), []byte(tc.yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := loadDaemonConfig(home)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want one containing %q", tc.yaml, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.yaml, err)
			continue
		}
		hub, agent := c.Hub.fleet(home)
		if (hub != nil) != (tc.hub != "") || hub != nil && (hub.Listen != tc.hub || hub.Dir != filepath.Join(home, "hub")) {
			t.Errorf("%q: hub %+v, want listen %q", tc.yaml, hub, tc.hub)
		}
		if (agent != nil) != (tc.agentName != "") || agent != nil && agent.Name != tc.agentName {
			t.Errorf("%q: agent %+v, want name %q", tc.yaml, agent, tc.agentName)
		}
		if agent != nil && agent.Creds != "" && agent.Creds != filepath.Join(home, "web-1.creds") {
			t.Errorf("%q: creds %q, want it in the home", tc.yaml, agent.Creds)
		}
	}
}
