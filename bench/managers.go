package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cmdTimeout bounds one CLI command. PM2's CLI boots Node for every command,
// which on a loaded two-core machine can take seconds; a minute means hung.
const cmdTimeout = time.Minute

// markerVar is set, with a value unique to this run, in the environment of
// every process the benchmark starts. Daemons inherit it from the CLI that
// forked them and apps from their daemon, so sweep can find anything left
// behind without trusting either manager's own shutdown.
const markerVar = "TEND_BENCH_RUN"

// cli runs one manager's command-line tool as a user would.
type cli struct {
	path string   // the executable
	dir  string   // the repo root, so fixture paths are typed as in the docs
	env  []string // the whole environment, marker and home included
}

// command builds a command bounded only by ctx; extraEnv is appended (a later
// KEY= wins in os/exec).
func (c cli) command(ctx context.Context, extraEnv []string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, c.path, args...)
	cmd.Dir = c.dir
	cmd.Env = append(append([]string(nil), c.env...), extraEnv...)
	// A CLI that hangs is killed, and so are pipes held by any child it
	// forked (a daemon detaches and closes them, so this does not wait on it).
	cmd.WaitDelay = time.Second
	return cmd
}

// run runs one command under cmdTimeout and returns its stdout; a failure
// carries the tail of its stderr, which is where both tools explain.
func (c cli) run(ctx context.Context, extraEnv []string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, cmdTimeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := c.command(ctx, extraEnv, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 400 {
			msg = "..." + msg[len(msg)-400:]
		}
		return nil, fmt.Errorf("%s %s: %w: %s", filepath.Base(c.path), strings.Join(args, " "), err, msg)
	}
	return stdout.Bytes(), nil
}

// app is what the benchmark asks a manager to run.
type app struct {
	name   string
	script string // relative to the repo root
	port   int    // 0: no port
	// instances > 1 runs that many: under tend in the mode below, under PM2
	// in its cluster mode (PM2's -i).
	instances int
	// mode is how tend gets the port: "" gives it to the app as PORT (fork
	// mode, the app owns its port, as PM2's default); "proxy" puts tend's
	// edge on it (--port); "socket" hands every instance the listening
	// socket (--port --socket). PM2 always gets PORT.
	mode string
	env  []string // KEY=VALUE for the app
	once bool     // do not restart it when it exits
	// nodeArgs go to node before the script (tend --interpreter-args, PM2
	// --node-args); one argument, without spaces.
	nodeArgs string
}

// instance is one running process as a manager lists it.
type instance struct {
	app    string
	pid    int
	status string // "online", "stopped"... the managers use the same words
	online bool
}

// manager is a process manager under test, driven through its CLI.
type manager interface {
	name() string
	// start starts a and returns once the CLI has; the app may still be
	// launching.
	start(ctx context.Context, a app) error
	list(ctx context.Context) ([]instance, error)
	// listCommand is the JSON listing a script would run, timed by the ls
	// figure; its output goes to /dev/null.
	listCommand(ctx context.Context) *exec.Cmd
	// daemonPID starts the daemon if need be and returns its pid.
	daemonPID(ctx context.Context) (int, error)
	// reload replaces the app's instances the manager's zero-downtime way
	// and returns when it is done.
	reload(ctx context.Context, name string) error
	remove(ctx context.Context, name string) error
	deleteAll(ctx context.Context) error
	// logPath is the file the app's stdout goes to.
	logPath(name string) string
	// shutdown stops every app and the daemon, and waits for them.
	shutdown(ctx context.Context) error
}

// tend drives bin/tend with its own TEND_HOME.
type tend struct {
	cli
	home string
}

func newTend(path, dir, home string, env []string) *tend {
	return &tend{cli: cli{path: path, dir: dir, env: append(slices.Clone(env), "TEND_HOME="+home)}, home: home}
}

func (t *tend) name() string { return "tend" }

