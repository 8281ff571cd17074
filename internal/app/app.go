// Package app runs one app: its instances, their restarts, readiness,
// reloads and scaling, and their place behind the app's front. One goroutine
// owns an app's mutable state; every other goroutine talks to it through the
// methods here, which send it a message and wait for the answer.
//
// Every other goroutine the app starts (a readiness wait, a process's exit
// watch, a stop, a restart timer's callback, a reload on tend's own
// initiative) is a helper started by goHelper: the app's context cancels it
// and Close and Delete wait for it. The side effects (spawning, dialing,
// time) come from Config.Effects, so that tests drive the state machine
// with fakes.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/autoscale"
	"github.com/tendhq/tend/internal/conf"
	"github.com/tendhq/tend/internal/logs"
	"github.com/tendhq/tend/internal/ready"
	"github.com/tendhq/tend/internal/restart"
	"github.com/tendhq/tend/internal/spec"
	"github.com/tendhq/tend/internal/supervise"
	"github.com/tendhq/tend/internal/watch"
)

// ErrDeleted is returned by every method once the app has been deleted.
var ErrDeleted = errors.New("app was deleted")

// Front is the traffic side of an app in proxy mode: the edge listener that
// balances over the instances that are ready. The daemon implements it by
// adapting an edge.Front (Config.OpenFront); the app knows no edge type.
type Front interface {
	Add(id, addr string)
	Remove(id string)
	// Drain waits until the removed backend has no request in flight.
	Drain(ctx context.Context, id string) error
	Close(ctx context.Context) error
	// Configure applies the app's traffic settings in place.
	Configure(s spec.App) error
	// Stats returns one backend's traffic, or nil.
	Stats(id string) *api.HTTPStats
}

// Config is what an app needs from its daemon.
type Config struct {
	ID        int
	Spec      spec.App
	CallerEnv map[string]string // environment of the `tend start` caller
	LogDir    string            // where <name>-out[-i].log and <name>-error[-i].log go
	RunDir    string            // where per-process notify sockets go
	CreatedAt time.Time
	// OnChange is called from the owner goroutine whenever a process was
	// spawned or ended, so the daemon can record pids. It must not block.
	OnChange func()
	// Emit, when set, is called from the owner goroutine with every change
	// of the app's or an instance's status, every exit, reload step and
	// note (emit.go). It must not block.
	Emit func(api.StreamEvent)
	// OpenFront binds the public port of an app in proxy mode; onDown is
	// called (without blocking) when a backend's connections fail.
	OpenFront func(s spec.App, onDown func(id string)) (Front, error)
	// ListenSocket binds the public port of an app in socket mode.
	ListenSocket func(port int) (*os.File, error)
	// PauseSocket makes that socket refuse connections while no instance
	// is alive to accept them, and ResumeSocket makes it listen again
	// (socket.Pause and socket.Resume); nil leaves it listening.
	PauseSocket  func(*os.File) error
	ResumeSocket func(*os.File) error
	// Self is the tend binary, run as a thin exec wrapper that sets
	// LISTEN_PID in socket mode. NodePreload is the path of the preload that
	// makes node's listen() use the inherited socket.
	Self        string
	NodePreload string
	// NodeRuntimePreload is the path of the preload every Node instance
	// gets (--require in NODE_OPTIONS) to report its runtime figures.
	NodeRuntimePreload string
	// RuntimeInterval is how often that preload reports
	// (TEND_METRICS_INTERVAL_MS): the daemon's metrics_interval.
	RuntimeInterval time.Duration
	// OnRuntime, when set, is called from the owner goroutine with each
	// runtime report of a Node instance's current process and the app's
	// profile_on_stall setting (nil when unset). It must not block nor
	// keep figs.
	OnRuntime func(index, pid int, figs map[string]float64, stall *spec.ProfileOnStall)
	// BeforeMemoryRestart, when set, is called before max_memory_restart
	// replaces instance index (process pid) of an app with
	// heap_snapshot_on_memory_limit, from the helper goroutine that
	// replaces it, which waits for it: it must bound its own time.
	BeforeMemoryRestart func(index, pid int)
	// Log receives the app's events (watch and cron reloads, autoscale).
	Log *slog.Logger
	// Files and Hub take the app's output; LogDefaults holds the daemon's
	// rotation defaults for apps that set none.
	Files       LogFiles
	Hub         *logs.Hub
	LogDefaults logs.FileConfig
	// Effects are the side effects the app has; nil means the real ones.
	Effects *Effects
	// afterTurn, set only by tests, is called by the owner goroutine after
	// each message it handled: a state change to look at may have happened.
	afterTurn func()
}

