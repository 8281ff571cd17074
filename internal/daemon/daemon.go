// Package daemon is tend's long-running server: it owns every app process,
// keeps the desired state in $TEND_HOME/state.json, and serves the control
// API on $TEND_HOME/tend.sock.
package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tendhq/tend/internal/alert"
	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/app"
	"github.com/tendhq/tend/internal/edge"
	"github.com/tendhq/tend/internal/edge/edgeconf"
	"github.com/tendhq/tend/internal/edge/socket"
	"github.com/tendhq/tend/internal/events"
	"github.com/tendhq/tend/internal/fleet"
	"github.com/tendhq/tend/internal/home"
	"github.com/tendhq/tend/internal/inspect"
	"github.com/tendhq/tend/internal/logs"
	"github.com/tendhq/tend/internal/metrics"
	"github.com/tendhq/tend/internal/metrics/prom"
	"github.com/tendhq/tend/internal/spec"
	"github.com/tendhq/tend/internal/supervise"
	"github.com/tendhq/tend/internal/tune"
)

// Options configure a daemon.
type Options struct {
	Home    string
	Version string
	Log     *slog.Logger
	// Ready, when set, is called once the socket answers and the saved apps
	// have been started again (and Apply applied); not when Run ends first.
	Ready func()
	// Serving, when set, is called once the socket answers, before the
	// saved apps are back.
	Serving func()
	// MetricsInterval is how often every instance's process tree is
	// sampled (CPU, memory, max_memory_restart); default 1s.
	MetricsInterval time.Duration
	// MetricsAddr, when set, serves Prometheus /metrics there; beyond
	// loopback MetricsToken is required as a bearer token.
	MetricsAddr  string
	MetricsToken string
	// LogDefaults are the rotation settings of apps that set none.
	LogDefaults logs.FileConfig
	// OwnLog, when set, is the daemon's own log file; reload-logs reopens it.
	OwnLog *logs.File
	// Hub, when set, is where the apps' output is published (tend run
	// prints it); nil makes a new one.
	Hub *logs.Hub
	// Apply, when set, is applied with prune once the state is restored:
	// what runs becomes exactly these apps (tend run). ApplyEnv is the
	// environment they inherit.
	Apply    []spec.App
	ApplyEnv map[string]string
	// OnState, when set, is called with every app's status after each
	// change of a process (tend run uses it to end when an app is errored).
	OnState func([]api.App)
	// Procs is how many CPUs the daemon runs Go code on at once; 0 is
	// half of them (see tune.SetProcs).
	Procs int
	// MaxInstances is the most instances an app may have (start, apply,
	// set, scale); 0 is spec.DefaultMaxInstances.
	MaxInstances int
	// Updatable lets the daemon replace its program in place (tend update,
	// SIGHUP; update.go): Run must then be called on the main goroutine,
	// locked to the main thread, which forks every child and calls the
	// exec. Argv is the command line the new program gets (os.Args).
	Updatable bool
	Argv      []string
	// MaxUpload is the largest release archive a deploy may send (bytes);
	// 0 is DefaultMaxUpload.
	MaxUpload int64
	// RemoteAddr, when set, serves the control API there too, over TLS
	// only and to bearer tokens only (remote.go): RemoteCert and
	// RemoteKey, or a self-signed certificate kept in TEND_HOME/remote.
	RemoteAddr string
	RemoteCert string
	RemoteKey  string
	// Alerts are the webhooks of daemon.yaml's alerts list.
	Alerts []alert.Target
	// AlertsFlush is how long the alerts still queued when the daemon
	// stops are given to go out (tend run); 0: none.
	AlertsFlush time.Duration
	// resumeAlerts is what the alerter of the daemon before an update in
	// place handed over.
	resumeAlerts *alert.Handed
	// Dashboard configures the web dashboard (dashboard.go).
	Dashboard DashboardOptions
	// FleetHub, when set, runs an embedded fleet hub in the daemon;
	// FleetAgent, when set, joins the daemon to a fleet (fleet.go).
	FleetHub   *fleet.HubConfig
	FleetAgent *fleet.AgentConfig
}

