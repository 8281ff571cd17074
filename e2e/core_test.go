package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/api"
)

func TestCrashIsRestarted(t *testing.T) {
	h := newHome(t)
	port := freePort(t)
	h.ok("start", "express-app.js", "--name", "web", "--port", strconv.Itoa(port))
	url := fmt.Sprintf("http://127.0.0.1:%d", port)

	var first struct {
		PID     int    `json:"pid"`
		NodeEnv string `json:"node_env"`
	}
	if err := json.Unmarshal([]byte(get(t, url+"/")), &first); err != nil {
		t.Fatal(err)
	}
	if first.NodeEnv != "production" {
		t.Errorf("NODE_ENV = %q, want production for a node app", first.NodeEnv)
	}
	get(t, url+"/crash")
	a := h.waitApp("web", "restarted", func(a api.App) bool {
		return allOnline(a) && a.Instances[0].Restarts == 1 && a.Instances[0].PID != first.PID
	})
	in := a.Instances[0]
	if in.LastExit == nil || in.LastExit.Code != 1 || in.LastExit.Expected {
		t.Errorf("last_exit = %+v, want an unexpected exit with code 1", in.LastExit)
	}
	var second struct{ PID int }
	if err := json.Unmarshal([]byte(get(t, url+"/")), &second); err != nil {
		t.Fatal(err)
	}
	if second.PID != in.PID {
		t.Errorf("serving pid %d, ls says %d", second.PID, in.PID)
	}
	if alive(first.PID) {
		t.Errorf("crashed pid %d still running", first.PID)
	}
}

func TestCrashLoopEndsErrored(t *testing.T) {
	h := newHome(t)
	h.ok("start", "crash.js", "--name", "loop", "--max-restarts", "3", "--env", "CRASH_CODE=7")
	a := h.waitApp("loop", "errored", func(a api.App) bool { return a.Status == api.StatusErrored })
	in := a.Instances[0]
	if in.Restarts != 3 {
		t.Errorf("restarts = %d, want exactly max_restarts (3)", in.Restarts)
	}
	if in.PID != 0 || in.LastExit == nil || in.LastExit.Code != 7 {
		t.Errorf("instance = %+v, want no pid and last exit code 7", in)
	}
	if !strings.Contains(a.Reason, "unstable") {
		t.Errorf("reason = %q, want it to say why", a.Reason)
	}
	desc := h.ok("describe", "loop")
	if !strings.Contains(desc, "errored") || !strings.Contains(desc, "not restarting") {
		t.Errorf("describe does not show the errored reason:\n%s", desc)
	}
	// Every crash is remembered, not only the last exit: the first start
	// and its 3 restarts.
	if !strings.Contains(desc, "crashes in the last 24 hours: 4 (latest: instance 0, crash fixture exiting with 7)") {
		t.Errorf("describe does not count the crashes:\n%s", desc)
	}
	var d []api.App
	mustJSON(t, h.ok("describe", "loop", "--json"), &d)
	if cs := d[0].Crashes; len(cs) != 4 || cs[3].Code != 7 || cs[3].Error != "crash fixture exiting with 7" {
		t.Errorf("describe --json crashes: %+v", cs)
	}
	// Errored stays down: nothing restarts it behind the user's back.
	if got := h.app("loop").Instances[0].Restarts; got != 3 {
		t.Errorf("restarts went on after errored: %d", got)
	}
	// A user start clears it.
	h.ok("restart", "loop")
	h.waitApp("loop", "errored again", func(a api.App) bool { return a.Status == api.StatusErrored && a.Instances[0].Restarts >= 4 })
}

func TestNoAutorestartAndStopExitCodes(t *testing.T) {
	h := newHome(t)
	h.ok("start", "crash.js", "--name", "once", "--no-autorestart")
	h.ok("start", "crash.js", "--name", "done", "--stop-exit-codes", "0,5", "--env", "CRASH_CODE=5")
	for _, name := range []string{"once", "done"} {
		a := h.waitApp(name, "stopped", func(a api.App) bool { return a.Status == api.StatusStopped })
		if a.Instances[0].Restarts != 0 {
			t.Errorf("%s restarted %d times, want 0", name, a.Instances[0].Restarts)
		}
	}
}

