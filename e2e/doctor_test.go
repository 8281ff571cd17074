package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tendhq/tend/internal/doctor"
)

func doctorResults(t *testing.T, h *home, target string) (map[string]doctor.Result, int) {
	t.Helper()
	r := h.run("doctor", target, "--json")
	var rs []doctor.Result
	if err := json.Unmarshal([]byte(r.stdout), &rs); err != nil {
		t.Fatalf("doctor --json: %v\n%s\n%s", err, r.stdout, r.stderr)
	}
	by := map[string]doctor.Result{}
	for _, x := range rs {
		by[x.Check] = x
	}
	return by, r.code
}

func TestDoctorFailsABadApp(t *testing.T) {
	h := newHome(t)
	dir := t.TempDir()
	for _, f := range []string{"package.json", "package-lock.json"} {
		b, err := os.ReadFile(filepath.Join(repoRoot, "testdata", "doctor", "vulnerable", f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, f), b, 0o600)
	}
	// An app that sets the default session cookie, without NODE_ENV=production.
	os.WriteFile(filepath.Join(dir, "app.js"), []byte(`require('http').createServer((q, s) => {
  s.setHeader('Set-Cookie', 'connect.sid=abc; Path=/');
  s.end('ok');
}).listen(process.env.PORT);
process.on('SIGINT', () => process.exit(0));
`), 0o600)
	port := freePort(t)
	h.ok("start", filepath.Join(dir, "app.js"), "--name", "bad", "--cwd", dir, "--port", fmt.Sprint(port), "--env", "NODE_ENV=development", "--no-autorestart")
	by, code := doctorResults(t, h, "bad")
	if code != 1 {
		t.Errorf("doctor exit %d, want 1", code)
	}
	for check, level := range map[string]doctor.Level{
		"node_env": doctor.Fail, "express": doctor.Fail, "body-parser": doctor.Fail,
		"session_cookie": doctor.Fail, "tls": doctor.Fail, "autorestart": doctor.Fail,
		"instances": doctor.Warn, "memory_limit": doctor.Warn,
	} {
		if got := by[check]; got.Level != level {
			t.Errorf("%s: %s (%s), want %s", check, got.Level, got.Detail, level)
		} else if level != doctor.Pass && got.Fix == "" {
			t.Errorf("%s: no fix given", check)
		}
	}
	if !strings.Contains(by["express"].Detail+by["express"].Fix, "CVE-2024-29041") {
		t.Errorf("express result does not name the advisory: %+v", by["express"])
	}
	out := h.run("doctor", "bad").stdout
	if !strings.Contains(out, "FAIL") || !strings.Contains(out, "→") {
		t.Errorf("doctor table:\n%s", out)
	}
}

func TestDoctorPassesAProductionApp(t *testing.T) {
	h := newHome(t)
	port := freePort(t)
	eco := filepath.Join(t.TempDir(), "tend.yaml")
	writeEco(t, eco, fmt.Sprintf(`apps:
  - name: good
    script: %s/express-app.js
    port: %d
    instances: 2
    max_memory_restart: 300M
    max_size: 10M
    edge:
      tls: self-signed
      cookies:
        rename: {from: connect.sid, to: good.sid}
`, fixtures, port))
	h.ok("start", eco)
	by, _ := doctorResults(t, h, "good")
	for _, check := range []string{"node_env", "tls", "headers", "compression", "session_cookie", "autorestart", "instances", "memory_limit", "log_rotation", "crashes"} {
		if got, ok := by[check]; ok && got.Level != doctor.Pass {
			t.Errorf("%s: %s (%s)", check, got.Level, got.Detail)
		} else if !ok && check != "crashes" && check != "session_cookie" {
			t.Errorf("%s: not checked", check)
		}
	}
	// Node 20 reached its end of life on 2026-04-30: on this machine the
	// doctor must say so.
	if got := by["node_version"]; got.Level == doctor.Pass && strings.HasPrefix(got.Detail, "v20") {
		t.Errorf("node_version: %+v", got)
	}
}
