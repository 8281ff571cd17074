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

	t, err := e.app.OpenInspector(req.Instance)
	if err != nil {
		fail(profileStatus(err), fmt.Errorf("profile %s: %w", e.name, err))
		return
	}
	what := fmt.Sprintf("%s instance %d (pid %d)", e.name, t.Index, t.PID)
	octx, cancel := context.WithTimeout(r.Context(), openTimeout)
	conn, err := inspect.Dial(octx, t.Port)
	cancel()
	if err != nil {
		// Node may yet open it: ask again to close, through a new session.
		d.closeInspector(what, t.Port, nil)
		fail(http.StatusBadGateway, fmt.Errorf("profile %s: %w (see its error log: the port may have been taken)", what, err))
		return
	}
	d.log.Info("profile: inspector opened", "app", e.name, "instance", t.Index, "pid", t.PID, "kind", req.Kind, "port", t.Port)
	var warn error
	defer func() {
		warn = d.closeInspector(what, t.Port, conn)
		if warn != nil {
			w.Header().Set(api.ProfileWarningTrailer, warn.Error())
		}
	}()

	ctx := r.Context()
	switch req.Kind {
	case api.ProfileHeap:
		if err := d.checkSnapshotRoom(ctx, conn, what); err != nil {
			fail(profileStatus(err), fmt.Errorf("profile %s: %w", what, err))
			return
		}
	case api.ProfileCPU:
		err = conn.StartCPU(ctx, time.Duration(req.IntervalUS)*time.Microsecond)
	case api.ProfileHeapSampling:
		err = conn.StartHeapSampling(ctx)
	}
	if err != nil {
		fail(http.StatusBadGateway, fmt.Errorf("profile %s: %w", what, err))
		return
	}

	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set(api.ProfilePIDHeader, strconv.Itoa(t.PID))
	w.Header().Add("Trailer", api.ProfileErrorTrailer)
	w.Header().Add("Trailer", api.ProfileWarningTrailer)
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	out := &flushWriter{w: w, rc: rc}

	// The recording ends at its duration, when the CLI asks (Ctrl-C), or
	// when the CLI has gone; the profile is taken off the process in every
	// case, so that it stops sampling.
	sink := io.Writer(out)
	switch req.Kind {
	case api.ProfileHeap:
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), snapshotTimeout)
		var n int64
		n, err = conn.HeapSnapshot(sctx, out)
		cancel()
		d.log.Info("profile: heap snapshot", "app", e.name, "instance", t.Index, "bytes", n, "err", err)
	default:
		timer := time.NewTimer(time.Duration(req.DurationMS) * time.Millisecond)
		select {
		case <-timer.C:
		case <-run.stop:
		case <-ctx.Done():
			sink = io.Discard
		}
		timer.Stop()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
		if req.Kind == api.ProfileCPU {
			err = conn.StopCPU(sctx, sink)
		} else {
			err = conn.StopHeapSampling(sctx, sink)
		}
		cancel()
	}
	if err == nil && out.err != nil {
		err = out.err
	}
	if err != nil {
		w.Header().Set(api.ProfileErrorTrailer, fmt.Sprintf("profile %s: %v", what, err))
	}
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
