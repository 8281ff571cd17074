package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/app"
	"github.com/tendhq/tend/internal/inspect"
	"github.com/tendhq/tend/internal/metrics"
)

// Profiles are taken through the Node inspector (internal/inspect), which
// runs code in the app for whoever connects to it. So it is opened only on
// demand, bound to 127.0.0.1, for one profile, and closed again after it
// whatever happened; two profiles of one instance never run at once.
//
// The profile streams through the answer to the CLI, which writes the
// file: the daemon holds at most one heap snapshot chunk, the file is
// created by the user who asked (the daemon may run as another user, or be
// remote, with --host), and a CLI that goes away ends the writing.

const (
	defaultProfileDuration = 10 * time.Second
	defaultProfileInterval = time.Millisecond
	// openTimeout bounds the wait for the inspector to open after SIGUSR1.
	openTimeout = 10 * time.Second
	// closeTimeout bounds closing the inspector: the process may still be
	// busy with a snapshot, which holds its event loop.
	closeTimeout = 2 * time.Minute
	// snapshotTimeout bounds a heap snapshot.
	snapshotTimeout = 10 * time.Minute
)

// profiles are the profiles being recorded, at most one per instance.
// Each runs on the goroutine of its request; Run waits for them (wait)
// once the apps are stopped and the socket is closed, which ends them.
type profiles struct {
	mu      sync.Mutex             // guards run
	run     map[string]*profileRun // by "appID/instance"
	running sync.WaitGroup
}

// profileRun is one profile being recorded; stop ends its recording early.
type profileRun struct {
	stop chan struct{}
	once sync.Once
}

func profileKey(appID, instance int) string {
	return strconv.Itoa(appID) + "/" + strconv.Itoa(instance)
}

// begin registers a profile of the instance, or fails if one is running.
func (p *profiles) begin(key string) (*profileRun, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.run == nil {
		p.run = map[string]*profileRun{}
	}
	if _, busy := p.run[key]; busy {
		return nil, false
	}
	r := &profileRun{stop: make(chan struct{})}
	p.run[key] = r
	p.running.Add(1)
	return r, true
}

func (p *profiles) end(key string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.run[key]; ok {
		delete(p.run, key)
		p.running.Done()
	}
}

// wait waits until no profile is being recorded.
func (p *profiles) wait() { p.running.Wait() }

// stopEarly ends the recording of the instance's profile; false when none
// is running.
func (p *profiles) stopEarly(key string) bool {
	p.mu.Lock()
	r := p.run[key]
	p.mu.Unlock()
	if r == nil {
		return false
	}
	r.once.Do(func() { close(r.stop) })
	return true
}

// profileTarget resolves the one app a profile request names.
func (d *Daemon) profileTarget(target string) (*entry, error) {
	m, err := d.match(target)
	if err != nil {
		return nil, err
	}
	if len(m) != 1 {
		return nil, badRequest("%q matches %d apps: profile one app at a time (name it, or give its id)", target, len(m))
	}
	return m[0], nil
}

// checkProfile validates a profile request and fills its defaults.
func checkProfile(req *api.ProfileRequest) error {
	switch req.Kind {
	case api.ProfileCPU, api.ProfileHeap, api.ProfileHeapSampling:
	default:
		return badRequest("kind %q: want %s, %s or %s", req.Kind, api.ProfileCPU, api.ProfileHeap, api.ProfileHeapSampling)
	}
	if req.Instance < 0 {
		return badRequest("instance %d: want 0 or more", req.Instance)
	}
	d := time.Duration(req.DurationMS) * time.Millisecond
	switch {
	case req.DurationMS == 0:
		req.DurationMS = defaultProfileDuration.Milliseconds()
	case req.DurationMS < 0 || d > inspect.MaxDuration:
		return badRequest("duration %s: want more than 0 and at most %s", d, inspect.MaxDuration)
	}
	iv := time.Duration(req.IntervalUS) * time.Microsecond
	switch {
	case req.IntervalUS == 0:
		req.IntervalUS = defaultProfileInterval.Microseconds()
	case iv < inspect.MinInterval || iv > inspect.MaxInterval:
		return badRequest("interval %s: want %s to %s", iv, inspect.MinInterval, inspect.MaxInterval)
	}
	return nil
}

// profileStatus is the status code of an error of opening the inspector.
func profileStatus(err error) int {
	switch {
	case errors.Is(err, app.ErrNotNode):
		return http.StatusUnprocessableEntity
	case errors.Is(err, app.ErrNoInstance):
		return http.StatusNotFound
	case errors.Is(err, app.ErrNotOnline), errors.Is(err, app.ErrNoInspector):
		return http.StatusConflict
	case errors.Is(err, inspect.ErrLowMemory):
		return http.StatusInsufficientStorage
	}
	return http.StatusInternalServerError
}

