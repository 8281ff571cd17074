// Package app runs one app: its instances, their restarts, and the commands
// that act on them. One goroutine owns an app's mutable state; every other
// goroutine talks to it through the methods here, which send it a message
// and wait for the answer.
package app

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/metrics"
	"github.com/tendhq/tend/internal/restart"
	"github.com/tendhq/tend/internal/spec"
	"github.com/tendhq/tend/internal/supervise"
	"golang.org/x/sys/unix"
)

// ErrDeleted is returned by every method once the app has been deleted.
var ErrDeleted = errors.New("app was deleted")

// Config is what an app needs from its daemon.
type Config struct {
	ID        int
	Spec      spec.App
	CallerEnv map[string]string // environment of the `tend start` caller
	LogDir    string            // where <name>-out[-i].log and <name>-error[-i].log go
	CreatedAt time.Time
	// OnChange is called from the owner goroutine whenever a process was
	// spawned or ended, so the daemon can record pids. It must not block.
	OnChange func()
}

// App is a running app. Create it with New; it starts stopped.
type App struct {
	id        int
	createdAt time.Time
	cmds      chan func() // run by the owner goroutine
	ctx       context.Context
	cancel    context.CancelFunc
	done      chan struct{} // closed when the owner goroutine has returned

	// Everything below is owned by the run goroutine.
	spec      spec.App
	callerEnv map[string]string
	logDir    string
	onChange  func()
	insts     []*instance
	stopped   bool   // the user asked for the app to be down
	reason    string // why the app is errored or stopped by itself
	exits     chan exitEvent
	timers    chan timerEvent
	readies   chan readyEvent
	waiters   []waiter
}

// instance is one process slot of the app.
type instance struct {
	index     int
	proc      *supervise.Process
	gen       int // increments on every spawn; stale events carry an old gen
	status    string
	tracker   *restart.Tracker
	restarts  int
	lastExit  *api.Exit
	env       []string
	timer     *time.Timer // pending restart while waiting
	nextAt    time.Time
	startTime uint64 // /proc start time of proc, for stale-process checks
	// wantUp says whether the instance should be running when its current
	// process ends (a restart in progress).
	wantUp bool
	// stopping is set when tend asked the current process to exit.
	stopping bool
}

type exitEvent struct {
	inst *instance
	gen  int
	exit supervise.Exit
}

type timerEvent struct {
	inst *instance
	gen  int
}

// readyEvent says an instance's port accepts connections, or that it did
// not within the listen timeout.
type readyEvent struct {
	inst *instance
	gen  int
	ok   bool
}

// ListenTimeout bounds the wait for a new instance's port, as PM2's
// listen_timeout default does; the instance counts as online after it
// either way, and the crash policy deals with one that never listens.
const ListenTimeout = 3 * time.Second

// waiter is released when every instance has settled: none is launching or
// stopping.
type waiter chan struct{}

// New creates the app and starts its owner goroutine; no process runs yet.
func New(c Config) *App {
	ctx, cancel := context.WithCancel(context.Background())
	a := &App{
		id:        c.ID,
		createdAt: c.CreatedAt,
		cmds:      make(chan func()),
		ctx:       ctx,
		cancel:    cancel,
		done:      make(chan struct{}),
		spec:      c.Spec,
		callerEnv: c.CallerEnv,
		logDir:    c.LogDir,
		onChange:  c.OnChange,
		stopped:   true,
		exits:     make(chan exitEvent),
		timers:    make(chan timerEvent),
		readies:   make(chan readyEvent),
	}
	if a.onChange == nil {
		a.onChange = func() {}
	}
	a.resize(c.Spec.Instances)
	go a.run()
	return a
}

// ID is the app's id, fixed for its life.
func (a *App) ID() int { return a.id }