// start gives the app its port as PORT unless a.mode asks for tend's edge
// or socket mode: with --port an app runs in proxy mode, behind tend's edge,
// while PM2's default is fork mode, the app owning its port.
func (t *tend) start(ctx context.Context, a app) error {
	args := []string{"start", a.script, "--name", a.name}
	switch {
	case a.port == 0:
	case a.mode == "":
		args = append(args, "--env", "PORT="+strconv.Itoa(a.port))
	case a.mode == "proxy":
		args = append(args, "--port", strconv.Itoa(a.port))
	case a.mode == "socket":
		args = append(args, "--port", strconv.Itoa(a.port), "--socket")
	default:
		return fmt.Errorf("tend: unknown mode %q", a.mode)
	}
	if a.instances > 1 {
		args = append(args, "-i", strconv.Itoa(a.instances))
	}
	for _, kv := range a.env {
		args = append(args, "--env", kv)
	}
	if a.once {
		args = append(args, "--no-autorestart")
	}
	if a.nodeArgs != "" {
		args = append(args, "--interpreter-args", a.nodeArgs)
	}
	_, err := t.run(ctx, nil, args...)
	return err
}

func (t *tend) list(ctx context.Context) ([]instance, error) {
	out, err := t.run(ctx, nil, "ls", "--json")
	if err != nil {
		return nil, err
	}
	var apps []struct {
		Name      string `json:"name"`
		Instances []struct {
			PID    int    `json:"pid"`
			Status string `json:"status"`
		} `json:"instances"`
	}
	if err := json.Unmarshal(out, &apps); err != nil {
		return nil, fmt.Errorf("tend ls --json: %w", err)
	}
	var ins []instance
	for _, a := range apps {
		for _, in := range a.Instances {
			ins = append(ins, instance{app: a.Name, pid: in.PID, status: in.Status, online: in.Status == "online"})
		}
	}
	return ins, nil
}

func (t *tend) listCommand(ctx context.Context) *exec.Cmd {
	return t.command(ctx, nil, "ls", "--json")
}

func (t *tend) daemonPID(ctx context.Context) (int, error) {
	out, err := t.run(ctx, nil, "ping")
	if err != nil {
		return 0, err
	}
	var pid int
	if _, err := fmt.Sscanf(string(out), "pong: daemon pid %d", &pid); err != nil {
		return 0, fmt.Errorf("tend ping: unexpected answer %q: %w", out, err)
	}
	return pid, nil
}

func (t *tend) reload(ctx context.Context, name string) error {
	_, err := t.run(ctx, nil, "reload", name)
	return err
}

func (t *tend) remove(ctx context.Context, name string) error {
	_, err := t.run(ctx, nil, "delete", name)
	return err
}

func (t *tend) logPath(name string) string {
	return filepath.Join(t.home, "logs", name+"-out.log")
}

func (t *tend) deleteAll(ctx context.Context) error {
	_, err := t.run(ctx, nil, "delete", "all")
	return err
}

func (t *tend) shutdown(ctx context.Context) error {
	_, err := t.run(ctx, nil, "kill")
	return err
}

// pm2 drives the PM2 installed under bench/node_modules with its own
// PM2_HOME, with PM2's defaults untouched.
type pm2 struct {
	cli
	home string
}

func newPM2(path, dir, home string, env []string) *pm2 {
	return &pm2{cli: cli{path: path, dir: dir, env: append(slices.Clone(env), "PM2_HOME="+home)}, home: home}
}

func (p *pm2) name() string { return "PM2" }

// start passes the port as PORT, and a.env, in the CLI's environment: PM2
// has no --port and no --env KEY=VALUE; it hands the starting CLI's
// environment to the app. More than one instance is PM2's cluster mode.
func (p *pm2) start(ctx context.Context, a app) error {
	env := slices.Clone(a.env)
	if a.port != 0 {
		env = append(env, "PORT="+strconv.Itoa(a.port))
	}
	args := []string{"start", a.script, "--name", a.name}
	if a.instances > 1 {
		args = append(args, "-i", strconv.Itoa(a.instances))
	}
	if a.once {
		args = append(args, "--no-autorestart")
	}
	if a.nodeArgs != "" {
		args = append(args, "--node-args="+a.nodeArgs)
	}
	_, err := p.run(ctx, env, args...)
	return err
}