// Daemon is one running daemon.
type Daemon struct {
	home    string
	version string
	log     *slog.Logger
	started time.Time
	sampler *metrics.Sampler
	quiet   *tune.Trimmer
	self    string        // the tend binary, for socket mode's exec wrapper
	preload string        // the node preload of socket mode
	dirty   chan struct{} // a process came or went: state.json needs writing
	killed  chan struct{} // closed by the kill endpoint
	kill    sync.Once
	// maxInstances is Options.MaxInstances: 0 is spec.DefaultMaxInstances.
	maxInstances int
	events       *events.Bus    // what happens to apps, streamed by GET /v1/events (events.go)
	alerts       *alert.Alerter // raises alerts from events; Run drives it (alerts.go)

	reg         *prometheus.Registry
	onState     func([]api.App)
	hub         *logs.Hub
	files       *logFiles
	ownLog      *logs.File
	logDefaults logs.FileConfig

	mu     sync.Mutex
	apps   []*entry // guarded by mu, ordered by id
	nextID int      // guarded by mu

	// restored is closed when the restore goroutine has returned; commands
	// that change apps wait for it (waitRestored). cancelRestore cancels
	// restoreCtx, under which it starts the apps.
	restored      chan struct{}
	restoreCtx    context.Context
	cancelRestore context.CancelFunc

	saveMu sync.Mutex // serialises writes of state.json
	// applyMu serialises apply and set: each plans against what runs, so
	// two at once could each plan against a state the other is changing.
	applyMu sync.Mutex
	frozen  bool // guarded by saveMu: shutting down, state is final

	up       updater    // tend update (update.go)
	api      controlAPI // the control API's server, for an update
	remote   controlAPI // the remote API's server (remote_addr), for an update
	lockFile *os.File   // holds home's lock; an update passes it on
	prof     profiles   // the profiles being recorded (profile.go)
	// runtimePreload is the node preload of runtime metrics, which every
	// Node instance gets.
	runtimePreload string
	// deployMu serialises deploys and rollbacks (releases.go): each reads
	// and changes an app's releases directory and settings.
	deployMu  sync.Mutex
	maxUpload int64 // Options.MaxUpload
	// metricsInterval is how often instances are sampled and the preload
	// reports.
	metricsInterval time.Duration
	// stalls decides when a stall is profiled, and autoCtx bounds the
	// profiles tend takes by itself: cancelled as the daemon stops
	// (autoprofile.go).
	stalls     stallGate
	autoCtx    context.Context
	cancelAuto context.CancelFunc
	dash       dashState // the web dashboard (dashboard.go)
}

// entry is a registered app with the fields that never change for its life,
// so that matching targets does not need a round trip to its goroutine.
type entry struct {
	app       *app.App
	id        int
	name      string
	namespace string
}

// logName is the app's name in the log hub (app.LogName).
func (e *entry) logName() string { return app.LogName(e.namespace, e.name) }