func (a *App) run() {
	defer close(a.done)
	for {
		select {
		case f := <-a.cmds:
			f()
		case ev := <-a.exits:
			a.onExit(ev)
		case ev := <-a.timers:
			a.onTimer(ev)
		case ev := <-a.readies:
			if ev.gen == ev.inst.gen && ev.inst.status == api.StatusLaunching {
				ev.inst.status = api.StatusOnline
			}
		case <-a.ctx.Done():
			return
		}
		a.releaseWaiters()
	}
}

// do runs f on the owner goroutine and waits for it to return.
func (a *App) do(f func()) error {
	ran := make(chan struct{})
	select {
	case a.cmds <- func() { f(); close(ran) }:
	case <-a.done:
		return ErrDeleted
	}
	select {
	case <-ran:
		return nil
	case <-a.done:
		return ErrDeleted
	}
}

// settle waits until no instance is launching or stopping.
func (a *App) settle(ctx context.Context) error {
	w := make(waiter)
	if err := a.do(func() { a.waiters = append(a.waiters, w) }); err != nil {
		return err
	}
	select {
	case <-w:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-a.done:
		return nil
	}
}

func (a *App) releaseWaiters() {
	if len(a.waiters) == 0 {
		return
	}
	for _, in := range a.insts {
		if in.status == api.StatusLaunching || in.status == api.StatusStopping {
			return
		}
	}
	for _, w := range a.waiters {
		close(w)
	}
	a.waiters = nil
}

// Start brings every instance up that is not running, forgetting past
// crashes (a user start clears an errored app).
func (a *App) Start(ctx context.Context) error {
	var err error
	if e := a.do(func() {
		a.stopped = false
		a.reason = ""
		for _, in := range a.insts {
			in.tracker.Reset()
			if in.proc == nil {
				a.cancelTimer(in)
				err = errors.Join(err, a.spawn(in))
			}
		}
	}); e != nil {
		return e
	}
	return errors.Join(err, a.settle(ctx))
}

// Stop brings every instance down and returns when they are all stopped.
func (a *App) Stop(ctx context.Context) error {
	if err := a.do(func() {
		a.stopped = true
		a.reason = ""
		for _, in := range a.insts {
			in.wantUp = false
			a.stopInstance(in)
		}
	}); err != nil {
		return err
	}
	return a.settle(ctx)
}

// Restart stops each instance and starts it again (PM2's restart, not a
// zero-downtime reload). With env non-nil, the caller's environment is
// replaced by env first (restart --update-env).
func (a *App) Restart(ctx context.Context, env map[string]string) error {
	var err error
	if e := a.do(func() {
		if env != nil {
			a.callerEnv = env
		}
		a.stopped = false
		a.reason = ""
		for _, in := range a.insts {
			in.tracker.Reset()
			a.cancelTimer(in)
			if in.proc == nil {
				in.restarts++
				err = errors.Join(err, a.spawn(in))
				continue
			}
			in.wantUp = true
			a.stopInstance(in)
		}
	}); e != nil {
		return e
	}
	return errors.Join(err, a.settle(ctx))
}

// Delete stops every instance and ends the owner goroutine.
func (a *App) Delete(ctx context.Context) error {
	if err := a.Stop(ctx); err != nil {
		return err
	}
	a.cancel()
	<-a.done
	return nil
}

// Close ends the owner goroutine without stopping processes that still run.
// Only for tests and for a daemon that is going away with its apps.
func (a *App) Close() {
	a.cancel()
	<-a.done
}

// Signal sends sig to every running instance.
func (a *App) Signal(sig syscall.Signal) error {
	var err error
	if e := a.do(func() {
		n := 0
		for _, in := range a.insts {
			if in.proc != nil {
				n++
				if e := in.proc.Signal(sig); e != nil {
					err = errors.Join(err, fmt.Errorf("instance %d: %w", in.index, e))
				}
			}
		}
		if n == 0 {
			err = fmt.Errorf("%s has no running process", a.spec.Name)
		}
	}); e != nil {
		return e
	}
	return err
}

