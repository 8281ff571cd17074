package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tendhq/tend/internal/api"
)

func writeEco(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestApplyDoesTheLeastUnderLoad(t *testing.T) {
	h := newHome(t)
	dir := t.TempDir()
	port := freePort(t)
	eco := filepath.Join(dir, "tend.yaml")
	base := `apps:
  - name: web
    script: %s/express-app.js
    port: %d
    instances: %d
    balance: %s
    env:
      LEVEL: %s
  - name: worker
    script: %s/idle.js
`
	write := func(instances int, balance, level string) {
		writeEco(t, eco, fmt.Sprintf(base, fixtures, port, instances, balance, level, fixtures))
	}
	write(2, "least_conn", "info")
	out := h.ok("apply", eco)
	if !strings.Contains(out, "start") || !strings.Contains(out, "default/web") {
		t.Errorf("first apply:\n%s", out)
	}
	l := startLoad(t, fmt.Sprintf("http://127.0.0.1:%d/", port), 8)
	l.waitRequests(t, 100)

	// An edge-only change: in place, same processes.
	before := pids(h.app("web"))
	write(2, "round_robin", "info")
	dry := h.ok("apply", eco, "--dry-run")
	if !strings.Contains(dry, "update") || !strings.Contains(dry, "balance") {
		t.Errorf("dry run of a balance change:\n%s", dry)
	}
	if got := pids(h.app("web")); fmt.Sprint(got) != fmt.Sprint(before) {
		t.Fatalf("--dry-run changed processes")
	}
	h.ok("apply", eco)
	if got := pids(h.app("web")); fmt.Sprint(got) != fmt.Sprint(before) {
		t.Errorf("edge-only change restarted processes: %v -> %v", before, got)
	}
	// env and instances: scale and reload, zero downtime.
	write(3, "round_robin", "debug")
	out = h.ok("apply", eco)
	for _, want := range []string{"scale", "reload", "env.LEVEL"} {
		if !strings.Contains(out, want) {
			t.Errorf("apply of env+instances lacks %q:\n%s", want, out)
		}
	}
	l.waitRequests(t, 100)
	l.check(t, "apply under load")
	a := h.app("web")
	if len(a.Instances) != 3 || !allOnline(a) {
		t.Fatalf("after apply: %d instances, %s", len(a.Instances), a.Status)
	}
	for _, p := range pids(a) {
		for _, b := range before {
			if p == b {
				t.Errorf("pid %d was not reloaded after an env change", p)
			}
		}
	}
	var envs []api.Env
	mustJSON(t, h.ok("env", "web", "--json"), &envs)
	if envs[0].Instances[2].Env["LEVEL"] != "debug" {
		t.Errorf("LEVEL of instance 2 = %q", envs[0].Instances[2].Env["LEVEL"])
	}
	// Removed from the file: listed, deleted only with --prune.
	writeEco(t, eco, fmt.Sprintf("apps:\n  - name: web\n    script: %s/express-app.js\n    port: %d\n    instances: 3\n    balance: round_robin\n    env:\n      LEVEL: debug\n", fixtures, port))
	out = h.ok("apply", eco)
	if !strings.Contains(out, "keep-removed") || len(h.ls()) != 2 {
		t.Errorf("apply without --prune:\n%s", out)
	}
	h.ok("apply", eco, "--prune")
	if len(h.ls()) != 1 {
		t.Errorf("apply --prune left %d apps", len(h.ls()))
	}
	// An invalid file changes nothing.
	writeEco(t, eco, "apps:\n  - name: web\n    script: nope.js\n")
	if msg := h.fails("apply", eco); !strings.Contains(msg, "nope.js") {
		t.Errorf("invalid apply: %s", msg)
	}
	if a := h.app("web"); len(a.Instances) != 3 {
		t.Errorf("invalid apply changed the app")
	}
}

func TestSetAndUnset(t *testing.T) {
	h := newHome(t)
	h.ok("start", "idle.js", "--name", "api")
	h.ok("set", "api", "instances=3", "max_memory_restart=512M", "env.LOG_LEVEL=debug")
	a := h.app("api")
	if len(a.Instances) != 3 {
		t.Errorf("instances = %d after set", len(a.Instances))
	}
	desc := h.ok("describe", "api")
	for _, want := range []string{"env.LOG_LEVEL  debug", "instances      3"} {
		if !strings.Contains(desc, want) {
			t.Errorf("describe lacks %q:\n%s", want, desc)
		}
	}
	var d []api.App
	mustJSON(t, h.ok("describe", "api", "--json"), &d)
	if d[0].Spec.MaxMemoryRestart != 512<<20 {
		t.Errorf("max_memory_restart = %d", d[0].Spec.MaxMemoryRestart)
	}
	for _, bad := range []struct{ kv, key string }{
		{"instances=-4", "instances"},
		{"kill_signal=SIGNOPE", "kill_signal"},
		{"max_memory_restart=lots", "max_memory_restart"},
		{"cron_restart=0 25 * * *", "cron_restart"},
	} {
		if msg := h.fails("set", "api", bad.kv); !strings.Contains(msg, bad.key) {
			t.Errorf("set %s: error %q does not name %s", bad.kv, msg, bad.key)
		}
	}
	if len(h.app("api").Instances) != 3 {
		t.Errorf("a refused set changed the app")
	}
	// Persisted: the daemon comes back with the new settings.
	h.ok("kill")
	if a := h.waitApp("api", "online", allOnline); len(a.Instances) != 3 {
		t.Errorf("after daemon restart: %d instances", len(a.Instances))
	}
	h.ok("unset", "api", "instances", "env.LOG_LEVEL")
	if a := h.app("api"); len(a.Instances) != 1 {
		t.Errorf("unset instances: %d", len(a.Instances))
	}
	if strings.Contains(h.ok("describe", "api"), "LOG_LEVEL") {
		t.Errorf("unset env.LOG_LEVEL left it")
	}
}

func TestWatchReloadsOnSourceEdit(t *testing.T) {
	h := newHome(t)
	dir := t.TempDir()
	app := filepath.Join(dir, "app.js")
	os.WriteFile(app, []byte("setInterval(() => {}, 1 << 30); process.on('SIGINT', () => process.exit(0));\n"), 0o600)
	os.MkdirAll(filepath.Join(dir, "node_modules", "dep"), 0o755)
	os.WriteFile(filepath.Join(dir, "node_modules", "dep", "index.js"), []byte("1"), 0o600)
	h.ok("start", app, "--name", "w", "--cwd", dir, "--watch", "--watch-delay", "200ms")
	old := h.app("w").Instances[0].PID
	// A change in node_modules is ignored; a source edit reloads. Both
	// fall in one debounce window, so a counted node_modules change would
	// show in the reload's event, and a second reload would follow.
	os.WriteFile(filepath.Join(dir, "node_modules", "dep", "index.js"), []byte("2"), 0o600)
	os.WriteFile(app, []byte("setInterval(() => {}, 1 << 29); process.on('SIGINT', () => process.exit(0));\n"), 0o600)
	a := h.waitApp("w", "reloaded", func(a api.App) bool { return allOnline(a) && a.Instances[0].PID != old })
	var d []api.App
	mustJSON(t, h.ok("describe", "w", "--json"), &d)
	var reloads []string
	for _, e := range d[0].Events {
		if strings.HasPrefix(e.Message, "reload: watch") {
			reloads = append(reloads, e.Message)
		}
	}
	if len(reloads) != 1 || !strings.Contains(reloads[0], "app.js") || strings.Contains(reloads[0], "node_modules") {
		t.Errorf("watch reloads: %q; want one, naming app.js only", reloads)
	}
	if a.Instances[0].Restarts != 1 {
		t.Errorf("restarts = %d, want 1", a.Instances[0].Restarts)
	}
}

func TestAutoscaleFollowsCPU(t *testing.T) {
	h := newHome(t)
	dir := t.TempDir()
	burnFile := filepath.Join(dir, "burn")
	eco := filepath.Join(dir, "tend.yaml")
	writeEco(t, eco, fmt.Sprintf(`apps:
  - name: cpu
    script: %s/burn.js
    port: %d
    env:
      BURN_FILE: %s
    autoscale:
      min: 1
      max: 2
      target_cpu: 20
      up_window: 3s
      down_window: 4s
`, fixtures, freePort(t), burnFile))
	h.ok("apply", eco)
	// The fixture tries to keep a core busy; the target is low enough that
	// it is crossed even when the test suite's other packages take most of
	// the machine (37% was seen on a loaded 2-core machine).
	os.WriteFile(burnFile, nil, 0o600)
	up := h.waitApp("cpu", "scaled up", func(a api.App) bool { return len(a.Instances) == 2 && allOnline(a) })
	os.Remove(burnFile)
	h.waitApp("cpu", "scaled down", func(a api.App) bool { return len(a.Instances) == 1 })
	var d []api.App
	mustJSON(t, h.ok("describe", "cpu", "--json"), &d)
	var msgs []string
	for _, e := range d[0].Events {
		msgs = append(msgs, e.Message)
	}
	all := strings.Join(msgs, "\n")
	if !strings.Contains(all, "autoscale 1 -> 2: cpu") || !strings.Contains(all, "autoscale 2 -> 1") {
		t.Errorf("autoscale events:\n%s", all)
	}
	_ = up
}