// Run runs the daemon until ctx is done or the kill endpoint is called, then
// stops every app and returns. The apps' desired state is kept, so the next
// daemon starts them again.
//
// The socket answers before the saved apps are back: restoring runs in the
// background under ctx (ping says so), and a command that changes apps
// waits for it to end. Each resource is released by the defer that follows
// its acquisition, in the reverse order.
func Run(ctx context.Context, o Options) error {
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.MetricsInterval <= 0 {
		o.MetricsInterval = time.Second
	}
	if _, err := home.Socket(o.Home); err != nil {
		return err // before anything is created
	}
	if err := home.Ensure(o.Home); err != nil {
		return err
	}
	// After an update in place, the lock is inherited, as is the rest.
	ho, err := takeHandover()
	if err != nil {
		return err
	}
	var lock *os.File
	if ho != nil {
		lock = inheritFD(ho.Lock, "lock")
	}
	if lock == nil {
		if lock, err = home.LockFile(o.Home); err != nil {
			return err
		}
	}
	defer lock.Close()

	if ho != nil {
		o.resumeAlerts = ho.Alerts
	}
	d, err := newDaemon(ctx, o)
	if err != nil {
		return err
	}
	d.lockFile = lock
	// Updates: every fork on this goroutine's thread (served by the loop
	// below), from the first one on.
	var spawns <-chan func()
	stopSpawns := func() {}
	if d.up.enabled {
		var stop func()
		spawns, stop = supervise.SpawnThread()
		stopSpawns = sync.OnceFunc(stop)
		defer stopSpawns()
	}
	if ho != nil {
		d.inherit(ho) // before the orphan reaper: it adopts the leaders
	}
	defer background(d.reapOrphans)()
	defer background(func(ctx context.Context) { d.alerts.Run(ctx, d.events) })()
	if o.MetricsAddr != "" {
		stop, err := prom.Serve(o.MetricsAddr, o.MetricsToken, d.reg, o.Log)
		if err != nil {
			return err
		}
		defer stop()
	}
	starts, err := d.load()
	if err != nil {
		return err
	}
	tune.SetProcs(o.Procs)
	defer background(tune.GC)()
	defer background(func(ctx context.Context) { d.sampleLoop(ctx, o.MetricsInterval) })()

	stopServing, failed, err := d.serve()
	if err != nil {
		return err
	}
	defer func() {
		stopServing()
		d.prof.wait() // the apps are down: their profiles end at once
		o.Log.Info("daemon stopped")
	}()
	if o.RemoteAddr != "" {
		stopRemote, err := d.serveRemote(o.RemoteAddr, o.RemoteCert, o.RemoteKey)
		if err != nil {
			return err
		}
		defer stopRemote()
	} else if d.up.remote != nil {
		o.Log.Info("remote_addr is no longer set: the inherited remote listener is closed")
		d.up.remote.Close()
		d.up.remote = nil
	}
	defer background(d.trimLoop)()
	if addr := d.dashboardAddr(); addr != "" {
		if _, err := d.startDashboard(addr); err != nil {
			if o.Dashboard.Addr != "" {
				return err
			}
			d.log.Error("the dashboard served before the update is not served again", "err", err)
		}
	}
	defer d.closeDashboard() // before the API stops: it ends its streams

	// From here apps run: whatever ends Run stops them first.
	stopPersist := background(d.persistLoop)
	restored := make(chan error, 1)
	go func() {
		defer close(d.restored)
		restored <- d.restore(d.restoreCtx, starts, o.Apply, o.ApplyEnv)
	}()
	defer func() {
		o.Log.Info("daemon stopping")
		d.cancelAuto()
		d.endRestore()
		stopPersist()
		d.freeze()
		d.stopAll()
	}()
	// The agent stops before the apps do: nothing reconciles meanwhile.
	stopFleet, err := d.startFleet(ctx, o)
	if err != nil {
		return err
	}
	defer stopFleet()
	o.Log.Info("daemon serving", "pid", os.Getpid(), "version", o.Version, "home", o.Home, "apps", len(starts))
	if o.Serving != nil {
		o.Serving()
	}

	// Updates: SIGHUP (update.go).
	hup := make(chan os.Signal, 1)
	if d.up.enabled {
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		defer background(d.updateLoop)()
	}
	// First of all once Run returns, forks stop waiting for this
	// goroutine: the apps stop, and updateLoop ends, on any thread.
	defer stopSpawns()

	done := ctx.Done()
	for {
		select {
		case job := <-spawns:
			job()
		case <-hup:
			select {
			case d.up.hup <- struct{}{}:
			default: // one is being prepared
			}
		case <-done:
			if d.up.handingOver.get() {
				// The apps are the next program's already: stopping now
				// would lose them. It runs on; stop it once it does.
				o.Log.Warn("stop requested during an update: the updated daemon goes on; stop it again")
				done = nil
				continue
			}
			return nil
		case <-d.killed:
			return nil
		case err := <-failed:
			if d.up.handingOver.get() {
				failed = nil // the API stopped for the hand-over
				continue
			}
			o.Log.Error("control socket failed", "err", err)
			return nil
		case err := <-restored:
			restored = nil
			switch {
			case errors.Is(err, context.Canceled):
				// Stopping or killed: the cases above end Run.
			case err != nil:
				return err
			default:
				o.Log.Info("daemon ready", "apps", len(starts))
				if o.Ready != nil {
					o.Ready()
				}
			}
		}
	}
}

