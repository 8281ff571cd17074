package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// runTend starts `tend run args...` in h's home and returns it with a
// reader of its stdout.
func runTend(t *testing.T, h *home, args ...string) (*exec.Cmd, *bufio.Scanner, chan error) {
	t.Helper()
	return runTendVerb(t, h, "run", args...)
}

// sigtermExits0 sends SIGTERM to a foreground tend and checks that it
// exits 0 (within 20 s).
func sigtermExits0(t *testing.T, cmd *exec.Cmd, exited chan error, what string) {
	t.Helper()
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("%s after SIGTERM: %v, want exit 0", what, err)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("%s did not exit after SIGTERM", what)
	}
}

// runTendVerb starts `tend verb args...` in the foreground, as runTend.
func runTendVerb(t *testing.T, h *home, verb string, args ...string) (*exec.Cmd, *bufio.Scanner, chan error) {
	t.Helper()
	cmd := exec.Command(tendBin, append([]string{verb}, args...)...)
	cmd.Env = h.env
	cmd.Dir = fixtures
	cmd.Stderr = os.Stderr
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	done := make(chan struct{})
	go func() { exited <- cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGKILL)
		<-done
	})
	return cmd, bufio.NewScanner(out), exited
}

func TestRunReapsAndStopsGracefully(t *testing.T) {
	h := newHome(t)
	dir := t.TempDir()
	eco := filepath.Join(dir, "tend.yaml")
	writeEco(t, eco, fmt.Sprintf("apps:\n  - name: orphans\n    script: %s/orphaner.js\n    kill_timeout: 5s\n  - name: idle\n    script: %s/idle.js\n    instances: 2\n", fixtures, fixtures))
	cmd, out, exited := runTend(t, h, eco)

	// Its output carries the apps' lines, app and instance named.
	var orphans []int
	for len(orphans) < 3 && out.Scan() {
		line := out.Text()
		if rest, ok := strings.CutPrefix(line, "orphans[0] | orphan "); ok {
			pid, _ := strconv.Atoi(rest)
			orphans = append(orphans, pid)
		}
	}
	if len(orphans) < 3 {
		t.Fatalf("no orphan lines in tend run's output: %v", out.Err())
	}
	go func() {
		for out.Scan() { // keep draining
		}
	}()
	// Every orphan is reaped, not left as a zombie.
	for _, pid := range orphans {
		deadline := time.Now().Add(10 * time.Second)
		for syscall.Kill(pid, 0) == nil {
			if time.Now().After(deadline) {
				t.Fatalf("orphan %d not reaped (zombie: %v)", pid, isZombie(pid))
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	// The control socket works alongside.
	apps := h.ls()
	if len(apps) != 2 {
		t.Fatalf("tend ls during tend run: %d apps", len(apps))
	}
	running := append(pids(apps[0]), pids(apps[1])...)
	sigtermExits0(t, cmd, exited, "tend run")
	waitGone(t, running...)
	if n := h.processes(); len(n) > 0 {
		t.Errorf("processes left after tend run: %v", n)
	}
}

func TestRunExitsNonZeroWhenAnAppErrors(t *testing.T) {
	h := newHome(t)
	_, out, exited := runTend(t, h, "crash.js", "--max-restarts", "2")
	go func() {
		for out.Scan() {
		}
	}()
	select {
	case err := <-exited:
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 1 {
			t.Errorf("tend run with an errored app: %v, want exit 1", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("tend run did not exit when its app errored")
	}
}

func TestRunRefusesABadFileBeforeStarting(t *testing.T) {
	h := newHome(t)
	bad := filepath.Join(t.TempDir(), "tend.yaml")
	writeEco(t, bad, "apps:\n  - name: x\n    script: nope.js\n")
	r := h.run("run", bad)
	if r.code == 0 || !strings.Contains(r.stderr, "nope.js") {
		t.Errorf("tend run with a bad file: exit %d, %s", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(h.dir, "tend.sock")); err == nil {
		t.Errorf("a daemon started for a bad file")
	}
}

// As PID 1 of a PID namespace (a container), tend run adopts every orphan
// of the apps and must reap them all.
func TestRunAsPID1ReapsOrphans(t *testing.T) {
	h := newHome(t)
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("unshare (util-linux) is needed")
		}
		t.Skip("no unshare")
	}
	eco := filepath.Join(t.TempDir(), "tend.yaml")
	writeEco(t, eco, fmt.Sprintf("apps:\n  - name: orphans\n    script: %s/orphaner.js\n", fixtures))
	cmd := exec.Command(unshare, "--pid", "--fork", "--mount-proc", tendBin, "run", eco)
	cmd.Env = h.env
	cmd.Stderr = os.Stderr
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	})
	sc := bufio.NewScanner(out)
	seen := 0
	for seen < 5 && sc.Scan() {
		if strings.Contains(sc.Text(), "| orphan ") {
			seen++
		}
	}
	if seen < 5 {
		t.Fatalf("tend run as PID 1 printed %d orphan lines", seen)
	}
	go func() {
		for sc.Scan() {
		}
	}()
	// tend is the child of unshare, PID 1 inside.
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", cmd.Process.Pid, cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	pid1, _ := strconv.Atoi(strings.Fields(string(b))[0])
	zombies := func() int {
		n := 0
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
			if err != nil {
				continue
			}
			i := strings.LastIndexByte(string(stat), ')')
			f := strings.Fields(string(stat[i+2:]))
			if len(f) > 1 && f[0] == "Z" && f[1] == strconv.Itoa(pid1) {
				n++
			}
		}
		return n
	}
	// Orphans die every 200ms; each is reaped at once, so zombies never
	// pile up: a few checks in a row see none, or one in passing.
	deadline := time.Now().Add(5 * time.Second)
	for zombies() > 1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d zombies under tend run as PID 1", zombies())
		}
		time.Sleep(50 * time.Millisecond)
	}
	syscall.Kill(pid1, syscall.SIGTERM)
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("tend run as PID 1 after SIGTERM: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("tend run as PID 1 did not exit on SIGTERM")
	}
}

