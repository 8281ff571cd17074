package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/app"
	"github.com/tendhq/tend/internal/conf"
	"github.com/tendhq/tend/internal/home"
	"github.com/tendhq/tend/internal/metrics/prom"
	"github.com/tendhq/tend/internal/spec"
)

// maxBody bounds every request body; an ecosystem of hundreds of apps is
// far below it.
const maxBody = 8 << 20

// httpError is an error with the status code to answer it with.
type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

func badRequest(format string, a ...any) error {
	return &httpError{http.StatusBadRequest, fmt.Sprintf(format, a...)}
}

func (d *Daemon) routes() http.Handler {
	mux := http.NewServeMux()
	p := api.Prefix
	mux.Handle("GET "+p+"/ping", d.handle(d.ping))
	mux.Handle("GET "+p+"/apps", d.handle(d.list))
	mux.Handle("POST "+p+"/apps", d.handle(d.start))
	mux.Handle("GET "+p+"/apps/{target}", d.handle(d.describe))
	mux.Handle("DELETE "+p+"/apps/{target}", d.handle(d.delete))
	mux.Handle("GET "+p+"/apps/{target}/env", d.handle(d.env))
	mux.Handle("POST "+p+"/apps/{target}/{action}", d.handle(d.action))
	mux.Handle("POST "+p+"/save", d.handle(d.save))
	mux.Handle("POST "+p+"/resurrect", d.handle(d.resurrect))
	mux.Handle("POST "+p+"/kill", d.handle(d.killAll))
	mux.Handle("POST "+p+"/update", d.handle(d.update))
	mux.Handle("GET "+p+"/metrics", d.handle(func(*http.Request) (any, error) { return prom.Families(d.reg) }))
	mux.Handle("POST "+p+"/apply", d.handle(d.apply))
	mux.Handle("POST "+p+"/dashboard", d.handle(d.openDashboard))
	mux.HandleFunc("GET "+p+"/logs", d.logs)
	mux.HandleFunc("GET "+p+"/events", d.eventStream)
	mux.Handle("POST "+p+"/logs/flush", d.handle(d.flushLogs))
	mux.Handle("POST "+p+"/logs/reopen", d.handle(d.reopenLogs))
	mux.Handle("POST "+p+"/apps/{target}/set", d.handle(d.set))
	mux.HandleFunc("POST "+p+"/apps/{target}/profile", d.profile)
	mux.Handle("POST "+p+"/apps/{target}/profile/stop", d.handle(d.stopProfile))
	mux.HandleFunc("POST "+p+"/releases", d.deploy)
	mux.Handle("GET "+p+"/releases/{app}", d.handle(d.listReleases))
	mux.HandleFunc("POST "+p+"/releases/{app}/rollback", d.rollback)
	mux.Handle("GET "+p+"/alerts", d.handle(d.alertsList))
	mux.Handle("POST "+p+"/alerts/test", d.handle(d.alertsTest))
	mux.Handle("POST "+p+"/apps/{target}/trigger", d.handle(d.trigger))
	mux.Handle("GET "+p+"/profiles", d.handle(d.listProfiles))
	mux.Handle("/", d.handle(func(r *http.Request) (any, error) {
		return nil, &httpError{http.StatusNotFound, fmt.Sprintf("no endpoint %s %s (this daemon speaks %s)", r.Method, r.URL.Path, api.Prefix)}
	}))
	return mux
}

