package supervise

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/metrics"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

// The test binary doubles as the child processes the tests supervise: with
// SUPERVISE_CHILD set, TestMain runs that script instead of the tests.
func TestMain(m *testing.M) {
	if script := os.Getenv("SUPERVISE_CHILD"); script != "" {
		runChild(script)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	reaped := make(chan struct{})
	go func() { defer close(reaped); _ = ReapOrphans(ctx) }()
	code := m.Run()
	cancel()
	<-reaped
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

func runChild(script string) {
	switch script {
	case "exit":
		code, _ := strconv.Atoi(os.Getenv("EXIT_CODE"))
		os.Exit(code)
	case "sleep":
		fmt.Println("ready")
		time.Sleep(time.Hour)
	case "graceful":
		// Exits 0 on SIGINT, like a well-behaved app.
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGINT)
		fmt.Println("ready")
		<-sig
		os.Exit(0)
	case "stubborn":
		// Ignores SIGINT and SIGTERM and forks a grandchild that does too;
		// prints the grandchild's pid.
		signal.Ignore(syscall.SIGINT, syscall.SIGTERM)
		gc := exec.Command(os.Args[0])
		gc.Env = append(os.Environ(), "SUPERVISE_CHILD=stubborn-grandchild")
		out, _ := gc.StdoutPipe()
		if err := gc.Start(); err != nil {
			os.Exit(3)
		}
		line, _ := bufio.NewReader(out).ReadString('\n')
		fmt.Printf("grandchild %d %s", gc.Process.Pid, line)
		time.Sleep(time.Hour)
	case "stubborn-grandchild":
		signal.Ignore(syscall.SIGINT, syscall.SIGTERM)
		fmt.Println("ready")
		time.Sleep(time.Hour)
	case "orphaner":
		// Forks a grandchild that outlives it, then exits 0.
		gc := exec.Command(os.Args[0])
		gc.Env = append(os.Environ(), "SUPERVISE_CHILD=sleep")
		if err := gc.Start(); err != nil {
			os.Exit(3)
		}
		fmt.Printf("grandchild %d\n", gc.Process.Pid)
		time.Sleep(time.Hour)
	}
	os.Exit(0)
}

// start runs the test binary as a scripted child and returns it with a
// reader of its stdout.
func start(t *testing.T, script string, env ...string) (*Process, *bufio.Reader) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p, err := Start(Config{
		Path:   exe,
		Args:   []string{exe},
		Env:    append(os.Environ(), append(env, "SUPERVISE_CHILD="+script)...),
		Stdout: w,
		Stderr: os.Stderr,
	})
	w.Close()
	if err != nil {
		r.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Stop(syscall.SIGKILL, 0)
		r.Close()
	})
	return p, bufio.NewReader(r)
}

func readLine(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	line, err := r.ReadString('\n')
	if err != nil && err != io.EOF {
		t.Fatal(err)
	}
	return strings.TrimSpace(line)
}

func TestExitCodeSeenAtOnce(t *testing.T) {
	for _, code := range []int{0, 1, 42} {
		p, _ := start(t, "exit", fmt.Sprintf("EXIT_CODE=%d", code))
		select {
		case <-p.Done():
		case <-time.After(10 * time.Second):
			t.Fatal("exit not seen")
		}
		e := p.Exit()
		if e.Code != code || e.Signal != "" {
			t.Errorf("exit = %+v, want code %d", e, code)
		}
		if e.Ended.Before(e.Started) {
			t.Errorf("ended %v before started %v", e.Ended, e.Started)
		}
	}
}

func TestKilledBySignal(t *testing.T) {
	p, out := start(t, "sleep")
	if readLine(t, out) != "ready" {
		t.Fatal("child did not start")
	}
	if err := p.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.Done()
	if e := p.Exit(); e.Signal != "SIGKILL" || e.Code != -1 {
		t.Errorf("exit = %+v, want killed by SIGKILL", e)
	}
	if err := p.Signal(syscall.SIGINT); err != os.ErrProcessDone {
		t.Errorf("signal after exit: %v, want ErrProcessDone", err)
	}
}

