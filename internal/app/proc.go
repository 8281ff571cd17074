package app

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/logs"
	"github.com/tendhq/tend/internal/metrics"
	"github.com/tendhq/tend/internal/restart"
	"github.com/tendhq/tend/internal/spec"
	"github.com/tendhq/tend/internal/supervise"
)

// slot is one instance of the app: an index, its restart history, and the
// process that currently fills it.
type slot struct {
	index    int
	cur      *proc // the serving process; nil when none runs
	next     *proc // a replacement a reload is readying
	state    string
	tracker  *restart.Tracker
	restarts int
	lastExit *api.Exit
	// reason says why tend last replaced the process on its own.
	reason   string
	env      []string
	timer    *time.Timer // pending restart while waiting
	timerGen int
	nextAt   time.Time
	// wantUp says the slot should run again when its current process
	// ends (a restart in progress).
	wantUp bool
}

// status is the slot's status: its process's while one runs.
func (s *slot) status() string {
	if s.cur != nil {
		return s.cur.state
	}
	return s.state
}

// proc is one process of a slot.
type proc struct {
	slot      *slot
	gen       int
	sp        *supervise.Process
	port      int // the port the process listens on (private in proxy mode)
	startTime uint64
	state     string // launching, online, stopping
	stopping  bool
	inPool    bool

	// ready is closed once readiness is decided; ok and why say how.
	ready   chan struct{}
	decided bool
	ok      bool
	why     string

	closers []io.Closer // the parent's ends of the IPC channel and notify socket

	sinks    *sinks
	captured chan struct{} // closed when stdout and stderr are drained

	usage     metrics.Usage      // the latest sample of its process tree
	overLimit int                // samples in a row above max_memory_restart
	custom    map[string]float64 // the app's own metrics
}

func (p *proc) id() string   { return fmt.Sprintf("%d.g%d", p.slot.index, p.gen) }
func (p *proc) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(p.port)) }

// decide records the readiness verdict once.
func (p *proc) decide(ok bool, why string) {
	if p.decided {
		return
	}
	p.decided, p.ok, p.why = true, ok, why
	close(p.ready)
}

func (p *proc) close() {
	for _, c := range p.closers {
		c.Close()
	}
	p.closers = nil
}

// spawn starts a process for the slot as its current one. A spawn that
// fails counts as a crash at once, so a missing binary ends in errored as a
// crash loop does.
func (a *App) spawn(s *slot) error {
	p, err := a.startProc(s)
	if err != nil {
		now := time.Now()
		a.afterCrash(s, supervise.Exit{Code: -1, Started: now, Ended: now}, err, nil)
		return fmt.Errorf("start %s instance %d: %w", a.spec.Name, s.index, err)
	}
	s.cur = p
	return nil
}