// handle adapts a handler that returns a value or an error to JSON, and
// turns a panic into a 500 so that no request can take the daemon down.
func (d *Daemon) handle(h func(*http.Request) (any, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				d.log.Error("panic in handler", "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
				writeJSON(w, http.StatusInternalServerError, api.Error{Error: fmt.Sprintf("internal error: %v (see %s)", v, home.LogName)})
			}
		}()
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		v, err := h(r)
		if err != nil {
			code := http.StatusInternalServerError
			var he *httpError
			var mbe *http.MaxBytesError
			switch {
			case errors.As(err, &he):
				code = he.code
			case errors.As(err, &mbe):
				code = http.StatusRequestEntityTooLarge
			}
			writeJSON(w, code, api.Error{Error: err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, v)
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return badRequest("request body: %v", err)
	}
	return nil
}

func (d *Daemon) ping(*http.Request) (any, error) {
	return api.Ping{Version: d.version, PID: os.Getpid(), Home: d.home, StartedAt: d.started, Restoring: d.restoring(),
		Updates: d.up.count, UpdateError: d.up.lastError}, nil
}

func (d *Daemon) list(*http.Request) (any, error) {
	d.mu.Lock()
	entries := slices.Clone(d.apps)
	d.mu.Unlock()
	return d.statuses(entries, false), nil
}

// statuses returns the apps' statuses with the latest CPU and memory
// figures. An instance not sampled yet (just started) gets a sample now, so
// that ls never shows a running process with no memory.
func (d *Daemon) statuses(entries []*entry, withSpec bool) []api.App {
	out := d.collect(entries, withSpec)
	for _, a := range out {
		for _, in := range a.Instances {
			if in.PID > 0 && in.MemoryBytes == 0 {
				d.sample()
				return d.collect(entries, withSpec)
			}
		}
	}
	return out
}

func (d *Daemon) collect(entries []*entry, withSpec bool) []api.App {
	out := make([]api.App, 0, len(entries))
	for _, e := range entries {
		s, err := e.app.Status()
		if err != nil {
			continue
		}
		if withSpec {
			if sp, err := e.app.Spec(); err == nil {
				s.Spec = &sp
			}
		} else {
			s.Events, s.Crashes = nil, nil
		}
		out = append(out, s)
	}
	return out
}

func (d *Daemon) start(r *http.Request) (any, error) {
	var req api.StartRequest
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	if len(req.Apps) == 0 {
		return nil, badRequest("no apps to start")
	}
	raw, err := json.Marshal(req.Apps)
	if err != nil {
		return nil, badRequest("apps: %v", err)
	}
	// The CLI checked the files when it resolved the apps' paths; a file
	// gone since then is reported by the start itself. A remote CLI could
	// not: the paths are this host's, checked here.
	specs, _, err := spec.DecodeJSON(raw, spec.DecodeOptions{SkipFileChecks: !fromRemote(r), MaxInstances: d.maxInstances})
	if err != nil {
		return nil, badRequest("%v", err)
	}
	// A port another app of this daemon has is named as that app's; a
	// port some other process has is found when the front binds it.
	for _, cur := range d.currentSpecs() {
		for _, s := range specs {
			if s.Port != 0 && s.Port == cur.Port && s.Key() != cur.Key() {
				return nil, &httpError{http.StatusConflict, fmt.Sprintf("start %s: port %d is the port of app %s: give %s another port, or `tend delete %s` first", s.Name, s.Port, cur.Name, s.Name, cur.Name)}
			}
		}
	}
	// Checked and registered under one lock, so two concurrent starts of
	// the same name cannot both pass.
	d.mu.Lock()
	for _, s := range specs {
		for _, e := range d.apps {
			if e.name == s.Name && e.namespace == s.Namespace {
				d.mu.Unlock()
				return nil, &httpError{http.StatusConflict, fmt.Sprintf("an app named %q already exists in namespace %q (id %d): use `tend restart %s`, or `tend delete %s` first", s.Name, s.Namespace, e.id, s.Name, s.Name)}
			}
		}
	}
	ids := make([]int, len(specs))
	for i := range specs {
		ids[i] = d.nextID
		d.nextID++
	}
	d.mu.Unlock()

	// All or nothing: the desired state is written before anything starts
	// (a daemon that dies meanwhile starts the apps when it comes back),
	// and when one app cannot start, the others of the command are
	// removed again, so that nothing stays registered that did not start.
	now := time.Now()
	entries := make([]*entry, len(specs))
	for i, s := range specs {
		entries[i] = d.register(ids[i], s, callerEnv(r, req.Env), now)
	}
	if req.Stopped {
		if err := d.persist(); err != nil {
			d.discard(entries)
			return nil, fmt.Errorf("write state: %w; nothing was registered", err)
		}
		return d.statuses(entries, false), nil
	}
	if err := d.persistStarting(entries); err != nil {
		d.discard(entries)
		return nil, fmt.Errorf("write state: %w; nothing was started", err)
	}
	for _, e := range entries {
		err := e.app.Start(r.Context())
		d.publishCommand(e, "start", err)
		if err != nil {
			d.discard(entries)
			if perr := d.persist(); perr != nil {
				err = errors.Join(err, fmt.Errorf("write state: %w", perr))
			}
			what := "nothing was started"
			if len(entries) > 1 {
				what = fmt.Sprintf("none of the %d apps was started", len(entries))
			}
			return nil, &httpError{http.StatusUnprocessableEntity, fmt.Sprintf("start %s: %v; %s", e.name, err, what)}
		}
	}
	return d.statuses(entries, false), nil
}

// discard stops and forgets apps a command registered but could not
// start; a daemon-side failure to stop is logged, since the caller's error
// is the start's.
func (d *Daemon) discard(entries []*entry) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, e := range entries {
		if err := e.app.Delete(ctx); err != nil {
			d.log.Error("remove an app that did not start", "app", e.name, "err", err)
		}
		d.unregister(e)
	}
}

