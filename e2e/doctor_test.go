package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/api"
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

// express-session's MemoryStore in production: its warning in the
// instances' stderr fails the check.
func TestDoctorFindsTheSessionMemoryStore(t *testing.T) {
	h := newHome(t)
	port := freePort(t)
	h.ok("start", "session-app.js", "--name", "sess", "--port", fmt.Sprint(port), "--listen-timeout", "30s")
	h.waitApp("sess", "online", allOnline)
	// The warning is written at startup; wait for it to be in the logs.
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(h.ok("logs", "sess", "--lines", "50", "--nostream"), doctor.MemoryStoreWarning) {
		if time.Now().After(deadline) {
			t.Fatalf("express-session never warned:\n%s", h.ok("logs", "sess", "--lines", "50", "--nostream"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	by, code := doctorResults(t, h, "sess")
	if got := by["session_store"]; got.Level != doctor.Fail || !strings.Contains(got.Detail, "MemoryStore") || !strings.Contains(got.Fix, "store") {
		t.Errorf("session_store: %+v", got)
	}
	if code != 1 {
		t.Errorf("doctor exit %d, want 1", code)
	}
	// The express app of the same project, with no session: PASS.
	h.ok("start", "express-app.js", "--name", "plain", "--port", fmt.Sprint(freePort(t)), "--listen-timeout", "30s")
	h.waitApp("plain", "online", allOnline)
	if by, _ := doctorResults(t, h, "plain"); by["session_store"].Level != doctor.Pass {
		t.Errorf("session_store of an app without sessions: %+v", by["session_store"])
	}
}

// Unhandled promise rejections are counted by the runtime preload, which
// leaves Node's default (the process exits) to apps without a listener.
func TestDoctorCountsUnhandledRejections(t *testing.T) {
	h := newHome(t)
	os.WriteFile(filepath.Join(h.dir, "daemon.yaml"), []byte("metrics_interval: 200ms\n"), 0o600)
	port := freePort(t)
	h.ok("start", "rejects.js", "--name", "rej", "--port", fmt.Sprint(port), "--env", "OWN_LISTENER=1")
	h.waitApp("rej", "reporting", func(a api.App) bool { return len(a.Instances) == 1 && a.Instances[0].Node != nil })
	if by, _ := doctorResults(t, h, "rej"); by["unhandled_rejections"].Level != doctor.Pass {
		t.Errorf("unhandled_rejections before any: %+v", by["unhandled_rejections"])
	}
	for range 3 {
		get(t, fmt.Sprintf("http://127.0.0.1:%d/reject", port))
	}
	a := h.waitApp("rej", "counting 3 rejections", func(a api.App) bool {
		return a.Instances[0].Node["unhandled_rejections_total"] == 3
	})
	if a.Instances[0].Restarts != 0 {
		t.Errorf("an app with its own listener restarted: %+v", a.Instances[0])
	}
	by, _ := doctorResults(t, h, "rej")
	if got := by["unhandled_rejections"]; got.Level != doctor.Warn || !strings.HasPrefix(got.Detail, "3 unhandled") || got.Fix == "" {
		t.Errorf("unhandled_rejections: %+v", got)
	}

	// Without a listener of its own the app still dies of one, as Node
	// has it, with the rejection's error in its stderr.
	port2 := freePort(t)
	h.ok("start", "rejects.js", "--name", "dies", "--port", fmt.Sprint(port2), "--no-autorestart")
	before := h.waitApp("dies", "online", allOnline)
	get(t, fmt.Sprintf("http://127.0.0.1:%d/reject", port2))
	a = h.waitApp("dies", "stopped by the rejection", func(a api.App) bool {
		return a.Instances[0].LastExit != nil && a.Instances[0].PID != before.Instances[0].PID
	})
	if x := a.Instances[0].LastExit; x.Code != 1 || !strings.Contains(x.Reason+strings.Join(x.Stderr, "\n"), "rejectedForDoctor") {
		t.Errorf("exit of an app without a listener: %+v", x)
	}
}

// tend doctor --deep reloads the app with --trace-sync-io, counts the
// synchronous I/O of a few requests, and reloads it back.
func TestDoctorDeepFindsSyncIO(t *testing.T) {
	h := newHome(t)
	port := freePort(t)
	h.ok("start", "sync-io.js", "--name", "sio", "--port", fmt.Sprint(port), "-i", "2")
	h.waitApp("sio", "online", allOnline)
	r := h.run("doctor", "sio", "--deep", "--json")
	var rs []doctor.Result
	if err := json.Unmarshal([]byte(r.stdout), &rs); err != nil {
		t.Fatalf("doctor --deep --json: %v\n%s\n%s", err, r.stdout, r.stderr)
	}
	var got doctor.Result
	for _, x := range rs {
		if x.Check == "sync_io" {
			got = x
		}
	}
	if got.Level != doctor.Warn || !strings.Contains(got.Detail, "readConfigForRequest") || got.Fix == "" {
		t.Errorf("sync_io: %+v\nstderr:\n%s", got, r.stderr)
	}
	if !strings.Contains(r.stderr, "reloading sio with --trace-sync-io") || !strings.Contains(r.stderr, "reloaded back") {
		t.Errorf("doctor --deep does not say it reloads:\n%s", r.stderr)
	}
	var envs []api.Env
	mustJSON(t, h.ok("env", "sio", "--json"), &envs)
	for _, in := range envs[0].Instances {
		if strings.Contains(in.Env["NODE_OPTIONS"], "--trace-sync-io") {
			t.Errorf("instance %d still runs with --trace-sync-io: %q", in.Index, in.Env["NODE_OPTIONS"])
		}
	}
	// Without --deep, no probe and no reload.
	if by, _ := doctorResults(t, h, "sio"); by["sync_io"].Check != "" {
		t.Errorf("sync_io without --deep: %+v", by["sync_io"])
	}
}