// newDaemon prepares a daemon: the files socket mode needs, the log hub
// and the metrics registry. Nothing runs yet.
func newDaemon(ctx context.Context, o Options) (*Daemon, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find the tend binary: %w", err)
	}
	runDir := filepath.Join(o.Home, home.RunDir)
	if err := os.MkdirAll(runDir, 0o700); err != nil {
		return nil, err
	}
	preload := filepath.Join(runDir, "listen-preload.js")
	if err := writeFileAtomic(preload, socket.PreloadJS, 0o644); err != nil {
		return nil, fmt.Errorf("write node preload: %w", err)
	}
	runtimePreload := filepath.Join(runDir, "runtime-preload.js")
	if err := writeFileAtomic(runtimePreload, inspect.RuntimePreloadJS, 0o644); err != nil {
		return nil, fmt.Errorf("write node runtime preload: %w", err)
	}
	hub := o.Hub
	if hub == nil {
		hub = logs.NewHub(1000)
	}
	d := &Daemon{
		onState:      o.OnState,
		hub:          hub,
		files:        newLogFiles(),
		ownLog:       o.OwnLog,
		logDefaults:  o.LogDefaults,
		self:         self,
		preload:      preload,
		home:         o.Home,
		version:      o.Version,
		log:          o.Log,
		started:      time.Now(),
		sampler:      metrics.NewSampler(),
		quiet:        tune.NewTrimmer(),
		dirty:        make(chan struct{}, 1),
		killed:       make(chan struct{}),
		restored:     make(chan struct{}),
		events:       events.New(events.DefaultSize),
		maxInstances: o.MaxInstances,
		maxUpload:    o.MaxUpload,
	}
	d.metricsInterval = o.MetricsInterval
	d.autoCtx, d.cancelAuto = context.WithCancel(ctx)
	d.up = updater{enabled: o.Updatable, argv: o.Argv, pending: make(chan pendingUpdate, 1), hup: make(chan struct{}), fronts: map[int]*front{}}
	d.runtimePreload = runtimePreload
	d.alerts = alert.New(alert.Options{Targets: o.Alerts, Log: o.Log, Stable: d.stableFor, Resume: o.resumeAlerts, Online: d.appOnline, Flush: o.AlertsFlush})
	d.dash.opts = o.Dashboard
	d.dash.interval = o.MetricsInterval
	d.dash.hub, d.dash.agent = o.FleetHub != nil, o.FleetAgent
	d.restoreCtx, d.cancelRestore = context.WithCancel(ctx)
	d.reg = prom.NewRegistry(d.snapshot, hub.Followers)
	return d, nil
}

// reapOrphans reaps what the apps' processes abandon until ctx is done.
func (d *Daemon) reapOrphans(ctx context.Context) {
	// What the daemon runs besides apps (node evaluating a release's
	// ecosystem file) is started the same way, so its exit is not reaped
	// from under it.
	spec.SetCommandRunner(runSupervised)
	if err := supervise.ReapOrphans(ctx); err != nil {
		d.log.Warn("cannot become child subreaper; orphans of apps are reaped by init", "err", err)
	}
}

// serve serves the API on the control socket until stop, which lets the
// answers in flight end (up to 5s), waits for the server and removes the
// socket. failed receives why serving ended early.
func (d *Daemon) serve() (stop func(), failed <-chan error, err error) {
	sock, err := home.Socket(d.home)
	if err != nil {
		return nil, nil, err
	}
	ln := d.up.ctl // inherited from the program before an update
	if ln == nil {
		if ln, err = listenPrivate(sock); err != nil {
			return nil, nil, err
		}
	}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: d.apiHandler()}
	errc, endStreams, served := d.api.start(srv, ln, false)
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		d.events.Close() // ends the event streams, which Shutdown would wait for
		_ = srv.Shutdown(ctx)
		_ = srv.Close() // what did not end in time
		endStreams()
		<-served
		_ = os.Remove(sock)
	}, errc, nil
}

