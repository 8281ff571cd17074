package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/api"
)

// ping is the daemon's answer to GET /v1/ping, through tend ping --json.
func (h *home) pingJSON() api.Ping {
	h.t.Helper()
	var p api.Ping
	mustJSON(h.t, h.ok("ping", "--json"), &p)
	return p
}

// ticks reads the counter fixture's log and returns its numbers in order.
func ticks(t *testing.T, path string) []int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	re := regexp.MustCompile(`tick (\d+)$`)
	var out []int
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := re.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		n, _ := strconv.Atoi(m[1])
		out = append(out, n)
	}
	return out
}

// waitTick waits until the counter's log holds a tick of at least n.
func waitTick(t *testing.T, path string, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if ts := ticks(t, path); len(ts) > 0 && ts[len(ts)-1] >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the counter never reached tick %d in %s", n, path)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// checkTicks fails unless the ticks count up by one from the first.
func checkTicks(t *testing.T, ts []int) {
	t.Helper()
	if len(ts) == 0 {
		t.Fatal("no tick in the counter's log")
	}
	for i := 1; i < len(ts); i++ {
		if ts[i] != ts[i-1]+1 {
			t.Fatalf("counter log: tick %d follows tick %d (line %d): a line was lost or doubled", ts[i], ts[i-1], i+1)
		}
	}
}

// buildVersion builds tend with another version string, as a new release
// would be, and returns its path.
func buildVersion(t *testing.T, v string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "tend-next")
	build := exec.Command("go", "build", "-race", "-ldflags", "-X github.com/tendhq/tend/internal/version.Override="+v, "-o", bin, "./cmd/tend")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build tend %s: %v\n%s", v, err, out)
	}
	return bin
}

func TestUpdateKeepsProcessesLogLinesAndConnections(t *testing.T) {
	h := newHome(t)
	next := buildVersion(t, "9.9.9-update")
	url := startCluster(t, h, "web", 2)
	h.ok("start", "counter.js", "--name", "counter")
	web := h.waitApp("web", "online", allOnline)
	counter := h.waitApp("counter", "online", allOnline)
	before := append(pids(web), pids(counter)...)
	daemon := h.pingJSON()
	log := filepath.Join(h.dir, "logs", "counter-out.log")
	waitTick(t, log, 200)

	l := startLoad(t, url+"/", 16)
	l.waitRequests(t, 300)
	out := h.ok("update", "--binary", next)
	t.Logf("tend update: %s", strings.TrimSpace(out))
	l.waitRequests(t, 300)
	l.check(t, "tend update")

	after := h.pingJSON()
	if after.PID != daemon.PID {
		t.Errorf("daemon pid %d after update, want %d (re-exec in place)", after.PID, daemon.PID)
	}
	if after.Version != "9.9.9-update" {
		t.Errorf("daemon version %q after update, want the new binary's 9.9.9-update", after.Version)
	}
	if v := h.ok("version"); !strings.Contains(v, "daemon  9.9.9-update") {
		t.Errorf("tend version does not show the new daemon:\n%s", v)
	}
	web, counter = h.app("web"), h.app("counter")
	if got := append(pids(web), pids(counter)...); !slices.Equal(got, before) || !allOnline(web) || !allOnline(counter) {
		t.Errorf("pids %v after update, want %v, all online", got, before)
	}
	for _, a := range []api.App{web, counter} {
		for _, in := range a.Instances {
			if in.Restarts != 0 {
				t.Errorf("%s instance %d restarted %d times", a.Name, in.Index, in.Restarts)
			}
		}
	}
	// The counter kept writing through the hand-over: every line once.
	ts := ticks(t, log)
	waitTick(t, log, ts[len(ts)-1]+300)
	checkTicks(t, ticks(t, log))
	// The new daemon still owns the processes: a stop stops them.
	h.ok("stop", "counter")
	waitGone(t, pids(counter)...)
}