// App is a running app. Create it with New; it starts stopped.
type App struct {
	id         int
	createdAt  time.Time
	cfg        Config
	fx         Effects
	cmds       chan func()     // run by the owner goroutine
	procEvents chan func()     // process events, run by the owner goroutine
	ctx        context.Context // cancelled when the app is closed or deleted
	cancel     context.CancelFunc
	done       chan struct{} // closed when the owner goroutine has returned
	// opMu serialises the operations that change which processes run
	// (start, stop, restart, reload, scale, delete). It is not a second
	// guard of the state, which only the owner goroutine touches: it orders
	// operations that span several turns of the owner with waits between
	// them (for readiness, for exits), which must not interleave (a scale
	// down in the middle of a reload's batches), while the owner stays free
	// to handle exits and readiness meanwhile. Crash restarts happen inside
	// the owner goroutine regardless.
	opMu sync.Mutex

	// helperMu guards helpersClosed and the Add of helpers, so that no
	// helper starts once Close or Delete waits for them.
	helperMu      sync.Mutex
	helpersClosed bool
	helpers       sync.WaitGroup

	// Everything below is owned by the run goroutine.
	spec      spec.App
	callerEnv map[string]string
	slots     []*slot
	// live are the processes whose exit has not been handled yet,
	// including those a reload retired, so that Close can end their
	// readers.
	live    map[*proc]struct{}
	stopped bool   // the user asked for the app to be down
	reason  string // why the app is errored
	front   Front
	sock    *os.File // the shared listening socket in socket mode
	// sockPaused says sock refuses connections: no instance was alive.
	sockPaused bool
	nextGen    int
	waiters    []chan struct{}
	events     []api.Event
	crashes    []api.Crash // unexpected exits, oldest first (crash.go)
	watcher    *watch.Watcher
	cronStop   func()
	scaler     *autoscale.Scaler
	scaling    bool // an autoscale step is under way
	seen       seen // what Emit was last told
	// reloadFailed says a failed reload was reported as an incident, so
	// that the next reload that succeeds reports it over (emit.go).
	reloadFailed bool
	// handingOver is set once Handover has taken the app's state: the
	// processes are the next daemon's, and their exits are left to it.
	handingOver bool
}