func TestStopGraceful(t *testing.T) {
	p, out := start(t, "graceful")
	if readLine(t, out) != "ready" {
		t.Fatal("child did not start")
	}
	e := p.Stop(syscall.SIGINT, 10*time.Second)
	if e.Code != 0 || e.Signal != "" {
		t.Errorf("exit = %+v, want a clean exit on SIGINT", e)
	}
}

func TestStopEscalatesAndKillsTheGroup(t *testing.T) {
	p, out := start(t, "stubborn")
	var gc int
	var ready string
	if _, err := fmt.Sscanf(readLine(t, out), "grandchild %d %s", &gc, &ready); err != nil || ready != "ready" {
		t.Fatalf("grandchild not reported: %v", err)
	}
	if len(GroupAlive(p.Pid())) != 2 {
		t.Fatalf("group members = %v, want leader and grandchild", GroupAlive(p.Pid()))
	}
	grace := 200 * time.Millisecond
	begin := time.Now()
	e := p.Stop(syscall.SIGINT, grace)
	if took := time.Since(begin); took < grace {
		t.Errorf("stop took %v, less than the grace period: SIGINT was not given its time", took)
	}
	if e.Signal != "SIGKILL" {
		t.Errorf("exit = %+v, want SIGKILL after the grace period", e)
	}
	if alive := GroupAlive(p.Pid()); len(alive) != 0 {
		t.Errorf("processes of the group still running after Stop: %v", alive)
	}
	if err := unix.Kill(gc, 0); err == nil && !isZombieOrGone(gc) {
		t.Errorf("grandchild %d survived", gc)
	}
}

func TestLeaderExitTakesItsGroup(t *testing.T) {
	p, out := start(t, "orphaner")
	var gc int
	if _, err := fmt.Sscanf(readLine(t, out), "grandchild %d", &gc); err != nil {
		t.Fatal(err)
	}
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-p.Done()
	if alive := GroupAlive(p.Pid()); len(alive) != 0 {
		t.Errorf("group members alive after the leader exited: %v", alive)
	}
	// The grandchild was re-parented to us (we are a subreaper) and reaped.
	waitReaped(t, gc)
}

// waitReaped waits until pid no longer exists at all (not even as a zombie).
func waitReaped(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for unix.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("pid %d still exists (zombie not reaped?)", pid)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func isZombieOrGone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	i := strings.LastIndexByte(string(b), ')')
	return i > 0 && i+2 < len(b) && b[i+2] == 'Z'
}

func TestSpawnFailure(t *testing.T) {
	_, err := Start(Config{Path: "/nonexistent/binary", Args: []string{"x"}})
	if err == nil {
		t.Fatal("want an error for a missing binary")
	}
}

func TestKillStaleGroup(t *testing.T) {
	// A process in a group of its own, as a dead daemon would leave it.
	exe, _ := os.Executable()
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), "SUPERVISE_CHILD=sleep")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	pid := cmd.Process.Pid
	start, _ := metrics.StartTime(pid)
	// A recorded start time later than the process's means another
	// process owned that pid: leave it alone.
	if n := KillStaleGroup(pid, start+1000000); n != 0 {
		t.Fatalf("killed %d processes of a group started before the record", n)
	}
	if n := KillStaleGroup(pid, start); n != 1 {
		t.Fatalf("KillStaleGroup killed %d, want 1", n)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("stale process still running")
	}
}

// A running child holds no thread of the supervisor: its exit is awaited
// in Go's poller (a pidfd), not by a thread blocked in wait4.
func TestRunningChildrenHoldNoThread(t *testing.T) {
	for range 20 {
		_, out := start(t, "sleep")
		if line := readLine(t, out); line != "ready" {
			t.Fatalf("child said %q", line)
		}
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	waiting := 0
	for _, task := range tasks {
		if b, _ := os.ReadFile("/proc/self/task/" + task.Name() + "/wchan"); string(b) == "do_wait" {
			waiting++
		}
	}
	if waiting > 0 {
		t.Fatalf("%d of %d threads blocked in wait with 20 children running", waiting, len(tasks))
	}
}