// apiHandler is the control API as every door serves it: the routes,
// held while the apps are restored, refused while an update is under way
// when they would change apps.
func (d *Daemon) apiHandler() http.Handler {
	routes := d.waitRestored(d.routes())
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.quiet.Touch()
		if d.up.busy.get() && mutating(r) {
			w.Header().Set("Retry-After", "1")
			writeJSON(w, http.StatusServiceUnavailable, api.Error{Error: "the daemon is being updated (tend update): try again in a moment"})
			return
		}
		routes.ServeHTTP(w, r)
	})
}

// listenPrivate listens on a unix socket only its owner can use. The socket
// a daemon that died left is removed first: the caller holds the lock.
func listenPrivate(sock string) (net.Listener, error) {
	_ = os.Remove(sock)
	old := syscall.Umask(0o077)
	ln, err := net.Listen("unix", sock)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", sock, err)
	}
	// The umask kept the socket private from its creation; 0600 is the
	// mode the docs promise (a socket needs no execute bit).
	if err := os.Chmod(sock, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

// trimLoop releases the executable's code pages once the API has been
// quiet for a while, until ctx is done.
func (d *Daemon) trimLoop(ctx context.Context) {
	t := time.NewTicker(tune.QuietPeriod)
	defer t.Stop()
	d.quiet.Run(ctx, t.C, func(err error) { d.log.Warn("cannot release code pages", "err", err) })
}

// background runs loop in a goroutine of its own until the returned stop
// is called; stop cancels loop's context and waits for it to return.
func background(loop func(ctx context.Context)) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		loop(ctx)
	}()
	return func() { cancel(); <-done }
}

// load registers the apps of state.json before the socket answers, so that
// every command sees all of them, and returns those to start again: the
// ones the user had not stopped. Leftovers of a daemon that died (processes
// it could not stop) are killed first, so nothing runs twice.
func (d *Daemon) load() ([]*entry, error) {
	st, err := loadState(filepath.Join(d.home, home.StateName))
	if err != nil {
		return nil, err
	}
	for _, r := range st.Apps {
		for _, p := range r.Procs {
			if d.up.adopted[p.PID] != nil {
				continue // handed over by an update: ours
			}
			if n := supervise.KillStaleGroup(p.PID, p.StartTime); n > 0 {
				d.log.Warn("killed processes left by a previous daemon", "app", r.Spec.Name, "pgid", p.PID, "count", n)
			}
		}
	}
	d.mu.Lock()
	d.nextID = st.NextID
	d.mu.Unlock()
	var starts []*entry
	for _, r := range st.Apps {
		e := d.register(r.ID, r.Spec, r.CallerEnv, r.CreatedAt)
		d.mu.Lock()
		d.nextID = max(d.nextID, r.ID+1)
		d.mu.Unlock()
		if _, adopt := d.handed(r.ID); !r.Stopped && !r.Finished && !adopt {
			starts = append(starts, e)
		}
	}
	return starts, nil
}