// New creates the app and starts its owner goroutine; no process runs yet.
func New(c Config) *App {
	ctx, cancel := context.WithCancel(context.Background())
	if c.OnChange == nil {
		c.OnChange = func() {}
	}
	a := &App{
		id:         c.ID,
		createdAt:  c.CreatedAt,
		cfg:        c,
		fx:         c.Effects.withDefaults(),
		cmds:       make(chan func()),
		procEvents: make(chan func()),
		ctx:        ctx,
		cancel:     cancel,
		done:       make(chan struct{}),
		spec:       c.Spec,
		callerEnv:  c.CallerEnv,
		stopped:    true,
		live:       map[*proc]struct{}{},
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
		case f := <-a.procEvents:
			f()
		case <-a.ctx.Done():
			return
		}
		a.releaseWaiters()
		a.emitChanges()
		if a.cfg.afterTurn != nil {
			a.cfg.afterTurn()
		}
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

// post delivers an event from a helper goroutine to the owner goroutine.
// It gives up when the app is gone, so helpers never leak.
func (a *App) post(f func()) {
	select {
	case a.procEvents <- f:
	case <-a.ctx.Done():
	}
}

// goHelper runs f on a goroutine the app owns: f must return soon after
// a.ctx is cancelled, and Close and Delete wait for it. Once they have
// begun to wait, f is not run at all.
func (a *App) goHelper(f func()) {
	a.helperMu.Lock()
	defer a.helperMu.Unlock()
	if a.helpersClosed {
		return
	}
	a.helpers.Add(1)
	go func() {
		defer a.helpers.Done()
		f()
	}()
}

// inHelper runs f on the calling goroutine (a timer's, a watcher's) as a
// helper: Close waits for it, and it does not run once Close has begun.
func (a *App) inHelper(f func()) {
	a.helperMu.Lock()
	if a.helpersClosed {
		a.helperMu.Unlock()
		return
	}
	a.helpers.Add(1)
	a.helperMu.Unlock()
	defer a.helpers.Done()
	f()
}

// waitHelpers ends the helpers: the context is cancelled by now; no new one
// starts, and it waits for those that run.
func (a *App) waitHelpers() {
	a.helperMu.Lock()
	a.helpersClosed = true
	a.helperMu.Unlock()
	a.helpers.Wait()
}

// deadline returns a context of the app's that ends after d on the app's
// clock, and its cancel function, which must be called.
func (a *App) deadline(d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(a.ctx)
	t := a.fx.AfterFunc(d, cancel)
	return ctx, func() {
		t.Stop()
		cancel()
	}
}

// settle waits until no instance is launching or stopping.
func (a *App) settle(ctx context.Context) error {
	w := make(chan struct{})
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
	for _, s := range a.slots {
		if st := s.status(); st == api.StatusLaunching || st == api.StatusStopping {
			return
		}
	}
	for _, w := range a.waiters {
		close(w)
	}
	a.waiters = nil
}

// Start brings every instance up that is not running, forgetting past
// crashes (a user start clears an errored app). It returns once every
// instance is ready (or its listen_timeout passed).
func (a *App) Start(ctx context.Context) error {
	a.opMu.Lock()
	defer a.opMu.Unlock()
	var err error
	if e := a.do(func() { err = a.start() }); e != nil {
		return e
	}
	return errors.Join(err, a.settle(ctx))
}

func (a *App) start() error {
	if err := a.openTraffic(); err != nil {
		return err
	}
	a.stopped = false
	a.reason = ""
	var err error
	for _, s := range a.slots {
		s.tracker.Reset()
		if s.cur == nil {
			a.cancelTimer(s)
			err = errors.Join(err, a.spawn(s))
		}
	}
	a.arm()
	return err
}

// openTraffic binds the app's public port, once, in proxy and socket mode.
func (a *App) openTraffic() error {
	switch {
	case a.spec.Mode == spec.ModeProxy && a.front == nil && a.cfg.OpenFront != nil:
		f, err := a.cfg.OpenFront(a.spec, a.onDown)
		if err != nil {
			return fmt.Errorf("%s: %w", a.spec.Name, err)
		}
		a.front = f
	case a.spec.Mode == spec.ModeSocket && a.sock == nil && a.cfg.ListenSocket != nil:
		f, err := a.cfg.ListenSocket(a.spec.Port)
		if err != nil {
			return fmt.Errorf("%s: %w", a.spec.Name, err)
		}
		a.sock = f
	}
	return nil
}

// closeTraffic releases the public port once the app is down.
func (a *App) closeTraffic() {
	if a.front != nil {
		ctx, cancel := context.WithTimeout(context.Background(), a.spec.KillTimeout.D())
		_ = a.front.Close(ctx)
		cancel()
		a.front = nil
	}
	if a.sock != nil {
		a.sock.Close()
		a.sock = nil
		a.sockPaused = false
	}
}

// pauseIfIdle makes the shared socket of socket mode refuse connections
// once no process of the app is alive: with nobody to accept them, a client
// would wait in the backlog until its own timeout. Owner goroutine.
func (a *App) pauseIfIdle() {
	if a.sock == nil || a.sockPaused || len(a.live) > 0 || a.cfg.PauseSocket == nil {
		return
	}
	if err := a.cfg.PauseSocket(a.sock); err != nil {
		a.event("no instance is alive, and port %d still accepts connections: %v", a.spec.Port, err)
		return
	}
	a.sockPaused = true
	a.event("no instance is alive: port %d refuses connections until one starts", a.spec.Port)
}

// resumeSocket makes a paused shared socket listen again, before a process
// that will accept on it starts. It asks even when the socket is not known
// to be paused (listening again costs nothing), so that a socket paused
// before it was handed to this app (a daemon upgrade) listens too. Owner
// goroutine.
func (a *App) resumeSocket() error {
	if a.sock == nil || a.cfg.ResumeSocket == nil {
		return nil
	}
	if err := a.cfg.ResumeSocket(a.sock); err != nil {
		return fmt.Errorf("listen on port %d again: %w", a.spec.Port, err)
	}
	a.sockPaused = false
	return nil
}

// Stop brings every instance down and returns when they are all stopped.
func (a *App) Stop(ctx context.Context) error {
	a.opMu.Lock()
	defer a.opMu.Unlock()
	return a.stopAll(ctx)
}

func (a *App) stopAll(ctx context.Context) error {
	if err := a.do(func() {
		a.stopped = true
		a.reason = ""
		a.disarm()
		for _, s := range a.slots {
			s.wantUp = false
			a.stopSlot(s)
		}
	}); err != nil {
		return err
	}
	if err := a.settle(ctx); err != nil {
		return err
	}
	return a.do(func() {
		if a.stopped {
			a.closeTraffic()
		}
	})
}

// Restart stops each instance and starts it again (PM2's restart, not a
// zero-downtime reload). With env non-nil, the caller's environment is
// replaced by env first (restart --update-env).
func (a *App) Restart(ctx context.Context, env map[string]string) error {
	a.opMu.Lock()
	defer a.opMu.Unlock()
	var err error
	if e := a.do(func() {
		if env != nil {
			a.callerEnv = env
		}
		if err = a.openTraffic(); err != nil {
			return
		}
		a.stopped = false
		a.reason = ""
		a.arm()
		for _, s := range a.slots {
			s.tracker.Reset()
			a.cancelTimer(s)
			if s.cur == nil {
				s.restarts++
				err = errors.Join(err, a.spawn(s))
				continue
			}
			s.wantUp = true
			a.stopSlot(s)
		}
	}); e != nil {
		return e
	}
	return errors.Join(err, a.settle(ctx))
}

// Delete stops every instance, ends the owner goroutine and waits for the
// helpers.
func (a *App) Delete(ctx context.Context) error {
	a.opMu.Lock()
	if err := a.stopAll(ctx); err != nil {
		a.opMu.Unlock()
		return err
	}
	a.shutdown()
	// A helper may be waiting for opMu (a watch reload): it finds the app
	// deleted once it gets it, so the wait comes after the unlock.
	a.opMu.Unlock()
	a.waitHelpers()
	return nil
}

// Close ends the owner goroutine and its helpers without stopping processes
// that still run (their channels to tend are closed). Only for a daemon that
// is going away after stopping its apps, and tests.
func (a *App) Close() {
	a.shutdown()
	a.waitHelpers()
}

// shutdown disarms the app, closes the channels of its processes (which
// ends their readers) and ends the owner goroutine. Helpers see the
// context cancelled.
func (a *App) shutdown() {
	_ = a.do(func() {
		a.disarm()
		for _, s := range a.slots {
			a.cancelTimer(s)
		}
		for p := range a.live {
			p.close()
		}
	})
	a.cancel()
	<-a.done
}

// Signal sends sig to every running instance.
func (a *App) Signal(sig syscall.Signal) error {
	var err error
	if e := a.do(func() {
		n := 0
		for _, s := range a.slots {
			if s.cur != nil {
				n++
				if e := s.cur.sp.Signal(sig); e != nil {
					err = errors.Join(err, fmt.Errorf("instance %d: %w", s.index, e))
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
		for _, s := range a.slots {
			s.restarts = 0
			s.tracker.Reset()
		}
	})
}

// Record is what the daemon persists about an app.
type Record struct {
	ID        int               `json:"id"`
	Spec      spec.App          `json:"spec"`
	CallerEnv map[string]string `json:"caller_env"`
	Stopped   bool              `json:"stopped"`
	// Finished says every instance ended on its own and the restart policy
	// let it be (autorestart off, a stop exit code): a one-shot job that
	// ran to completion, which a restarted daemon must not run again.
	Finished  bool      `json:"finished,omitempty"`
	CreatedAt time.Time `json:"created_at"`
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
		r = Record{ID: a.id, Spec: a.spec, CallerEnv: a.callerEnv, Stopped: a.stopped, Finished: a.finished(), CreatedAt: a.createdAt}
		for _, s := range a.slots {
			for _, p := range []*proc{s.cur, s.next} {
				if p != nil {
					r.Procs = append(r.Procs, Proc{PID: p.sp.Pid(), StartTime: p.startTime})
				}
			}
		}
	})
	return r, err
}

// finished reports that no instance runs or will run again because each
// ended on its own and the restart policy said not to restart it.
func (a *App) finished() bool {
	if a.stopped || len(a.slots) == 0 {
		return false
	}
	for _, s := range a.slots {
		if s.cur != nil || s.next != nil || s.state != api.StatusStopped || s.lastExit == nil || s.lastExit.Expected {
			return false
		}
	}
	return true
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
	now := a.fx.Now()
	s := api.App{
		ID:        a.id,
		Name:      a.spec.Name,
		Namespace: a.spec.Namespace,
		Mode:      a.spec.Mode,
		Port:      a.spec.Port,
		Reason:    a.reason,
		CreatedAt: a.createdAt,
		Instances: make([]api.Instance, 0, len(a.slots)),
		Events:    slices.Clone(a.events),
		Crashes:   a.recentCrashes(now),
	}
	for _, sl := range a.slots {
		is := api.Instance{
			Index:         sl.index,
			Status:        sl.status(),
			Restarts:      sl.restarts,
			Unstable:      sl.tracker.Unstable(),
			LastExit:      sl.lastExit,
			NextRestartAt: sl.nextAt,
		}
		is.RestartReason = sl.reason
		if p := sl.cur; p != nil {
			is.PID = p.sp.Pid()
			is.StartedAt = p.sp.Started()
			is.UptimeMS = now.Sub(is.StartedAt).Milliseconds()
			is.CPUPercent = float64(int(p.usage.CPUPercent*10)) / 10
			is.MemoryBytes = p.usage.MemoryBytes
			is.Processes = p.usage.Processes
			if len(p.custom) > 0 {
				is.Metrics = maps.Clone(p.custom)
			}
			is.Actions = slices.Clone(p.actions)
			if len(p.runtime) > 0 {
				is.Node = maps.Clone(p.runtime)
			}
			if a.front != nil && p.port > 0 {
				is.HTTP = a.front.Stats(p.id())
			}
			if p.state == api.StatusUnready {
				is.Reason = p.notReady
				is.RecentStderr = p.recentStderr(unreadyLines)
				if s.Reason == "" {
					s.Reason = fmt.Sprintf("instance %d: %s", sl.index, p.notReady)
				}
			}
		}
		s.Instances = append(s.Instances, is)
	}
	s.Status = summarize(s.Instances)
	return s
}

// summarize gives the app one status: the most alarming of its instances'.
func summarize(insts []api.Instance) string {
	rank := []string{api.StatusErrored, api.StatusUnready, api.StatusWaiting, api.StatusLaunching, api.StatusStopping, api.StatusOnline, api.StatusStopped}
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
		for _, s := range a.slots {
			env := s.env
			if env == nil {
				env = a.environ(s.index, a.procPort())
			}
			e.Instances = append(e.Instances, api.InstanceEnv{Index: s.index, Env: envMap(env)})
		}
	})
	return e, err
}

