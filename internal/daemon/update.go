package daemon

// tend update replaces the daemon's program without restarting an app.
//
// The daemon re-executes itself in place (syscall.Exec), keeping its pid,
// rather than starting a second daemon that takes the sockets over
// (tableflip's way). The apps' processes are the daemon's children, and
// only a parent can wait4 for a child: a second process would have to
// take them as orphans (as a subreaper above both daemons, which tend is
// not) or supervise them without being able to reap them. In place, every
// child stays the same pid's child; the descriptors that matter (output
// pipes, readiness channels, the edge's and the control API's listening
// sockets, the daemon's lock) simply stay open across the exec; a
// systemd unit's MAINPID stays right; and there is never a moment with
// two daemons in one TEND_HOME.
//
// The steps, in the old program:
//
//  1. The new binary is run once (tend __update-check HOME) and must
//     answer with its version and a hand-over format it reads, having read
//     HOME's daemon.yaml and state.json as the new daemon will: a binary
//     that does not run, or cannot read our hand-over or our files, leaves
//     this daemon serving, and the update fails naming why.
//  2. Every app is quiesced: no reload or scale under way, no instance
//     launching or stopping (bounded; an app that stays busy fails the
//     update, nothing changed). Commands that change apps get 503 from
//     here on.
//  3. Committed. state.json is written and frozen. The control API stops
//     taking requests and answers those in flight; its socket stays open,
//     so clients wait in its backlog. Each edge stops accepting, lets its
//     requests in flight finish, tells its connections to close after
//     their response, and keeps its listening socket open: connections
//     wait in the kernel's backlog, and none is refused.
//  4. Exits are held (supervise.HoldExits): a process that ends from now
//     on stays a zombie for the new program to reap. Each app ends its
//     goroutines; the capture of its processes' output stops at a line
//     boundary, with the partial line read so far written down.
//  5. The hand-over file ($TEND_HOME/run/handover.json, 0600) lists the
//     apps, their processes and every descriptor; those lose their
//     close-on-exec flag; the program is replaced, from the thread that
//     forked every child (see internal/supervise/adopt.go).
//
// The new program (Run, with TEND_HANDOVER naming the file) takes the
// lock and the control socket from their descriptors, adopts every
// process by pid, resumes the capture of its output with the partial
// lines, serves each edge on its inherited socket, serves the API, and
// removes the file.
//
// When the exec of the new binary fails (it was checked a moment before,
// so rarely), the old binary is executed instead, through /proc/self/exe
// (which names the running program's file even once it was replaced on
// disk), with the same hand-over: the old version keeps serving, and ping
// says why the update failed. Should that fail too, or should the new
// program die before it has adopted the apps, the daemon's process ends,
// the apps end with it (Pdeathsig) and the next tend command starts a
// daemon that restores them from state.json, as after a crash.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tendhq/tend/internal/alert"
	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/app"
	"github.com/tendhq/tend/internal/dashboard"
	"github.com/tendhq/tend/internal/edge"
	"github.com/tendhq/tend/internal/home"
	"github.com/tendhq/tend/internal/supervise"
)

const (
	// EnvHandover names the hand-over file to the program an update
	// executes.
	EnvHandover = "TEND_HANDOVER"
	// envUpdateError tells the old program, executed again because the
	// new one could not be, why.
	envUpdateError = "TEND_UPDATE_ERROR"
	// EnvOwnLog tells the program an update executes that the daemon
	// writes its own log file (it was started in the background).
	EnvOwnLog = "TEND_OWN_LOG"
	// UpdateCheckArg is the hidden first argument of `tend __update-check`,
	// which prints an UpdateCheck as JSON: how the daemon checks a new
	// binary before it hands over to it.
	UpdateCheckArg = "__update-check"
	// HandoverFormat is the version of the hand-over file this program
	// writes and reads.
	HandoverFormat = 1
	handoverName   = "handover.json"
)

// UpdateCheck is what `tend __update-check` prints.
type UpdateCheck struct {
	Version  string `json:"version"`
	Handover int    `json:"handover"`
}