// restore starts the apps load returned, all at once (ten apps slow to
// become ready take one listen_timeout, not ten), records the state, and
// then applies apply with prune (tend run). Run starts it once the socket
// answers and ends it with endRestore; ctx is cancelled when the daemon
// stops, and the apps' Start returns at once then.
func (d *Daemon) restore(ctx context.Context, starts []*entry, apply []spec.App, env map[string]string) error {
	d.adoptApps()
	var wg sync.WaitGroup
	for _, e := range starts {
		wg.Go(func() {
			if err := e.app.Start(ctx); err != nil && ctx.Err() == nil {
				d.log.Warn("restore app", "app", e.name, "err", err)
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := d.persist(); err != nil {
		return err
	}
	if apply == nil {
		return nil
	}
	d.applyMu.Lock()
	defer d.applyMu.Unlock()
	_, err := d.execute(ctx, d.currentSpecs(), apply, true, false, env)
	return err
}

// endRestore cancels the restore if it still runs and waits for it to
// return. Run and the kill endpoint call it before stopping the apps.
func (d *Daemon) endRestore() {
	d.cancelRestore()
	<-d.restored
}

// restoring says whether the saved apps are still being started again.
func (d *Daemon) restoring() bool {
	select {
	case <-d.restored:
		return false
	default:
		return true
	}
}

// waitRestored holds a command that changes apps until the restore has
// ended, so that it applies to the apps as restored and a restore never
// undoes it (a stop that came first, then the restore's start). Reads
// answer at once with what is registered (every saved app, some still
// launching); kill cancels the restore instead, and the log endpoints
// touch no app.
func (d *Daemon) waitRestored(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := strings.TrimPrefix(r.URL.Path, api.Prefix)
		if r.Method != http.MethodGet && r.Method != http.MethodHead && p != "/kill" && !strings.HasPrefix(p, "/logs/") {
			select {
			case <-d.restored:
			case <-r.Context().Done():
				return // the client is gone
			}
		}
		next.ServeHTTP(w, r)
	})
}

// sampleLoop samples every instance's process tree each interval and hands
// the figures to the apps, which enforce max_memory_restart with them.
func (d *Daemon) sampleLoop(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			d.sample()
		}
	}
}

// sample reads /proc once for every app.
func (d *Daemon) sample() {
	d.mu.Lock()
	entries := slices.Clone(d.apps)
	d.mu.Unlock()
	byApp := make(map[*entry][]int, len(entries))
	var all []int
	for _, e := range entries {
		pids, err := e.app.Pids()
		if err != nil {
			continue
		}
		byApp[e] = pids
		all = append(all, pids...)
	}
	usage := d.sampler.Sample(all)
	var sampled []*entry
	for e, pids := range byApp {
		if len(pids) > 0 {
			_ = e.app.Observe(usage)
			sampled = append(sampled, e)
		}
	}
	d.publishSamples(sampled)
}

// snapshot is every app's status without its events, as Prometheus
// scrapes and OnState see it.
func (d *Daemon) snapshot() []api.App {
	d.mu.Lock()
	entries := slices.Clone(d.apps)
	d.mu.Unlock()
	return d.collect(entries, false)
}

// persistLoop writes state.json whenever a process came or went.
func (d *Daemon) persistLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.dirty:
			if err := d.persist(); err != nil {
				d.log.Error("write state", "err", err)
			}
			if d.onState != nil {
				d.onState(d.snapshot())
			}
		}
	}
}

func (d *Daemon) markDirty() {
	select {
	case d.dirty <- struct{}{}:
	default:
	}
}

// persist writes the desired state of every app to state.json.
func (d *Daemon) persist() error { return d.persistStarting(nil) }

// persistStarting is persist with the apps of starting recorded as
// running: they are about to start, and their start must not be lost to a
// daemon that dies before it is done.
func (d *Daemon) persistStarting(starting []*entry) error {
	d.saveMu.Lock()
	defer d.saveMu.Unlock()
	if d.frozen {
		return nil
	}
	d.mu.Lock()
	entries := slices.Clone(d.apps)
	st := State{Version: stateVersion, NextID: d.nextID, Apps: []app.Record{}}
	d.mu.Unlock()
	for _, e := range entries {
		r, err := e.app.Record()
		if err != nil {
			continue // deleted meanwhile
		}
		if slices.Contains(starting, e) {
			r.Stopped = false
		}
		st.Apps = append(st.Apps, r)
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(d.home, home.StateName), b, 0o600)
}

// freeze makes the current state.json final: the daemon is going away and
// the stops that follow must not be recorded as the user's wish.
func (d *Daemon) freeze() {
	if err := d.persist(); err != nil {
		d.log.Error("write state", "err", err)
	}
	d.saveMu.Lock()
	d.frozen = true
	d.saveMu.Unlock()
}