// Reset zeroes the restart counters.
func (a *App) Reset() error {
	return a.do(func() {
		for _, in := range a.insts {
			in.restarts = 0
			in.tracker.Reset()
		}
	})
}

// Record is what the daemon persists about an app.
type Record struct {
	ID        int               `json:"id"`
	Spec      spec.App          `json:"spec"`
	CallerEnv map[string]string `json:"caller_env"`
	Stopped   bool              `json:"stopped"`
	CreatedAt time.Time         `json:"created_at"`
	// Procs are the process groups running when the record was taken, so
	// that a daemon restarted after a crash can remove leftovers.
	Procs []Proc `json:"procs,omitempty"`
}

// Proc identifies one process across pid reuse.
type Proc struct {
	PID       int    `json:"pid"`
	StartTime uint64 `json:"start_time"`
}

// Record returns the app's persistent state.
func (a *App) Record() (Record, error) {
	var r Record
	err := a.do(func() {
		r = Record{ID: a.id, Spec: a.spec, CallerEnv: a.callerEnv, Stopped: a.stopped, CreatedAt: a.createdAt}
		for _, in := range a.insts {
			if in.proc != nil {
				r.Procs = append(r.Procs, Proc{PID: in.proc.Pid(), StartTime: in.startTime})
			}
		}
	})
	return r, err
}

// Spec returns the app's settings.
func (a *App) Spec() (spec.App, error) {
	var s spec.App
	err := a.do(func() { s = a.spec })
	return s, err
}

// Status returns the app as the API shows it, without usage figures.
func (a *App) Status() (api.App, error) {
	var s api.App
	err := a.do(func() { s = a.status() })
	return s, err
}

func (a *App) status() api.App {
	now := time.Now()
	s := api.App{
		ID:        a.id,
		Name:      a.spec.Name,
		Namespace: a.spec.Namespace,
		Mode:      "fork",
		Port:      a.spec.Port,
		Reason:    a.reason,
		CreatedAt: a.createdAt,
		Instances: make([]api.Instance, 0, len(a.insts)),
	}
	for _, in := range a.insts {
		is := api.Instance{
			Index:         in.index,
			Status:        in.status,
			Restarts:      in.restarts,
			Unstable:      in.tracker.Unstable(),
			LastExit:      in.lastExit,
			NextRestartAt: in.nextAt,
		}
		if in.proc != nil {
			is.PID = in.proc.Pid()
			is.StartedAt = in.proc.Started()
			is.UptimeMS = now.Sub(is.StartedAt).Milliseconds()
		}
		s.Instances = append(s.Instances, is)
	}
	s.Status = summarize(s.Instances)
	return s
}

// summarize gives the app one status: the most alarming of its instances'.
func summarize(insts []api.Instance) string {
	rank := []string{api.StatusErrored, api.StatusWaiting, api.StatusLaunching, api.StatusStopping, api.StatusOnline, api.StatusStopped}
	best := len(rank)
	for _, in := range insts {
		if i := slices.Index(rank, in.Status); i >= 0 && i < best {
			best = i
		}
	}
	if best == len(rank) {
		return api.StatusStopped
	}
	return rank[best]
}

// Env returns the environment each instance was last started with.
func (a *App) Env() (api.Env, error) {
	var e api.Env
	err := a.do(func() {
		e = api.Env{App: a.spec.Name, Spec: a.spec.Env}
		for _, in := range a.insts {
			env := in.env
			if env == nil {
				env = a.environ(in.index)
			}
			e.Instances = append(e.Instances, api.InstanceEnv{Index: in.index, Env: envMap(env)})
		}
	})
	return e, err
}

// resize makes the app have n instance slots. New slots start stopped.
func (a *App) resize(n int) {
	for len(a.insts) < n {
		a.insts = append(a.insts, &instance{
			index:   len(a.insts),
			status:  api.StatusStopped,
			tracker: restart.NewTracker(policy(a.spec)),
		})
	}
	a.insts = a.insts[:n]
}