// handover is the hand-over file.
type handover struct {
	Format  int            `json:"format"`
	From    string         `json:"from"` // the version that wrote it
	Started time.Time      `json:"started"`
	Updates int            `json:"updates"` // including this one
	Lock    int            `json:"lock_fd"`
	Control int            `json:"control_fd"`
	Apps    []app.Handed   `json:"apps"`
	Fronts  map[string]int `json:"fronts"` // app id -> its edge's listening socket
	// Remote is the remote control API's listening socket (remote_addr),
	// when it has one; absent in the files of versions before it.
	Remote *int `json:"remote_fd,omitempty"`
	// Alerts are the alerter's open incidents and recent alerts, so that
	// an app still errored is not alerted again; absent in the files of
	// versions before it.
	Alerts *alert.Handed `json:"alerts,omitempty"`
	// Dashboard is the dashboard's listening socket and its sessions and
	// history, when it was served; absent in the files of versions
	// before it.
	Dashboard *handedDashboard `json:"dashboard,omitempty"`
}

type handedDashboard struct {
	FD    int               `json:"fd"`
	State *dashboard.Handed `json:"state"`
}

// updater is the daemon's side of updates.
type updater struct {
	enabled bool     // Options.Updatable
	argv    []string // the daemon's command line, for the exec
	// pending carries a prepared update from the handler (or a SIGHUP)
	// to updateLoop; busy is set while one is prepared or under way.
	pending chan pendingUpdate
	hup     chan struct{}
	busy    chanFlag
	// handingOver is set once an update is committed: Run's loop then
	// ignores the control socket's end.
	handingOver chanFlag
	count       int    // updates of this process so far
	lastError   string // why the last update kept the old binary

	// From the hand-over file, in the new program: taken once by Run.
	from     *handover
	adopted  map[int]app.Process // by pid
	inherits map[int]net.Listener
	gates    []func() // open the inherited listeners
	ctl      net.Listener
	remote   net.Listener // the remote API's socket, taken by serveRemote
	// dash and dashState are the dashboard's socket and what it resumes
	// from, taken by startDashboard.
	dash      net.Listener
	dashState *dashboard.Handed

	mu     sync.Mutex     // guards fronts
	fronts map[int]*front // the open edges, by app id
}

// pendingUpdate is an update whose apps are quiesced: release lets them
// go on when it does not happen after all (the daemon stops first).
type pendingUpdate struct {
	bin     string
	release func()
}

// chanFlag is a flag read and set from any goroutine.
type chanFlag struct {
	mu sync.Mutex // guards on
	on bool
}

func (f *chanFlag) set(v bool) (was bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	was, f.on = f.on, v
	return was
}

func (f *chanFlag) get() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.on
}

// takeHandover reads the hand-over file an update left for this program,
// if any (EnvHandover), and unsets the variable so no child inherits it.
func takeHandover() (*handover, error) {
	path := os.Getenv(EnvHandover)
	if path == "" {
		return nil, nil
	}
	os.Unsetenv(EnvHandover)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read hand-over %s: %w", path, err)
	}
	var h handover
	if err := json.Unmarshal(b, &h); err != nil {
		return nil, fmt.Errorf("read hand-over %s: %w", path, err)
	}
	if h.Format != HandoverFormat {
		return nil, fmt.Errorf("hand-over %s: format %d, this tend reads %d", path, h.Format, HandoverFormat)
	}
	return &h, nil
}

// inheritFD is the file of a descriptor an update passed on.
func inheritFD(fd int, name string) *os.File {
	if fd < 0 {
		return nil
	}
	syscall.CloseOnExec(fd)
	return os.NewFile(uintptr(fd), name)
}