// stopAll stops every app at once, each within its own kill_timeout.
func (d *Daemon) stopAll() {
	d.mu.Lock()
	entries := slices.Clone(d.apps)
	d.mu.Unlock()
	var wg sync.WaitGroup
	for _, e := range entries {
		wg.Go(func() {
			_ = e.app.Stop(context.Background())
			e.app.Close()
		})
	}
	wg.Wait()
}

// register creates an app and adds it to the registry. The caller holds no lock.
func (d *Daemon) register(id int, s spec.App, env map[string]string, created time.Time) *entry {
	// The hooks below know the entry; its app is set before it starts.
	e := &entry{id: id, name: s.Name, namespace: s.Namespace}
	a := app.New(app.Config{
		ID:        id,
		Spec:      s,
		CallerEnv: env,
		LogDir:    filepath.Join(d.home, home.LogsDir),
		RunDir:    filepath.Join(d.home, home.RunDir),
		CreatedAt: created,
		OnChange:  d.markDirty,
		Emit:      d.events.Publish,
		Self:      d.self,
		OpenFront: func(s spec.App, onDown func(string)) (app.Front, error) {
			access := d.accessLog(s)
			f, err := edge.Listen(edge.Config{
				Listener:     d.inheritedListener(id),
				App:          s.Name,
				Addr:         ":" + strconv.Itoa(s.Port),
				Balance:      edge.Balance(s.Balance),
				StickyCookie: s.StickyCookie,
				OnDown:       onDown,
				Log:          d.log.With("app", s.Name),
				Options:      edgeOptions(s),
				StateDir:     filepath.Join(d.home, "tls"),
				AccessLog:    access.write,
			})
			if err != nil {
				access.close()
				return nil, err
			}
			fr := &front{Front: f, access: access}
			fr.forget = func() {
				d.up.mu.Lock()
				if d.up.fronts[id] == fr {
					delete(d.up.fronts, id)
				}
				d.up.mu.Unlock()
			}
			d.up.mu.Lock()
			d.up.fronts[id] = fr
			d.up.mu.Unlock()
			return fr, nil
		},
		NodeRuntimePreload: d.runtimePreload,
		RuntimeInterval:    d.metricsInterval,
		OnRuntime: func(index, pid int, figs map[string]float64, stall *spec.ProfileOnStall) {
			d.onRuntime(e, index, pid, figs, stall)
		},
		BeforeMemoryRestart: func(index, pid int) { d.beforeMemoryRestart(e, index, pid) },
		ListenSocket: func(port int) (*os.File, error) {
			return listenFile("tcp", ":"+strconv.Itoa(port))
		},
		PauseSocket:  socket.Pause,
		ResumeSocket: socket.Resume,
		ListenShared: listenFile,
		NodePreload:  d.preload,
		Log:          d.log,
		Files:        d.files,
		Hub:          d.hub,
		LogDefaults:  d.logDefaults,
	})
	e.app = a
	d.mu.Lock()
	d.apps = append(d.apps, e)
	slices.SortFunc(d.apps, func(x, y *entry) int { return x.id - y.id })
	d.mu.Unlock()
	return e
}

// listenFile binds a socket that only an app's processes accept on (socket
// mode, and the ports a cluster without a port shares); the file keeps it
// open.
func listenFile(network, addr string) (*os.File, error) {
	f, ln, err := socket.ListenNetwork(network, addr)
	if err != nil {
		return nil, err
	}
	ln.Close()
	return f, nil
}

// front adapts an edge.Front to what an app needs of it.
type front struct {
	*edge.Front
	access *accessLog
	forget func() // unlists it from the fronts an update hands over
}

func (f *front) Add(id, addr string) { f.Front.Add(edge.Backend{ID: id, Addr: addr}) }

// Configure applies traffic settings in place: the edge's options,
// validated whole first, then balancing and the sticky cookie's name (an
// unset balance is least_conn again).
func (f *front) Configure(s spec.App) error {
	if err := f.Front.Update(edgeOptions(s)); err != nil {
		return err
	}
	return f.Front.SetBalancing(edge.Balance(s.Balance), s.StickyCookie)
}