// startProc spawns a process for slot s and starts watching its exit and
// readiness. The caller makes it the slot's cur or next.
func (a *App) startProc(s *slot) (*proc, error) {
	a.nextGen++
	p := &proc{slot: s, gen: a.nextGen, state: api.StatusLaunching, ready: make(chan struct{})}
	p.port = a.procPort()
	if a.spec.Mode == spec.ModeProxy {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		p.port = port
	}
	env := a.environ(s.index, p.port)
	path, argv, err := a.command(env)
	if err != nil {
		return nil, err
	}

	var extra []*os.File
	var childEnds []*os.File
	defer func() {
		for _, f := range childEnds {
			f.Close()
		}
	}()
	if a.spec.Mode == spec.ModeSocket && a.sock != nil {
		// fd 3, as systemd socket activation has it. LISTEN_PID must be
		// the app's own pid, known only after fork: a thin exec of tend
		// sets it and then execs the app in place.
		extra = append(extra, a.sock)
		env = append(env, "LISTEN_FDS=1", "LISTEN_FDNAMES="+a.spec.Name)
		argv = append([]string{a.cfg.Self, ListenExecArg, path}, argv...)
		path = a.cfg.Self
	}
	signals := make(chan string, 4)
	if a.spec.IsNode() {
		parent, child, err := socketPair()
		if err != nil {
			return nil, err
		}
		p.closers = append(p.closers, parent)
		childEnds = append(childEnds, child)
		env = append(env, fmt.Sprintf("NODE_CHANNEL_FD=%d", 3+len(extra)), "NODE_CHANNEL_SERIALIZATION_MODE=json")
		extra = append(extra, child)
		go readIPC(parent, signals, a.metricSink(p))
	}
	if a.cfg.RunDir != "" {
		ns, path, err := notifySocket(a.cfg.RunDir, a.id, p.gen)
		if err != nil {
			p.close()
			return nil, err
		}
		p.closers = append(p.closers, unlinkCloser{ns, path})
		env = append(env, "NOTIFY_SOCKET="+path)
		go readNotify(ns, signals, a.metricSink(p))
	}

	k, err := a.openSinks(s.index)
	if err != nil {
		p.close()
		return nil, err
	}
	outR, outW, err := logs.Pipe()
	if err != nil {
		k.release()
		p.close()
		return nil, err
	}
	errR, errW, err := logs.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		k.release()
		p.close()
		return nil, err
	}
	sp, err := supervise.Start(supervise.Config{
		Path: path, Args: argv, Dir: a.spec.Cwd, Env: env,
		Stdout: outW, Stderr: errW, ExtraFiles: extra,
	})
	// The child has its own copies; ours would keep the pipes from EOF.
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		k.release()
		p.close()
		return nil, err
	}
	p.sinks = k
	p.captured = make(chan struct{})
	go k.capture(outR, errR, LogName(a.spec.Namespace, a.spec.Name), s.index, p.captured)
	p.sp = sp
	p.startTime, _ = metrics.StartTime(sp.Pid())
	s.env = env
	go func() {
		<-sp.Done()
		// The crash context: the group is gone, so its pipes are at EOF
		// or about to be.
		tail := p.stderrTail(250 * time.Millisecond)
		a.post(func() { a.onExit(p, tail) })
	}()
	go a.watchReady(p, signals)
	a.cfg.OnChange()
	return p, nil
}

// procPort is the PORT a process gets outside proxy mode.
func (a *App) procPort() int {
	return a.spec.Port
}

// readiness kinds a process can signal.
const (
	sigReady     = "ready"     // process.send('ready') or READY=1
	sigListening = "listening" // the socket-mode preload listened on fd 3
)

// watchReady decides when a process is ready, by the app's choice:
// wait_ready (its own signal), health_path answering 2xx, its port
// accepting connections, or at once when it has nothing to wait for.
func (a *App) watchReady(p *proc, signals <-chan string) {
	s := a.spec
	timeout := s.ListenTimeout.D()
	exited := p.sp.Done()
	var ok bool
	var why string
	switch {
	case s.WaitReady:
		ok, why = waitSignal(exited, signals, timeout, sigReady)
	case s.HealthPath != "":
		ok, why = waitHealth(exited, p.port, s.HealthPath, timeout)
	case s.Mode == spec.ModeSocket && s.IsNode():
		ok, why = waitSignal(exited, signals, timeout, sigListening)
	case s.Mode == spec.ModeSocket:
		ok, why = true, "socket mode: the shared socket accepts for it"
	case p.port > 0:
		ok = waitPort(exited, p.port, timeout)
		why = "port " + strconv.Itoa(p.port) + " accepts connections"
		if !ok {
			why = fmt.Sprintf("port %d did not accept a connection within listen_timeout %s", p.port, timeout)
		}
	default:
		ok, why = true, "started"
	}
	// The readers send without blocking, so nothing needs to drain the
	// signals of a process that says ready twice.
	a.post(func() { a.onReady(p, ok, why) })
}

