package supervise

import (
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/metrics"
)

// A child spawned without a Process (as by the program before an exec in
// place) is supervised once adopted: its exit is seen, stopping works.
func TestAdoptSupervisesAChildSpawnedBefore(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	pid, err := syscall.ForkExec(exe, []string{exe}, &syscall.ProcAttr{
		Env:   append(os.Environ(), "SUPERVISE_CHILD=graceful"),
		Files: []uintptr{0, w.Fd(), 2},
		Sys:   &syscall.SysProcAttr{Setpgid: true},
	})
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 6)
	if _, err := r.Read(buf); err != nil || string(buf) != "ready\n" {
		syscall.Kill(pid, syscall.SIGKILL)
		t.Fatalf("child: %q, %v", buf, err)
	}
	started := time.Now()
	p, err := Adopt(pid, started)
	if err != nil {
		syscall.Kill(pid, syscall.SIGKILL)
		t.Fatal(err)
	}
	if p.Pid() != pid || !p.Started().Equal(started) {
		t.Errorf("adopted pid %d started %v, want %d %v", p.Pid(), p.Started(), pid, started)
	}
	e := p.Stop(syscall.SIGINT, 10*time.Second)
	if e.Code != 0 || e.Signal != "" {
		t.Errorf("adopted child ended with %s, want exit code 0 (it exits on SIGINT)", e)
	}
	if _, err := Adopt(os.Getpid(), started); err == nil {
		t.Error("Adopt of a process that is not a child succeeded")
	}
}

// While exits are held, a child that ended is not reaped: its pid stays
// taken until the release, and then its exit is seen.
func TestHoldExitsKeepsTheZombieUntilRelease(t *testing.T) {
	release := HoldExits()
	defer release()
	p, _ := start(t, "exit", "EXIT_CODE=3")
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, ok := metrics.StatOf(p.Pid())
		if !ok {
			t.Fatal("the child was reaped while exits were held")
		}
		if st.State == 'Z' {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the child never exited")
		}
		time.Sleep(time.Millisecond)
	}
	select {
	case <-p.Done():
		t.Fatal("Done closed while exits were held")
	default:
	}
	release()
	select {
	case <-p.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("exit not seen after the release")
	}
	if e := p.Exit(); e.Code != 3 {
		t.Errorf("exit %s, want code 3", e)
	}
}