func TestUpdateToABrokenBinaryLeavesTheOldDaemonServing(t *testing.T) {
	h := newHome(t)
	url := startCluster(t, h, "web", 1)
	before := pids(h.waitApp("web", "online", allOnline))
	daemon := h.pingJSON()
	broken := filepath.Join(t.TempDir(), "tend-broken")
	if err := os.WriteFile(broken, []byte("#!/bin/sh\necho 'segmentation fault' >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	stderr := h.fails("update", "--binary", broken)
	if !strings.Contains(stderr, broken) || !strings.Contains(stderr, "segmentation fault") {
		t.Errorf("update with a broken binary: stderr does not name the binary and why:\n%s", stderr)
	}
	if p := h.pingJSON(); p.PID != daemon.PID || p.Version != daemon.Version || !p.StartedAt.Equal(daemon.StartedAt) {
		t.Errorf("daemon after a failed update: %+v, want the same as before %+v", p, daemon)
	}
	if got := pids(h.app("web")); !slices.Equal(got, before) {
		t.Errorf("pids %v after a failed update, want %v", got, before)
	}
	get(t, url+"/")
	// A file that is not there is refused too, naming it.
	if stderr := h.fails("update", "--binary", broken+".missing"); !strings.Contains(stderr, broken+".missing") {
		t.Errorf("update with a missing binary: %s", stderr)
	}
}

// When the new binary cannot be executed after all (here it passes the
// check and then is gone), the old one is executed again with the same
// hand-over: the apps are kept, and update fails saying why.
func TestUpdateWhoseExecFailsGoesOnWithTheOldBinary(t *testing.T) {
	h := newHome(t)
	url := startCluster(t, h, "web", 2)
	h.ok("start", "counter.js", "--name", "counter")
	before := append(pids(h.waitApp("web", "online", allOnline)), pids(h.waitApp("counter", "online", allOnline))...)
	daemon := h.pingJSON()
	vanishing := filepath.Join(t.TempDir(), "tend-vanishing")
	script := fmt.Sprintf("#!/bin/sh\nrm -f \"$0\"\nexec %s \"$@\"\n", tendBin)
	if err := os.WriteFile(vanishing, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	stderr := h.fails("update", "--binary", vanishing)
	if !strings.Contains(stderr, "keeps running") || !strings.Contains(stderr, vanishing) {
		t.Errorf("update whose exec failed: stderr does not say the daemon keeps running and why:\n%s", stderr)
	}
	p := h.pingJSON()
	if p.PID != daemon.PID || p.Version != daemon.Version {
		t.Errorf("daemon after a failed exec: %+v, want pid %d version %s", p, daemon.PID, daemon.Version)
	}
	web, counter := h.waitApp("web", "online", allOnline), h.waitApp("counter", "online", allOnline)
	if got := append(pids(web), pids(counter)...); !slices.Equal(got, before) {
		t.Errorf("pids %v after the failed exec, want %v", got, before)
	}
	get(t, url+"/")
	log := filepath.Join(h.dir, "logs", "counter-out.log")
	ts := ticks(t, log)
	waitTick(t, log, ts[len(ts)-1]+200)
	checkTicks(t, ticks(t, log))
}

// A new program that dies after the exec, before it has adopted the apps,
// takes them with it (parent-death signal), and the next tend command
// starts a daemon that restores each once, leaving nothing behind: the
// fallback README documents.
func TestUpdateToAProgramThatDiesAfterTheExecRestoresTheApps(t *testing.T) {
	h := newHome(t)
	h.ok("start", "idle.js", "--name", "idle", "-i", "2")
	before := pids(h.waitApp("idle", "online", allOnline))
	daemon := h.pingJSON()
	dying := filepath.Join(t.TempDir(), "tend-dying")
	script := fmt.Sprintf("#!/bin/sh\n[ \"$1\" = %s ] && exec %s \"$@\"\nexit 1\n", "__update-check", tendBin)
	if err := os.WriteFile(dying, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	if r := h.run("update", "--binary", dying); r.code == 0 {
		t.Errorf("update to a program that dies: exit 0\n%s", r.stdout)
	}
	waitGone(t, append(before, daemon.PID)...)
	after := h.waitApp("idle", "online", allOnline)
	if len(after.Instances) != 2 || slices.Contains(pids(after), before[0]) || slices.Contains(pids(after), before[1]) {
		t.Errorf("after the dead update: %+v, want 2 new instances", after.Instances)
	}
	if running := h.processes(); len(running) != 2 {
		t.Errorf("processes of this home %v, want exactly the 2 instances", running)
	}
}

func TestUpdateOnSIGHUP(t *testing.T) {
	h := newHome(t)
	h.ok("start", "counter.js", "--name", "counter")
	before := pids(h.waitApp("counter", "online", allOnline))
	p := h.pingJSON()
	if err := syscall.Kill(p.PID, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := h.run("ping", "--json")
		var q struct {
			PID     int `json:"pid"`
			Updates int `json:"updates"`
		}
		if r.code == 0 && json.Unmarshal([]byte(r.stdout), &q) == nil && q.Updates > 0 {
			if q.PID != p.PID {
				t.Fatalf("daemon pid %d after SIGHUP, want %d", q.PID, p.PID)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the daemon never came back from SIGHUP as an updated daemon: %+v", r)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := pids(h.app("counter")); !slices.Equal(got, before) {
		t.Errorf("pids %v after SIGHUP, want %v", got, before)
	}
}

// chaosDuration bounds the chaos test: TEND_CHAOS (a duration) or 30 s.
func chaosDuration(t *testing.T) time.Duration {
	if s := os.Getenv("TEND_CHAOS"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 || d > 10*time.Minute {
			t.Fatalf("TEND_CHAOS=%q: want a duration up to 10m", s)
		}
		return d
	}
	return 30 * time.Second
}

func TestChaosOfKillsAndUpdatesLeavesEveryAppOnceAndNoOrphan(t *testing.T) {
	h := newHome(t)
	startCluster(t, h, "web", 2)
	h.ok("start", "counter.js", "--name", "counter")
	h.ok("start", "idle.js", "--name", "idle", "-i", "2")
	want := map[string]int{"web": 2, "counter": 1, "idle": 2}
	waitAll := func() []api.App {
		t.Helper()
		for name := range want {
			h.waitApp(name, "online", allOnline)
		}
		return h.ls()
	}
	waitAll()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	end := time.Now().Add(chaosDuration(t))
	kills, daemonKills, updates := 0, 0, 0
	for time.Now().Before(end) {
		switch n := rng.IntN(10); {
		case n < 7:
			var all []int
			for _, a := range h.ls() {
				all = append(all, pids(a)...)
			}
			if len(all) > 0 {
				_ = syscall.Kill(all[rng.IntN(len(all))], syscall.SIGKILL)
				kills++
			}
		case n < 9:
			r := h.run("ping", "--json")
			var p api.Ping
			if r.code == 0 && json.Unmarshal([]byte(r.stdout), &p) == nil {
				_ = syscall.Kill(p.PID, syscall.SIGKILL)
				daemonKills++
			}
		default:
			if r := h.run("update"); r.code == 0 {
				updates++
			} else {
				t.Logf("update during chaos: %s", r.stderr)
			}
		}
		time.Sleep(time.Duration(rng.IntN(200)) * time.Millisecond)
	}
	t.Logf("chaos: %d app kills, %d daemon kills, %d updates", kills, daemonKills, updates)

	// Every app is back, and the daemon that came out of it updates too.
	waitAll()
	var before []int
	for _, a := range h.ls() {
		before = append(before, pids(a)...)
	}
	h.ok("update")
	// Each instance exactly once, the same processes as before the update.
	apps := waitAll()
	var listed []int
	for _, a := range apps {
		if len(a.Instances) != want[a.Name] {
			t.Errorf("%s has %d instances, want %d", a.Name, len(a.Instances), want[a.Name])
		}
		listed = append(listed, pids(a)...)
	}
	if !slices.Equal(listed, before) {
		t.Errorf("pids %v after the last update, want %v", listed, before)
	}
	slices.Sort(listed)
	// No orphan: the processes of this home are exactly those listed
	// (an app's own children would show here; these fixtures have none).
	deadline := time.Now().Add(10 * time.Second)
	for {
		running := h.processes()
		slices.Sort(running)
		if slices.Equal(running, listed) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes of this home %v, want exactly the listed instances %v", running, listed)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// No zombie: the daemon reaps every child it had.
	daemon := h.daemonPID()
	for {
		z := zombiesOf(daemon)
		if len(z) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("zombie children of the daemon: %v", z)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The state on disk is what runs.
	var st struct {
		Apps []struct {
			Spec  struct{ Name string }
			Procs []struct {
				PID int `json:"pid"`
			}
		}
	}
	b, err := os.ReadFile(filepath.Join(h.dir, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	mustJSON(t, string(b), &st)
	var saved []int
	for _, a := range st.Apps {
		for _, p := range a.Procs {
			saved = append(saved, p.PID)
		}
	}
	slices.Sort(saved)
	if len(st.Apps) != len(want) || !slices.Equal(saved, listed) {
		t.Errorf("state.json has %d apps with pids %v, want %d apps with %v", len(st.Apps), saved, len(want), listed)
	}
}

// zombiesOf lists the zombie children of pid.
func zombiesOf(pid int) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", child))
		if err != nil {
			continue
		}
		i := strings.LastIndexByte(string(b), ')')
		f := strings.Fields(string(b)[i+1:])
		if len(f) > 1 && f[0] == "Z" && f[1] == strconv.Itoa(pid) {
			out = append(out, child)
		}
	}
	return out
}
