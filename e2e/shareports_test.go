package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/api"
)

// PM2's cluster mode without a port: `-i 2` on an app that calls
// app.listen(port) itself. The instances share the port the app listens on;
// tend binds it once, so reloads refuse no connection.

// servedPIDs sends fresh connections to url until it has seen want
// distinct pids answer (Express fixture: {"pid": N}), or fails the test.
func servedPIDs(t *testing.T, url string, want int) []int {
	t.Helper()
	seen := map[int]bool{}
	fresh := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(30 * time.Second)
	var last string
	for len(seen) < want {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d distinct pid(s) answered in 30s, want %d (last: %s)", url, len(seen), want, last)
		}
		resp, err := fresh.Get(url)
		if err != nil {
			last = err.Error()
			time.Sleep(20 * time.Millisecond)
			continue
		}
		var body struct{ PID int }
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil || body.PID == 0 {
			last = fmt.Sprintf("status %d, %v", resp.StatusCode, err)
			continue
		}
		seen[body.PID] = true
	}
	out := make([]int, 0, len(seen))
	for p := range seen {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// checkSharedPort asserts that both instances of name serve url, that
// the pids that answer are the instances', and that reloads under a
// POST load fail no request.
func checkSharedPort(t *testing.T, h *home, name, url string) {
	t.Helper()
	a := h.waitApp(name, "2 instances online", func(a api.App) bool { return allOnline(a) && len(a.Instances) == 2 })
	served := servedPIDs(t, url, 2)
	inst := pids(a)
	slices.Sort(inst)
	if !slices.Equal(served, inst) {
		t.Errorf("pids answering on the app's own port %v, want the instances' %v", served, inst)
	}
	for _, in := range a.Instances {
		if in.Restarts != 0 {
			t.Errorf("instance %d restarted %d times (its port taken by the other?): %+v", in.Index, in.Restarts, in.LastExit)
		}
	}
	l := startLoadMethod(t, http.MethodPost, url, 16)
	l.waitRequests(t, 200)
	for i := range 2 {
		h.ok("reload", name)
		l.waitRequests(t, 200)
		t.Logf("reload %d done", i+1)
	}
	l.check(t, "2 reloads of a cluster without a port, POST")
	waitGone(t, inst...)
	after := h.app(name)
	if !allOnline(after) || len(after.Instances) != 2 {
		t.Fatalf("after reloads: %+v", after)
	}
	servedPIDs(t, url, 2)
}

func TestClusterWithoutPortSharesThePortTheAppListensOn(t *testing.T) {
	h := newHome(t)
	port := freePort(t)
	// Express's app.listen(PORT) with a port tend does not know: PORT comes
	// from the caller's environment, not from --port.
	r := h.runEnv([]string{"PORT=" + strconv.Itoa(port)}, "start", "express-app.js", "--name", "web", "-i", "2", "--listen-timeout", "15s")
	if r.code != 0 {
		t.Fatalf("start exited %d:\n%s%s", r.code, r.stdout, r.stderr)
	}
	checkSharedPort(t, h, "web", fmt.Sprintf("http://127.0.0.1:%d/", port))
	// Stopping the app closes the port: nothing holds it any more.
	h.ok("stop", "web")
	if _, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", port)); err == nil {
		t.Errorf("port %d still accepts connections after stop", port)
	}
}

func TestClusterExecModeInAnEcosystemFileSharesThePort(t *testing.T) {
	h := newHome(t)
	port := freePort(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "ecosystem.config.js")
	eco := fmt.Sprintf(`module.exports = {
  apps: [{
    name: 'web',
    script: %q,
    exec_mode: 'cluster',
    instances: 2,
    listen_timeout: 15000,
    env: { PORT: %d },
  }],
};
`, filepath.Join(fixtures, "express-app.js"), port)
	if err := os.WriteFile(file, []byte(eco), 0o644); err != nil {
		t.Fatal(err)
	}
	r := h.runIn(dir, "start", file)
	if r.code != 0 {
		t.Fatalf("start exited %d:\n%s%s", r.code, r.stdout, r.stderr)
	}
	if strings.Contains(r.stderr, "fork mode") {
		t.Errorf("exec_mode cluster without a port still warns of fork mode:\n%s", r.stderr)
	}
	checkSharedPort(t, h, "web", fmt.Sprintf("http://127.0.0.1:%d/", port))
}

func TestClusterOfAnAppThatNeverListensRunsEveryInstance(t *testing.T) {
	h := newHome(t)
	h.ok("start", "idle.js", "--name", "idle", "-i", "2")
	a := h.waitApp("idle", "2 instances online", func(a api.App) bool { return allOnline(a) && len(a.Instances) == 2 })
	ps := pids(a)
	if len(ps) != 2 || ps[0] == ps[1] {
		t.Fatalf("pids %v, want 2 distinct processes", ps)
	}
	for _, p := range ps {
		if !alive(p) {
			t.Errorf("pid %d is not alive", p)
		}
	}
	h.ok("reload", "idle")
	a = h.waitApp("idle", "2 instances online after reload", func(a api.App) bool { return allOnline(a) && len(a.Instances) == 2 })
	for _, in := range a.Instances {
		if in.Restarts != 1 {
			t.Errorf("instance %d: %d restarts after one reload, want 1", in.Index, in.Restarts)
		}
	}
}

