package e2e

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/spec"
)

// A start that fails leaves nothing behind: the app is not registered, so
// the retry on a free port works; and the error says why.
func TestFailedStartLeavesNoGhost(t *testing.T) {
	h := newHome(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	port := taken.Addr().(*net.TCPAddr).Port
	if msg := h.fails("start", "express-app.js", "--name", "p1", "--port", strconv.Itoa(port)); !strings.Contains(msg, "already in use") {
		t.Errorf("start on a taken port: %q", msg)
	}
	if apps := h.ls(); len(apps) != 0 {
		t.Fatalf("a failed start left %+v registered", apps)
	}
	free := freePort(t)
	h.ok("start", "express-app.js", "--name", "p1", "--port", strconv.Itoa(free))

	// The port of another tend app is named as that app's.
	if msg := h.fails("start", "express-app.js", "--name", "p2", "--port", strconv.Itoa(free)); !strings.Contains(msg, fmt.Sprintf("port %d is the port of app p1", free)) {
		t.Errorf("start on p1's port: %q", msg)
	}

	// A file is all or nothing: one app that cannot start takes none.
	dir := t.TempDir()
	eco := filepath.Join(dir, "tend.yaml")
	writeEco(t, eco, fmt.Sprintf("apps:\n  - name: good\n    script: %s/idle.js\n  - name: bad\n    script: %s/express-app.js\n    port: %d\n", fixtures, fixtures, port))
	msg := h.fails("start", eco)
	if !strings.Contains(msg, "start bad:") || !strings.Contains(msg, "none of the 2 apps was started") {
		t.Errorf("file with an app that cannot start: %q", msg)
	}
	if apps := h.ls(); len(apps) != 1 || apps[0].Name != "p1" {
		t.Errorf("after the failed file: %+v, want p1 alone", apps)
	}
	if n := len(h.processes()); n != 1 {
		t.Errorf("%d processes, want p1's one", n)
	}
}

// With TEND_HOME on a full disk, start writes the desired state first and,
// when it cannot, starts nothing: no app runs that a restarted daemon would
// forget.
func TestFullDiskStartsNothing(t *testing.T) {
	h := newHome(t)
	if err := syscall.Mount("tmpfs", h.dir, "tmpfs", 0, "size=1m,mode=0700"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("mount tmpfs (needs root in CI): %v", err)
		}
		t.Skipf("mount tmpfs: %v (needs root)", err)
	}
	t.Cleanup(func() {
		h.run("kill")
		if err := syscall.Unmount(h.dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", h.dir, err)
		}
	})
	h.ok("ls") // the daemon runs, with its socket and log in the small home
	filler, err := os.Create(filepath.Join(h.dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	block := make([]byte, 64<<10)
	for {
		if _, err := filler.Write(block); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	filler.Close()
	msg := h.fails("start", "idle.js", "--name", "x")
	if !strings.Contains(msg, "no space left") || !strings.Contains(msg, "nothing was started") {
		t.Errorf("start on a full disk: %q", msg)
	}
	if n := h.processes(); len(n) != 0 {
		t.Errorf("processes running after a start that could not be recorded: %v", n)
	}
	os.Remove(filepath.Join(h.dir, "filler"))
	h.ok("kill")
	if apps := h.ls(); len(apps) != 0 {
		t.Errorf("a restarted daemon has %+v", apps)
	}
}

// An instance count beyond the ceiling is refused by every door (flag,
// file, scale, set) before anything is allocated; daemon.yaml's
// max_instances moves the ceiling.
func TestInstanceCeiling(t *testing.T) {
	h := newHome(t)
	h.ok("start", "idle.js", "--name", "a")
	for _, args := range [][]string{
		{"scale", "a", "1000000000"},
		{"scale", "a", "+1000000000"},
		{"set", "a", "instances=1000000000"},
		{"start", "idle.js", "--name", "b", "-i", "1000000000"},
	} {
		r := h.run(args...)
		if r.code == 0 || !strings.Contains(r.stderr, "4096") {
			t.Errorf("tend %s: exit %d, %q; want a refusal naming the ceiling", strings.Join(args, " "), r.code, r.stderr)
		}
	}
	if a := h.app("a"); len(a.Instances) != 1 {
		t.Errorf("a has %d instances after the refusals", len(a.Instances))
	}
	h.ok("kill")
	os.WriteFile(filepath.Join(h.dir, "daemon.yaml"), []byte("max_instances: 2\n"), 0o600)
	if msg := h.fails("scale", "a", "3"); !strings.Contains(msg, "more than the 2 an app may have") {
		t.Errorf("scale past max_instances 2: %q", msg)
	}
	if msg := h.fails("start", "idle.js", "--name", "c", "-i", "3"); !strings.Contains(msg, "more than the 2 instances") {
		t.Errorf("start past max_instances 2: %q", msg)
	}
	h.ok("scale", "a", "2")
}

// `npm start` (and `npm run <x>`, and PM2's `script: npm, args: start`) of
// an app whose package.json script runs a Node file is that Node app: tend
// runs the file under node, so it gets NODE_ENV=production and the IPC
// channel, and says what it resolved to. A script npm must run itself (a
// shell line) still runs under npm.
func TestNpmStartRunsTheNodeScript(t *testing.T) {
	h := newHome(t)
	dir := filepath.Join(repoRoot, "testdata", "npmstart")
	www := filepath.Join(dir, "bin", "www")
	port := freePort(t)
	r := h.runEnv([]string{"-NODE_ENV"}, "start", "npm start", "--name", "web", "-i", "2", "--port", strconv.Itoa(port), "--cwd", dir)
	if r.code != 0 {
		t.Fatalf("start \"npm start\": exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if want := `npm start runs "node ./bin/www"`; !strings.Contains(r.stdout+r.stderr, want) {
		t.Errorf("start does not say what npm start resolved to (%q):\n%s%s", want, r.stdout, r.stderr)
	}
	var ds []api.App
	mustJSON(t, h.ok("describe", "web", "--json"), &ds)
	if len(ds) != 1 || ds[0].Spec == nil || ds[0].Spec.Interpreter != "node" || ds[0].Spec.Script != www {
		t.Fatalf("npm start: describe %+v, want %s under node", ds, www)
	}
	if out := h.ok("describe", "web"); !strings.Contains(out, `npm start: node ./bin/www`) {
		t.Errorf("describe does not say where the script came from:\n%s", out)
	}
	var body struct {
		NodeEnv string   `json:"node_env"`
		IPC     bool     `json:"ipc"`
		Args    []string `json:"args"`
	}
	mustJSON(t, get(t, fmt.Sprintf("http://127.0.0.1:%d/", port)), &body)
	if body.NodeEnv != "production" || !body.IPC {
		t.Errorf("npm start app: NODE_ENV %q, IPC %v; want production and an IPC channel", body.NodeEnv, body.IPC)
	}

	// An ecosystem file as PM2 users write it: script npm, args "run serve"
	// (a script that names the file, found by its #! line), and a shell
	// line that only npm can run.
	port2 := freePort(t)
	eco := filepath.Join(t.TempDir(), "tend.yaml")
	writeEco(t, eco, fmt.Sprintf("apps:\n  - name: serve\n    script: npm\n    args: run serve -- --extra\n    cwd: %s\n    port: %d\n  - name: chained\n    script: npm\n    args: [run, chained]\n    cwd: %s\n", dir, port2, dir))
	h.runEnv([]string{"-NODE_ENV"}, "start", eco)
	mustJSON(t, get(t, fmt.Sprintf("http://127.0.0.1:%d/", port2)), &body)
	if body.NodeEnv != "production" || !body.IPC || strings.Join(body.Args, " ") != "--from-serve --extra" {
		t.Errorf("npm run serve: %+v; want NODE_ENV production, IPC, args --from-serve --extra", body)
	}
	specOf := func(name string) *spec.App {
		var ds []api.App
		mustJSON(t, h.ok("describe", name, "--json"), &ds)
		if len(ds) != 1 || ds[0].Spec == nil {
			t.Fatalf("describe %s: %+v", name, ds)
		}
		return ds[0].Spec
	}
	if s := specOf("serve"); s.Interpreter != "node" || s.Script != www {
		t.Errorf("npm run serve: spec %+v, want %s under node", s, www)
	}
	if s := specOf("chained"); s.Interpreter != "none" || filepath.Base(s.Script) != "npm" || s.ResolvedFrom != "" {
		t.Errorf("npm run chained (a shell line): spec %+v, want npm run as it is", s)
	}
}

// tend metrics prints a histogram as its count, sum and quantiles, not as
// one bare number.
func TestMetricsPrintsHistograms(t *testing.T) {
	h := newHome(t)
	port := freePort(t)
	h.ok("start", "express-app.js", "--name", "web", "--port", strconv.Itoa(port))
	for range 20 {
		get(t, fmt.Sprintf("http://127.0.0.1:%d/", port))
	}
	// start's own GET (the "served on" check) is a request through the
	// edge too, so at least 20 are counted.
	var count uint64
	h.waitApp("web", "20 requests counted", func(a api.App) bool {
		if len(a.Instances) != 1 || a.Instances[0].HTTP == nil || a.Instances[0].HTTP.Count < 20 {
			return false
		}
		count = a.Instances[0].HTTP.Count
		return true
	})
	out := h.ok("metrics")
	var line string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, `tend_http_request_duration_seconds{app="web"`) {
			line = l
		}
	}
	for _, want := range []string{fmt.Sprintf(" count=%d ", count), " sum=", " p50=", " p90=", " p99="} {
		if !strings.Contains(line, want) {
			t.Errorf("histogram line %q lacks %q\n%s", line, want, out)
		}
	}
	var ms []api.Metric
	mustJSON(t, h.ok("metrics", "--json"), &ms)
	for _, m := range ms {
		if m.Name == "tend_http_request_duration_seconds" && (len(m.Buckets) == 0 || m.Buckets[len(m.Buckets)-1].Count > count) {
			t.Errorf("--json histogram %+v: want its cumulative buckets", m)
		}
	}
}

// memAvailable is MemAvailable from /proc/meminfo, in bytes.
func memAvailable(t *testing.T) uint64 {
	t.Helper()
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "MemAvailable:" {
			kb, err := strconv.ParseUint(f[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no MemAvailable in /proc/meminfo")
	return 0
}

// Asking for more instances than the free memory holds starts with a
// warning (not a refusal): per instance, the RSS measured where the app
// already runs, else tend's stated default for a Node instance.
func TestMemoryWarning(t *testing.T) {
	h := newHome(t)
	// Half as many again as fit, so that memory freed meanwhile does not
	// make them fit; the ceiling is raised when the machine is that large.
	n := func(each uint64) int { return int(memAvailable(t)*3/2/each) + 1 }
	fresh := n(50 << 20)
	os.WriteFile(filepath.Join(h.dir, "daemon.yaml"), []byte(fmt.Sprintf("max_instances: %d\n", max(fresh*2, 4096))), 0o600)

	dir := t.TempDir()
	eco := filepath.Join(dir, "tend.yaml")
	writeEco(t, eco, fmt.Sprintf("apps:\n  - name: fresh\n    script: %s/idle.js\n    instances: %d\n", fixtures, fresh))
	r := h.run("apply", eco, "--dry-run")
	if r.code != 0 || !strings.Contains(r.stderr, fmt.Sprintf("warning: instances: %d new instances need about", fresh)) ||
		!strings.Contains(r.stderr, "50M each, tend's figure for a Node instance that has not run yet") {
		t.Errorf("apply --dry-run of %d instances: exit %d, stderr %q", fresh, r.code, r.stderr)
	}
	writeEco(t, eco, fmt.Sprintf("apps:\n  - name: fresh\n    script: %s/idle.js\n    instances: 2\n", fixtures))
	if r := h.run("apply", eco, "--dry-run"); strings.Contains(r.stderr, "new instances need") {
		t.Errorf("a warning for 2 instances: %q", r.stderr)
	}

	// Where the app runs, its instances' RSS is the estimate.
	port := freePort(t)
	h.ok("start", "express-app.js", "--name", "a", "--port", strconv.Itoa(port))
	a := h.waitApp("a", "measured", func(a api.App) bool { return a.Instances[0].MemoryBytes > 0 })
	more := n(a.Instances[0].MemoryBytes)
	writeEco(t, eco, fmt.Sprintf("apps:\n  - name: a\n    script: %s/express-app.js\n    port: %d\n    instances: %d\n", fixtures, port, more+1))
	r = h.run("apply", eco, "--dry-run")
	if !strings.Contains(r.stderr, fmt.Sprintf("warning: instances: %d new instances need about", more)) || !strings.Contains(r.stderr, "measured on a's running instance") {
		t.Errorf("apply --dry-run of %d more instances of a running app: %q", more, r.stderr)
	}

	// start warns too; here the start itself is then refused (a's port),
	// so that nothing of this size runs.
	r = h.run("start", "idle.js", "--name", "b", "-i", strconv.Itoa(fresh), "--port", strconv.Itoa(port))
	if r.code == 0 || !strings.Contains(r.stderr, fmt.Sprintf("warning: instances: %d new instances need about", fresh)) {
		t.Errorf("start -i %d: exit %d, stderr %q", fresh, r.code, r.stderr)
	}
	if len(h.app("a").Instances) != 1 || len(h.ls()) != 1 {
		t.Errorf("dry runs and a refused start changed what runs: %+v", h.ls())
	}
}