// inherit adopts what the previous program handed over: every process,
// whose leaders must be registered before the orphan reaper runs, and the
// listening sockets. Apps are adopted later, by restore.
func (d *Daemon) inherit(h *handover) {
	d.up.from = h
	d.up.count = h.Updates
	d.up.lastError = os.Getenv(envUpdateError)
	os.Unsetenv(envUpdateError)
	d.started = h.Started
	d.up.adopted = map[int]app.Process{}
	for _, a := range h.Apps {
		for _, s := range a.Slots {
			if s.Proc == nil {
				continue
			}
			p, err := supervise.Adopt(s.Proc.PID, s.Proc.StartedAt)
			if err != nil {
				d.log.Warn("process not adopted", "app_id", a.ID, "instance", s.Index, "err", err)
				continue
			}
			d.up.adopted[s.Proc.PID] = p
		}
	}
	d.up.inherits = map[int]net.Listener{}
	for id, fd := range h.Fronts {
		n, err := strconv.Atoi(id)
		if err != nil {
			continue
		}
		ln := d.inheritListener(fd, "edge listener", "app_id", id)
		if ln == nil {
			continue
		}
		// Closed until the app has put its adopted instances in the pool.
		gated, open := edge.Gate(ln)
		d.up.inherits[n] = gated
		d.up.gates = append(d.up.gates, open)
	}
	if h.Remote != nil {
		d.up.remote = d.inheritListener(*h.Remote, "remote listener (bound again)")
	}
	if h.Dashboard != nil {
		d.up.dash = d.inheritListener(h.Dashboard.FD, "dashboard listener (bound again)")
		d.up.dashState = h.Dashboard.State
	}
	d.up.ctl = d.inheritListener(h.Control, "control socket")
}

// inheritListener is the listening socket of a descriptor an update
// passed on; nil, said in the log with args, when it is none.
func (d *Daemon) inheritListener(fd int, what string, args ...any) net.Listener {
	f := inheritFD(fd, what)
	if f == nil {
		return nil
	}
	ln, err := net.FileListener(f)
	f.Close()
	if err != nil {
		d.log.Warn(what+" not inherited", append(args, "err", err)...)
		return nil
	}
	return ln
}

// inheritedListener takes the edge listener handed over for app id.
func (d *Daemon) inheritedListener(id int) net.Listener {
	d.up.mu.Lock()
	defer d.up.mu.Unlock()
	ln := d.up.inherits[id]
	delete(d.up.inherits, id)
	return ln
}

// handed returns the hand-over of app id, if it has one.
func (d *Daemon) handed(id int) (app.Handed, bool) {
	if d.up.from == nil {
		return app.Handed{}, false
	}
	for _, h := range d.up.from.Apps {
		if h.ID == id {
			return h, true
		}
	}
	return app.Handed{}, false
}

// adoptApps puts the handed apps back under supervision, then removes the
// hand-over file and closes what no app took.
func (d *Daemon) adoptApps() {
	h := d.up.from
	if h == nil {
		return
	}
	d.mu.Lock()
	entries := slices.Clone(d.apps)
	d.mu.Unlock()
	var wg sync.WaitGroup
	unclaimed := maps.Clone(d.up.adopted)
	for _, e := range entries {
		ha, ok := d.handed(e.id)
		if !ok {
			continue
		}
		for _, s := range ha.Slots {
			if s.Proc != nil {
				delete(unclaimed, s.Proc.PID)
			}
		}
		wg.Go(func() {
			if err := e.app.Adopt(ha, d.up.adopted); err != nil {
				d.log.Warn("adopt app", "app", e.name, "err", err)
			}
		})
	}
	wg.Wait()
	d.up.mu.Lock()
	for _, ln := range d.up.inherits {
		ln.Close()
	}
	d.up.inherits = nil
	d.up.mu.Unlock()
	// A process of an app the state no longer has is nobody's: it goes.
	for pid, p := range unclaimed {
		d.log.Warn("stopping a handed-over process no app claims", "pid", pid)
		wg.Go(func() { p.Stop(syscall.SIGKILL, 0) })
	}
	wg.Wait()
	// Every adopted instance is in its pool: serve what waited.
	for _, open := range d.up.gates {
		open()
	}
	_ = os.Remove(filepath.Join(d.home, home.RunDir, handoverName))
	d.log.Info("daemon updated in place", "from", h.From, "to", d.version, "apps", len(h.Apps), "processes", len(d.up.adopted), "error", d.up.lastError)
	d.up.adopted = nil
}

// update is POST /v1/update: check the new binary, quiesce the apps, and
// let updateLoop hand over. It answers once the hand-over is committed.
func (d *Daemon) update(r *http.Request) (any, error) {
	var req api.UpdateRequest
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	bin := req.Binary
	if bin == "" {
		bin = d.self
	}
	if !filepath.IsAbs(bin) {
		return nil, badRequest("binary %q: want an absolute path", bin)
	}
	to, err := d.prepareUpdate(r.Context(), bin)
	if err != nil {
		return nil, err
	}
	return api.UpdateResponse{PID: os.Getpid(), From: d.version, To: to, Binary: bin, Updates: d.up.count}, nil
}