func policy(s spec.App) restart.Policy {
	return restart.Policy{
		Autorestart:   s.Autorestart,
		MaxRestarts:   s.MaxRestarts,
		MinUptime:     s.MinUptime.D(),
		RestartDelay:  s.RestartDelay.D(),
		ExpBackoff:    s.ExpBackoffRestartDelay.D(),
		StopExitCodes: s.StopExitCodes,
	}
}

// spawn starts the instance's process. A spawn that fails counts as a crash
// at once, so a missing binary ends in errored like a crash loop does.
func (a *App) spawn(in *instance) error {
	in.gen++
	in.nextAt = time.Time{}
	in.stopping = false
	in.wantUp = false
	env := a.environ(in.index)
	path, argv, err := a.command(env)
	var p *supervise.Process
	if err == nil {
		p, err = a.startProcess(in, path, argv, env)
	}
	if err != nil {
		now := time.Now()
		in.status = api.StatusLaunching
		a.afterExit(in, supervise.Exit{Code: -1, Started: now, Ended: now}, err)
		return fmt.Errorf("start %s instance %d: %w", a.spec.Name, in.index, err)
	}
	in.proc = p
	in.env = env
	in.startTime, _ = metrics.StartTime(p.Pid())
	in.status = api.StatusOnline
	gen := in.gen
	if a.spec.Port > 0 {
		in.status = api.StatusLaunching
		go a.probe(in, gen, p, a.spec.Port)
	}
	go func() {
		<-p.Done()
		select {
		case a.exits <- exitEvent{inst: in, gen: gen, exit: p.Exit()}:
		case <-a.ctx.Done():
		}
	}()
	a.onChange()
	return nil
}

