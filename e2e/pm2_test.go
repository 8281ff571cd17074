package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/api"
)

// The habits of a PM2 user: its verbs on ecosystem files, its list shapes,
// its dump, and the commands it has that tend spells alike.

// ecoFile writes an ecosystem file of idle apps named names into a new
// directory and returns its path.
func ecoFile(t *testing.T, names ...string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("apps:\n")
	for _, n := range names {
		fmt.Fprintf(&b, "  - name: %s\n    script: %s\n", n, filepath.Join(fixtures, "idle.js"))
	}
	p := filepath.Join(t.TempDir(), "eco.yaml")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func (h *home) pidsOf(name string) []int {
	h.t.Helper()
	return pids(h.waitApp(name, "online", allOnline))
}

func changed(a, b []int) bool {
	return len(a) > 0 && len(b) > 0 && !slices.ContainsFunc(b, func(p int) bool { return slices.Contains(a, p) })
}

func TestStartOrVerbsStartTheMissingAndReloadOrRestartTheRest(t *testing.T) {
	h := newHome(t)
	eco := ecoFile(t, "a", "b")
	h.ok("start", eco, "--only", "a")
	a0 := h.pidsOf("a")

	out := h.ok("startOrReload", eco)
	if !strings.Contains(out, "reloaded a") || !strings.Contains(out, "started b") {
		t.Errorf("startOrReload said:\n%s", out)
	}
	a1, b1 := h.pidsOf("a"), h.pidsOf("b")
	if !changed(a0, a1) {
		t.Errorf("startOrReload: a kept pids %v (was %v), want it reloaded", a1, a0)
	}

	out = h.ok("startOrRestart", eco)
	if !strings.Contains(out, "restarted a") || !strings.Contains(out, "restarted b") {
		t.Errorf("startOrRestart said:\n%s", out)
	}
	a2, b2 := h.pidsOf("a"), h.pidsOf("b")
	if !changed(a1, a2) || !changed(b1, b2) {
		t.Errorf("startOrRestart: pids a %v→%v, b %v→%v; want both restarted", a1, a2, b1, b2)
	}

	out = h.ok("startOrGracefulReload", eco)
	if !strings.Contains(out, "reloaded a") || !strings.Contains(out, "reloaded b") {
		t.Errorf("startOrGracefulReload said:\n%s", out)
	}
	a3 := h.pidsOf("a")
	if !changed(a2, a3) {
		t.Errorf("startOrGracefulReload: a kept pids %v", a3)
	}

	// PM2's deploy habit: --update-env takes this shell's environment.
	if r := h.runEnv([]string{"DEPLOYED=v2"}, "startOrRestart", eco, "--update-env"); r.code != 0 {
		t.Fatalf("startOrRestart --update-env: %d %s", r.code, r.stderr)
	}
	h.pidsOf("a")
	var envs []api.Env
	mustJSON(t, h.ok("env", "a", "--json"), &envs)
	if got := envs[0].Instances[0].Env["DEPLOYED"]; got != "v2" {
		t.Errorf("after startOrRestart --update-env, DEPLOYED = %q, want v2", got)
	}
	// A reload cannot take it, and says what to type instead.
	a4 := h.pidsOf("a")
	if e := h.fails("startOrReload", eco, "--update-env"); !strings.Contains(e, "startOrRestart "+eco+" --update-env") {
		t.Errorf("startOrReload --update-env: %s", e)
	}
	if a5 := h.pidsOf("a"); !slices.Equal(a4, a5) {
		t.Errorf("a refused command touched a: %v → %v", a4, a5)
	}
}

func TestStopRestartReloadDeleteTakeAnEcosystemFile(t *testing.T) {
	h := newHome(t)
	eco := ecoFile(t, "a", "b")
	h.ok("start", eco)
	h.ok("start", "idle.js", "--name", "other")
	other := h.pidsOf("other")

	h.ok("stop", eco)
	for _, n := range []string{"a", "b"} {
		h.waitApp(n, "stopped", func(a api.App) bool { return a.Status == api.StatusStopped })
	}
	if h.app("other").Status != api.StatusOnline {
		t.Errorf("stop FILE stopped an app not in the file")
	}
	h.ok("restart", eco)
	a1 := h.pidsOf("a")
	h.pidsOf("b")
	h.ok("reload", eco)
	if a2 := h.pidsOf("a"); !changed(a1, a2) {
		t.Errorf("reload FILE: a kept pids %v", a2)
	}
	out := h.ok("delete", eco)
	if !strings.Contains(out, "deleted a") || !strings.Contains(out, "deleted b") {
		t.Errorf("delete FILE said:\n%s", out)
	}
	apps := h.ls()
	if len(apps) != 1 || apps[0].Name != "other" || !slices.Equal(pids(apps[0]), other) {
		t.Errorf("after delete FILE: %+v, want only other, untouched", apps)
	}
	// A file none of whose apps is registered is an error that says what to do.
	if e := h.fails("stop", eco); !strings.Contains(e, "no app of "+eco+" is registered") || !strings.Contains(e, "tend start "+eco) {
		t.Errorf("stop of a file with nothing registered: %s", e)
	}
}

func TestStartOfAFileWithSomeAppsRunningStartsTheRest(t *testing.T) {
	h := newHome(t)
	eco := ecoFile(t, "a", "b")
	h.ok("start", eco, "--only", "a")
	a0 := h.pidsOf("a")
	r := h.run("start", eco)
	if r.code != 0 {
		t.Fatalf("start of a partly running file: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "already running: a") {
		t.Errorf("start did not say a was running:\n%s", r.stdout)
	}
	h.pidsOf("b")
	if a1 := h.pidsOf("a"); !slices.Equal(a0, a1) {
		t.Errorf("a was touched: pids %v → %v", a0, a1)
	}
	// All running: exit 0, nothing started twice.
	h.ok("stop", "b")
	r = h.run("start", eco)
	if r.code != 0 || !strings.Contains(r.stdout, "started b again") || !strings.Contains(r.stdout, "already running: a") {
		t.Errorf("start with a running and b stopped: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if n := len(h.ls()); n != 2 {
		t.Errorf("%d apps, want 2", n)
	}
}

func TestPrettylistAndSort(t *testing.T) {
	h := newHome(t)
	h.ok("start", "idle.js", "--name", "bravo")
	h.ok("start", "idle.js", "--name", "alpha")
	h.ok("start", "idle.js", "--name", "charlie")

	var pretty []api.App
	out := h.ok("prettylist")
	mustJSON(t, out, &pretty)
	if len(pretty) != 3 || !strings.Contains(out, "\n  {") {
		t.Errorf("prettylist: %d apps, or not indented:\n%s", len(pretty), out)
	}
	names := func(args ...string) []string {
		var apps []api.App
		mustJSON(t, h.ok(append([]string{"ls", "--json"}, args...)...), &apps)
		var n []string
		for _, a := range apps {
			n = append(n, a.Name)
		}
		return n
	}
	for _, c := range []struct {
		sort string
		want []string
	}{
		{"name", []string{"alpha", "bravo", "charlie"}},
		{"name:desc", []string{"charlie", "bravo", "alpha"}},
		{"id:desc", []string{"charlie", "alpha", "bravo"}},
		{"id:asc", []string{"bravo", "alpha", "charlie"}},
	} {
		if got := names("--sort", c.sort); !slices.Equal(got, c.want) {
			t.Errorf("--sort %s: %v, want %v", c.sort, got, c.want)
		}
	}
	// The table follows the same order.
	table := h.ok("ls", "--sort", "name:desc")
	if i, j := strings.Index(table, "charlie"), strings.Index(table, "alpha"); i < 0 || j < 0 || i > j {
		t.Errorf("table not sorted by name:desc:\n%s", table)
	}
	for _, bad := range []string{"colour", "name:sideways"} {
		if e := h.fails("ls", "--sort", bad); !strings.Contains(e, "--sort "+bad) {
			t.Errorf("--sort %s: %s", bad, e)
		}
	}
}

func TestEcosystemWritesATemplateThatStarts(t *testing.T) {
	h := newHome(t)
	dir := t.TempDir()
	r := h.runIn(dir, "ecosystem")
	if r.code != 0 {
		t.Fatalf("ecosystem: %d %s", r.code, r.stderr)
	}
	first, err := os.ReadFile(filepath.Join(dir, "tend.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(first, []byte("# ")) || !bytes.Contains(first, []byte("script: ./app.js")) {
		t.Errorf("template:\n%s", first)
	}
	// Never overwritten.
	if err := os.WriteFile(filepath.Join(dir, "tend.yaml"), []byte("mine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := h.runIn(dir, "init"); r.code == 0 || !strings.Contains(r.stderr, "tend.yaml exists") {
		t.Errorf("init over an existing file: exit %d %s", r.code, r.stderr)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "tend.yaml")); string(b) != "mine\n" {
		t.Errorf("the existing file was changed: %q", b)
	}
	// The template runs once its script exists.
	if err := os.WriteFile(filepath.Join(dir, "tend.yaml"), first, 0o644); err != nil {
		t.Fatal(err)
	}
	idle, _ := os.ReadFile(filepath.Join(fixtures, "idle.js"))
	if err := os.WriteFile(filepath.Join(dir, "app.js"), idle, 0o644); err != nil {
		t.Fatal(err)
	}
	if r := h.runIn(dir, "start", "tend.yaml"); r.code != 0 {
		t.Fatalf("start the template: %d %s", r.code, r.stderr)
	}
	h.waitApp("app", "online", allOnline)
}

func TestEcosystemFromRunningRoundTrips(t *testing.T) {
	h := newHome(t)
	h.ok("start", "idle.js", "--name", "web", "-i", "2", "--namespace", "shop", "--env", "API_KEY=k1",
		"--max-memory-restart", "200M", "--kill-timeout", "3s", "--cron-restart", "0 3 * * *", "--", "--foo", "bar")
	h.ok("start", "count.js", "--name", "job", "--no-autorestart", "--max-restarts", "5", "--interpreter-args", "--max-old-space-size=128", "--env", "STAY=1")
	h.waitApp("web", "online", allOnline)
	before := specsByName(t, h)

	dir := t.TempDir()
	if r := h.runIn(dir, "ecosystem", "--from-running"); r.code != 0 {
		t.Fatalf("ecosystem --from-running: %d %s", r.code, r.stderr)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "tend.yaml"))
	if st, err := os.Stat(filepath.Join(dir, "tend.yaml")); err != nil {
		t.Fatal(err)
	} else if st.Mode().Perm() != 0o600 {
		t.Errorf("the file of the running apps (their env may hold secrets) is %v, want 0600", st.Mode().Perm())
	}
	if bytes.Contains(b, []byte("listen_timeout")) {
		t.Errorf("a default setting was written:\n%s", b)
	}
	h.ok("delete", "all")
	if r := h.runIn(dir, "start", "tend.yaml"); r.code != 0 {
		t.Fatalf("start the written file: %d %s\n%s", r.code, r.stderr, b)
	}
	after := specsByName(t, h)
	if !reflect.DeepEqual(before, after) {
		t.Errorf("settings differ after the round trip through\n%s\nbefore: %+v\nafter:  %+v", b, before, after)
	}
}

func specsByName(t *testing.T, h *home) map[string]any {
	t.Helper()
	var apps []api.App
	mustJSON(t, h.ok("describe", "all", "--json"), &apps)
	m := map[string]any{}
	for _, a := range apps {
		m[a.Name] = *a.Spec
	}
	return m
}

func TestReportSaysWhatABugReportNeeds(t *testing.T) {
	h := newHome(t)
	h.ok("start", "idle.js", "--name", "reported")
	out := h.ok("report")
	for _, want := range []string{"===== versions =====", "cli ", "daemon   0.", "node     v", "kernel ", "cpus ", "memory ", h.dir, "reported", "daemon serving"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	// With no daemon it still reports, and starts none.
	h.ok("kill")
	out = h.ok("report")
	if !strings.Contains(out, "not running") {
		t.Errorf("report without a daemon:\n%s", out)
	}
	if r := h.run("ping"); r.code == 0 {
		t.Errorf("report started a daemon")
	}
}

func TestMisspeltCommandAndFlagNameTheNearest(t *testing.T) {
	h := newHome(t)
	if e := h.fails("strat", "idle.js"); !strings.Contains(e, `unknown command "strat" (did you mean start?)`) {
		t.Errorf("tend strat: %s", e)
	}
	if e := h.fails("start", "idle.js", "--instanse", "2"); !strings.Contains(e, "did you mean --instances?") {
		t.Errorf("--instanse: %s", e)
	}
	if e := h.fails("startOrReloda", "x.yaml"); !strings.Contains(e, "did you mean startOrReload?") {
		t.Errorf("startOrReloda: %s", e)
	}
	if e := h.fails("import", "pm3"); !strings.Contains(e, "did you mean import pm2?") {
		t.Errorf("import pm3: %s", e)
	}
	if n := len(h.ls()); n != 0 {
		t.Errorf("a misspelt command started %d apps", n)
	}
}

// pm2Bin is the PM2 that bench/package.json pins (npm ci --prefix bench).
func pm2Bin(t *testing.T) string {
	t.Helper()
	p := filepath.Join(repoRoot, "bench", "node_modules", ".bin", "pm2")
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PM2 is required (npm ci --prefix bench): %v", err)
		}
		t.Skipf("needs `npm ci --prefix bench`: %v", err)
	}
	return p
}

// pm2Session runs the real PM2 in a PM2_HOME of its own: a 2-instance
// cluster app and a fork app with settings, then `pm2 save` and `pm2
// jlist`, then `pm2 kill`. It returns the dump's path and jlist's output.
func pm2Session(t *testing.T) (dump string, jlist []byte) {
	t.Helper()
	bin := pm2Bin(t)
	home, err := os.MkdirTemp("", "p2") // short: PM2's sockets live there
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(home) })
	env := append(without(without(os.Environ(), "TEND_HOME"), "E2E_HOME"), "PM2_HOME="+home)
	pm2 := func(extra []string, args ...string) []byte {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env, cmd.Dir = append(append([]string(nil), env...), extra...), fixtures
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("pm2 %v: %v\n%s%s", args, err, out.String(), errb.String())
		}
		return out.Bytes()
	}
	t.Cleanup(func() { pm2(nil, "kill") })
	pm2([]string{"API_KEY=from-pm2"}, "start", "idle.js", "--name", "web", "-i", "2", "--namespace", "shop",
		"--max-memory-restart", "200M", "--kill-timeout", "3000", "--cron-restart", "0 3 * * *", "--", "--foo", "bar")
	pm2([]string{"STAY=1", "COUNT=3"}, "start", "count.js", "--name", "job", "--no-autorestart", "--max-restarts", "5",
		"--node-args=--max-old-space-size=128")
	pm2(nil, "save")
	jlist = pm2(nil, "jlist")
	return filepath.Join(home, "dump.pm2"), jlist
}