// prepareUpdate is steps 1 and 2 of an update (see the top of this file);
// on success updateLoop takes it on. It returns the new binary's version.
func (d *Daemon) prepareUpdate(ctx context.Context, bin string) (string, error) {
	if !d.up.enabled {
		return "", &httpError{http.StatusConflict, "this daemon cannot update in place (tend run, or a test): stop it and start it again instead"}
	}
	if d.up.busy.set(true) {
		return "", &httpError{http.StatusConflict, "an update is already under way"}
	}
	committed := false
	defer func() {
		if !committed {
			d.up.busy.set(false)
		}
	}()
	if d.restoring() {
		return "", &httpError{http.StatusServiceUnavailable, "the daemon is still restoring its apps: try again in a moment"}
	}
	// A deploy under way finishes first; one that takes the lock after
	// this sees busy and stops (releases.go).
	if !d.deployMu.TryLock() {
		return "", &httpError{http.StatusConflict, "a deploy or rollback is under way: update when it has ended"}
	}
	d.deployMu.Unlock()
	check, err := checkBinary(ctx, bin, d.home)
	if err != nil {
		return "", &httpError{http.StatusUnprocessableEntity, fmt.Sprintf("new binary %s cannot take over: %v; the daemon keeps running %s", bin, err, d.version)}
	}
	qctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	release, err := d.quiesce(qctx)
	if err != nil {
		return "", &httpError{http.StatusConflict, fmt.Sprintf("update: %v; nothing changed, try again", err)}
	}
	select {
	case d.up.pending <- pendingUpdate{bin, release}:
	default:
		release()
		return "", &httpError{http.StatusConflict, "an update is already under way"}
	}
	committed = true
	return check.Version, nil
}

// CheckState reads home's state.json as a daemon starting there would:
// `tend __update-check HOME` says whether a new binary can.
func CheckState(dir string) error {
	_, err := loadState(filepath.Join(dir, home.StateName))
	return err
}

// checkBinary runs `bin __update-check DIR` (DIR is TEND_HOME) and reads
// its answer.
func checkBinary(ctx context.Context, bin, dir string) (UpdateCheck, error) {
	st, err := os.Stat(bin)
	switch {
	case err != nil:
		return UpdateCheck{}, err
	case st.IsDir() || st.Mode()&0o111 == 0:
		return UpdateCheck{}, errors.New("not an executable file")
	}
	var out, errb bytes.Buffer
	// Spawned as the apps are, so that the orphan reaper leaves its exit
	// status to us.
	p, err := supervise.Start(supervise.Config{Path: bin, Args: []string{bin, UpdateCheckArg, dir}, Env: os.Environ(), Stdout: &out, Stderr: &errb})
	if err != nil {
		return UpdateCheck{}, err
	}
	t := time.NewTimer(10 * time.Second)
	defer t.Stop()
	select {
	case <-p.Done():
	case <-t.C:
		p.Stop(syscall.SIGKILL, 0)
		return UpdateCheck{}, errors.New("it did not answer `" + UpdateCheckArg + "` within 10s")
	case <-ctx.Done():
		p.Stop(syscall.SIGKILL, 0)
		return UpdateCheck{}, ctx.Err()
	}
	if e := p.Exit(); e.Code != 0 {
		msg := strings.TrimSpace(errb.String())
		if len(msg) > 500 {
			msg = "..." + msg[len(msg)-500:]
		}
		return UpdateCheck{}, fmt.Errorf("`%s %s`: %s: %s", filepath.Base(bin), UpdateCheckArg, e, msg)
	}
	var c UpdateCheck
	if err := json.Unmarshal(out.Bytes(), &c); err != nil || c.Version == "" {
		return UpdateCheck{}, fmt.Errorf("`%s %s` did not answer as tend does (%q)", filepath.Base(bin), UpdateCheckArg, strings.TrimSpace(out.String()))
	}
	if c.Handover != HandoverFormat {
		return UpdateCheck{}, fmt.Errorf("it reads hand-over format %d, this daemon writes %d: stop the daemon and start it again instead (tend kill)", c.Handover, HandoverFormat)
	}
	return c, nil
}