// In a container stdout is all that survives: what the apps print while
// they shut down after SIGTERM reaches it, every line, before tend run
// exits.
func TestRunDrainsLastWordsToStdout(t *testing.T) {
	h := newHome(t)
	cmd, out, exited := runTend(t, h, "goodbye.js", "-i", "2")
	up := 0
	for up < 2 && out.Scan() {
		if strings.HasSuffix(out.Text(), "| up") {
			up++
		}
	}
	if up < 2 {
		t.Fatalf("instances did not say up: %v", out.Err())
	}
	cmd.Process.Signal(syscall.SIGTERM)
	var rest []string
	for out.Scan() {
		rest = append(rest, out.Text())
	}
	if err := <-exited; err != nil {
		t.Fatalf("tend run: %v", err)
	}
	got := strings.Join(rest, "\n")
	for i := range 2 {
		for _, want := range []string{"last words 4", "last error 4", "goodbye"} {
			line := fmt.Sprintf("goodbye[%d] | %s", i, want)
			if !strings.Contains(got, line) {
				t.Errorf("stdout lacks %q after SIGTERM:\n%s", line, got)
			}
		}
	}
}

// tend run takes the daemon.yaml of its home: a container scraped by
// Prometheus gets /metrics (with its token) for the apps it runs, and the
// dashboard is served where dashboard_addr says.
func TestRunServesTheMetricsOfDaemonYAML(t *testing.T) {
	h := newHome(t)
	mport, dport := freePort(t), freePort(t)
	if err := os.WriteFile(filepath.Join(h.dir, "daemon.yaml"), []byte(fmt.Sprintf("metrics_addr: 127.0.0.1:%d\nmetrics_token: s3cret\nmetrics_interval: 200ms\ndashboard_addr: 127.0.0.1:%d\n", mport, dport)), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd, out, exited := runTend(t, h, "idle.js", "--name", "job")
	go func() {
		for out.Scan() {
		}
	}()
	url := fmt.Sprintf("http://127.0.0.1:%d/metrics", mport)
	want := `tend_instance_up{app="job",instance="0",namespace="default"} 1`
	deadline := time.Now().Add(20 * time.Second)
	for {
		// scrape fails the test on a refused connection: dial first.
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", mport)); err == nil {
			c.Close()
			if code, body := scrape(t, url, "s3cret"); code == http.StatusOK && strings.Contains(body, want) {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("tend run never served %s on %s", want, url)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code, _ := scrape(t, url, ""); code != http.StatusUnauthorized {
		t.Errorf("/metrics without the token: %d, want 401", code)
	}
	// The dashboard of daemon.yaml too, logged into with a link.
	base, link := h.dashboard()
	if want := fmt.Sprintf("http://127.0.0.1:%d", dport); base != want {
		t.Errorf("tend run's dashboard is at %s, want %s (dashboard_addr)", base, want)
	}
	jar, _ := cookiejar.New(nil)
	resp, err := (&http.Client{Jar: jar, Timeout: 10 * time.Second}).Get(link)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "data-csrf=") {
		t.Errorf("the login link of tend run's dashboard: %d\n%s", resp.StatusCode, body)
	}
	sigtermExits0(t, cmd, exited, "tend run")
}