// match resolves a target: "all", an id, "namespace/name", an app name, or
// a namespace (in that order of precedence).
func (d *Daemon) match(target string) ([]*entry, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []*entry
	pick := func(f func(*entry) bool) []*entry {
		var m []*entry
		for _, e := range d.apps {
			if f(e) {
				m = append(m, e)
			}
		}
		return m
	}
	switch {
	case target == "all":
		out = slices.Clone(d.apps)
	case isID(target):
		id, _ := strconv.Atoi(target)
		out = pick(func(e *entry) bool { return e.id == id })
	case strings.Contains(target, "/"):
		ns, name, _ := strings.Cut(target, "/")
		out = pick(func(e *entry) bool { return e.namespace == ns && e.name == name })
	default:
		out = pick(func(e *entry) bool { return e.name == target })
		if len(out) == 0 {
			out = pick(func(e *entry) bool { return e.namespace == target })
		}
	}
	if len(out) == 0 && target != "all" {
		return nil, &httpError{http.StatusNotFound, fmt.Sprintf("no app, id or namespace matches %q (see `tend ls`)", target)}
	}
	return out, nil
}

func isID(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func (d *Daemon) describe(r *http.Request) (any, error) {
	m, err := d.match(r.PathValue("target"))
	if err != nil {
		return nil, err
	}
	out := d.statuses(m, true)
	if readOnly(r) {
		hideEnv(out)
	}
	return out, nil
}

func (d *Daemon) env(r *http.Request) (any, error) {
	m, err := d.match(r.PathValue("target"))
	if err != nil {
		return nil, err
	}
	out := []api.Env{}
	for _, e := range m {
		if env, err := e.app.Env(); err == nil {
			out = append(out, env)
		}
	}
	return out, nil
}

func (d *Daemon) delete(r *http.Request) (any, error) {
	m, err := d.match(r.PathValue("target"))
	if err != nil {
		return nil, err
	}
	gone := d.statuses(m, false)
	err = d.each(r.Context(), m, func(ctx context.Context, e *entry) error {
		err := e.app.Delete(ctx)
		d.publishCommand(e, "delete", err)
		if err != nil {
			return err
		}
		d.unregister(e)
		return nil
	})
	if perr := d.persist(); perr != nil {
		err = errors.Join(err, fmt.Errorf("write state: %w", perr))
	}
	if err != nil {
		return nil, err
	}
	for i := range gone {
		gone[i].Status = api.StatusStopped
		for j := range gone[i].Instances {
			gone[i].Instances[j].Status = api.StatusStopped
			gone[i].Instances[j].PID = 0
		}
	}
	return gone, nil
}

// each runs f on every entry at once (stopping ten apps takes one
// kill_timeout, not ten) and joins the errors, each named by its app.
func (d *Daemon) each(ctx context.Context, m []*entry, f func(context.Context, *entry) error) error {
	errs := make([]error, len(m))
	done := make(chan struct{})
	for i, e := range m {
		go func() {
			defer func() { done <- struct{}{} }()
			if err := f(ctx, e); err != nil {
				errs[i] = fmt.Errorf("%s: %w", e.name, err)
			}
		}()
	}
	for range m {
		<-done
	}
	return errors.Join(errs...)
}

func (d *Daemon) action(r *http.Request) (any, error) {
	action := r.PathValue("action")
	var req api.ActionRequest
	if r.ContentLength != 0 {
		if err := decodeBody(r, &req); err != nil {
			return nil, err
		}
	}
	var f func(context.Context, *entry) error
	switch action {
	case "start":
		f = func(ctx context.Context, e *entry) error { return e.app.Start(ctx) }
	case "stop":
		f = func(ctx context.Context, e *entry) error { return e.app.Stop(ctx) }
	case "restart":
		var env map[string]string
		if req.UpdateEnv {
			env = callerEnv(r, req.Env)
			if env == nil {
				env = map[string]string{}
			}
		}
		f = func(ctx context.Context, e *entry) error { return e.app.Restart(ctx, env) }
	case "reload":
		f = func(ctx context.Context, e *entry) error { return e.app.Reload(ctx) }
	case "scale":
		delta, abs, err := parseScale(req.Instances)
		if err != nil {
			return nil, badRequest("%v", err)
		}
		f = func(ctx context.Context, e *entry) error {
			n := abs
			if delta != 0 {
				cur, err := e.app.Instances()
				if err != nil {
					return err
				}
				n = cur + delta
			}
			if n < 1 {
				return badRequest("%s would have %d instances; an app needs at least 1 (stop it instead)", e.name, n)
			}
			if ceiling := d.instanceCeiling(); n > ceiling {
				return badRequest("%s would have %d instances, more than the %d an app may have (max_instances in daemon.yaml)", e.name, n, ceiling)
			}
			return e.app.Scale(ctx, n)
		}
	case "reset":
		f = func(_ context.Context, e *entry) error { return e.app.Reset() }
	case "signal":
		sig, err := conf.ParseSignal(req.Signal)
		if err != nil {
			return nil, badRequest("%v", err)
		}
		f = func(_ context.Context, e *entry) error { return e.app.Signal(sig) }
	default:
		return nil, &httpError{http.StatusNotFound, fmt.Sprintf("unknown action %q (start, stop, restart, reload, scale, reset, signal)", action)}
	}
	m, err := d.match(r.PathValue("target"))
	if err != nil {
		return nil, err
	}
	err = d.each(r.Context(), m, d.publishing(action, f))
	if perr := d.persist(); perr != nil {
		err = errors.Join(err, fmt.Errorf("write state: %w", perr))
	}
	if err != nil {
		return nil, err
	}
	return d.statuses(m, false), nil
}

// parseScale reads "4" (absolute) or "+2"/"-1" (relative).
func parseScale(s string) (delta, abs int, err error) {
	s = strings.TrimSpace(s)
	n, err := strconv.Atoi(s)
	switch {
	case err != nil || s == "":
		return 0, 0, fmt.Errorf("instances %q: want a number, +N or -N", s)
	case strings.HasPrefix(s, "+") || strings.HasPrefix(s, "-"):
		if n == 0 {
			return 0, 0, fmt.Errorf("instances %q: a change of 0 does nothing", s)
		}
		return n, 0, nil
	case n < 1:
		return 0, 0, fmt.Errorf("instances %d: an app needs at least 1 (stop it instead)", n)
	}
	return 0, n, nil
}

func (d *Daemon) save(*http.Request) (any, error) {
	d.mu.Lock()
	entries := slices.Clone(d.apps)
	d.mu.Unlock()
	var recs []app.Record
	var names []string
	for _, e := range entries {
		r, err := e.app.Record()
		if err != nil {
			continue
		}
		r.Procs = nil
		recs = append(recs, r)
		names = append(names, r.Spec.Key())
	}
	b, err := json.MarshalIndent(State{Version: stateVersion, Apps: recs}, "", "  ")
	if err != nil {
		return nil, err
	}
	file := filepath.Join(d.home, home.DumpName)
	if err := writeFileAtomic(file, b, 0o600); err != nil {
		return nil, fmt.Errorf("save: %w", err)
	}
	return api.Saved{File: file, Apps: names}, nil
}

// resurrect starts the apps of dump.json that are not registered; an app
// already registered is left as it is, so resurrect never duplicates.
func (d *Daemon) resurrect(r *http.Request) (any, error) {
	file := filepath.Join(d.home, home.DumpName)
	st, err := loadState(file)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(file); err != nil {
		return nil, &httpError{http.StatusNotFound, "nothing saved yet: run `tend save` first"}
	}
	out := api.Saved{File: file, Apps: []string{}}
	var errs []error
	for _, rec := range st.Apps {
		d.mu.Lock()
		exists := slices.ContainsFunc(d.apps, func(e *entry) bool {
			return e.name == rec.Spec.Name && e.namespace == rec.Spec.Namespace
		})
		id := d.nextID
		if !exists {
			d.nextID++
		}
		d.mu.Unlock()
		if exists {
			continue
		}
		e := d.register(id, rec.Spec, rec.CallerEnv, time.Now())
		if !rec.Stopped {
			if err := e.app.Start(r.Context()); err != nil {
				errs = append(errs, err)
			}
		}
		out.Apps = append(out.Apps, rec.Spec.Key())
	}
	if err := d.persist(); err != nil {
		errs = append(errs, err)
	}
	return out, errors.Join(errs...)
}

// killAll stops every app and then ends the daemon. It answers after the
// apps are down, so `tend kill` returning means no app process is left.
func (d *Daemon) killAll(*http.Request) (any, error) {
	d.endRestore()
	d.freeze()
	d.stopAll()
	d.kill.Do(func() { close(d.killed) })
	return api.Ping{Version: d.version, PID: os.Getpid(), Home: d.home, StartedAt: d.started}, nil
}

// instanceCeiling is the most instances an app may have.
func (d *Daemon) instanceCeiling() int {
	if d.maxInstances > 0 {
		return d.maxInstances
	}
	return spec.DefaultMaxInstances
}