// resize makes the app have n instance slots. New slots start stopped.
func (a *App) resize(n int) {
	for len(a.slots) < n {
		a.slots = append(a.slots, &slot{
			index:   len(a.slots),
			state:   api.StatusStopped,
			tracker: restart.NewTracker(policy(a.spec)),
		})
	}
	a.slots = a.slots[:n]
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

// stopSlot asks the slot's process to exit; its exit event arrives later.
// A slot waiting to restart simply stops waiting.
func (a *App) stopSlot(s *slot) {
	a.cancelTimer(s)
	if s.next != nil {
		a.stopProc(s.next)
	}
	if s.cur == nil {
		a.setSlotState(s, api.StatusStopped)
		return
	}
	a.stopProc(s.cur)
}

// stopProc takes a process out of the pool, lets its requests finish
// (bounded by kill_timeout), then stops it: signal, kill_timeout, SIGKILL.
func (a *App) stopProc(p *proc) {
	if p.stopping {
		return
	}
	p.stopping = true
	a.setProcState(p, api.StatusStopping)
	// Removed whether or not it is in the pool: one the front marked down
	// is still listed there.
	front := a.front
	if front != nil && p.port > 0 {
		front.Remove(p.id())
		p.inPool = false
	}
	sig := signalNum(a.spec.KillSignal)
	grace := a.spec.KillTimeout.D()
	withMessage := a.spec.ShutdownWithMessage
	// Draining and stopping take up to two kill_timeouts (three with
	// shutdown_with_message); the owner goroutine must not wait for them.
	// Close does (bounded by them).
	a.goHelper(func() {
		if front != nil {
			ctx, cancel := context.WithTimeout(context.Background(), grace)
			_ = front.Drain(ctx, p.id())
			cancel()
		}
		if send := p.sender; send != nil && withMessage && send.Send(ready.ShutdownMessage) == nil {
			// PM2's shutdown_with_message: the message instead of the
			// signal, which follows after kill_timeout.
			t := time.NewTimer(grace)
			select {
			case <-p.sp.Done():
			case <-t.C:
			}
			t.Stop()
		}
		p.sp.Stop(sig, grace)
	})
}

func (a *App) cancelTimer(s *slot) {
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
		s.timerGen++ // a timer that already fired is now stale
	}
	s.nextAt = time.Time{}
}