// quiesce quiesces every app; on failure none stays quiesced.
func (d *Daemon) quiesce(ctx context.Context) (release func(), err error) {
	d.mu.Lock()
	entries := slices.Clone(d.apps)
	d.mu.Unlock()
	var rels []func()
	releaseAll := func() {
		for _, r := range rels {
			r()
		}
	}
	for _, e := range entries {
		r, err := e.app.Quiesce(ctx)
		if err != nil {
			releaseAll()
			return nil, err
		}
		rels = append(rels, r)
	}
	return releaseAll, nil
}

// updateLoop runs the updates prepared by the handler, and those a
// SIGHUP asks for (which it prepares itself), until ctx is done. Run
// starts and stops it.
func (d *Daemon) updateLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			select {
			case u := <-d.up.pending:
				u.release() // the daemon stops its apps instead
			default:
			}
			return
		case <-d.up.hup:
			d.log.Info("SIGHUP: updating the daemon in place", "binary", d.self)
			if _, err := d.prepareUpdate(ctx, d.self); err != nil {
				d.log.Error("update on SIGHUP failed; the daemon keeps running", "err", err)
			}
		case u := <-d.up.pending:
			d.handOver(u.bin)
			return // only when the exec failed twice: see handOver
		}
	}
}

// handOver is steps 3 to 5 of an update. It returns only when neither the
// new nor the old program could be executed.
func (d *Daemon) handOver(bin string) {
	d.up.handingOver.set(true)
	d.log.Info("daemon handing over", "binary", bin)
	began := time.Now()
	d.freeze()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var keep []any // descriptors that must stay open until the exec
	h := handover{Format: HandoverFormat, From: d.version, Started: d.started, Updates: d.up.count + 1, Lock: -1, Control: -1, Fronts: map[string]int{}}

	d.events.Close() // ends the event streams, which would hold the API, and the alerter's run
	h.Alerts = d.alerts.Handover()
	if hd, f := d.handOverDashboard(ctx); hd != nil {
		h.Dashboard = hd
		keep = append(keep, f)
	}
	ctl, err := d.api.handover(ctx)
	if err != nil {
		d.log.Error("control socket not handed over; clients are refused until the new daemon listens", "err", err)
	} else if h.Control, err = supervise.Inheritable(ctl); err == nil {
		keep = append(keep, ctl)
	}
	if d.remoteOn() {
		fd := -1
		rf, err := d.remote.handover(ctx)
		if err == nil {
			fd, err = supervise.Inheritable(rf)
		}
		if err != nil {
			d.log.Error("remote listener not handed over; the new daemon binds it again", "err", err)
		} else {
			h.Remote = &fd
			keep = append(keep, rf)
		}
	}

	d.up.mu.Lock()
	fronts := maps.Clone(d.up.fronts)
	d.up.mu.Unlock()
	var mu sync.Mutex // guards h.Fronts and keep below
	var wg sync.WaitGroup
	for id, f := range fronts {
		wg.Go(func() {
			dctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			defer cancel()
			file, err := f.Front.Handover(dctx)
			f.access.close()
			if err != nil {
				d.log.Error("edge not handed over; the new daemon binds it again", "app_id", id, "err", err)
				return
			}
			fd, err := supervise.Inheritable(file)
			if err != nil {
				d.log.Error("edge not handed over", "app_id", id, "err", err)
				return
			}
			mu.Lock()
			h.Fronts[strconv.Itoa(id)] = fd
			keep = append(keep, file)
			mu.Unlock()
		})
	}
	wg.Wait()

	supervise.HoldExits() // released by the exec
	d.mu.Lock()
	entries := slices.Clone(d.apps)
	d.mu.Unlock()
	apps := make([]app.Handed, len(entries))
	ok := make([]bool, len(entries))
	for i, e := range entries {
		wg.Go(func() {
			ha, err := e.app.Handover(ctx)
			if err != nil {
				d.log.Error("app handed over in part", "app", e.name, "err", err)
			}
			apps[i], ok[i] = ha, ha.Slots != nil
		})
	}
	wg.Wait()
	for i, a := range apps {
		if ok[i] {
			h.Apps = append(h.Apps, a)
		}
	}
	if fd, err := supervise.Inheritable(d.lockFile); err == nil {
		h.Lock = fd
	}

	path := filepath.Join(d.home, home.RunDir, handoverName)
	b, err := json.Marshal(h)
	if err == nil {
		err = writeFileAtomic(path, b, 0o600)
	}
	if err != nil {
		d.log.Error("write hand-over; the daemon exits and the next one restores the apps", "err", err)
		os.Exit(1)
	}
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, EnvHandover+"=") || strings.HasPrefix(kv, envUpdateError+"=") || strings.HasPrefix(kv, EnvOwnLog+"=")
	})
	env = append(env, EnvHandover+"="+path)
	d.log.Info("daemon executing the new binary", "binary", bin, "processes", countProcs(h.Apps), "handing_over", time.Since(began).Round(time.Millisecond))
	if d.ownLog != nil {
		env = append(env, EnvOwnLog+"=1")
		d.ownLog.Close() // flushed: the new program opens it again
	}
	var execErr, oldErr error
	supervise.OnSpawnThread(func() {
		execErr = syscall.Exec(bin, d.up.argv, env)
		// Still here: go on with the old program, which reads the same
		// hand-over.
		oldErr = syscall.Exec("/proc/self/exe", d.up.argv, append(env, envUpdateError+"=exec "+bin+": "+execErr.Error()))
	})
	runtime.KeepAlive(keep)
	fmt.Fprintf(os.Stderr, "tend: update: exec %s: %v; exec of the old binary: %v; the daemon exits and the next tend command restores the apps\n", bin, execErr, oldErr)
	os.Exit(1)
}