func waitSignal(exited <-chan struct{}, signals <-chan string, timeout time.Duration, want string) (bool, string) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case got := <-signals:
			if got == want {
				return true, "signalled " + want
			}
		case <-exited:
			return false, "exited before it was ready"
		case <-t.C:
			return false, fmt.Sprintf("did not signal %s within listen_timeout %s", want, timeout)
		}
	}
}

// waitPort dials the loopback port until it answers. A process cannot tell
// us when it starts listening, so this is the one place that retries.
func waitPort(exited <-chan struct{}, port int, limit time.Duration) bool {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond); err == nil {
			c.Close()
			return true
		}
		select {
		case <-exited:
			return false
		case <-deadline.C:
			return false
		case <-tick.C:
		}
	}
}

func waitHealth(exited <-chan struct{}, port int, path string, limit time.Duration) (bool, string) {
	url := "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) + path
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	c := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	last := "no answer"
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := c.Do(req); err == nil {
			io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			if resp.StatusCode/100 == 2 {
				return true, "GET " + path + " answered " + resp.Status
			}
			last = "GET " + path + " answered " + resp.Status
		}
		select {
		case <-exited:
			return false, "exited before it was ready"
		case <-ctx.Done():
			return false, fmt.Sprintf("health check %s not 2xx within listen_timeout %s (%s)", path, limit, last)
		case <-tick.C:
		}
	}
}

// socketPair makes the IPC channel Node expects in NODE_CHANNEL_FD.
func socketPair() (parent net.Conn, child *os.File, err error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("ipc channel: %w", err)
	}
	pf := os.NewFile(uintptr(fds[0]), "ipc-parent")
	defer pf.Close()
	parent, err = net.FileConn(pf)
	if err != nil {
		syscall.Close(fds[1])
		return nil, nil, fmt.Errorf("ipc channel: %w", err)
	}
	return parent, os.NewFile(uintptr(fds[1]), "ipc-child"), nil
}

// metricSink returns the callback with which a process's readers report
// the app's own metrics to the owner goroutine.
func (a *App) metricSink(p *proc) func(string, float64) {
	return func(name string, v float64) {
		a.post(func() {
			if p.custom == nil {
				p.custom = map[string]float64{}
			}
			if len(p.custom) < maxCustomMetrics || p.custom[name] != 0 {
				p.custom[name] = v
			}
		})
	}
}

// maxCustomMetrics bounds what an app can make the daemon remember.
const maxCustomMetrics = 64

// readIPC reads Node's IPC messages (one JSON value per line) until the
// channel closes: readiness, and {type: 'tend:metric', name, value}.
func readIPC(c net.Conn, signals chan<- string, metric func(string, float64)) {
	sc := bufio.NewScanner(c)
	sc.Buffer(make([]byte, 4096), 1<<20)
	for sc.Scan() {
		var msg any
		if json.Unmarshal(sc.Bytes(), &msg) != nil {
			continue
		}
		switch m := msg.(type) {
		case string:
			if m == "ready" {
				send(signals, sigReady)
			}
		case map[string]any:
			if m["tend"] == sigListening {
				send(signals, sigListening)
			}
			if m["type"] == "tend:metric" {
				name, _ := m["name"].(string)
				v, ok := m["value"].(float64)
				if ok && validMetricName(name) {
					metric(name, v)
				}
			}
		}
	}
}

// notifySocket creates the sd_notify datagram socket of one process.
func notifySocket(dir string, app, gen int) (*net.UnixConn, string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, "", err
	}
	path := filepath.Join(dir, fmt.Sprintf("n%d.%d.sock", app, gen))
	os.Remove(path)
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return nil, "", fmt.Errorf("notify socket: %w", err)
	}
	return c, path, nil
}

// unlinkCloser closes a datagram socket and removes its file.
type unlinkCloser struct {
	*net.UnixConn
	path string
}