// onExit handles the end of any process of the app.
func (a *App) onExit(p *proc, stderr []string) {
	if a.handingOver {
		return
	}
	p.close()
	delete(a.live, p)
	// Last, once a restart may have started another process.
	defer a.pauseIfIdle()
	s := p.slot
	a.cfg.OnChange()
	switch {
	case p == s.next:
		// A replacement that died before it was promoted: the reload
		// that started it reports the failure.
		s.next = nil
		p.decide(false, "exited before it was ready: "+p.sp.Exit().String())
		return
	case p != s.cur:
		return // a process retired by a reload
	}
	s.cur = nil
	if a.front != nil && p.port > 0 {
		a.front.Remove(p.id())
	}
	p.decide(false, "exited before it was ready: "+p.sp.Exit().String())
	e := p.sp.Exit()
	if p.stopping {
		s.lastExit = apiExit(e, true, "stopped by tend")
		a.setSlotState(s, api.StatusStopped)
		if s.wantUp && !a.stopped && slices.Contains(a.slots, s) {
			s.wantUp = false
			s.restarts++
			_ = a.spawn(s)
		}
		return
	}
	a.afterCrash(s, e, nil, stderr)
}

// afterCrash records an exit tend did not ask for, with the process's last
// stderr lines, and applies the restart policy to it.
func (a *App) afterCrash(s *slot, e supervise.Exit, spawnErr error, stderr []string) {
	d := s.tracker.Decide(restart.Exit{Code: e.Code, Signal: e.Signal, Started: e.Started, Ended: e.Ended})
	reason := d.Reason
	if spawnErr != nil {
		reason = spawnErr.Error() + "; " + reason
	}
	s.lastExit = apiExit(e, false, reason)
	s.lastExit.Stderr = stderr
	s.lastExit.Unstable = s.tracker.Unstable()
	detail := stderr // where the crash log finds the error line
	if spawnErr != nil {
		detail = []string{spawnErr.Error()}
	}
	s.lastExit.Error = errorLineOf(detail)
	a.recordCrash(s.index, s.lastExit, detail, a.fx.Now())
	if a.stopped || !slices.Contains(a.slots, s) {
		a.setSlotState(s, api.StatusStopped)
		return
	}
	switch d.Action {
	case restart.Restart:
		if d.Delay <= 0 {
			s.restarts++
			_ = a.spawn(s)
			return
		}
		a.setSlotState(s, api.StatusWaiting)
		s.nextAt = a.fx.Now().Add(d.Delay)
		gen := s.timerGen
		s.timer = a.fx.AfterFunc(d.Delay, func() {
			a.inHelper(func() {
				a.post(func() {
					if gen != s.timerGen || s.timer == nil {
						return
					}
					s.timer = nil
					s.nextAt = time.Time{}
					s.restarts++
					_ = a.spawn(s)
				})
			})
		})
	case restart.Errored:
		a.setSlotState(s, api.StatusErrored)
		a.reason = fmt.Sprintf("instance %d: %s", s.index, reason)
	default:
		a.setSlotState(s, api.StatusStopped)
	}
}