func TestImportOfADumpWrittenByPM2(t *testing.T) {
	h := newHome(t)
	dump, jlist := pm2Session(t)

	out := h.ok("import", "pm2", dump)
	// Every setting of this session has a tend equivalent now (cluster
	// mode without a port, node_args, cron_restart): nothing is listed as
	// lost.
	if !strings.Contains(out, "imported 2 apps") || strings.Contains(out, "not carried over") {
		t.Errorf("import said:\n%s", out)
	}
	var apps []api.App
	mustJSON(t, h.ok("describe", "all", "--json"), &apps)
	if len(apps) != 2 {
		t.Fatalf("%d apps imported, want 2 (web's 2 processes are one app)", len(apps))
	}
	byName := map[string]api.App{}
	for _, a := range apps {
		byName[a.Name] = a
		if a.Status != api.StatusStopped {
			t.Errorf("%s is %s, want stopped (import registers, --start starts)", a.Name, a.Status)
		}
	}
	web, job := byName["web"].Spec, byName["job"].Spec
	if web == nil || job == nil {
		t.Fatalf("apps: %+v", apps)
	}
	if web.Namespace != "shop" || web.Instances != 2 || !slices.Equal(web.Args, []string{"--foo", "bar"}) ||
		web.MaxMemoryRestart != 200<<20 || web.KillTimeout.D() != 3*time.Second || web.CronRestart != "0 3 * * *" ||
		web.Script != filepath.Join(fixtures, "idle.js") || web.Cwd != fixtures || web.Env["API_KEY"] != "from-pm2" {
		t.Errorf("web: %+v", *web)
	}
	if job.Autorestart || job.MaxRestarts != 5 || !slices.Equal(job.InterpreterArgs, []string{"--max-old-space-size=128"}) ||
		job.Env["STAY"] != "1" || job.Env["COUNT"] != "3" {
		t.Errorf("job: %+v", *job)
	}
	for _, k := range []string{"PM2_HOME", "PM2_USAGE", "TEND_HOME", "PWD", "SHLVL"} {
		if _, ok := web.Env[k]; ok {
			t.Errorf("web env carries %s", k)
		}
	}
	// Registered, not started: a daemon that comes back leaves them stopped.
	h.ok("kill")
	for _, a := range h.ls() {
		if a.Status != api.StatusStopped {
			t.Errorf("after the daemon came back, %s is %s, want stopped", a.Name, a.Status)
		}
	}
	// Importing again is refused whole: nothing is duplicated.
	if e := h.fails("import", "pm2", dump); !strings.Contains(e, "already exists") || !strings.Contains(e, "nothing was imported") {
		t.Errorf("second import: %s", e)
	}
	// --start starts them; `pm2 jlist` output is read as well as a dump.
	h.ok("delete", "all")
	jfile := filepath.Join(t.TempDir(), "apps.json")
	if err := os.WriteFile(jfile, jlist, 0o600); err != nil {
		t.Fatal(err)
	}
	h.ok("import", "pm2", jfile, "--start")
	h.waitApp("job", "online", allOnline)
	web2 := h.waitApp("web", "online", allOnline)
	if n := len(web2.Instances); n != 2 || web2.Namespace != "shop" {
		t.Errorf("web from jlist: %d instances in %q, want 2 in shop", n, web2.Namespace)
	}
}