func (u unlinkCloser) Close() error {
	err := u.UnixConn.Close()
	os.Remove(u.path)
	return err
}

// readNotify reads sd_notify datagrams ("READY=1\nSTATUS=...", and tend's
// "TEND_METRIC name=value") until the socket is closed.
func readNotify(c *net.UnixConn, signals chan<- string, metric func(string, float64)) {
	buf := make([]byte, 4096)
	for {
		n, _, err := c.ReadFrom(buf)
		if err != nil {
			return
		}
		for _, line := range strings.Split(string(buf[:n]), "\n") {
			if line == "READY=1" {
				send(signals, sigReady)
			}
			if rest, ok := strings.CutPrefix(line, "TEND_METRIC "); ok {
				name, val, _ := strings.Cut(rest, "=")
				v, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
				if err == nil && validMetricName(name) {
					metric(name, v)
				}
			}
		}
	}
}

// validMetricName accepts what Prometheus accepts in a label value and a
// person can read: letters, digits, '_', '.', '-', ':', up to 64 bytes.
func validMetricName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c == '_' || c == '.' || c == '-' || c == ':' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

func send(ch chan<- string, v string) {
	select {
	case ch <- v:
	default: // the watcher has enough signals to decide
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick a private port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// environ builds an instance's environment: the caller's, then the app's
// env, then what tend sets.
func (a *App) environ(index, port int) []string {
	m := maps.Clone(a.callerEnv)
	if m == nil {
		m = map[string]string{}
	}
	maps.Copy(m, a.spec.Env)
	if a.spec.IsNode() {
		if _, ok := a.spec.Env["NODE_ENV"]; !ok {
			m["NODE_ENV"] = "production"
		}
	}
	if port > 0 {
		m["PORT"] = strconv.Itoa(port)
	}
	m["NODE_APP_INSTANCE"] = strconv.Itoa(index)
	m["TEND_INSTANCE"] = strconv.Itoa(index)
	m["TEND_APP_NAME"] = a.spec.Name
	m["TEND_APP_ID"] = strconv.Itoa(a.id)
	// Set per process by tend, never inherited from the caller.
	for _, k := range []string{"NODE_CHANNEL_FD", "NODE_CHANNEL_SERIALIZATION_MODE", "NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"} {
		delete(m, k)
	}
	keys := slices.Sorted(maps.Keys(m))
	env := make([]string, 0, len(keys)+6)
	for _, k := range keys {
		env = append(env, k+"="+m[k])
	}
	return env
}

func envMap(env []string) map[string]string {
	m := make(map[string]string, len(env))
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

// ListenExecArg is the hidden first argument with which tend runs itself
// as the exec wrapper of socket mode: `tend __listen-exec PATH ARGV...`.
const ListenExecArg = "__listen-exec"

// command resolves the executable and argv, looking the interpreter up on
// the PATH of the instance's environment (the caller's PATH, so version
// managers such as nvm keep working).
func (a *App) command(env []string) (string, []string, error) {
	s := a.spec
	if s.Interpreter == "" || s.Interpreter == spec.InterpreterNone {
		return s.Script, append([]string{s.Script}, s.Args...), nil
	}
	path, err := lookPath(s.Interpreter, envMap(env)["PATH"])
	if err != nil {
		return "", nil, err
	}
	argv := []string{s.Interpreter}
	if s.Mode == spec.ModeSocket && s.IsNode() && a.cfg.NodePreload != "" {
		argv = append(argv, "-r", a.cfg.NodePreload)
	}
	argv = append(argv, s.InterpreterArgs...)
	argv = append(argv, s.Script)
	argv = append(argv, s.Args...)
	return path, argv, nil
}

func lookPath(name, pathEnv string) (string, error) {
	if filepath.IsAbs(name) {
		return name, nil
	}
	for _, dir := range filepath.SplitList(pathEnv) {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("interpreter %q not found on PATH (set interpreter to an absolute path)", name)
}
