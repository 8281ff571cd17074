package e2e

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/api"
)

// An app that listens on a port of its own (a hard-coded listen(3000))
// instead of PORT is not online: start exits non-zero naming the instance,
// why (the port it does listen on, read from /proc) and its last stderr
// lines, prints no "is served on" line, and ls shows it unready with the
// reason. It keeps running; restart, scale, reload and apply say the same.
func TestStartFailsForAnAppListeningOnItsOwnPort(t *testing.T) {
	h := newHome(t)
	port, fixed := freePort(t), freePort(t)
	r := h.run("start", "fixed-port.js", "--name", "fixed", "--port", strconv.Itoa(port), "--max-restarts", "1", "--env", "FIXED_PORT="+strconv.Itoa(fixed))
	if r.code == 0 {
		t.Fatalf("start of an app that ignores PORT exited 0:\n%s", r.stdout)
	}
	// The reason is what /proc showed at listen_timeout; on a loaded
	// machine the app may not have listened yet, which it says too.
	if !strings.Contains(r.stderr, "fixed:0 is unready: ") || !strings.Contains(r.stderr, "PORT=") {
		t.Errorf("start's error does not name the instance and why:\n%s", r.stderr)
	}
	if strings.Contains(r.stdout, "is served on") {
		t.Errorf("start says the app is served:\n%s", r.stdout)
	}
	// Probed again, the reason names the port it listens on.
	reason := fmt.Sprintf("listening on %d, not on PORT=", fixed)
	a := h.waitApp("fixed", "unready listening on its own port", func(a api.App) bool {
		return strings.Contains(a.Instances[0].Reason, reason) && len(a.Instances[0].RecentStderr) > 0
	})
	in := a.Instances[0]
	if a.Status != api.StatusUnready || in.Status != api.StatusUnready || in.PID == 0 {
		t.Fatalf("app %s, instance %s pid %d; want both unready, running", a.Status, in.Status, in.PID)
	}
	if !strings.HasPrefix(a.Reason, "instance 0: ") {
		t.Errorf("app reason %q, want it to name instance 0", a.Reason)
	}
	if !strings.Contains(in.RecentStderr[len(in.RecentStderr)-1], "ignoring PORT=") {
		t.Errorf("recent stderr %q", in.RecentStderr)
	}
	if out := h.ok("ls"); !strings.Contains(out, "unready") || !strings.Contains(out, reason) {
		t.Errorf("ls does not say unready and why:\n%s", out)
	}
	if out := h.ok("describe", "fixed"); !strings.Contains(out, reason) || !strings.Contains(out, "ignoring PORT=") {
		t.Errorf("describe does not say why:\n%s", out)
	}

	if msg := h.fails("restart", "fixed"); !strings.Contains(msg, "fixed:0") {
		t.Errorf("restart: %q", msg)
	}
	if msg := h.fails("reload", "fixed"); !strings.Contains(msg, "instance 0") {
		t.Errorf("reload: %q", msg)
	}
	if msg := h.fails("scale", "fixed", "2"); !strings.Contains(msg, "fixed:1") {
		t.Errorf("scale: %q", msg)
	}
	h.ok("delete", "fixed")
	eco := filepath.Join(t.TempDir(), "tend.yaml")
	writeEco(t, eco, fmt.Sprintf("apps:\n  - name: fixed\n    script: %s/fixed-port.js\n    port: %d\n    env:\n      FIXED_PORT: %d\n", fixtures, port, fixed))
	if msg := h.fails("apply", eco); !strings.Contains(msg, "fixed:0 is unready") {
		t.Errorf("apply: %q", msg)
	}
}

// An app that never listens is unready, and start says so.
func TestStartFailsForAnAppThatNeverListens(t *testing.T) {
	h := newHome(t)
	port := freePort(t)
	r := h.run("start", "idle.js", "--port", strconv.Itoa(port), "--listen-timeout", "1s")
	if r.code == 0 || !strings.Contains(r.stderr, "idle:0") || !strings.Contains(r.stderr, "not listening on any port") {
		t.Errorf("start of an app that never listens: exit %d\n%s", r.code, r.stderr)
	}
	if strings.Contains(r.stdout, "is served on") {
		t.Errorf("start says the app is served:\n%s", r.stdout)
	}
	if a := h.app("idle"); a.Instances[0].Status != api.StatusUnready {
		t.Errorf("instance %s, want unready", a.Instances[0].Status)
	}
}

