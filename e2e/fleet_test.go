package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/fleet"
)

// testFleet is a hub (a tend hub process) and agent daemons, each in a
// TEND_HOME of its own, all on loopback.
type testFleet struct {
	t       *testing.T
	hubHome *home
	addr    string
	hub     *exec.Cmd
	hubLog  string
	fp      string
	ctl     []string // environment of control commands (operator)
	agents  map[string]*home
}

// startHub starts tend hub and waits until it prints its fingerprint.
func (f *testFleet) startHub() {
	t := f.t
	t.Helper()
	log, err := os.OpenFile(f.hubLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	started := countLines(f.hubLog, "hub listening")
	f.hub = exec.Command(tendBin, "hub", "--listen", f.addr)
	f.hub.Env = f.hubHome.env
	f.hub.Stdout, f.hub.Stderr = log, log
	if err := f.hub.Start(); err != nil {
		t.Fatal(err)
	}
	await(t, "the hub listening", 20*time.Second, func() bool {
		return countLines(f.hubLog, "fingerprint ") > started
	})
	m := regexp.MustCompile(`fingerprint ([0-9a-f]{64})`).FindStringSubmatch(readFile(f.hubLog))
	if m == nil {
		t.Fatalf("no fingerprint in the hub's output:\n%s", readFile(f.hubLog))
	}
	f.fp = m[1]
}

// stopHub stops the hub (SIGTERM) and waits for it.
func (f *testFleet) stopHub() {
	f.t.Helper()
	if f.hub == nil {
		return
	}
	_ = f.hub.Process.Signal(syscall.SIGTERM)
	_ = f.hub.Wait()
	f.hub = nil
}

func readFile(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}

func countLines(p, substr string) int { return strings.Count(readFile(p), substr) }

// await polls cond until it holds, or fails the test after timeout.
func await(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// newFleet starts a hub and one agent daemon per name, labelled role=<the
// name up to its dash>, and waits until every one is alive.
func newFleet(t *testing.T, names ...string) *testFleet {
	f := &testFleet{t: t, hubHome: newHome(t), agents: map[string]*home{}}
	f.addr = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	f.hubLog = filepath.Join(f.hubHome.dir, "hub.out")
	f.startHub()
	t.Cleanup(f.stopHub)
	out := f.hubHome.ok("hub", "creds")
	creds := regexp.MustCompile(`credentials: (\S+)`).FindStringSubmatch(out)[1]
	f.ctl = []string{"TEND_HUB=tls://" + f.addr, "TEND_HUB_CREDS=" + creds, "TEND_HUB_FINGERPRINT=" + f.fp}
	for _, name := range names {
		role, _, _ := strings.Cut(name, "-")
		snippet := f.hubHome.ok("hub", "add-host", name, "--labels", "role="+role, "--url", "tls://"+f.addr)
		h := newHome(t)
		if err := os.WriteFile(filepath.Join(h.dir, "daemon.yaml"), []byte(snippet), 0o600); err != nil {
			t.Fatal(err)
		}
		h.ok("ls") // starts the daemon
		f.agents[name] = h
	}
	f.awaitHosts("every host alive", 20*time.Second, func(hs map[string]fleet.Host) bool {
		for _, n := range names {
			if !hs[n].Alive {
				return false
			}
		}
		return true
	})
	return f
}

// control runs a control command (operator credentials).
func (f *testFleet) control(args ...string) result {
	f.t.Helper()
	return f.hubHome.runEnv(f.ctl, args...)
}

func (f *testFleet) controlOK(args ...string) string {
	f.t.Helper()
	r := f.control(args...)
	if r.code != 0 {
		f.t.Fatalf("tend %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

func (f *testFleet) hosts() map[string]fleet.Host {
	f.t.Helper()
	var hs []fleet.Host
	mustJSON(f.t, f.controlOK("hosts", "--json"), &hs)
	m := map[string]fleet.Host{}
	for _, h := range hs {
		m[h.Host] = h
	}
	return m
}

func (f *testFleet) awaitHosts(what string, timeout time.Duration, cond func(map[string]fleet.Host) bool) {
	f.t.Helper()
	await(f.t, what, timeout, func() bool { return cond(f.hosts()) })
}

// apps lists what runs on a host, from its own daemon.
func (f *testFleet) apps(name string) map[string]api.App {
	out := map[string]api.App{}
	for _, a := range f.agents[name].ls() {
		out[a.Name] = a
	}
	return out
}

// pidsOf is every host's instances' pids, by host and app.
func (f *testFleet) pidsOf() map[string]string {
	out := map[string]string{}
	for name := range f.agents {
		var parts []string
		for _, a := range f.agents[name].ls() {
			parts = append(parts, fmt.Sprintf("%s=%v", a.Name, pids(a)))
		}
		slices.Sort(parts)
		out[name] = strings.Join(parts, " ")
	}
	return out
}

func (f *testFleet) writeFile(name, text string) string {
	p := filepath.Join(f.hubHome.dir, name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		f.t.Fatal(err)
	}
	return p
}

func TestFleetPlacesAppsSurvivesLossAndHubOutageAndConfinesHosts(t *testing.T) {
	f := newFleet(t, "web-1", "web-2", "db-1", "db-2")
	port := freePort(t)
	fleetFile := func(workerEnv string) string {
		return fmt.Sprintf(`apps:
  - name: api
    script: %[1]s/express-app.js
    hosts: [web-1]
    instances: 2
    port: %[2]d
  - name: idle
    script: %[1]s/idle.js
    selector: {role: web}
    per_host: 2
  - name: worker
    script: %[1]s/idle.js
    hosts: [db-1]
    env: {LEVEL: %[3]s}
`, fixtures, port, workerEnv)
	}

	// Apply: every app runs exactly where its placement says.
	file := f.writeFile("fleet.yaml", fleetFile("info"))
	dry := f.controlOK("apply", file, "--dry-run")
	if !strings.Contains(dry, "web-1 (alive):") || !strings.Contains(dry, "start  default/api") || strings.Contains(dry, "db-2") {
		t.Fatalf("dry run:\n%s", dry)
	}
	if got := f.apps("web-1"); len(got) != 0 {
		t.Fatalf("dry run started apps: %v", got)
	}
	f.controlOK("apply", file)
	want := map[string][]string{"web-1": {"api", "idle"}, "web-2": {"idle"}, "db-1": {"worker"}, "db-2": nil}
	for host, names := range want {
		got := f.apps(host)
		var have []string
		for n := range got {
			have = append(have, n)
			f.agents[host].waitApp(n, "online", allOnline)
		}
		slices.Sort(have)
		if !slices.Equal(have, names) {
			t.Errorf("%s runs %v, want %v", host, have, names)
		}
		if a, ok := got["idle"]; ok && len(a.Instances) != 2 {
			t.Errorf("%s: idle has %d instances, want per_host 2", host, len(a.Instances))
		}
	}
	get(t, fmt.Sprintf("http://127.0.0.1:%d/", port))

	// Change the worker only: db-1 acts, no other host does.
	before := f.pidsOf()
	out := f.controlOK("apply", f.writeFile("fleet.yaml", fleetFile("debug")))
	if !strings.Contains(out, "desired state written for 1 hosts") || !strings.Contains(out, "db-1: applied (reload default/worker)") {
		t.Fatalf("apply of a change to db-1 only:\n%s", out)
	}
	after := f.pidsOf()
	for host := range f.agents {
		if host != "db-1" && before[host] != after[host] {
			t.Errorf("%s acted on a change that was not its: %s -> %s", host, before[host], after[host])
		}
	}
	if before["db-1"] == after["db-1"] {
		t.Errorf("db-1 did not reload its worker: %s", after["db-1"])
	}

	// Bad fleet files change nothing, and say what is wrong.
	revs := func() map[string]uint64 {
		m := map[string]uint64{}
		for n, h := range f.hosts() {
			m[n] = h.Desired.Revision
		}
		return m
	}
	revsBefore, pidsBefore := revs(), f.pidsOf()
	for _, bad := range []struct{ text, says string }{
		{strings.Replace(fleetFile("x"), "hosts: [db-1]", "hosts: [db-9]", 1), `apps[2].hosts[0]: unknown host "db-9"`},
		{strings.Replace(fleetFile("x"), "{role: web}", "{role: cache}", 1), "apps[1].selector: role=cache matches no host"},
		{strings.Replace(fleetFile("x"), "instances: 2", "instances: many", 1), "apps[0].instances"},
		{strings.Replace(fleetFile("x"), "    hosts: [db-1]\n", "", 1), "apps[2]: placement: give hosts"},
	} {
		r := f.control("apply", f.writeFile("bad.yaml", bad.text))
		if r.code == 0 || !strings.Contains(r.stderr, "bad.yaml") || !strings.Contains(r.stderr, bad.says) {
			t.Errorf("bad fleet file: exit %d, stderr %q; want it to say %q", r.code, r.stderr, bad.says)
		}
	}
	if got := revs(); !maps_equal(got, revsBefore) {
		t.Errorf("a bad fleet file changed desired states: %v -> %v", revsBefore, got)
	}
	if got := f.pidsOf(); !maps_equal(got, pidsBefore) {
		t.Errorf("a bad fleet file changed what runs: %v -> %v", pidsBefore, got)
	}

	// Commands run on a chosen host through the hub.
	if out := f.controlOK("--host", "web-1", "describe", "api"); !strings.Contains(out, "api") {
		t.Errorf("describe through the hub:\n%s", out)
	}
	f.controlOK("--host", "web-2", "logs", "idle", "--lines", "5", "--nostream")
	if out := f.controlOK("reload", "api", "--all-hosts", "--max-unavailable", "1"); !strings.Contains(out, "reloaded api on 1 hosts") {
		t.Errorf("rolling reload:\n%s", out)
	}

	// A host's credentials reach its own keys only.
	assertConfined(t, f, "web-1", "web-2")

	// SIGKILL an agent daemon: the hub marks it lost, by its heartbeat
	// expiring; back, it runs its apps once.
	db1 := f.agents["db-1"]
	workerPIDs := pids(db1.app("worker"))
	if err := syscall.Kill(db1.daemonPID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	f.awaitHosts("db-1 lost", 5*time.Second, func(hs map[string]fleet.Host) bool { return !hs["db-1"].Alive })
	db1.ok("ls") // a new daemon
	f.awaitHosts("db-1 back", 20*time.Second, func(hs map[string]fleet.Host) bool { return hs["db-1"].Alive })
	w := db1.waitApp("worker", "online", allOnline)
	if len(w.Instances) != 1 || len(db1.processes()) != 1 {
		t.Errorf("db-1 after its restart: worker %+v, processes %v; want one instance, one process", w.Instances, db1.processes())
	}
	waitGone(t, workerPIDs...)

	// The hub goes away for a while: every app keeps serving; the agents
	// come back by themselves; a change applied then converges.
	l := startLoadMethod(t, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/", port), 1)
	f.stopHub()
	if r := f.control("hosts"); r.code == 0 {
		t.Fatalf("tend hosts answered with the hub down:\n%s", r.stdout)
	}
	running := map[string]int{}
	for name, h := range f.agents {
		running[name] = len(h.processes())
	}
	outage := time.Now().Add(10 * time.Second)
	for time.Now().Before(outage) {
		for name, h := range f.agents {
			if len(h.processes()) != running[name] {
				t.Fatalf("%s ran %d processes, then %d while the hub was away", name, running[name], len(h.processes()))
			}
		}
		time.Sleep(500 * time.Millisecond) // the outage's length, not a wait for an event
	}
	f.startHub()
	f.ctl[2] = "TEND_HUB_FINGERPRINT=" + f.fp
	f.awaitHosts("every host back", 20*time.Second, func(hs map[string]fleet.Host) bool {
		for n := range f.agents {
			if !hs[n].Alive {
				return false
			}
		}
		return true
	})
	l.check(t, "during the hub's outage")
	out = f.controlOK("apply", f.writeFile("fleet.yaml", strings.Replace(fleetFile("debug"), "hosts: [db-1]", "hosts: [db-1, db-2]", 1)))
	if !strings.Contains(out, "db-2: applied (start default/worker)") {
		t.Fatalf("apply after the outage:\n%s", out)
	}
	if _, ok := f.apps("db-2")["worker"]; !ok {
		t.Errorf("db-2 does not run the worker after the apply")
	}
}

func maps_equal[K comparable, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// assertConfined connects with host's credentials over the network and
// checks that it can neither write other's desired state nor read it,
// and that the server says so.
func assertConfined(t *testing.T, f *testFleet, host, other string) {
	t.Helper()
	credsFile := filepath.Join(f.hubHome.dir, "hub", "creds", host+".creds")
	tc, err := fleet.ClientTLS{Fingerprint: f.fp}.Config()
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var errs bytes.Buffer
	nc, err := nats.Connect("tls://"+f.addr, nats.UserCredentials(credsFile), nats.Secure(tc), nats.CustomInboxPrefix("_INBOX_"+host),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			mu.Lock()
			fmt.Fprintln(&errs, err)
			mu.Unlock()
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	before := f.hosts()[other].Desired.Revision
	if err := nc.Publish("$KV.tend_desired."+other, []byte(`{"apps":[]}`)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if m, err := nc.RequestWithContext(ctx, "$JS.API.DIRECT.GET.KV_tend_desired.$KV.tend_desired."+other, nil); err == nil {
		t.Errorf("%s read %s's desired state: %q", host, other, m.Data)
	}
	await(t, "the permission errors", 10*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		s := errs.String()
		return strings.Contains(s, `Permissions Violation for Publish to "$KV.tend_desired.`+other+`"`) &&
			strings.Contains(s, `Permissions Violation for Publish to "$JS.API.DIRECT.GET.KV_tend_desired.$KV.tend_desired.`+other+`"`)
	})
	if after := f.hosts()[other].Desired.Revision; after != before {
		t.Errorf("%s's desired state moved from revision %d to %d", other, before, after)
	}
}

// A host whose credentials are revoked is dropped by the running hub and
// marked lost, says why in its daemon's log and keeps its apps running;
// new credentials copied over the file let it back in, without a restart
// of its daemon. A revoked operator's commands are refused.
func TestARevokedHostIsDroppedKeepsItsAppsAndRejoinsWithNewCredentials(t *testing.T) {
	f := newFleet(t, "web-1", "web-2")
	w1 := f.agents["web-1"]
	w1.ok("start", "idle.js", "--name", "keep")
	before := pids(w1.ls()[0])
	daemonPID := regexp.MustCompile(`daemon pid (\d+)`)
	daemonBefore := daemonPID.FindString(w1.ok("ping"))

	out := f.hubHome.ok("hub", "revoke", "web-1")
	if !strings.Contains(out, "revoked host credentials of web-1") {
		t.Fatalf("tend hub revoke web-1 printed:\n%s", out)
	}
	f.awaitHosts("web-1 lost while web-2 stays alive", 20*time.Second, func(hs map[string]fleet.Host) bool {
		return !hs["web-1"].Alive && hs["web-2"].Alive
	})
	await(t, "web-1's daemon logging the refusal", 20*time.Second, func() bool {
		return strings.Contains(readFile(filepath.Join(w1.dir, "tend.log")), "fleet hub refuses this host's credentials")
	})
	if got := w1.ls(); len(got) != 1 || got[0].Status != api.StatusOnline || !slices.Equal(pids(got[0]), before) {
		t.Errorf("web-1's app after the revocation: %+v, want online with pids %v", got, before)
	}
	ls := f.hubHome.ok("hub", "ls")
	if !regexp.MustCompile(`(?m)^web-1\s+host\s+U\S+\s+\S+ \S+\s+\d{4}-`).MatchString(ls) || !regexp.MustCompile(`(?m)^web-2\s+host\s+U\S+\s+\S+ \S+\s+-$`).MatchString(ls) {
		t.Errorf("tend hub ls:\n%s", ls)
	}
	if r := f.hubHome.run("hub", "revoke", "web-1"); r.code == 0 || !strings.Contains(r.stderr, "revoked already") {
		t.Errorf("revoking web-1 again: exit %d, %s", r.code, r.stderr)
	}

	// New credentials over the old file: back, the same daemon.
	f.hubHome.ok("hub", "add-host", "web-1", "--url", "tls://"+f.addr)
	f.awaitHosts("web-1 alive again", 30*time.Second, func(hs map[string]fleet.Host) bool { return hs["web-1"].Alive })
	if got := daemonPID.FindString(w1.ok("ping")); got == "" || got != daemonBefore {
		t.Errorf("web-1's daemon changed: %q, then %q", daemonBefore, got)
	}

	// A revoked operator is refused.
	out = f.hubHome.ok("hub", "creds", "ops")
	creds := regexp.MustCompile(`credentials: (\S+)`).FindStringSubmatch(out)[1]
	env := []string{"TEND_HUB=tls://" + f.addr, "TEND_HUB_CREDS=" + creds, "TEND_HUB_FINGERPRINT=" + f.fp}
	if r := f.hubHome.runEnv(env, "hosts"); r.code != 0 {
		t.Fatalf("tend hosts as ops: exit %d, %s", r.code, r.stderr)
	}
	f.hubHome.ok("hub", "revoke", "--creds", creds)
	await(t, "the revoked operator refused", 10*time.Second, func() bool {
		r := f.hubHome.runEnv(env, "hosts")
		return r.code != 0 && strings.Contains(strings.ToLower(r.stderr), "authorization violation")
	})
}
