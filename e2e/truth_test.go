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