func TestImportRefusesABadDumpAndChangesNothing(t *testing.T) {
	h := newHome(t)
	p := filepath.Join(t.TempDir(), "dump.pm2")
	bad := `[{"name":"gone","pm_exec_path":"/nonexistent/app.js","pm_cwd":"/tmp"},
	         {"name":"fine","pm_exec_path":"` + filepath.Join(fixtures, "idle.js") + `","pm_cwd":"` + fixtures + `"}]`
	if err := os.WriteFile(p, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	e := h.fails("import", "pm2", p)
	if !strings.Contains(e, p+": default/gone.script:") || !strings.Contains(e, "nothing was imported") {
		t.Errorf("import of a dump with a missing script: %s", e)
	}
	if n := len(h.ls()); n != 0 {
		t.Errorf("%d apps registered after a refused import", n)
	}
	h.ok("import", "pm2", p, "--only", "fine")
	if n := len(h.ls()); n != 1 {
		t.Errorf("--only fine: %d apps", n)
	}
}

// jsonKind is the JSON type of a decoded value.
func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	default:
		return "object"
	}
}

func TestJlistFormatPM2HasTheShapeOfRealPM2(t *testing.T) {
	h := newHome(t)
	dump, real := pm2Session(t)
	h.ok("import", "pm2", dump, "--start")
	h.waitApp("web", "online", allOnline)
	h.waitApp("job", "online", allOnline)

	var theirs, ours []map[string]any
	mustJSON(t, string(real), &theirs)
	mustJSON(t, h.ok("jlist", "--format", "pm2"), &ours)
	if len(ours) != 3 || len(theirs) != 3 {
		t.Fatalf("%d entries from tend, %d from PM2; want one per process: 3", len(ours), len(theirs))
	}
	// What scripts and exporters read: present in both, with one JSON type.
	keys := []string{"pid", "name", "pm_id", "monit", "monit.cpu", "monit.memory", "pm2_env",
		"pm2_env.name", "pm2_env.namespace", "pm2_env.pm_id", "pm2_env.status", "pm2_env.restart_time",
		"pm2_env.unstable_restarts", "pm2_env.pm_uptime", "pm2_env.created_at", "pm2_env.exec_mode",
		"pm2_env.instances", "pm2_env.pm_exec_path", "pm2_env.pm_cwd", "pm2_env.exec_interpreter",
		"pm2_env.args", "pm2_env.node_args", "pm2_env.env", "pm2_env.autorestart", "pm2_env.watch",
		"pm2_env.NODE_APP_INSTANCE", "pm2_env.version", "pm2_env.axm_monitor",
		"pm2_env.pm_out_log_path", "pm2_env.pm_err_log_path"}
	at := func(m map[string]any, path string) (any, bool) {
		var v any = m
		for _, k := range strings.Split(path, ".") {
			o, ok := v.(map[string]any)
			if !ok {
				return nil, false
			}
			if v, ok = o[k]; !ok {
				return nil, false
			}
		}
		return v, true
	}
	for _, k := range keys {
		// PM2 writes args only for apps that have some: web has.
		var want string
		for _, p := range theirs {
			if v, ok := at(p, k); ok {
				want = jsonKind(v)
			}
		}
		if want == "" {
			t.Errorf("real PM2 output has no %s: the list of keys is wrong", k)
			continue
		}
		for _, p := range ours {
			v, ok := at(p, k)
			if !ok {
				t.Errorf("tend's %s entry has no %s", p["name"], k)
			} else if jsonKind(v) != want {
				t.Errorf("tend's %s: %s is a %s, PM2's a %s", p["name"], k, jsonKind(v), want)
			}
		}
	}
	// And the values mean the same.
	for _, p := range ours {
		env := p["pm2_env"].(map[string]any)
		if env["status"] != "online" || p["pid"].(float64) <= 0 {
			t.Errorf("%s: status %v pid %v", p["name"], env["status"], p["pid"])
		}
		if p["name"] == "web" && (env["instances"] != 2.0 || env["namespace"] != "shop") {
			t.Errorf("web: instances %v namespace %v", env["instances"], env["namespace"])
		}
		// Where a log shipper finds the process's output.
		for _, k := range []string{"pm_out_log_path", "pm_err_log_path"} {
			path, _ := env[k].(string)
			if _, err := os.Stat(path); err != nil || !strings.HasPrefix(path, h.dir) {
				t.Errorf("%s instance %v: %s %q: %v", p["name"], env["NODE_APP_INSTANCE"], k, path, err)
			}
		}
	}
	// ls --json --format pm2 is the same list; the table refuses it.
	var viaLs []map[string]any
	mustJSON(t, h.ok("ls", "--json", "--format", "pm2"), &viaLs)
	if len(viaLs) != 3 {
		t.Errorf("ls --json --format pm2: %d entries", len(viaLs))
	}
	if e := h.fails("ls", "--format", "pm2"); !strings.Contains(e, "--json") {
		t.Errorf("ls --format pm2 without --json: %s", e)
	}
}

func TestPM2SpellingsOfCommandsAnswer(t *testing.T) {
	h := newHome(t)
	h.ok("start", "idle.js", "--name", "spelt")
	h.waitApp("spelt", "online", allOnline)
	h.ok("reloadLogs")
	var apps []api.App
	mustJSON(t, h.ok("jlist"), &apps)
	if len(apps) != 1 || apps[0].Name != "spelt" {
		t.Errorf("jlist: %+v", apps)
	}
}
