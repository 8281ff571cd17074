// Package e2e drives the real tend binary as a user would: it builds tend
// once, runs it in a temporary TEND_HOME per test, and checks real Node.js
// processes, signals and sockets.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/api"
	"golang.org/x/sys/unix"
)

var (
	tendBin  string // built once by TestMain
	repoRoot string
	fixtures string // testdata/node
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	_, file, _, _ := runtime.Caller(0)
	repoRoot = filepath.Dir(filepath.Dir(file))
	fixtures = filepath.Join(repoRoot, "testdata", "node")
	dir, err := os.MkdirTemp("", "tend-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	tendBin = filepath.Join(dir, "tend")
	build := exec.Command("go", "build", "-race", "-o", tendBin, "./cmd/tend")
	build.Dir = repoRoot
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build tend:", err)
		return 1
	}
	return m.Run()
}

// needNode skips a test that needs Node.js and Express, except in CI, where
// a missing tool is a failure.
func needNode(t *testing.T) {
	t.Helper()
	_, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join(fixtures, "node_modules", "express"))
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("node and the fixtures' node_modules are required (npm ci --prefix testdata/node): %v", err)
		}
		t.Skipf("needs node and `npm ci --prefix testdata/node`: %v", err)
	}
}

// home is one TEND_HOME with its own daemon.
type home struct {
	t   *testing.T
	dir string
	env []string // environment of the tend commands
}

func newHome(t *testing.T) *home {
	t.Helper()
	needNode(t)
	// A short path: unix socket paths are limited to 108 bytes.
	dir, err := os.MkdirTemp("", "th")
	if err != nil {
		t.Fatal(err)
	}
	h := &home{t: t, dir: dir}
	// tend is built with -race: no 1 s sleep at each exit, and a race in
	// the daemon is written to tend.log, which the cleanup checks.
	h.env = append(os.Environ(), "TEND_HOME="+dir, "E2E_HOME="+dir, "GORACE=atexit_sleep_ms=0")
	t.Cleanup(func() {
		h.run("kill")
		if n := h.processes(); len(n) > 0 {
			t.Errorf("processes of this test still running after tend kill: %v", n)
		}
		b, _ := os.ReadFile(filepath.Join(dir, "tend.log"))
		if bytes.Contains(b, []byte("DATA RACE")) {
			t.Errorf("the daemon reported a data race")
		}
		if t.Failed() {
			t.Logf("tend.log:\n%s", b)
		}
		os.RemoveAll(dir)
	})
	return h
}

type result struct {
	stdout, stderr string
	code           int
}

// run runs tend with args and returns what it printed and its exit code.
func (h *home) run(args ...string) result {
	return h.runEnv(nil, args...)
}

// runEnv runs tend with extra environment variables (KEY=VALUE) or, for a
// "-KEY" entry, without KEY.
func (h *home) runEnv(extra []string, args ...string) result {
	h.t.Helper()
	return h.runAt(fixtures, extra, args...)
}

// runIn runs tend in dir rather than in the fixtures.
func (h *home) runIn(dir string, args ...string) result {
	h.t.Helper()
	return h.runAt(dir, nil, args...)
}

// runAt runs tend in dir with extra environment variables (as runEnv).
func (h *home) runAt(dir string, extra []string, args ...string) result {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, tendBin, args...)
	env := append([]string(nil), h.env...)
	for _, kv := range extra {
		if strings.HasPrefix(kv, "-") {
			env = without(env, kv[1:])
			continue
		}
		env = append(env, kv)
	}
	cmd.Env = env
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		h.t.Fatalf("tend %v: %v", args, err)
	}
	return result{out.String(), errb.String(), code}
}

func without(env []string, key string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, key+"=") {
			out = append(out, kv)
		}
	}
	return out
}

// ok runs tend and fails the test unless it exits 0.
func (h *home) ok(args ...string) string {
	h.t.Helper()
	r := h.run(args...)
	if r.code != 0 {
		h.t.Fatalf("tend %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// fails runs tend, expects a non-zero exit, and returns stderr.
func (h *home) fails(args ...string) string {
	h.t.Helper()
	r := h.run(args...)
	if r.code == 0 {
		h.t.Fatalf("tend %s: exit 0, want failure\nstdout: %s", strings.Join(args, " "), r.stdout)
	}
	return r.stderr
}

func (h *home) ls() []api.App {
	h.t.Helper()
	var apps []api.App
	out := h.ok("ls", "--json")
	if err := json.Unmarshal([]byte(out), &apps); err != nil {
		h.t.Fatalf("ls --json: %v\n%s", err, out)
	}
	return apps
}

func (h *home) app(name string) api.App {
	h.t.Helper()
	for _, a := range h.ls() {
		if a.Name == name {
			return a
		}
	}
	h.t.Fatalf("app %s not listed", name)
	return api.App{}
}

// waitApp polls `tend ls` until cond holds for the app, or fails after 15 s.
// The CLI is what a user has; there is no event to wait on through it.
func (h *home) waitApp(name string, what string, cond func(api.App) bool) api.App {
	h.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		for _, a := range h.ls() {
			if a.Name == name && cond(a) {
				return a
			}
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("app %s never became %s; ls:\n%s", name, what, h.ok("ls"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func allOnline(a api.App) bool {
	if a.Status != api.StatusOnline {
		return false
	}
	for _, in := range a.Instances {
		if in.Status != api.StatusOnline || in.PID == 0 {
			return false
		}
	}
	return true
}

// processes lists the live processes started for this home: every app
// process inherits E2E_HOME from the tend command that started it.
func (h *home) processes() []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() || isZombie(pid) {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil || !bytes.Contains(b, []byte("\x00E2E_HOME="+h.dir+"\x00")) && !bytes.HasPrefix(b, []byte("E2E_HOME="+h.dir+"\x00")) {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if bytes.HasPrefix(cmdline, []byte(tendBin)) {
			continue // the daemon itself
		}
		pids = append(pids, pid)
	}
	return pids
}

func isZombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(b, ')')
	return i > 0 && i+2 < len(b) && (b[i+2] == 'Z' || b[i+2] == 'X')
}

func alive(pid int) bool {
	return unix.Kill(pid, 0) == nil && !isZombie(pid)
}

// waitGone waits until none of pids is running.
func waitGone(t *testing.T, pids ...int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, p := range pids {
		for alive(p) {
			if time.Now().After(deadline) {
				t.Fatalf("pid %d still running", p)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

func (h *home) daemonPID() int {
	h.t.Helper()
	var pid int
	out := h.ok("ping")
	if _, err := fmt.Sscanf(out, "pong: daemon pid %d", &pid); err != nil {
		h.t.Fatalf("ping: %q: %v", out, err)
	}
	return pid
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// get fetches a URL and returns its body; it retries while the port refuses
// connections (an app that is starting), up to 10 s.
func get(t *testing.T, url string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	c := &http.Client{Timeout: 2 * time.Second}
	for {
		resp, err := c.Get(url)
		if err == nil {
			var b bytes.Buffer
			_, _ = b.ReadFrom(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return b.String()
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %v", url, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func pids(a api.App) []int {
	var p []int
	for _, in := range a.Instances {
		if in.PID > 0 {
			p = append(p, in.PID)
		}
	}
	return p
}

func mustJSON(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("%v\n%s", err, s)
	}
}