// stopProfile handles POST /v1/apps/{target}/profile/stop.
func (d *Daemon) stopProfile(r *http.Request) (any, error) {
	var req api.ProfileStopRequest
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	e, err := d.profileTarget(r.PathValue("target"))
	if err != nil {
		return nil, err
	}
	if !d.prof.stopEarly(profileKey(e.id, req.Instance)) {
		return nil, &httpError{http.StatusNotFound, fmt.Sprintf("no profile of %s instance %d is being recorded", e.name, req.Instance)}
	}
	return struct{}{}, nil
}

// profile handles POST /v1/apps/{target}/profile: it opens the instance's
// inspector, records the profile, streams it as the answer and closes the
// inspector. Errors before recording begins are answered as JSON, as every
// other endpoint's; later ones go in a trailer.
func (d *Daemon) profile(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	fail := func(code int, err error) {
		writeJSON(w, code, api.Error{Error: err.Error()})
	}
	var req api.ProfileRequest
	if err := decodeBody(r, &req); err != nil {
		fail(http.StatusBadRequest, err)
		return
	}
	if err := checkProfile(&req); err != nil {
		fail(http.StatusBadRequest, err)
		return
	}
	e, err := d.profileTarget(r.PathValue("target"))
	if err != nil {
		var he *httpError
		if errors.As(err, &he) {
			fail(he.code, err)
			return
		}
		fail(http.StatusInternalServerError, err)
		return
	}
	key := profileKey(e.id, req.Instance)
	run, ok := d.prof.begin(key)
	if !ok {
		fail(http.StatusConflict, fmt.Errorf("%s instance %d is already being profiled: wait for that profile to end (two profiles of one instance never run at once)", e.name, req.Instance))
		return
	}
	defer d.prof.end(key)

	var out *flushWriter
	warn, err := d.takeProfile(r.Context(), e, req, run, recordOptions{
		// The CLI has gone: the profile is taken off the process all the
		// same, so that it stops sampling, and thrown away.
		discardOnCancel: true,
		snapshotLimit:   snapshotTimeout,
		start: func(pid int) (io.Writer, error) {
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Header().Set(api.ProfilePIDHeader, strconv.Itoa(pid))
			w.Header().Add("Trailer", api.ProfileErrorTrailer)
			w.Header().Add("Trailer", api.ProfileWarningTrailer)
			w.WriteHeader(http.StatusOK)
			rc := http.NewResponseController(w)
			_ = rc.Flush()
			out = &flushWriter{w: w, rc: rc}
			return out, nil
		},
	})
	if out == nil {
		// Refused before recording began.
		var pe *profileError
		code := http.StatusInternalServerError
		if errors.As(err, &pe) {
			code = pe.code
		}
		fail(code, err)
		return
	}
	if err == nil && out.err != nil {
		err = out.err
	}
	if err != nil {
		w.Header().Set(api.ProfileErrorTrailer, err.Error())
	}
	if warn != nil {
		w.Header().Set(api.ProfileWarningTrailer, warn.Error())
	}
}

// profileError is an error of a profile before its recording began, with
// the status code that answers it.
type profileError struct {
	code int
	err  error
}

func (e *profileError) Error() string { return e.err.Error() }
func (e *profileError) Unwrap() error { return e.err }

// recordOptions say how takeProfile hands the profile over.
type recordOptions struct {
	// start is called once the recording began, with the instance's pid;
	// it returns where the profile is written.
	start func(pid int) (io.Writer, error)
	// discardOnCancel throws the profile away when ctx ends (its reader
	// is gone) instead of writing what was recorded.
	discardOnCancel bool
	// snapshotLimit bounds a heap snapshot.
	snapshotLimit time.Duration
}