// onReady handles the readiness verdict of a process. It returns true when
// the process is now unready: it runs, gets no traffic, and its watcher
// goes on probing it (reprobe).
func (a *App) onReady(p *proc, ok bool, why string) bool {
	if a.handingOver {
		return false
	}
	if p.state != api.StatusLaunching {
		return false
	}
	s := p.slot
	if p == s.next {
		if ok {
			a.setProcState(p, api.StatusOnline)
		}
		p.decide(ok, why)
		return false
	}
	if p != s.cur {
		return false
	}
	p.decide(ok, why)
	if !ok {
		select {
		case <-p.sp.Done():
			// It exited: onExit, on its way, applies the restart
			// policy; until then it is still launching.
			return false
		default:
		}
		// Not online, as PM2 would have it: a process that is not ready
		// by listen_timeout is not serving, and saying so is the point.
		p.notReady = why
		a.setProcState(p, api.StatusUnready)
		return true
	}
	a.online(p)
	return false
}

// online puts a ready process in service.
func (a *App) online(p *proc) {
	p.notReady = ""
	a.setProcState(p, api.StatusOnline)
	if a.front != nil && p.port > 0 {
		a.front.Add(p.id(), p.addr())
		p.inPool = true
	}
}

// onReprobe handles a new probe of an unready process: ready, it goes
// online and joins the pool; else its reason is brought up to date. It
// returns whether to go on probing.
func (a *App) onReprobe(p *proc, ok bool, why string) bool {
	if p.slot.cur != p || p.state != api.StatusUnready || p.stopping {
		return false
	}
	if !ok {
		p.notReady = why
		return true
	}
	a.online(p)
	a.event("instance %d became ready after all (%s): it is online", p.slot.index, why)
	return false
}

