package e2e

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Under systemd's Type=notify, the daemon says READY=1 only once it has
// restored its apps, and it stops them on SIGTERM.
func TestDaemonNotifiesReadyAfterRestore(t *testing.T) {
	h := newHome(t)
	h.ok("start", "idle.js", "--name", "a")
	old := pids(h.app("a"))
	h.ok("kill")
	waitGone(t, old...)

	sockPath := filepath.Join(h.dir, "notify.sock")
	ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sockPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cmd := exec.Command(tendBin, "daemon")
	cmd.Env = append(h.env, "NOTIFY_SOCKET="+sockPath)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	waited := false
	defer func() {
		if !waited {
			cmd.Process.Signal(syscall.SIGTERM)
			<-exited
		}
	}()
	ln.SetReadDeadline(time.Now().Add(20 * time.Second))
	buf := make([]byte, 256)
	n, _, err := ln.ReadFrom(buf)
	if err != nil {
		t.Fatalf("no sd_notify message: %v", err)
	}
	if got := string(buf[:n]); got != "READY=1" {
		t.Fatalf("sd_notify message %q, want READY=1", got)
	}
	// Ready means restored: the app runs already, no command needed to
	// bring it back.
	a := h.app("a")
	if !allOnline(a) {
		t.Fatalf("app not online when the daemon said READY=1: %s", a.Status)
	}
	if env := readEnviron(t, a.Instances[0].PID); strings.Contains(env, "NOTIFY_SOCKET="+sockPath) {
		t.Errorf("the app inherited the daemon's NOTIFY_SOCKET")
	}
	running := pids(a)
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		waited = true
		if err != nil {
			t.Errorf("daemon exit on SIGTERM: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("daemon did not exit on SIGTERM")
	}
	waitGone(t, running...)
}

func TestStartupPrintsAVerifiableUnit(t *testing.T) {
	h := newHome(t)
	out := h.ok("startup", "--print")
	for _, want := range []string{"Type=notify", "Restart=always", "KillMode=mixed", "TEND_HOME=" + h.dir, tendBin + " daemon"} {
		if !strings.Contains(out, want) {
			t.Errorf("unit lacks %q:\n%s", want, out)
		}
	}
	dir := t.TempDir()
	if _, err := os.Stat("/run/systemd/system"); err != nil {
		// No systemd here (a container, CI): the unit is written for a
		// machine that has it, and the command says it starts nothing here.
		if msg := h.fails("startup", "--unit-dir", dir); !strings.Contains(msg, "systemd is not running on this machine") {
			t.Errorf("startup without systemd: %q", msg)
		}
		h.ok("start", "idle.js")
		if out := h.run("doctor").stdout; !strings.Contains(out, "systemd is not running") {
			t.Errorf("doctor without systemd does not say so:\n%s", out)
		}
	} else {
		out = h.ok("startup", "--unit-dir", dir)
		if !strings.Contains(out, "systemctl daemon-reload") {
			t.Errorf("startup does not say how to enable the unit:\n%s", out)
		}
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("unit dir: %v", ents)
	}
	h.ok("unstartup", "--unit-dir", dir)
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("unit left after unstartup: %v", ents)
	}
}

func readEnviron(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "environ"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(string(b), "\x00", "\n")
}