// probe waits until the instance's port accepts a connection, the process
// exits, or ListenTimeout passes, and tells the owner goroutine.
func (a *App) probe(in *instance, gen int, p *supervise.Process, port int) {
	ok := waitPort(p.Done(), port, ListenTimeout)
	select {
	case a.readies <- readyEvent{inst: in, gen: gen, ok: ok}:
	case <-a.ctx.Done():
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

func (a *App) startProcess(in *instance, path string, argv, env []string) (*supervise.Process, error) {
	out, err := a.openLog("out", in.index)
	if err != nil {
		return nil, err
	}
	defer out.Close()
	errf, err := a.openLog("error", in.index)
	if err != nil {
		return nil, err
	}
	defer errf.Close()
	// The files go to the child as its stdout and stderr: the kernel writes
	// them, so tend can never stall the app.
	return supervise.Start(supervise.Config{
		Path: path, Args: argv, Dir: a.spec.Cwd, Env: env, Stdout: out, Stderr: errf,
	})
}

func (a *App) openLog(stream string, index int) (*os.File, error) {
	if err := os.MkdirAll(a.logDir, 0o700); err != nil {
		return nil, err
	}
	name := fmt.Sprintf("%s-%s.log", a.spec.Name, stream)
	if a.spec.Instances > 1 {
		name = fmt.Sprintf("%s-%s-%d.log", a.spec.Name, stream, index)
	}
	return os.OpenFile(filepath.Join(a.logDir, name), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
}

// stopInstance asks the instance's process to exit; its exit event
// arrives later. An instance waiting to restart simply stops waiting.
func (a *App) stopInstance(in *instance) {
	a.cancelTimer(in)
	if in.proc == nil {
		in.status = api.StatusStopped
		return
	}
	if in.stopping {
		return
	}
	in.stopping = true
	in.status = api.StatusStopping
	sig := signalNum(a.spec.KillSignal)
	grace := a.spec.KillTimeout.D()
	p := in.proc
	// Stop blocks for up to the grace period; the owner goroutine must not.
	go p.Stop(sig, grace)
}

func (a *App) cancelTimer(in *instance) {
	if in.timer != nil {
		in.timer.Stop()
		in.timer = nil
		in.gen++ // a timer that already fired is now stale
	}
	in.nextAt = time.Time{}
}

func (a *App) onExit(ev exitEvent) {
	in := ev.inst
	if ev.gen != in.gen {
		return
	}
	in.proc = nil
	in.startTime = 0
	if in.stopping {
		in.stopping = false
		in.lastExit = apiExit(ev.exit, true, "stopped by tend")
		in.status = api.StatusStopped
		if in.wantUp && !a.stopped {
			in.restarts++
			_ = a.spawn(in)
		}
		a.onChange()
		return
	}
	a.afterExit(in, ev.exit, nil)
	a.onChange()
}

// afterExit applies the restart policy to an exit tend did not ask for.
func (a *App) afterExit(in *instance, e supervise.Exit, spawnErr error) {
	d := in.tracker.Decide(restart.Exit{Code: e.Code, Signal: e.Signal, Started: e.Started, Ended: e.Ended})
	reason := d.Reason
	if spawnErr != nil {
		reason = spawnErr.Error() + "; " + reason
	}
	in.lastExit = apiExit(e, false, reason)
	switch d.Action {
	case restart.Restart:
		if d.Delay <= 0 {
			in.restarts++
			_ = a.spawn(in)
			return
		}
		in.status = api.StatusWaiting
		in.nextAt = time.Now().Add(d.Delay)
		gen := in.gen
		in.timer = time.AfterFunc(d.Delay, func() {
			select {
			case a.timers <- timerEvent{inst: in, gen: gen}:
			case <-a.ctx.Done():
			}
		})
	case restart.Errored:
		in.status = api.StatusErrored
		a.reason = fmt.Sprintf("instance %d: %s", in.index, reason)
	default:
		in.status = api.StatusStopped
	}
}

func (a *App) onTimer(ev timerEvent) {
	in := ev.inst
	if ev.gen != in.gen || in.timer == nil {
		return
	}
	in.timer = nil
	in.restarts++
	_ = a.spawn(in)
}

func apiExit(e supervise.Exit, expected bool, reason string) *api.Exit {
	return &api.Exit{
		Code:     e.Code,
		Signal:   e.Signal,
		At:       e.Ended,
		UptimeMS: e.Uptime().Milliseconds(),
		Expected: expected,
		Reason:   reason,
	}
}

// environ builds an instance's environment: the caller's, then the app's
// env, then what tend sets.
func (a *App) environ(index int) []string {
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
	if a.spec.Port > 0 {
		m["PORT"] = strconv.Itoa(a.spec.Port)
	}
	m["NODE_APP_INSTANCE"] = strconv.Itoa(index)
	m["TEND_INSTANCE"] = strconv.Itoa(index)
	m["TEND_APP_NAME"] = a.spec.Name
	m["TEND_APP_ID"] = strconv.Itoa(a.id)
	keys := slices.Sorted(maps.Keys(m))
	env := make([]string, 0, len(keys))
	for _, k := range keys {
		env = append(env, k+"="+m[k])
	}
	return env
}

func envMap(env []string) map[string]string {
	m := make(map[string]string, len(env))
	for _, kv := range env {
		for i := 0; i < len(kv); i++ {
			if kv[i] == '=' {
				m[kv[:i]] = kv[i+1:]
				break
			}
		}
	}
	return m
}

// command resolves the executable and argv, looking the interpreter up on
// the PATH of the instance's environment (the caller's PATH, so version
// managers such as nvm keep working).
func (a *App) command(env []string) (string, []string, error) {
	s := a.spec
	if s.Interpreter == "" || s.Interpreter == spec.InterpreterNone {
		argv := append([]string{s.Script}, s.Args...)
		return s.Script, argv, nil
	}
	path, err := lookPath(s.Interpreter, envMap(env)["PATH"])
	if err != nil {
		return "", nil, err
	}
	argv := []string{s.Interpreter}
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

func signalNum(name string) syscall.Signal {
	if n := unix.SignalNum(name); n != 0 {
		return n
	}
	return syscall.SIGINT
}
