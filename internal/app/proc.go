package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/logs"
	"github.com/tendhq/tend/internal/metrics"
	"github.com/tendhq/tend/internal/ready"
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
	timer    Timer // pending restart while waiting
	timerGen int
	nextAt   time.Time
	// wantUp says the slot should run again when its current process
	// ends (a restart in progress).
	wantUp bool
	// listens says a process of the slot listened on a port the app's
	// instances share (share.go): the next one must listen to be ready.
	listens bool
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
	sp        Process
	port      int // the port the process listens on (private in proxy mode)
	startTime uint64
	state     string // launching, online, stopping
	stopping  bool
	inPool    bool
	// notReady says why the process is unready (state unready).
	notReady string
	// signals carries what the process says on its channels (ready,
	// listening), for the readiness waits; the readers never block on it.
	signals chan string

	// ready is closed once readiness is decided; ok and why say how.
	ready   chan struct{}
	decided bool
	ok      bool
	why     string

	// closers are the parent's ends of the IPC channel and notify socket;
	// closing them ends their readers.
	closers []io.Closer

	sinks *sinks
	// The parent's ends of the process's channels, kept for a hand-over
	// to the next daemon (handover.go): nil when it has none.
	ipc    net.Conn
	notify *ready.Notify
	// pipes are the read ends of stdout and stderr and how their capture
	// ends before EOF for a hand-over (handover.go).
	pipes *pipes
	// captured is closed when stdout and stderr are drained. The capture
	// goroutine is the one goroutine per process that the app does not
	// wait for: the process owns it, as it ends at the EOF of the pipes,
	// when the process group is gone; Close leaves processes running.
	captured chan struct{}

	usage     metrics.Usage      // the latest sample of its process tree
	overLimit int                // samples in a row above max_memory_restart
	custom    map[string]float64 // the app's own metrics

	// sender writes to a Node process's IPC channel (nil without one);
	// actions are the actions it offers (@pm2/io, tx2), pending the
	// triggers waiting for their reply, oldest first (pm2.go).
	sender  *ready.Sender
	actions []string
	pending []*trigger
	// msgSecond starts the second in which msgCount messages were passed
	// on as events and msgDropped were not (pm2.go).
	msgSecond            time.Time
	msgCount, msgDropped int

	// runtime are the figures of tend's Node runtime preload (inspect.go).
	runtime map[string]float64

	// inspectPort is a Node process's inspector port on 127.0.0.1, closed
	// until OpenInspector opens it (inspect.go).
	inspectPort int

	// mustListen says the process is ready only once it listens on the
	// ports its slot's previous process shared (share.go).
	mustListen bool
	// shares says the process was started to share the app's ports
	// (App.sharesPorts, at its start).
	shares bool
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
		now := a.fx.Now()
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
	p.shares = a.sharesPorts()
	p.mustListen = p.shares && s.listens
	if a.spec.Mode == spec.ModeProxy {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		p.port = port
	}
	env := a.environ(s.index, p.port)
	if a.spec.IsNode() {
		var err error
		if env, p.inspectPort, err = withInspectPort(env, a.cfg.NodeRuntimePreload); err != nil {
			return nil, err
		}
	}
	path, argv, err := a.command(env, p.shares)
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
		if err := a.resumeSocket(); err != nil {
			return nil, err
		}
		// fd 3, as systemd socket activation has it. LISTEN_PID must be
		// the app's own pid, known only after fork: a thin exec of tend
		// sets it and then execs the app in place.
		extra = append(extra, a.sock)
		env = append(env, "LISTEN_FDS=1", "LISTEN_FDNAMES="+a.spec.Name)
		argv = append([]string{a.cfg.Self, ListenExecArg, path}, argv...)
		path = a.cfg.Self
	}
	signals := make(chan string, 4)
	p.signals = signals
	if a.spec.IsNode() {
		parent, child, err := ready.SocketPair()
		if err != nil {
			return nil, err
		}
		p.closers = append(p.closers, parent)
		p.ipc = parent
		p.sender = ready.NewSender(parent)
		childEnds = append(childEnds, child)
		env = append(env, fmt.Sprintf("NODE_CHANNEL_FD=%d", 3+len(extra)), "NODE_CHANNEL_SERIALIZATION_MODE=json")
		extra = append(extra, child)
		if p.shares {
			env = append(env, ShareEnv+"=1")
			if err := a.shared.resume(a.cfg.ResumeSocket); err != nil {
				p.close()
				return nil, err
			}
		}
		a.readIPC(p, parent, signals)
	}
	if a.cfg.RunDir != "" {
		n, err := ready.ListenNotify(a.cfg.RunDir, fmt.Sprintf("n%d.%d.sock", a.id, p.gen))
		if err != nil {
			p.close()
			return nil, err
		}
		p.closers = append(p.closers, n)
		p.notify = n
		env = append(env, "NOTIFY_SOCKET="+n.Path())
		metric := a.metricSink(p)
		a.goHelper(func() { n.Read(signals, metric) })
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
	sp, err := a.fx.Spawn(supervise.Config{
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
	p.sp = sp
	p.startTime, _ = metrics.StartTime(sp.Pid())
	s.env = env
	a.attach(p, k, newPipes(outR, errR, nil, nil), signals)
	return p, nil
}

// attach starts capturing a process's output into k, watching its exit
// and deciding its readiness: for a process just spawned, and one adopted
// from the previous daemon (handover.go). Owner goroutine.
func (a *App) attach(p *proc, k *sinks, pp *pipes, signals chan string) {
	p.sinks = k
	p.pipes = pp
	p.captured = make(chan struct{})
	go k.capture(pp, LogName(a.spec.Namespace, a.spec.Name), p.slot.index, p.captured)
	sp := p.sp
	a.goHelper(func() {
		select {
		case <-sp.Done():
		case <-a.ctx.Done():
			return
		}
		// The crash context: the group is gone, so its pipes are at EOF
		// or about to be.
		tail := p.stderrTail(250 * time.Millisecond)
		a.post(func() { a.onExit(p, tail) })
	})
	a.live[p] = struct{}{}
	if p.decided {
		return // adopted online: ready long ago
	}
	sp0 := a.spec
	if p.state == api.StatusUnready {
		// Adopted unready from the previous daemon: probed again, as it was.
		a.goHelper(func() { a.reprobe(sp0, p) })
	} else {
		a.goHelper(func() { a.watchReady(sp0, p) })
	}
	a.cfg.OnChange()
}

// procPort is the PORT a process gets outside proxy mode.
func (a *App) procPort() int {
	return a.spec.Port
}

// watchReady decides when a process is ready, by the app's choice (s, as
// it was when the process started), and reports the verdict to the owner.
// A helper goroutine; the wait ends at listen_timeout on the app's clock,
// or when the app is closed. A process found not ready gets the reason
// from what tend can see of it (the ports it listens on).
func (a *App) watchReady(s spec.App, p *proc) {
	ok, why := a.probe(s, p, s.ListenTimeout.D(), "within listen_timeout "+s.ListenTimeout.D().String())
	if !ok {
		why = a.explain(s, p, why)
	}
	unready := make(chan bool, 1)
	a.post(func() { unready <- a.onReady(p, ok, why) })
	select {
	case u := <-unready:
		if u {
			a.reprobe(s, p)
		}
	case <-a.ctx.Done():
	}
}

// probe waits up to timeout for the process to be ready, by the app's
// choice: wait_ready (its own signal), health_path answering 2xx, in
// socket mode its own listen on the inherited socket (the Node preload
// says so), its port accepting connections, or at once when it has nothing
// to wait for. within ends the reason of a wait that timed out.
func (a *App) probe(s spec.App, p *proc, timeout time.Duration, within string) (bool, string) {
	exited := p.sp.Done()
	ctx, cancel := a.deadline(timeout)
	defer cancel()
	switch {
	case s.WaitReady:
		return waitSignal(ctx, exited, p.signals, within, ready.Ready)
	case s.HealthPath != "":
		last, err := ready.Health(ctx, exited, p.addr(), s.HealthPath, a.fx.Dial)
		switch {
		case err == nil:
			return true, last
		case errors.Is(err, ready.ErrExited):
			return false, err.Error()
		default:
			return false, fmt.Sprintf("health check %s not 2xx %s (%s)", s.HealthPath, within, last)
		}
	case s.Mode == spec.ModeSocket && s.IsNode():
		ok, why := waitSignal(ctx, exited, p.signals, within, ready.Listening)
		if !ok && why != ready.ErrExited.Error() {
			why = "did not listen on the inherited socket " + within
		}
		return ok, why
	case s.Mode == spec.ModeSocket:
		// A process that is not Node cannot be seen to accept on the
		// shared socket: READY=1 (wait_ready) or health_path say more.
		return true, "socket mode: started (set wait_ready or health_path for a readiness signal)"
	case clustered(s) || p.shares:
		return a.probeCluster(ctx, s, p, within)
	case p.port > 0:
		switch err := ready.Port(ctx, exited, p.addr(), a.fx.Dial); {
		case err == nil:
			return true, "port " + strconv.Itoa(p.port) + " accepts connections"
		case errors.Is(err, ready.ErrExited):
			return false, err.Error()
		default:
			return false, fmt.Sprintf("port %d accepted no connection %s", p.port, within)
		}
	default:
		return true, "started"
	}
}

// explain adds to why a process is not ready what tend can see of it: the
// ports it listens on instead of the one it was given.
func (a *App) explain(s spec.App, p *proc, why string) string {
	if why == ready.ErrExited.Error() {
		return why
	}
	var note string
	switch {
	case s.Mode == spec.ModeSocket:
		note = a.listeningNote(p, 0, s.Port)
	case p.port > 0 && !s.WaitReady:
		note = a.listeningNote(p, p.port, 0)
	}
	if note == "" {
		return why
	}
	return note + "; " + why
}

// reprobe probes an unready process again every reprobeEvery until it is
// ready, it ends, or the app is closed. A helper goroutine.
func (a *App) reprobe(s spec.App, p *proc) {
	for {
		ctx, cancel := a.deadline(reprobeEvery)
		select {
		case <-ctx.Done():
		case <-p.sp.Done():
		}
		cancel()
		select {
		case <-p.sp.Done():
			return
		case <-a.ctx.Done():
			return
		default:
		}
		ok, why := a.probe(s, p, reprobeWindow, "when probed again")
		if !ok {
			why = a.explain(s, p, why)
		}
		done := make(chan bool, 1)
		a.post(func() { done <- a.onReprobe(p, ok, why) })
		select {
		case more := <-done:
			if !more {
				return
			}
		case <-a.ctx.Done():
			return
		}
	}
}

// Pace of the probes of an unready instance: one short probe a second
// costs nothing, however long it stays unready.
const (
	reprobeEvery  = time.Second
	reprobeWindow = 500 * time.Millisecond
)

// waitSignal waits for the process to signal want, and says how it went.
func waitSignal(ctx context.Context, exited <-chan struct{}, signals <-chan string, within, want string) (bool, string) {
	switch err := ready.Signal(ctx, exited, signals, want); {
	case err == nil:
		return true, "signalled " + want
	case errors.Is(err, ready.ErrExited):
		return false, err.Error()
	default:
		return false, fmt.Sprintf("did not signal %s %s", want, within)
	}
}

// readIPC starts the reader of process p's IPC channel c, which answers
// its share requests when the app's instances share their ports.
func (a *App) readIPC(p *proc, c net.Conn, signals chan string) {
	metric, pm2 := a.metricSink(p), a.pm2Sink(p)
	var share ready.ShareFunc
	if p.shares && p.sender != nil {
		share = a.shareFunc(p, p.sender)
	}
	a.goHelper(func() { ready.ReadIPC(c, signals, metric, pm2, share) })
}

// metricSink returns the callback with which a process's readers report
// the app's own metrics to the owner goroutine.
func (a *App) metricSink(p *proc) ready.MetricFunc {
	rt := &runtimeBatch{}
	return func(name string, v float64) {
		if strings.HasPrefix(name, ready.RuntimePrefix) {
			rt.add(a, p, name, v)
			return
		}
		a.post(func() { p.setMetric(name, v) })
	}
}

// maxCustomMetrics bounds what an app can make the daemon remember.
const maxCustomMetrics = 64

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
	a.spec.InstanceEnv(m, index)
	m["TEND_INSTANCE"] = strconv.Itoa(index)
	m["TEND_APP_NAME"] = a.spec.Name
	m["TEND_APP_ID"] = strconv.Itoa(a.id)
	if _, set := m["TEND_METRICS_INTERVAL_MS"]; !set && a.spec.IsNode() && a.cfg.RuntimeInterval > 0 {
		m["TEND_METRICS_INTERVAL_MS"] = strconv.FormatInt(a.cfg.RuntimeInterval.Milliseconds(), 10)
	}
	// Set per process by tend, never inherited from the caller.
	for _, k := range []string{"NODE_CHANNEL_FD", "NODE_CHANNEL_SERIALIZATION_MODE", "NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", ShareEnv} {
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
// managers such as nvm keep working); shares says the process shares the
// app's ports, which takes the preload.
func (a *App) command(env []string, shares bool) (string, []string, error) {
	s := a.spec
	if s.Interpreter == "" || s.Interpreter == spec.InterpreterNone {
		return s.Script, append([]string{s.Script}, s.Args...), nil
	}
	path, err := lookPath(s.Interpreter, envMap(env)["PATH"])
	if err != nil {
		return "", nil, err
	}
	argv := []string{s.Interpreter}
	// The listen preload: in socket mode and to share ports, and for a
	// Node app without a port in fork mode, whose server closes gracefully
	// with it once an instance scaled up beside it shares its socket.
	if (s.Mode == spec.ModeSocket || shares || s.Portless()) && s.IsNode() && a.cfg.NodePreload != "" {
		argv = append(argv, "-r", a.cfg.NodePreload)
	}
	argv = append(argv, s.InterpreterArgs...)
	if s.SourceMapSupport && s.IsNode() && !slices.Contains(s.InterpreterArgs, "--enable-source-maps") {
		argv = append(argv, "--enable-source-maps")
	}
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