func countProcs(apps []app.Handed) int {
	n := 0
	for _, a := range apps {
		for _, s := range a.Slots {
			if s.Proc != nil {
				n++
			}
		}
	}
	return n
}

// controlAPI is a server of the control API and its listener, for a
// hand-over: the unix socket's, or the remote listener's.
type controlAPI struct {
	mu         sync.Mutex // guards the fields below
	srv        *http.Server
	ln         net.Listener // the listening socket itself (not its TLS layer)
	served     chan struct{}
	endStreams context.CancelFunc // cancels every request's context
}

// start serves srv on ln (with TLS: srv.TLSConfig) in a goroutine of its
// own, until srv is shut down; served is closed once it has returned, and
// errc then holds why. Streams (logs -f) follow their request's context:
// endStreams ends them (an update does, rather than wait for them).
func (c *controlAPI) start(srv *http.Server, ln net.Listener, useTLS bool) (errc <-chan error, endStreams context.CancelFunc, served <-chan struct{}) {
	base, end := context.WithCancel(context.Background())
	srv.BaseContext = func(net.Listener) context.Context { return base }
	ec := make(chan error, 1)
	done := make(chan struct{})
	c.mu.Lock()
	c.srv, c.ln, c.served, c.endStreams = srv, ln, done, end
	c.mu.Unlock()
	go func() {
		defer close(done)
		if useTLS {
			ec <- srv.ServeTLS(ln, "", "")
		} else {
			ec <- srv.Serve(ln)
		}
	}()
	return ec, end, done
}

// handover stops the API taking requests, lets those in flight finish
// (event and log streams end), and returns a duplicate of its listening
// socket, which stays open: clients wait in its backlog.
func (c *controlAPI) handover(ctx context.Context) (*os.File, error) {
	c.mu.Lock()
	srv, ln, served, endStreams := c.srv, c.ln, c.served, c.endStreams
	c.mu.Unlock()
	if srv == nil || ln == nil {
		return nil, errors.New("no listener")
	}
	if ul, ok := ln.(*net.UnixListener); ok {
		ul.SetUnlinkOnClose(false)
	}
	fl, ok := ln.(interface{ File() (*os.File, error) })
	if !ok {
		return nil, fmt.Errorf("a %T cannot be handed over", ln)
	}
	f, err := fl.File()
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	endStreams()
	_ = srv.Shutdown(sctx)
	_ = srv.Close()
	<-served
	return f, nil
}

// mutating says whether a request changes apps: refused during an update.
func mutating(r *http.Request) bool {
	p := strings.TrimPrefix(r.URL.Path, api.Prefix)
	return r.Method != http.MethodGet && r.Method != http.MethodHead && !strings.HasPrefix(p, "/logs/") && p != "/update"
}