// onDown is called by the front, from any goroutine, when connections to
// a backend fail. The instance leaves the pool until its port answers again.
func (a *App) onDown(id string) {
	a.goHelper(func() {
		a.post(func() {
			for _, s := range a.slots {
				p := s.cur
				if p == nil || p.id() != id || !p.inPool || p.stopping {
					continue
				}
				p.inPool = false
				a.goHelper(func() {
					ctx, cancel := a.deadline(time.Minute)
					defer cancel()
					if ready.Port(ctx, p.sp.Done(), p.addr(), a.fx.Dial) == nil {
						a.post(func() {
							if s.cur == p && !p.stopping && !p.inPool && a.front != nil {
								a.front.Add(p.id(), p.addr())
								p.inPool = true
							}
						})
					}
				})
			}
		})
	})
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

// signalNum is the kill signal the spec names (validated when it was
// decoded), or SIGINT.
func signalNum(name string) syscall.Signal {
	if n, err := conf.ParseSignal(name); err == nil {
		return n
	}
	return syscall.SIGINT
}

// setSlotState and setProcState are where an instance's status changes
// (an instance's status is its process's while one runs, else its slot's);
// with startProc (a process launching), reloadBatch (a replacement
// promoted) and onExit/afterCrash (an exit recorded), they are the places
// for an event hook. Owner goroutine.
func (a *App) setSlotState(s *slot, status string) { s.state = status }

func (a *App) setProcState(p *proc, status string) { p.state = status }
