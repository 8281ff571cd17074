package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/tendhq/tend/internal/api"
)

// tmuxPane drives one program in a detached tmux pane of a fixed size, on a
// tmux server of its own so that nothing touches the user's sessions.
type tmuxPane struct {
	t      *testing.T
	socket string // -L name of the private server
	target string
	status string // file the pane's shell writes the command's exit status to
}

// newTmuxPane starts command in a w×h pane. The pane stays after the
// command exits (remain-on-exit), to show what it printed last. Cleanup
// kills the server, and with it the session and anything left in it.
func newTmuxPane(t *testing.T, env []string, w, h int, command string) *tmuxPane {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("tmux is needed to test monit (Debian package tmux)")
		}
		t.Skip("no tmux")
	}
	name := fmt.Sprintf("tend-monit-%d-%d", os.Getpid(), time.Now().UnixNano())
	dir := t.TempDir()
	conf := filepath.Join(dir, "tmux.conf")
	// No status bar: it would take a row of the 24. No user config either.
	if err := os.WriteFile(conf, []byte("set -g remain-on-exit on\nset -g status off\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &tmuxPane{t: t, socket: name, target: name, status: filepath.Join(dir, "status")}
	t.Cleanup(func() {
		p.tmux("kill-session", "-t", p.target)
		p.tmux("kill-server")
	})
	// The exit status goes through a file, not #{pane_dead_status}: tmux
	// 3.3a was seen to miss a pane's SIGCHLD now and then and never mark
	// it dead (cf. tmux/tmux#311).
	command += "; echo $? >" + shellQuote(p.status)
	start := exec.Command("tmux", "-L", name, "-f", conf, "new-session", "-d",
		"-x", strconv.Itoa(w), "-y", strconv.Itoa(h), "-s", name, command)
	// The server, started by this command, passes its environment on to
	// the pane.
	start.Env = env
	if out, err := start.CombinedOutput(); err != nil {
		t.Fatalf("tmux new-session: %v\n%s", err, out)
	}
	return p
}

func (p *tmuxPane) tmux(args ...string) (string, error) {
	out, err := exec.Command("tmux", append([]string{"-L", p.socket}, args...)...).CombinedOutput()
	return string(out), err
}

// capture returns what the pane shows, wrapped lines joined (-J) so that a
// line too long for the pane shows as one long line, not two.
func (p *tmuxPane) capture() string {
	p.t.Helper()
	// -u: the box drawing and arrows as UTF-8, whatever the locale.
	out, err := exec.Command("tmux", "-u", "-L", p.socket, "capture-pane", "-p", "-J", "-t", p.target).CombinedOutput()
	if err != nil {
		p.t.Fatalf("tmux capture-pane: %v\n%s", err, out)
	}
	return string(out)
}

func (p *tmuxPane) keys(keys ...string) {
	p.t.Helper()
	if out, err := p.tmux(append([]string{"send-keys", "-t", p.target}, keys...)...); err != nil {
		p.t.Fatalf("tmux send-keys: %v\n%s", err, out)
	}
}

// waitFor polls the pane until cond holds on what it shows, for at most
// 10 s, and returns the last capture. There is no event to wait on: a
// terminal is only ever looked at.
func (p *tmuxPane) waitFor(what string, cond func(screen string) bool) string {
	p.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := p.capture()
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("the pane never showed %s; it shows:\n%s", what, s)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// exitStatus waits for the pane's command to exit and returns its status.
func (p *tmuxPane) exitStatus() int {
	p.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(p.status)
		if err == nil && strings.HasSuffix(string(b), "\n") {
			code, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil {
				p.t.Fatalf("exit status %q: %v", b, err)
			}
			return code
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("still running 10 s after q; the pane shows:\n%s", p.capture())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestMonitInTmux draws monit in a real 80×24 terminal, as issue 6 asks:
// every instance is shown, nothing wraps, keys select, act and quit.
func TestMonitInTmux(t *testing.T) {
	h := newHome(t)
	h.ok("start", "idle.js", "--name", "idle", "-i", "2")
	h.ok("start", "express-app.js", "--name", "web", "--port", strconv.Itoa(freePort(t)))
	idle := h.waitApp("idle", "online", allOnline)
	web := h.waitApp("web", "online", allOnline)
	want := map[string][]int{"idle": pids(idle), "web": pids(web)}

	env := append([]string(nil), h.env...)
	cmd := fmt.Sprintf("env TEND_HOME=%s %s monit", shellQuote(h.dir), shellQuote(tendBin))
	p := newTmuxPane(t, env, 80, 24, cmd)

	screen := p.waitFor("every instance's pid", func(s string) bool {
		for _, ps := range want {
			for _, pid := range ps {
				if !strings.Contains(s, " "+strconv.Itoa(pid)+" ") {
					return false
				}
			}
		}
		return true
	})
	lines := strings.Split(strings.TrimRight(screen, "\n"), "\n")
	if len(lines) > 24 {
		t.Errorf("%d lines in a 24-line pane", len(lines))
	}
	for i, l := range lines {
		if n := utf8.RuneCountInString(l); n > 80 {
			t.Errorf("line %d is %d columns, wider than the pane (it wrapped): %q", i, n, l)
		}
	}
	for name, ps := range want {
		for _, pid := range ps {
			row := lineContaining(lines, " "+strconv.Itoa(pid)+" ")
			if !strings.Contains(row, name) || !strings.Contains(row, "online") {
				t.Errorf("row of %s pid %d: %q", name, pid, row)
			}
		}
	}
	if !strings.HasPrefix(lines[0], "tend monit") || !strings.Contains(lines[len(lines)-1], "q quit") {
		t.Errorf("the title or the status line is off the screen:\n%s", screen)
	}

	// Selecting web follows its log, which starts with the listening line.
	p.keys("j")
	p.waitFor("web's log", func(s string) bool {
		return strings.Contains(s, "── web logs") && strings.Contains(s, "express fixture listening")
	})

	// Scale idle up from the dashboard: the daemon starts a third instance
	// and the table shows it.
	p.keys("k", "+")
	p.waitFor("idle scaled to 3", func(s string) bool {
		return strings.Contains(s, "scaled idle to 3") && strings.Count(s, "idle   ") >= 3
	})
	h.waitApp("idle", "3 instances online", func(a api.App) bool { return len(a.Instances) == 3 && allOnline(a) })

	p.keys("q")
	if code := p.exitStatus(); code != 0 {
		t.Errorf("monit exited %d after q; the pane shows:\n%s", code, p.capture())
	}
}

func lineContaining(lines []string, s string) string {
	for _, l := range lines {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}

// shellQuote quotes s for the shell tmux runs the pane's command with.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