// An unready instance is probed again: once it listens on PORT it goes
// online and serves through the edge.
func TestUnreadyInstanceGoesOnlineWhenReady(t *testing.T) {
	h := newHome(t)
	port := freePort(t)
	r := h.run("start", "late.js", "--port", strconv.Itoa(port), "--listen-timeout", "300ms", "--env", "LATE_MS=2000")
	if r.code == 0 {
		t.Fatalf("start of an app not ready by listen_timeout exited 0:\n%s", r.stdout)
	}
	if a := h.app("late"); a.Instances[0].Status != api.StatusUnready {
		t.Fatalf("instance %s, want unready", a.Instances[0].Status)
	}
	h.waitApp("late", "online", allOnline)
	if body := get(t, fmt.Sprintf("http://127.0.0.1:%d/", port)); !strings.HasPrefix(body, "late ") {
		t.Errorf("GET through the edge: %q", body)
	}
	var described []api.App
	mustJSON(t, h.ok("describe", "late", "--json"), &described)
	if ev := described[0].Events; len(ev) == 0 || !strings.Contains(ev[len(ev)-1].Message, "became ready after all") {
		t.Errorf("describe does not tell the late readiness: %+v", ev)
	}
}

// With -i 2 and one instance that cannot start, start exits non-zero naming
// that instance and its error; the other serves.
func TestStartFailsWhenOneInstanceErrors(t *testing.T) {
	h := newHome(t)
	port := freePort(t)
	r := h.run("start", "one-fails.js", "-i", "2", "--port", strconv.Itoa(port), "--max-restarts", "2", "--listen-timeout", "30s")
	if r.code == 0 {
		t.Fatalf("start with an errored instance exited 0:\n%s", r.stdout)
	}
	if !strings.Contains(r.stderr, "one-fails:1") || !strings.Contains(r.stderr, "instance 1 cannot start: no config") {
		t.Errorf("start's error:\n%s", r.stderr)
	}
	if strings.Contains(r.stderr, "one-fails:0") {
		t.Errorf("start blames instance 0, which serves:\n%s", r.stderr)
	}
	a := h.app("one-fails")
	if a.Instances[0].Status != api.StatusOnline || a.Instances[1].Status != api.StatusErrored {
		t.Errorf("instances %s, %s; want online, errored", a.Instances[0].Status, a.Instances[1].Status)
	}
	get(t, fmt.Sprintf("http://127.0.0.1:%d/", port))
}

// The "is served on" line is printed once a request through the edge is
// answered, with https:// for a TLS port.
func TestStartSaysServedOnHTTPSForTLS(t *testing.T) {
	h := newHome(t)
	port := freePort(t)
	eco := filepath.Join(t.TempDir(), "tend.yaml")
	writeEco(t, eco, fmt.Sprintf("apps:\n  - name: tls\n    script: %s/express-app.js\n    port: %d\n    listen_timeout: 30s\n    edge:\n      tls: self-signed\n", fixtures, port))
	if out := h.ok("start", eco); !strings.Contains(out, fmt.Sprintf("tls is served on https://localhost:%d", port)) {
		t.Errorf("start of a TLS app:\n%s", out)
	}
}

// Express's generator layout (bin/www, node by its shebang) in socket mode
// with two instances: the preload is injected, both come up, and requests
// are served on the shared socket.
func TestSocketModeServesBinWww(t *testing.T) {
	h := newHome(t)
	port := freePort(t)
	out := h.ok("start", "bin/www", "-i", "2", "--port", strconv.Itoa(port), "--socket", "--listen-timeout", "30s")
	if !strings.Contains(out, fmt.Sprintf("www is served on http://localhost:%d", port)) {
		t.Errorf("start:\n%s", out)
	}
	a := h.app("www")
	if !allOnline(a) || len(pids(a)) != 2 || a.Instances[0].Restarts+a.Instances[1].Restarts != 0 {
		t.Fatalf("www: %+v", a)
	}
	for range 10 {
		if body := get(t, fmt.Sprintf("http://127.0.0.1:%d/", port)); !strings.Contains(body, `"node_env":"production"`) {
			t.Fatalf("GET: %q", body)
		}
	}
}

// In socket mode, when no instance is alive the port refuses connections
// (instead of queueing them in the backlog of a socket nobody accepts on),
// and it serves again once an instance is up.
func TestSocketModeRefusesWhenNoInstanceIsAlive(t *testing.T) {
	h := newHome(t)
	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	h.ok("start", "express-app.js", "--name", "s", "--port", strconv.Itoa(port), "--socket", "--restart-delay", "10m", "--listen-timeout", "30s")
	a := h.app("s")
	if err := syscall.Kill(a.Instances[0].PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	h.waitApp("s", "waiting", func(a api.App) bool { return a.Instances[0].Status == api.StatusWaiting })
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if errors.Is(err, syscall.ECONNREFUSED) {
			break
		}
		if c != nil {
			c.Close()
		}
		if time.Now().After(deadline) {
			t.Fatalf("dial with no instance alive: %v, want connection refused", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	h.ok("restart", "s")
	get(t, "http://"+addr+"/")
}