func (p *pm2) list(ctx context.Context) ([]instance, error) {
	out, err := p.run(ctx, nil, "jlist")
	if err != nil {
		return nil, err
	}
	// PM2 prints notices (a daemon being spawned, an in-memory version
	// mismatch) on stdout before the JSON.
	if i := bytes.IndexByte(out, '['); i > 0 {
		out = out[i:]
	}
	var procs []struct {
		Name   string `json:"name"`
		PID    int    `json:"pid"`
		PM2Env struct {
			Status string `json:"status"`
		} `json:"pm2_env"`
	}
	if err := json.Unmarshal(out, &procs); err != nil {
		return nil, fmt.Errorf("pm2 jlist: %w", err)
	}
	ins := make([]instance, 0, len(procs))
	for _, pr := range procs {
		ins = append(ins, instance{app: pr.Name, pid: pr.PID, status: pr.PM2Env.Status, online: pr.PM2Env.Status == "online"})
	}
	return ins, nil
}

func (p *pm2) listCommand(ctx context.Context) *exec.Cmd {
	return p.command(ctx, nil, "jlist")
}

// daemonPID reads the God daemon's pid file, after `pm2 ping`, which starts
// the daemon if needed but does not say its pid.
func (p *pm2) daemonPID(ctx context.Context) (int, error) {
	if _, err := p.run(ctx, nil, "ping"); err != nil {
		return 0, err
	}
	b, err := os.ReadFile(filepath.Join(p.home, "pm2.pid"))
	if err != nil {
		return 0, fmt.Errorf("pm2 daemon pid: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("pm2 daemon pid: %w", err)
	}
	return pid, nil
}

func (p *pm2) reload(ctx context.Context, name string) error {
	_, err := p.run(ctx, nil, "reload", name)
	return err
}

func (p *pm2) remove(ctx context.Context, name string) error {
	_, err := p.run(ctx, nil, "delete", name)
	return err
}

func (p *pm2) logPath(name string) string {
	return filepath.Join(p.home, "logs", name+"-out.log")
}

func (p *pm2) deleteAll(ctx context.Context) error {
	_, err := p.run(ctx, nil, "delete", "all")
	return err
}

func (p *pm2) shutdown(ctx context.Context) error {
	_, err := p.run(ctx, nil, "kill")
	return err
}

// waitOnline polls m until every app in want has at least that many online
// instances with a pid.
func waitOnline(ctx context.Context, m manager, want map[string]int, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var lastErr error
	for {
		ins, err := m.list(ctx)
		lastErr = err
		if err == nil {
			online := map[string]int{}
			for _, in := range ins {
				if in.online && in.pid > 0 {
					online[in.app]++
				}
			}
			all := true
			for n, k := range want {
				all = all && online[n] >= k
			}
			if all {
				return nil
			}
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return fmt.Errorf("%s: apps %v not all online within %s (%w; last listing error: %v)", m.name(), want, timeout, err, lastErr)
		}
	}
}

// waitStatus polls m until every instance of the app name has status.
func waitStatus(ctx context.Context, m manager, name, status string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last []string
	for {
		ins, err := m.list(ctx)
		if err == nil {
			last = last[:0]
			all := true
			for _, in := range ins {
				if in.app == name {
					last = append(last, in.status)
					all = all && in.status == status
				}
			}
			if all && len(last) > 0 {
				return nil
			}
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return fmt.Errorf("%s: %s not %s within %s (statuses %v; %w)", m.name(), name, status, timeout, last, err)
		}
	}
}

// sweep SIGKILLs every process that carries this run's marker, that is
// anything a manager failed to stop, and says which. A process gets
// sweepGrace to finish exiting first: a daemon releases its lock, which is
// what `tend kill` waits for, a moment before its process is gone. Zombies
// have an empty environ and are skipped: they are already gone.
func sweep(marker string) []string {
	deadline := time.Now().Add(sweepGrace)
	for {
		pids, err := marked(marker)
		if err != nil {
			return []string{fmt.Sprintf("cannot scan /proc for leftovers: %v", err)}
		}
		if len(pids) == 0 {
			return nil
		}
		if time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		var killed []string
		for _, pid := range pids {
			cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
				killed = append(killed, fmt.Sprintf("pid %d: %v", pid, err))
				continue
			}
			killed = append(killed, fmt.Sprintf("pid %d (%s)", pid, strings.TrimSpace(strings.ReplaceAll(string(cmdline), "\x00", " "))))
		}
		return killed
	}
}

const sweepGrace = 2 * time.Second

// marked lists the processes whose environment holds this run's marker.
func marked(marker string) ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	want := []byte("\x00" + markerVar + "=" + marker + "\x00")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err == nil && bytes.Contains(append([]byte{0}, env...), want) {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// sleep waits d or until ctx is done, whichever is first.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