// takeProfile records one profile of an instance of e, whose key the
// caller has begun (d.prof.begin): it opens the instance's inspector,
// starts the profile, hands it to o.start's writer and closes the
// inspector again, whatever happened. An error before o.start was called
// is a *profileError. warn says the inspector may still be open. The
// manual profiles (tend profile) and the automatic ones (on a stall, before
// a memory restart) are all taken here.
func (d *Daemon) takeProfile(ctx context.Context, e *entry, req api.ProfileRequest, run *profileRun, o recordOptions) (warn, err error) {
	refuse := func(code int, err error) error { return &profileError{code, err} }
	t, err := e.app.OpenInspector(req.Instance)
	if err != nil {
		return nil, refuse(profileStatus(err), fmt.Errorf("profile %s: %w", e.name, err))
	}
	what := fmt.Sprintf("%s instance %d (pid %d)", e.name, t.Index, t.PID)
	octx, cancel := context.WithTimeout(ctx, openTimeout)
	conn, err := inspect.Dial(octx, t.Port)
	cancel()
	if err != nil {
		// Node may yet open it: ask again to close, through a new session.
		d.closeInspector(what, t.Port, nil)
		return nil, refuse(http.StatusBadGateway, fmt.Errorf("profile %s: %w (see its error log: the port may have been taken)", what, err))
	}
	d.log.Info("profile: inspector opened", "app", e.name, "instance", t.Index, "pid", t.PID, "kind", req.Kind, "port", t.Port)
	defer func() { warn = d.closeInspector(what, t.Port, conn) }()

	switch req.Kind {
	case api.ProfileHeap:
		if err := d.checkSnapshotRoom(ctx, conn, what); err != nil {
			return nil, refuse(profileStatus(err), fmt.Errorf("profile %s: %w", what, err))
		}
	case api.ProfileCPU:
		err = conn.StartCPU(ctx, time.Duration(req.IntervalUS)*time.Microsecond)
	case api.ProfileHeapSampling:
		err = conn.StartHeapSampling(ctx)
	}
	if err != nil {
		return nil, refuse(http.StatusBadGateway, fmt.Errorf("profile %s: %w", what, err))
	}
	out, err := o.start(t.PID)
	if err != nil {
		// The profile is taken off the process all the same.
		out = io.Discard
	}

	// The recording ends at its duration, when asked (Ctrl-C), or when
	// ctx ends; the profile is taken off the process in every case, so
	// that it stops sampling.
	var rerr error
	switch req.Kind {
	case api.ProfileHeap:
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.snapshotLimit)
		var n int64
		n, rerr = conn.HeapSnapshot(sctx, out)
		cancel()
		d.log.Info("profile: heap snapshot", "app", e.name, "instance", t.Index, "bytes", n, "err", rerr)
	default:
		timer := time.NewTimer(time.Duration(req.DurationMS) * time.Millisecond)
		select {
		case <-timer.C:
		case <-run.stop:
		case <-ctx.Done():
			if o.discardOnCancel {
				out = io.Discard
			}
		}
		timer.Stop()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
		if req.Kind == api.ProfileCPU {
			rerr = conn.StopCPU(sctx, out)
		} else {
			rerr = conn.StopHeapSampling(sctx, out)
		}
		cancel()
	}
	if err == nil {
		err = rerr
	}
	if err != nil {
		err = fmt.Errorf("profile %s: %w", what, err)
	}
	return nil, err
}

// checkSnapshotRoom refuses a heap snapshot the machine has no room for.
func (d *Daemon) checkSnapshotRoom(ctx context.Context, conn *inspect.Conn, what string) error {
	u, err := conn.HeapUsage(ctx)
	if err != nil {
		return err
	}
	mi, err := metrics.ReadMemInfo()
	if err != nil {
		return fmt.Errorf("read free memory: %w", err)
	}
	avail := mi.Available
	if err := inspect.CheckSnapshotRoom(avail, u.Used); err != nil {
		d.log.Warn("profile: heap snapshot refused", "target", what, "available", avail, "heap_used", u.Used)
		return err
	}
	return nil
}

// closeInspector closes the inspector on port and checks that the port
// refuses connections. conn is the profile's session, or nil to open one.
func (d *Daemon) closeInspector(what string, port int, conn *inspect.Conn) error {
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	err := func() error {
		if conn == nil {
			// Whether it opened late or never, a short look suffices.
			octx, ocancel := context.WithTimeout(ctx, time.Second)
			c, err := inspect.Dial(octx, port)
			ocancel()
			if err != nil {
				return nil
			}
			conn = c
		}
		if err := conn.CloseInspector(ctx); err != nil {
			return err
		}
		wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
		defer wcancel()
		return inspect.WaitClosed(wctx, port)
	}()
	if conn != nil {
		conn.Close()
	}
	if err != nil {
		d.log.Error("profile: inspector not closed", "target", what, "port", port, "err", err)
		return fmt.Errorf("the inspector of %s may still be open on 127.0.0.1:%d (%v): restart the instance to close it", what, port, err)
	}
	d.log.Info("profile: inspector closed", "target", what, "port", port)
	return nil
}

// flushWriter flushes each write to the client, so that a heap snapshot
// flows through the daemon instead of piling up in its buffers. It
// remembers the first write error.
type flushWriter struct {
	w   io.Writer
	rc  *http.ResponseController
	err error
}

func (f *flushWriter) Write(b []byte) (int, error) {
	if f.err != nil {
		return 0, f.err
	}
	n, err := f.w.Write(b)
	if err == nil {
		err = f.rc.Flush()
	}
	if err != nil {
		f.err = fmt.Errorf("send to the CLI: %w", err)
	}
	return n, f.err
}