func TestClusterOfANonNodeAppThatBindsOnePortNamesPortAndSocket(t *testing.T) {
	h := newHome(t)
	port := strconv.Itoa(freePort(t))
	// Perl: python3 -m http.server sets SO_REUSEPORT, with which every
	// instance binds the port, and the kernel balances.
	r := h.runEnv([]string{"FIXED_PORT=" + port}, "start", "fixed-port.pl", "--name", "fixed", "-i", "2")
	if r.code == 0 {
		t.Fatalf("start exited 0 while an instance cannot bind port %s:\n%s%s", port, r.stdout, r.stderr)
	}
	t.Logf("start said:\n%s", r.stderr)
	for _, want := range []string{"--port", "--socket", "address already in use"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("start's error does not name %s:\n%s", want, r.stderr)
		}
	}
}

// tend update hands the shared port to the next daemon: a reload after it
// still refuses no connection, and a stop frees the port.
func TestUpdateHandsTheSharedPortOfAClusterWithoutPortOver(t *testing.T) {
	h := newHome(t)
	next := buildVersion(t, "9.9.9-share")
	port := freePort(t)
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	r := h.runEnv([]string{"PORT=" + strconv.Itoa(port)}, "start", "express-app.js", "--name", "web", "-i", "2", "--listen-timeout", "15s")
	if r.code != 0 {
		t.Fatalf("start exited %d:\n%s%s", r.code, r.stdout, r.stderr)
	}
	h.waitApp("web", "2 instances online", func(a api.App) bool { return allOnline(a) && len(a.Instances) == 2 })
	servedPIDs(t, url, 2)
	l := startLoadMethod(t, http.MethodPost, url, 8)
	l.waitRequests(t, 200)
	h.ok("update", "--binary", next)
	l.waitRequests(t, 200)
	h.ok("reload", "web")
	l.waitRequests(t, 200)
	l.check(t, "tend update, then a reload, of a cluster without a port")
	servedPIDs(t, url, 2)
	h.ok("stop", "web")
	if _, err := http.Get(url); err == nil {
		t.Errorf("port %d still accepts connections after stop", port)
	}
}

// A Node app without a port started with one instance binds its port by
// itself; scaled up, its new instances share that very socket (the daemon
// takes a descriptor of it from the running instance), so they neither
// crash-loop on EADDRINUSE nor make the running one refuse a connection,
// and reloads from then on fail no request.
func TestScaleUpOfANodeAppWithoutAPortSharesThePortItBound(t *testing.T) {
	h := newHome(t)
	port := freePort(t)
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	r := h.runEnv([]string{"PORT=" + strconv.Itoa(port)}, "start", "express-app.js", "--name", "web", "--listen-timeout", "15s")
	if r.code != 0 {
		t.Fatalf("start exited %d:\n%s%s", r.code, r.stdout, r.stderr)
	}
	first := pids(h.waitApp("web", "online", allOnline))
	// One instance without a port is online once it runs, not once it
	// listens (tend does not know its port): wait until it serves.
	servedPIDs(t, url, 1)
	// step runs a command under a POST load and checks that it failed no
	// request.
	step := func(what string, args ...string) {
		t.Helper()
		l := startLoadMethod(t, http.MethodPost, url, 16)
		l.waitRequests(t, 200)
		h.ok(args...)
		l.waitRequests(t, 200)
		l.check(t, what)
	}

	step("scale 1 -> 3", "scale", "web", "3")
	a := h.waitApp("web", "3 instances online", func(a api.App) bool { return allOnline(a) && len(a.Instances) == 3 })
	for _, in := range a.Instances {
		if in.Restarts != 0 {
			t.Errorf("instance %d restarted %d times (its port taken?): %+v", in.Index, in.Restarts, in.LastExit)
		}
	}
	inst := pids(a)
	if !slices.Contains(inst, first[0]) {
		t.Errorf("the first instance (pid %d) is gone after the scale: %v", first[0], inst)
	}
	slices.Sort(inst)
	if served := servedPIDs(t, url, 3); !slices.Equal(served, inst) {
		t.Errorf("pids answering on the app's port %v, want the instances' %v", served, inst)
	}
	step("reload of 3", "reload", "web")
	waitGone(t, inst...)
	servedPIDs(t, url, 3)

	// Scaled down to one again, the instance goes on sharing the socket
	// the daemon holds: a reload still fails no request, and a crash
	// brings it back rather than into a loop of EADDRINUSE.
	step("scale 3 -> 1", "scale", "web", "1")
	h.waitApp("web", "1 instance online", func(a api.App) bool { return allOnline(a) && len(a.Instances) == 1 })
	step("reload of 1", "reload", "web")
	one := h.waitApp("web", "1 instance online", func(a api.App) bool { return allOnline(a) && len(a.Instances) == 1 })
	syscall.Kill(one.Instances[0].PID, syscall.SIGKILL)
	back := h.waitApp("web", "back after a crash", func(a api.App) bool {
		return allOnline(a) && len(a.Instances) == 1 && a.Instances[0].PID != one.Instances[0].PID
	})
	if got, want := back.Instances[0].Restarts, one.Instances[0].Restarts+1; got != want {
		t.Errorf("after one crash: %d restarts, want %d; last exit %+v", got, want, back.Instances[0].LastExit)
	}
	servedPIDs(t, url, 1)
}
