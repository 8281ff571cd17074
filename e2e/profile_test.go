package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
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
	"github.com/tendhq/tend/internal/inspect"
)

// inspectPort reads the inspector port tend gave an instance from its
// environment (`tend env`).
func inspectPort(t *testing.T, h *home, app string) int {
	t.Helper()
	out := h.ok("env", app)
	m := regexp.MustCompile(`--inspect-port=127\.0\.0\.1:(\d+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no --inspect-port=127.0.0.1:N in the environment of %s:\n%s", app, out)
	}
	p, _ := strconv.Atoi(m[1])
	return p
}

// refuses fails the test unless 127.0.0.1:port refuses connections.
func refuses(t *testing.T, port int, when string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 2*time.Second)
	if err == nil {
		c.Close()
		t.Fatalf("%s: the inspector port %d accepts connections", when, port)
	}
}

func readCPUProfile(t *testing.T, file string) inspect.CPUProfile {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var p inspect.CPUProfile
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatalf("%s is not a cpu profile: %v", file, err)
	}
	if len(p.Nodes) == 0 || len(p.Samples) == 0 || len(p.TimeDeltas) != len(p.Samples) {
		t.Fatalf("%s: %d nodes, %d samples, %d timeDeltas", file, len(p.Nodes), len(p.Samples), len(p.TimeDeltas))
	}
	return p
}

func TestProfileCPUFindsTheHotFunctionAndClosesTheInspector(t *testing.T) {
	h := newHome(t)
	port := freePort(t)
	h.ok("start", "hot.js", "--name", "hot", "--port", strconv.Itoa(port))
	before := h.waitApp("hot", "online", allOnline)
	insp := inspectPort(t, h, "hot")
	refuses(t, insp, "before the profile")

	l := startLoad(t, fmt.Sprintf("http://127.0.0.1:%d/", port), 2)
	l.waitRequests(t, 10)
	dir := t.TempDir()
	file := filepath.Join(dir, "hot.cpuprofile")
	r := h.run("profile", "cpu", "hot", "--duration", "2s", "-o", file)
	if r.code != 0 {
		t.Fatalf("profile cpu: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	l.waitRequests(t, 10)
	l.check(t, "requests during the profile")
	if !strings.Contains(r.stdout, "wrote "+file) || !strings.Contains(r.stderr, "recording a CPU profile of hot instance 0") {
		t.Errorf("profile cpu printed:\n%s%s", r.stdout, r.stderr)
	}
	p := readCPUProfile(t, file)
	if top := p.TopSelf(3); !slices.Contains(top, "hotLoopForProfile") {
		t.Errorf("hotLoopForProfile is not among the top self-time functions %q", top)
	}
	refuses(t, insp, "after the profile")

	// The default file name, in the current directory.
	cmd := exec.Command(tendBin, "profile:cpu", "hot", "--duration", "500ms")
	cmd.Env, cmd.Dir = h.env, dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("profile:cpu: %v\n%s", err, out)
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "hot-0-*.cpuprofile"))
	if len(matches) != 1 {
		t.Fatalf("files named hot-0-<time>.cpuprofile: %q", matches)
	}
	readCPUProfile(t, matches[0])
	refuses(t, insp, "after the second profile")

	// PM2's inspect verb records a CPU profile the same way.
	viaInspect := filepath.Join(dir, "inspect.cpuprofile")
	if r := h.run("inspect", "hot", "--duration", "500ms", "-o", viaInspect); r.code != 0 {
		t.Fatalf("inspect: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	readCPUProfile(t, viaInspect)
	refuses(t, insp, "after inspect")

	after := h.app("hot")
	if after.Instances[0].PID != before.Instances[0].PID || after.Instances[0].Restarts != 0 || after.Status != api.StatusOnline {
		t.Errorf("the app was touched: before %+v, after %+v", before.Instances[0], after.Instances[0])
	}
}

func TestProfileCPUStopsEarlyOnCtrlC(t *testing.T) {
	h := newHome(t)
	h.ok("start", "hot.js", "--name", "hot", "--port", strconv.Itoa(freePort(t)))
	h.waitApp("hot", "online", allOnline)
	insp := inspectPort(t, h, "hot")
	file := filepath.Join(t.TempDir(), "early.cpuprofile")
	cmd, lines := startTend(t, h, "profile", "cpu", "hot", "--duration", "5m", "-o", file)
	waitLine(t, lines, "recording a CPU profile")
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("profile stopped by Ctrl-C: %v", err)
	}
	p := readCPUProfile(t, file)
	if span := time.Duration(p.EndTime-p.StartTime) * time.Microsecond; span >= time.Minute {
		t.Errorf("profile spans %s: Ctrl-C did not stop it early", span)
	}
	refuses(t, insp, "after a profile stopped early")
}

// startTend runs tend in the background and returns its stderr lines.
func startTend(t *testing.T, h *home, args ...string) (*exec.Cmd, <-chan string) {
	t.Helper()
	cmd := exec.Command(tendBin, args...)
	cmd.Env, cmd.Dir = h.env, fixtures
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd, lines
}

func waitLine(t *testing.T, lines <-chan string, want string) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("tend ended without printing %q", want)
			}
			if strings.Contains(l, want) {
				return
			}
		case <-timeout:
			t.Fatalf("tend never printed %q", want)
		}
	}
}

// snapshotCount returns how many nodes named name a heap snapshot has.
func snapshotCount(t *testing.T, file, name string) int {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	n, err := inspect.CountIn(b, name)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return n
}

func TestProfileHeapShowsTheLeakGrowing(t *testing.T) {
	h := newHome(t)
	port := freePort(t)
	h.ok("start", "leaky.js", "--name", "leaky", "--port", strconv.Itoa(port))
	h.waitApp("leaky", "online", allOnline)
	insp := inspectPort(t, h, "leaky")
	dir := t.TempDir()
	first, second := filepath.Join(dir, "1.heapsnapshot"), filepath.Join(dir, "2.heapsnapshot")
	// The snapshot holds the event loop: requests wait, and none fails.
	l := startLoad(t, fmt.Sprintf("http://127.0.0.1:%d/", port), 2)
	l.waitRequests(t, 10)
	h.ok("profile", "heap", "leaky", "-o", first)
	l.waitRequests(t, 10)
	l.check(t, "requests during a heap snapshot")
	refuses(t, insp, "after a heap snapshot")
	// Wait until the fixture says it keeps a thousand widgets more.
	kept := func() int {
		var n int
		fmt.Sscanf(get(t, fmt.Sprintf("http://127.0.0.1:%d/", port)), "ok %d", &n)
		return n
	}
	want := kept() + 1000
	deadline := time.Now().Add(30 * time.Second)
	for kept() < want {
		if time.Now().After(deadline) {
			t.Fatal("leaky.js stopped leaking")
		}
		time.Sleep(20 * time.Millisecond)
	}
	h.ok("profile", "heap", "leaky", "-o", second)
	a, b := snapshotCount(t, first, "LeakyWidget"), snapshotCount(t, second, "LeakyWidget")
	t.Logf("LeakyWidget nodes: %d, then %d", a, b)
	if a == 0 || b <= a {
		t.Errorf("LeakyWidget nodes: %d in the first snapshot, %d in the second: want a growing count", a, b)
	}

	// A sampling heap profile, and PM2's profile:mem for one.
	for _, args := range [][]string{
		{"profile", "heap", "leaky", "--sampling", "--duration", "2s", "-o", filepath.Join(dir, "s.heapprofile")},
		{"profile:mem", "leaky", "--duration", "2s", "-o", filepath.Join(dir, "m.heapprofile")},
	} {
		h.ok(args...)
		raw, err := os.ReadFile(args[len(args)-1])
		if err != nil {
			t.Fatal(err)
		}
		var p struct {
			Head *struct {
				CallFrame struct {
					FunctionName string `json:"functionName"`
				} `json:"callFrame"`
			} `json:"head"`
		}
		if err := json.Unmarshal(raw, &p); err != nil || p.Head == nil || !bytes.Contains(raw, []byte("leaky.js")) {
			t.Errorf("%s: not a heap profile of leaky.js (%v):\n%.300s", args[len(args)-1], err, raw)
		}
	}
	refuses(t, insp, "after the sampling profiles")
	if a := h.app("leaky"); a.Instances[0].Restarts != 0 {
		t.Errorf("leaky restarted %d times", a.Instances[0].Restarts)
	}
}

func TestProfileErrorsLeaveTheAppAlone(t *testing.T) {
	h := newHome(t)
	h.ok("start", "wait.sh", "--name", "sh")
	h.ok("start", "idle.js", "--name", "stopped")
	h.ok("stop", "stopped")
	h.ok("start", "hot.js", "--name", "hot", "-i", "2", "--port", strconv.Itoa(freePort(t)))
	before := h.waitApp("hot", "online", allOnline)
	h.waitApp("sh", "online", allOnline)
	out := filepath.Join(t.TempDir(), "x.cpuprofile")

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"profile", "cpu", "sh", "-o", out}, "sh is not a Node.js app"},
		{[]string{"profile", "heap", "stopped", "-o", out}, "stopped instance 0 is stopped: instance not online"},
		{[]string{"profile", "cpu", "hot", "--instance", "2", "-o", out}, "hot has 2 instance(s), 0 to 1: no such instance 2"},
		{[]string{"profile", "cpu", "nosuchapp", "-o", out}, `no app, id or namespace matches "nosuchapp"`},
		{[]string{"profile", "cpu", "hot", "--interval", "10us", "-o", out}, "interval 10µs: want 50µs to 1s"},
		{[]string{"profile", "cpu", "hot", "--duration", "11m", "-o", out}, "duration 11m0s: want more than 0 and at most 10m0s"},
	} {
		if msg := h.fails(c.args...); !strings.Contains(msg, c.want) {
			t.Errorf("tend %s: %q, want %q", strings.Join(c.args, " "), msg, c.want)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a failed profile left %s (%v)", out, err)
	}

	// Two profiles of one instance at once: the second is refused, the
	// first goes on; another instance can be profiled meanwhile.
	first := filepath.Join(t.TempDir(), "first.cpuprofile")
	cmd, lines := startTend(t, h, "profile", "cpu", "hot", "--duration", "5m", "-o", first)
	waitLine(t, lines, "recording a CPU profile")
	if msg := h.fails("profile", "cpu", "hot", "--duration", "1s", "-o", out); !strings.Contains(msg, "hot instance 0 is already being profiled") {
		t.Errorf("second profile of instance 0: %q", msg)
	}
	h.ok("profile", "cpu", "hot", "-i", "1", "--duration", "500ms", "-o", filepath.Join(t.TempDir(), "other.cpuprofile"))
	_ = cmd.Process.Signal(syscall.SIGINT)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("first profile: %v", err)
	}
	readCPUProfile(t, first)

	after := h.app("hot")
	for i := range after.Instances {
		if after.Instances[i].PID != before.Instances[i].PID || after.Instances[i].Restarts != 0 {
			t.Errorf("instance %d was touched: before %+v, after %+v", i, before.Instances[i], after.Instances[i])
		}
	}
	if a := h.app("sh"); a.Status != api.StatusOnline || a.Instances[0].Restarts != 0 {
		t.Errorf("sh was touched: %+v", a)
	}
}

// An instance adopted across `tend update` keeps its inspector port: it can
// be profiled by the new daemon, and the inspector closes after.
func TestProfileAfterAnUpdate(t *testing.T) {
	h := newHome(t)
	h.ok("start", "hot.js", "--name", "hot", "--port", strconv.Itoa(freePort(t)))
	before := pids(h.waitApp("hot", "online", allOnline))
	insp := inspectPort(t, h, "hot")
	h.ok("update")
	if got := pids(h.waitApp("hot", "online", allOnline)); !slices.Equal(got, before) {
		t.Fatalf("pids %v after the update, want %v", got, before)
	}
	file := filepath.Join(t.TempDir(), "hot.cpuprofile")
	if r := h.run("profile", "cpu", "hot", "--duration", "1s", "-o", file); r.code != 0 {
		t.Fatalf("profile cpu after an update: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if p := readCPUProfile(t, file); len(p.Nodes) == 0 {
		t.Errorf("profile after an update has no nodes")
	}
	refuses(t, insp, "after the profile")
}