func (f *front) Close(ctx context.Context) error {
	f.forget()
	err := f.Front.Close(ctx)
	f.access.close()
	return err
}

// Stats converts the edge's figures of one backend for the API.
func (f *front) Stats(id string) *api.HTTPStats {
	r, ok := f.Front.Stats(id)
	if !ok {
		return nil
	}
	h := &api.HTTPStats{
		Requests: r.Requests, InFlight: r.InFlight, BytesIn: r.BytesIn, BytesOut: r.BytesOut,
		UpstreamErrors: r.UpstreamErrors, Retries: r.Retries, Count: r.Count, SumSeconds: r.SumSeconds,
		P50MS: ms(r.P50), P95MS: ms(r.P95), P99MS: ms(r.P99), RPS: r.RPS, RPSMinute: r.RPSMinute,
	}
	for _, b := range r.Buckets {
		h.Buckets = append(h.Buckets, api.Bucket{LE: b.LE, Count: b.Count})
	}
	return h
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// edgeOptions are the app's edge settings, or the defaults.
func edgeOptions(s spec.App) edgeconf.Options {
	if s.Edge != nil {
		return *s.Edge
	}
	return edgeconf.DefaultOptions()
}

// accessLog writes an app's access log, <name>-access.log next to its
// other logs, through the log pipeline (rotated like them). The edge calls
// write only while the app's edge.access_log is on, so the file is opened
// at the first line: an access log turned on by tend set needs no restart,
// and an app that never asks for one has no file.
type accessLog struct {
	files *logFiles
	cfg   logs.FileConfig
	app   string
	log   *slog.Logger

	f atomic.Pointer[logs.File] // open once the first line came; read without mu

	mu   sync.Mutex // guards opening and closing f, and shut
	shut bool       // closed, or the file could not be opened (said once): lines are dropped
}

func (d *Daemon) accessLog(s spec.App) *accessLog {
	cfg := d.logDefaults
	cfg.Path = filepath.Join(d.home, home.LogsDir, app.LogName(s.Namespace, s.Name)+"-access.log")
	return &accessLog{files: d.files, cfg: cfg, app: s.Name, log: d.log}
}

// write is the edge's AccessLog hook; request goroutines call it at once.
func (a *accessLog) write(line []byte) {
	f := a.f.Load()
	if f == nil {
		if f = a.open(); f == nil {
			return
		}
	}
	f.Write(logs.Line{Time: time.Now(), App: a.app, Stream: "access", Text: string(line)})
}

// open opens the file for the first line, once; nil when it is closed or
// cannot be opened.
func (a *accessLog) open() *logs.File {
	a.mu.Lock()
	defer a.mu.Unlock()
	if f := a.f.Load(); f != nil || a.shut {
		return f
	}
	f, err := a.files.Open(a.cfg)
	if err != nil {
		a.shut = true
		a.log.Error("access log", "app", a.app, "err", err)
		return nil
	}
	a.f.Store(f)
	return f
}

func (a *accessLog) close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.shut = true
	if f := a.f.Swap(nil); f != nil {
		a.files.Release(f)
	}
}

func (d *Daemon) unregister(e *entry) {
	d.mu.Lock()
	d.apps = slices.DeleteFunc(d.apps, func(x *entry) bool { return x == e })
	d.mu.Unlock()
	d.hub.Forget(e.logName())
	d.stalls.forget(e.id)
}

// Notify sends an sd_notify message (e.g. "READY=1") to a service manager's
// NOTIFY_SOCKET; an abstract socket is written with a leading '@'.
func Notify(socket, state string) error {
	addr := &net.UnixAddr{Name: socket, Net: "unixgram"}
	if strings.HasPrefix(socket, "@") {
		addr.Name = "\x00" + socket[1:]
	}
	c, err := net.DialUnix("unixgram", nil, addr)
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Write([]byte(state))
	return err
}