func TestStopEscalatesToTheWholeGroup(t *testing.T) {
	h := newHome(t)
	pidfile := filepath.Join(t.TempDir(), "pids")
	h.ok("start", "stubborn.js", "--name", "stubborn", "--kill-timeout", "300ms", "--env", "PIDFILE="+pidfile)
	var parent, child int
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(pidfile)
		if err == nil {
			fmt.Sscanf(string(b), "%d %d", &parent, &child)
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("stubborn fixture never wrote its pids")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !alive(parent) || !alive(child) {
		t.Fatalf("fixture not running: %d %d", parent, child)
	}
	begin := time.Now()
	h.ok("stop", "stubborn")
	took := time.Since(begin)
	if alive(parent) || alive(child) {
		t.Fatalf("after stop: parent alive %v, forked child alive %v", alive(parent), alive(child))
	}
	if took < 300*time.Millisecond {
		t.Errorf("stop returned after %v, before kill_timeout: SIGINT was not given its time", took)
	}
	a := h.app("stubborn")
	if a.Status != api.StatusStopped || a.Instances[0].LastExit.Signal != "SIGKILL" {
		t.Errorf("after stop: status %s, last exit %+v; want stopped by SIGKILL", a.Status, a.Instances[0].LastExit)
	}
	// The daemon is a subreaper: the orphaned child is reaped, not a zombie.
	deadline = time.Now().Add(5 * time.Second)
	for syscall.Kill(child, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("forked child %d left as a zombie", child)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestDaemonKilledComesBackWithoutDuplicates(t *testing.T) {
	h := newHome(t)
	h.ok("start", "idle.js", "--name", "a", "-i", "2")
	h.ok("start", "idle.js", "--name", "b", "--namespace", "jobs")
	h.ok("start", "idle.js", "--name", "c")
	h.ok("stop", "c")
	before := map[string]api.App{}
	var oldPIDs []int
	for _, a := range h.ls() {
		before[a.Name] = a
		oldPIDs = append(oldPIDs, pids(a)...)
	}
	if len(oldPIDs) != 3 {
		t.Fatalf("want 3 running processes, got %v", oldPIDs)
	}

	dpid := h.daemonPID()
	if err := syscall.Kill(dpid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Children die with their daemon (no orphan keeps running).
	waitGone(t, append(oldPIDs, dpid)...)

	after := h.ls() // starts a new daemon, which restores the apps
	if n := h.daemonPID(); n == dpid {
		t.Fatalf("daemon pid unchanged")
	}
	if len(after) != 3 {
		t.Fatalf("after restore: %d apps, want 3", len(after))
	}
	for _, a := range after {
		b := before[a.Name]
		if a.ID != b.ID || a.Namespace != b.Namespace || len(a.Instances) != len(b.Instances) {
			t.Errorf("%s: id %d ns %s instances %d; before: id %d ns %s instances %d", a.Name, a.ID, a.Namespace, len(a.Instances), b.ID, b.Namespace, len(b.Instances))
		}
		want := api.StatusOnline
		if a.Name == "c" {
			want = api.StatusStopped // stopped by the user: stays stopped
		}
		if a.Status != want {
			t.Errorf("%s: status %s, want %s", a.Name, a.Status, want)
		}
	}
	// Exactly the processes ls shows, none twice.
	var listed []int
	for _, a := range after {
		listed = append(listed, pids(a)...)
	}
	running := h.processes()
	slices.Sort(listed)
	slices.Sort(running)
	if !slices.Equal(listed, running) || len(running) != 3 {
		t.Errorf("running processes %v, listed %v: want the same 3", running, listed)
	}
}

func TestKillStopsAppsAndRestoresThem(t *testing.T) {
	h := newHome(t)
	h.ok("start", "idle.js", "--name", "a")
	old := pids(h.app("a"))
	h.ok("kill")
	waitGone(t, old...)
	if r := h.run("version"); !strings.Contains(r.stdout, "daemon  not running") {
		t.Errorf("version after kill: %q", r.stdout)
	}
	a := h.waitApp("a", "online", allOnline)
	if a.ID != 0 {
		t.Errorf("id = %d, want 0", a.ID)
	}
}

func TestEnvironmentAndUpdateEnv(t *testing.T) {
	h := newHome(t)
	r := h.runEnv([]string{"FOO=one", "BAR=two"}, "start", "idle.js", "--name", "e", "--env", "BAZ=three", "-i", "2")
	if r.code != 0 {
		t.Fatalf("start: %s", r.stderr)
	}
	envOf := func() map[string]string {
		var envs []api.Env
		if err := json.Unmarshal([]byte(h.ok("env", "e", "--json")), &envs); err != nil {
			t.Fatal(err)
		}
		if len(envs) != 1 || len(envs[0].Instances) != 2 {
			t.Fatalf("env: %+v", envs)
		}
		for i, ie := range envs[0].Instances {
			if ie.Env["NODE_APP_INSTANCE"] != strconv.Itoa(i) || ie.Env["TEND_INSTANCE"] != strconv.Itoa(i) {
				t.Errorf("instance %d: NODE_APP_INSTANCE=%q TEND_INSTANCE=%q", i, ie.Env["NODE_APP_INSTANCE"], ie.Env["TEND_INSTANCE"])
			}
		}
		return envs[0].Instances[0].Env
	}
	env := envOf()
	for k, v := range map[string]string{"FOO": "one", "BAR": "two", "BAZ": "three", "NODE_ENV": "production"} {
		if env[k] != v {
			t.Errorf("%s = %q, want %q", k, env[k], v)
		}
	}
	// The real process has it too, not just the daemon's record.
	pid := h.app("e").Instances[0].PID
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil || !strings.Contains(string(b), "\x00BAZ=three\x00") && !strings.HasPrefix(string(b), "BAZ=three\x00") {
		t.Errorf("process %d environment lacks BAZ=three", pid)
	}

	// A plain restart keeps the environment it was started with.
	if r := h.runEnv([]string{"-BAR", "FOO=changed"}, "restart", "e"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	if env := envOf(); env["BAR"] != "two" || env["FOO"] != "one" {
		t.Errorf("restart without --update-env changed the env: FOO=%q BAR=%q", env["FOO"], env["BAR"])
	}
	// --update-env replaces it: a variable gone from the shell is gone.
	if r := h.runEnv([]string{"-BAR", "FOO=changed"}, "restart", "e", "--update-env"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	env = envOf()
	if _, ok := env["BAR"]; ok {
		t.Errorf("BAR survived restart --update-env")
	}
	if env["FOO"] != "changed" || env["BAZ"] != "three" {
		t.Errorf("after --update-env: FOO=%q BAZ=%q, want changed and three", env["FOO"], env["BAZ"])
	}
}

func TestForkModeInstances(t *testing.T) {
	h := newHome(t)
	h.ok("start", "idle.js", "--name", "w", "-i", "3")
	a := h.waitApp("w", "online", allOnline)
	p := pids(a)
	slices.Sort(p)
	if len(slices.Compact(p)) != 3 {
		t.Fatalf("pids %v, want 3 distinct", p)
	}
	table := h.ok("ls")
	for _, col := range []string{"ID", "NAME", "NAMESPACE", "MODE", "PID", "UPTIME", "↺", "STATUS", "CPU", "MEM"} {
		if !strings.Contains(table, col) {
			t.Errorf("ls table lacks column %s:\n%s", col, table)
		}
	}
	if strings.Count(table, " w ") != 3 {
		t.Errorf("ls should show one row per instance:\n%s", table)
	}
	for _, in := range a.Instances {
		if in.MemoryBytes == 0 {
			t.Errorf("instance %d: memory_bytes 0", in.Index)
		}
	}
}

func TestTargetsByNameIDNamespaceAll(t *testing.T) {
	h := newHome(t)
	h.ok("start", "idle.js", "--name", "a", "--namespace", "x")
	h.ok("start", "idle.js", "--name", "b", "--namespace", "x")
	h.ok("start", "idle.js", "--name", "c", "--namespace", "y")
	status := func() map[string]string {
		m := map[string]string{}
		for _, a := range h.ls() {
			m[a.Name] = a.Status
		}
		return m
	}
	h.ok("stop", "x")
	if s := status(); s["a"] != "stopped" || s["b"] != "stopped" || s["c"] != "online" {
		t.Errorf("stop namespace x: %v", s)
	}
	h.ok("start", "0") // by id
	if s := status(); s["a"] != "online" || s["b"] != "stopped" {
		t.Errorf("start id 0: %v", s)
	}
	h.ok("restart", "c")
	if c := h.app("c"); c.Instances[0].Restarts != 1 {
		t.Errorf("restart by name: restarts %d", c.Instances[0].Restarts)
	}
	h.ok("reset", "c")
	if c := h.app("c"); c.Instances[0].Restarts != 0 {
		t.Errorf("reset: restarts %d", c.Instances[0].Restarts)
	}
	if msg := h.fails("stop", "nope"); !strings.Contains(msg, `"nope"`) {
		t.Errorf("unknown target error: %q", msg)
	}
	old := pids(h.app("c"))
	h.ok("delete", "all")
	if apps := h.ls(); len(apps) != 0 {
		t.Errorf("after delete all: %d apps", len(apps))
	}
	waitGone(t, old...)
}

func TestSignal(t *testing.T) {
	h := newHome(t)
	h.ok("start", "idle.js", "--name", "s")
	old := h.app("s").Instances[0].PID
	// idle.js has no SIGUSR2 handler, so the signal kills it and tend restarts it.
	h.ok("signal", "SIGUSR2", "s")
	a := h.waitApp("s", "restarted", func(a api.App) bool { return allOnline(a) && a.Instances[0].PID != old })
	if a.Instances[0].LastExit.Signal != "SIGUSR2" {
		t.Errorf("last exit %+v, want killed by SIGUSR2", a.Instances[0].LastExit)
	}
	if msg := h.fails("signal", "SIGNOPE", "s"); !strings.Contains(msg, "SIGNOPE") {
		t.Errorf("bad signal error: %q", msg)
	}
}

func TestSaveAndResurrect(t *testing.T) {
	h := newHome(t)
	h.ok("start", "idle.js", "--name", "one")
	h.ok("start", "idle.js", "--name", "two", "-i", "2")
	h.ok("save")
	h.ok("delete", "one")
	out := h.ok("resurrect")
	if !strings.Contains(out, "resurrected 1 apps") {
		t.Errorf("resurrect: %s", out)
	}
	h.ok("resurrect") // again: nothing new
	apps := h.ls()
	if len(apps) != 2 {
		t.Fatalf("after resurrect: %d apps, want 2", len(apps))
	}
	if n := len(h.processes()); n != 3 {
		t.Errorf("%d processes, want 3", n)
	}
}

func TestBadInputChangesNothing(t *testing.T) {
	h := newHome(t)
	h.ok("start", "idle.js", "--name", "keep")
	dir := t.TempDir()
	badYAML := filepath.Join(dir, "tend.yaml")
	os.WriteFile(badYAML, []byte("apps:\n  - name: x\n    script: [unclosed\n"), 0o600)
	twoBad := filepath.Join(dir, "two.yaml")
	os.WriteFile(twoBad, []byte(fmt.Sprintf("apps:\n  - name: good\n    script: %s/idle.js\n  - name: bad\n    script: %s/idle.js\n    instances: -2\n", fixtures, fixtures)), 0o600)

	cases := []struct {
		args []string
		want string
	}{
		{[]string{"start", "missing.js"}, "missing.js"},
		{[]string{"start", "idle.js", "--name", "keep"}, "already exists"},
		{[]string{"start", "idle.js", "--name", "x", "--kill-signal", "SIGFOO"}, "SIGFOO"},
		{[]string{"start", "idle.js", "--name", "x", "-i", "-2"}, "instances"},
		{[]string{"start", "idle.js", "--name", "x", "--kill-timeout", "soon"}, "kill-timeout"},
		{[]string{"start", badYAML}, "tend.yaml"},
		{[]string{"start", twoBad}, "apps[1].instances"},
		{[]string{"start", "idle.js", "--env", "production"}, "--env-name"},
	}
	for _, c := range cases {
		msg := h.fails(c.args...)
		if !strings.Contains(msg, c.want) {
			t.Errorf("tend %s: error %q does not mention %q", strings.Join(c.args, " "), msg, c.want)
		}
	}
	apps := h.ls()
	if len(apps) != 1 || apps[0].Name != "keep" {
		t.Errorf("bad input changed the app list: %+v", apps)
	}
}

func TestEcosystemFileWithEnvBlock(t *testing.T) {
	h := newHome(t)
	dir := t.TempDir()
	eco := filepath.Join(dir, "ecosystem.config.js")
	os.WriteFile(eco, []byte(fmt.Sprintf(`module.exports = {
  apps: [
    { name: 'api', script: %q, instances: 2, env: { LEVEL: 'debug' }, env_production: { LEVEL: 'warn' } },
    { name: 'worker', script: %q, namespace: 'jobs', pid_file: '/tmp/worker.pid' },
  ],
};
`, filepath.Join(fixtures, "idle.js"), filepath.Join(fixtures, "idle.js"))), 0o600)
	r := h.run("start", eco, "--env-name", "production", "--only", "api")
	if r.code != 0 {
		t.Fatalf("start: %s", r.stderr)
	}
	apps := h.ls()
	if len(apps) != 1 || apps[0].Name != "api" || len(apps[0].Instances) != 2 {
		t.Fatalf("--only api: %+v", apps)
	}
	var envs []api.Env
	json.Unmarshal([]byte(h.ok("env", "api", "--json")), &envs)
	if got := envs[0].Instances[0].Env["LEVEL"]; got != "warn" {
		t.Errorf("LEVEL = %q, want warn from env_production", got)
	}
	// As PM2: the file's running apps are named, the others started.
	r = h.run("start", eco)
	if r.code != 0 || !strings.Contains(r.stdout, "already running: api") || len(h.ls()) != 2 {
		t.Errorf("starting the file with api running: exit %d, %s%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "apps[1].pid_file") {
		t.Errorf("no warning for the unsupported key: %s", r.stderr)
	}
}

func TestVersionAndPing(t *testing.T) {
	h := newHome(t)
	if out := h.ok("version"); !strings.Contains(out, "cli") || !strings.Contains(out, "not running") {
		t.Errorf("version without daemon: %q", out)
	}
	h.ok("ls") // starts the daemon
	h.daemonPID()
	out := h.ok("version")
	if !strings.Contains(out, "daemon  ") || strings.Contains(out, "not running") {
		t.Errorf("version with daemon: %q", out)
	}
	st, err := os.Stat(h.dir)
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("TEND_HOME mode %v, want 0700", st.Mode().Perm())
	}
	st, err = os.Stat(filepath.Join(h.dir, "tend.sock"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want 0600", st.Mode().Perm())
	}
	h.ok("start", "idle.js")
	st, err = os.Stat(filepath.Join(h.dir, "state.json"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("state.json mode %v, want 0600", st.Mode().Perm())
	}
}

// A TEND_HOME too deep for a unix socket's path is named as the problem,
// with what to do, instead of the kernel's "invalid argument"; and nothing
// is left behind.
func TestLongTendHomeIsExplained(t *testing.T) {
	h := newHome(t)
	long := filepath.Join(h.dir, strings.Repeat("d", 110))
	for _, args := range [][]string{{"ls"}, {"daemon"}} {
		r := h.runEnv([]string{"TEND_HOME=" + long}, args...)
		if r.code == 0 || !strings.Contains(r.stderr, "is too long") || !strings.Contains(r.stderr, "set TEND_HOME to a shorter directory") {
			t.Errorf("tend %v with a long TEND_HOME: exit %d, %q", args, r.code, r.stderr)
		}
	}
	if _, err := os.Stat(long); err == nil {
		t.Errorf("tend created %s although it cannot use it", long)
	}
}

// What a file or flag means is checked as PM2 users write it: -1 is one
// instance per CPU but one (0 one per CPU), two apps of one file cannot
// share a port, a YAML error is placed on its own line, and far more
// instances than CPUs start with a warning.
func TestValidationSpeaksPM2(t *testing.T) {
	h := newHome(t)
	cpus := runtime.NumCPU()
	h.ok("start", "idle.js", "--name", "most", "-i", "-1")
	if n := len(h.app("most").Instances); n != max(1, cpus-1) {
		t.Errorf("-i -1 on %d CPUs started %d instances, want %d", cpus, n, max(1, cpus-1))
	}
	h.ok("delete", "most")

	dir := t.TempDir()
	ports := filepath.Join(dir, "ports.yaml")
	os.WriteFile(ports, []byte(fmt.Sprintf("apps:\n  - name: api\n    script: %s/idle.js\n    port: 41999\n  - name: admin\n    script: %s/idle.js\n    port: 41999\n", fixtures, fixtures)), 0o600)
	if msg := h.fails("start", ports); !strings.Contains(msg, "apps[1].port: 41999 is also the port of apps[0] (api)") {
		t.Errorf("two apps on one port: %q", msg)
	}
	indent := filepath.Join(dir, "indent.yaml")
	os.WriteFile(indent, []byte(fmt.Sprintf("apps:\n  - name: api\n    script: %s/idle.js\n   instances: 2\n", fixtures)), 0o600)
	if msg := h.fails("start", indent); !strings.Contains(msg, "indent.yaml: line 4:") {
		t.Errorf("bad indentation on line 4: %q", msg)
	}
	if len(h.ls()) != 0 {
		t.Errorf("refused files started apps: %+v", h.ls())
	}

	many := 4*cpus + 1
	r := h.run("start", "idle.js", "--name", "many", "-i", strconv.Itoa(many))
	if r.code != 0 || !strings.Contains(r.stderr, fmt.Sprintf("warning: instances: %d instances on %d CPUs", many, cpus)) {
		t.Errorf("-i %d on %d CPUs: exit %d, stderr %q", many, cpus, r.code, r.stderr)
	}
	if msg := h.fails("start", "idle.js", "--name", "huge", "-i", "1000000000"); !strings.Contains(msg, "is more than the 4096 instances") {
		t.Errorf("-i 1000000000: %q", msg)
	}
}

// Express's generator layout (bin/www, no extension, "#!/usr/bin/env node")
// is a Node app: it runs under node and gets NODE_ENV=production.
func TestNodeAppWithoutExtension(t *testing.T) {
	h := newHome(t)
	port := freePort(t)
	h.ok("start", "bin/www", "--name", "www", "-i", "2", "--port", strconv.Itoa(port))
	var ds []api.App
	mustJSON(t, h.ok("describe", "www", "--json"), &ds)
	if len(ds) != 1 || ds[0].Spec == nil || ds[0].Spec.Interpreter != "node" {
		t.Fatalf("bin/www: describe %+v, want interpreter node", ds)
	}
	var body struct {
		NodeEnv string `json:"node_env"`
	}
	mustJSON(t, get(t, fmt.Sprintf("http://127.0.0.1:%d/", port)), &body)
	if body.NodeEnv != "production" {
		t.Errorf("NODE_ENV = %q, want production", body.NodeEnv)
	}
}

// ping only asks: with no daemon it says so and exits 1, and starts none.
func TestPingOnlyAsks(t *testing.T) {
	h := newHome(t)
	if msg := h.fails("ping"); !strings.Contains(msg, "no daemon is running") {
		t.Errorf("ping without a daemon: %q", msg)
	}
	if _, err := os.Stat(filepath.Join(h.dir, "tend.sock")); err == nil {
		t.Fatal("ping started a daemon")
	}
	h.ok("ls")
	if out := h.ok("ping"); !strings.HasPrefix(out, "pong: daemon pid ") {
		t.Errorf("ping with a daemon: %q", out)
	}
}
