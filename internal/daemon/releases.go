package daemon

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/conf"
	"github.com/tendhq/tend/internal/plan"
	"github.com/tendhq/tend/internal/release"
	"github.com/tendhq/tend/internal/remote"
	"github.com/tendhq/tend/internal/spec"
	"github.com/tendhq/tend/internal/supervise"
)

// DefaultMaxUpload is max_upload's default: the largest archive a deploy
// may send.
const DefaultMaxUpload = 1 << 30

// Names inside TEND_HOME of the releases and of the uploads being received.
const (
	releasesDir = "releases"
	uploadsDir  = "uploads"
)

// deployTimeout bounds a deploy once its archive is in: post_deploy, the
// unpack and the reload. A client that leaves does not cancel it.
const deployTimeout = 30 * time.Minute

func (d *Daemon) releaseStore() release.Store {
	return release.Store{Dir: filepath.Join(d.home, releasesDir)}
}

// deployStream writes a deploy's progress as server-sent events. Only
// the handler's goroutine writes.
type deployStream struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

func newDeployStream(w http.ResponseWriter) *deployStream {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	s := &deployStream{w: w, rc: http.NewResponseController(w)}
	_ = s.rc.Flush()
	return s
}

// send writes one event; a client that left is not an error of the
// deploy, which goes on.
func (s *deployStream) send(e api.DeployEvent) {
	b, err := json.Marshal(e)
	if err != nil {
		return
	}
	_ = s.rc.SetWriteDeadline(time.Now().Add(eventWriteTimeout))
	if _, err := fmt.Fprintf(s.w, "data: %s\n\n", b); err == nil {
		_ = s.rc.Flush()
	}
}

func (s *deployStream) progress(format string, a ...any) {
	s.send(api.DeployEvent{Kind: api.DeployProgress, Text: fmt.Sprintf(format, a...)})
}

// deploy answers POST /v1/releases: the body is a release archive (tend
// pack), written to $TEND_HOME/uploads while hashed, verified whole against
// its manifest, then installed and made current with a zero-downtime
// reload. Until the archive is verified, errors are plain answers (400,
// 413) and nothing has changed; after, progress and the result stream.
func (d *Daemon) deploy(w http.ResponseWriter, r *http.Request) {
	defer d.recoverStream(w, r)
	limit := d.maxUpload
	if limit <= 0 {
		limit = DefaultMaxUpload
	}
	tooLarge := fmt.Sprintf("the archive is larger than max_upload (%s) of this daemon: leave files out (.npmignore, package.json's files), or raise max_upload in daemon.yaml", conf.Size(limit))
	if r.ContentLength > limit {
		writeJSON(w, http.StatusRequestEntityTooLarge, api.Error{Error: tooLarge})
		return
	}
	dir := filepath.Join(d.home, uploadsDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		writeJSON(w, http.StatusInternalServerError, api.Error{Error: fmt.Sprintf("create %s: %v", dir, err)})
		return
	}
	f, err := os.CreateTemp(dir, "upload-*.tar.gz")
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, api.Error{Error: fmt.Sprintf("receive the archive: %v", err)})
		return
	}
	defer os.Remove(f.Name())
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(f, h), http.MaxBytesReader(w, r.Body, limit))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		writeJSON(w, http.StatusRequestEntityTooLarge, api.Error{Error: tooLarge})
		return
	case errors.Is(err, syscall.ENOSPC):
		writeJSON(w, http.StatusInsufficientStorage, api.Error{Error: fmt.Sprintf("receive the archive into %s: the disk is full; nothing changed", dir)})
		return
	case err != nil:
		writeJSON(w, http.StatusBadRequest, api.Error{Error: fmt.Sprintf("receive the archive: %v; nothing changed", err)})
		return
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if want := r.Header.Get(api.DeploySHA256Header); want != "" && !strings.EqualFold(want, sum) {
		writeJSON(w, http.StatusBadRequest, api.Error{Error: fmt.Sprintf("the archive arrived with sha256 %s, but the client sent %s: it was damaged on the way; deploy again (nothing changed)", sum, want)})
		return
	}
	a, err := release.Open(f.Name(), release.DefaultLimits)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, api.Error{Error: fmt.Sprintf("archive refused: %v; nothing changed", err)})
		return
	}
	name := r.Header.Get(api.DeployAppHeader)
	if name == "" {
		name = appName(a.Manifest)
	}
	if why := spec.CheckName(name); why != "" {
		writeJSON(w, http.StatusBadRequest, api.Error{Error: fmt.Sprintf("app name %q: %s; name the app with --app", name, why)})
		return
	}
	by := r.Header.Get(api.DeployByHeader)
	if tok, ok := remote.TokenFrom(r.Context()); ok {
		by = "token " + tok.Name // what the door vouches for, not what the client says
	}
	if by == "" {
		by = "unknown"
	}
	post, hasPost := r.Header[http.CanonicalHeaderKey(api.DeployPostHeader)]

	s := newDeployStream(w)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), deployTimeout)
	defer cancel()
	if !d.deployMu.TryLock() {
		s.progress("another deploy or rollback is under way on this daemon: waiting for it")
		d.deployMu.Lock()
	}
	defer d.deployMu.Unlock()
	if d.up.busy.get() {
		finish(s, api.Release{}, errors.New("the daemon is being updated (tend update): deploy again in a moment; nothing changed"))
		return
	}
	rel := api.Release{SHA256: sum, By: by, DeployedAt: time.Now().UTC()}
	opts := installOptions{postDeploy: strings.Join(post, " "), overridePost: hasPost}
	rel, err = d.install(ctx, s, a, name, rel, opts)
	d.deployIncident(name, err)
	finish(s, rel, err)
}

// deployIncident tells the alerts about a deploy that did not switch to
// its release (api.AlertDeployFailed), and about the next one that did.
func (d *Daemon) deployIncident(name string, err error) {
	if d.events == nil {
		return
	}
	ev := api.StreamEvent{Type: api.EventIncident, App: name, Namespace: spec.DefaultNamespace, AppID: -1, Instance: -1,
		Kind: api.AlertDeployFailed, Message: "a deploy succeeded", Resolved: err == nil}
	if e, _ := d.byName(name); e != nil {
		ev.Namespace, ev.AppID = e.namespace, e.id
	}
	if err != nil {
		ev.Message = err.Error()
	}
	d.events.Publish(ev)
}

// finish ends a deploy's or rollback's stream.
func finish(s *deployStream, rel api.Release, err error) {
	if err != nil {
		s.send(api.DeployEvent{Kind: api.DeployError, Text: err.Error()})
		return
	}
	rel.Active = true
	s.send(api.DeployEvent{Kind: api.DeployDone, Release: &rel})
}

// recoverStream turns a panic into an error answer, as handle does.
func (d *Daemon) recoverStream(w http.ResponseWriter, r *http.Request) {
	if v := recover(); v != nil {
		d.log.Error("panic in handler", "path", r.URL.Path, "panic", v)
		writeJSON(w, http.StatusInternalServerError, api.Error{Error: fmt.Sprintf("internal error: %v", v)})
	}
}

// appName is the app a release is for when the deploy does not say: the
// one its ecosystem file defines, else package.json's name without its
// scope.
func appName(m *release.Manifest) string {
	if m.App != "" {
		return m.App
	}
	n := m.Name
	if i := strings.LastIndexByte(n, '/'); i >= 0 {
		n = n[i+1:]
	}
	return n
}

type installOptions struct {
	postDeploy   string
	overridePost bool // postDeploy replaces the app's post_deploy
}

// install unpacks a verified archive as a new release of app, runs its
// post_deploy, and activates it. Any failure leaves the app as it was and
// removes the release.
func (d *Daemon) install(ctx context.Context, s *deployStream, a *release.Archive, name string, rel api.Release, o installOptions) (api.Release, error) {
	store := d.releaseStore()
	e, err := d.byName(name)
	if err != nil {
		return rel, err
	}
	var cur *spec.App
	if e != nil {
		c, err := e.app.Spec()
		if err != nil {
			return rel, err
		}
		cur = &c
	}
	s.progress("unpacking %s %s (%d files) for app %s", a.Manifest.Name, a.Manifest.Version, len(a.Manifest.Files), name)
	rel, err = store.Install(a, name, rel)
	if err != nil {
		return rel, fmt.Errorf("%w; nothing changed", err)
	}
	forget := func(cause error) error {
		if err := store.Forget(name, rel.Seq); err != nil {
			cause = errors.Join(cause, fmt.Errorf("remove release %d: %w", rel.Seq, err))
		}
		return cause
	}
	s.progress("release %d unpacked into %s", rel.Seq, rel.Dir)
	want, err := d.releaseSpec(name, rel.Dir, cur)
	if err != nil {
		return rel, forget(fmt.Errorf("%w; nothing changed", err))
	}
	post := want.PostDeploy
	if o.overridePost {
		post = o.postDeploy
	}
	if post != "" {
		s.progress("post_deploy: %s", post)
		if err := runPostDeploy(ctx, rel.Dir, post, want.Env, s); err != nil {
			return rel, forget(fmt.Errorf("post_deploy %q: %w; the deploy is aborted, release %d removed, the app runs as before", post, err, rel.Seq))
		}
	}
	if err := d.activate(ctx, s, name, rel, want, e); err != nil {
		return rel, forget(err)
	}
	retain := want.RetainReleases
	if retain == 0 {
		retain = release.DefaultRetain
	}
	if gone, err := store.Prune(name, retain); err != nil {
		s.progress("prune old releases: %v", err)
	} else if len(gone) > 0 {
		s.progress("removed releases %v (retain_releases %d)", gone, retain)
	}
	return rel, nil
}

// byName returns the app of that name, nil when there is none.
func (d *Daemon) byName(name string) (*entry, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var found *entry
	for _, e := range d.apps {
		if e.name == name {
			if found != nil {
				return nil, badRequest("apps named %s exist in namespaces %s and %s: releases are by name; rename one", name, found.namespace, e.namespace)
			}
			found = e
		}
	}
	return found, nil
}

// releaseSpec returns the settings app runs with from the release in dir,
// its paths through the app's current symlink: the release's ecosystem
// file's entry for the app, else the app's settings now (cwd moved into
// the release), else for a new app package.json's start script or main.
func (d *Daemon) releaseSpec(name, dir string, cur *spec.App) (spec.App, error) {
	current := d.releaseStore().Current(name)
	var want spec.App
	if f := release.FindEcosystem(dir); f != "" {
		apps, _, err := spec.LoadFile(filepath.Join(dir, f), spec.LoadOptions{MaxInstances: d.maxInstances})
		if err != nil {
			return want, fmt.Errorf("the release's %v", err)
		}
		i := slices.IndexFunc(apps, func(a spec.App) bool { return a.Name == name })
		if i < 0 {
			var names []string
			for _, a := range apps {
				names = append(names, a.Name)
			}
			return want, fmt.Errorf("the release's %s defines no app %s (it has %s): deploy with --app NAME", f, name, strings.Join(names, ", "))
		}
		want = apps[i]
	} else if cur != nil {
		want = *cur
		old := want.Cwd
		if strings.HasPrefix(old, d.releaseStore().AppDir(name)+"/") {
			old = current // already deployed: it stays under current
		}
		want.Cwd = dir
		if rel, ok := under(want.Script, old); ok {
			want.Script = filepath.Join(dir, rel)
		}
	} else {
		raw := map[string]any{"name": name, "cwd": dir}
		pkg, _ := spec.ReadPackageJSON(dir)
		switch start, _ := pkg.Scripts["start"].(string); {
		case start != "":
			raw["script"], raw["args"] = "npm", []string{"start"}
		case pkg.Main != "":
			raw["script"] = pkg.Main
		default:
			return want, fmt.Errorf("app %s is new and its release has no ecosystem file (tend.yaml, ecosystem.config.js), no start script and no main in package.json: add one of them", name)
		}
		b, _ := json.Marshal([]any{raw})
		apps, _, err := spec.DecodeJSON(b, spec.DecodeOptions{MaxInstances: d.maxInstances})
		if err != nil {
			return want, fmt.Errorf("the release's package.json: %v", err)
		}
		want = apps[0]
	}
	// Through current, so that a restart after a rollback or a daemon
	// restart runs the active release, and the state file names no
	// release directory.
	for _, p := range []*string{&want.Cwd, &want.Script, &want.OutFile, &want.ErrorFile, &want.LogFile} {
		if rel, ok := under(*p, dir); ok {
			*p = filepath.Join(current, rel)
		}
	}
	return want, nil
}

// under returns p relative to dir when p is dir or inside it.
func under(p, dir string) (string, bool) {
	if p == dir {
		return ".", true
	}
	rel, ok := strings.CutPrefix(p, dir+"/")
	return rel, ok
}

// maxPostDeployLine bounds one line of post_deploy's output.
const maxPostDeployLine = 64 << 10

// runPostDeploy runs cmd with sh in dir, streaming its output lines.
func runPostDeploy(ctx context.Context, dir, cmd string, env map[string]string, s *deployStream) error {
	pr, pw, err := os.Pipe()
	if err != nil {
		return err
	}
	defer pr.Close()
	c := exec.Command("/bin/sh", "-c", cmd)
	c.Dir = dir
	c.Env = os.Environ()
	for k, v := range env {
		c.Env = append(c.Env, k+"="+v)
	}
	c.Env = append(c.Env, "TEND_RELEASE_DIR="+dir)
	c.Stdout, c.Stderr = pw, pw
	p, err := startSupervised(c)
	pw.Close() // the child holds its copy
	if err != nil {
		return err
	}
	sc := bufio.NewScanner(pr)
	sc.Buffer(make([]byte, 4096), maxPostDeployLine)
	for sc.Scan() {
		s.send(api.DeployEvent{Kind: api.DeployOutput, Text: sc.Text()})
	}
	// A line too long ends the scan; the rest is drained so that the
	// command does not block on a full pipe.
	_, _ = io.Copy(io.Discard, pr)
	return waitSupervised(ctx, p)
}

// runSupervised runs cmd as the apps are started (supervise.Start: its own
// process group, killed whole when it ends), so that the orphan reaper
// leaves its exit status to us; ctx ends it.
func runSupervised(ctx context.Context, cmd *exec.Cmd) error {
	p, err := startSupervised(cmd)
	if err != nil {
		return err
	}
	return waitSupervised(ctx, p)
}

func startSupervised(cmd *exec.Cmd) (*supervise.Process, error) {
	env := cmd.Env
	if env == nil {
		env = os.Environ()
	}
	return supervise.Start(supervise.Config{Path: cmd.Path, Args: cmd.Args, Dir: cmd.Dir, Env: env, Stdout: cmd.Stdout, Stderr: cmd.Stderr})
}

// waitSupervised waits for p to end, or kills it when ctx is done.
func waitSupervised(ctx context.Context, p *supervise.Process) error {
	select {
	case <-p.Done():
	case <-ctx.Done():
		p.Stop(syscall.SIGKILL, 0)
		return ctx.Err()
	}
	if e := p.Exit(); e.Code != 0 || e.Signal != "" {
		return errors.New(e.String())
	}
	return nil
}

// activate makes rel the app's current release: switch the symlink, then
// start the app (first deploy) or reload it from there with zero downtime.
// When the new instances do not become ready, the symlink goes back and
// the old instances, never stopped, keep serving.
func (d *Daemon) activate(ctx context.Context, s *deployStream, name string, rel api.Release, want spec.App, e *entry) error {
	store := d.releaseStore()
	prev := store.Active(name)
	if e != nil {
		old, err := e.app.Spec()
		if err != nil {
			return err
		}
		for _, st := range plan.Make([]spec.App{old}, []spec.App{want}, false).Steps {
			if st.Kind == plan.Replace {
				return fmt.Errorf("the release changes %s of app %s, which needs a restart with downtime: `tend delete %s` and deploy again, or keep them; nothing changed", strings.Join(st.Keys, ", "), name, name)
			}
		}
	}
	if err := store.Switch(name, rel.Dir); err != nil {
		return err
	}
	back := func(cause error) error {
		if err := store.Switch(name, prev); err != nil {
			cause = errors.Join(cause, fmt.Errorf("switch %s back: %w", store.Current(name), err))
		}
		if perr := d.persist(); perr != nil {
			cause = errors.Join(cause, fmt.Errorf("write state: %w", perr))
		}
		return cause
	}
	s.progress("%s now points to %s", store.Current(name), filepath.Base(rel.Dir))
	if e == nil {
		s.progress("starting app %s (%d instances)", name, want.Instances)
		// Started on this host for whoever deploys from wherever: the
		// instances inherit the daemon's environment, not the client's.
		ne := d.register(d.newID(), want, daemonEnv(), time.Now())
		if err := d.persistStarting([]*entry{ne}); err != nil {
			d.discard([]*entry{ne})
			return back(fmt.Errorf("write state: %w; nothing was started", err))
		}
		err := ne.app.Start(ctx)
		d.publishCommand(ne, "deploy", err)
		if err != nil {
			d.discard([]*entry{ne})
			return back(fmt.Errorf("start %s from release %d: %w; the release is removed", name, rel.Seq, err))
		}
		return nil
	}
	old, err := e.app.Spec()
	if err != nil {
		return back(err)
	}
	began := time.Now()
	s.progress("reloading %s from release %d", name, rel.Seq)
	if err := e.app.Update(want); err != nil {
		return back(err)
	}
	err = e.app.Reload(ctx)
	if err == nil && want.Instances != old.Instances {
		err = e.app.Scale(ctx, want.Instances)
	}
	d.publishCommand(e, "deploy", err)
	if err != nil {
		cause := fmt.Errorf("release %d did not become ready: %w; %s points back to %s, and the old instances keep serving", rel.Seq, err, store.Current(name), filepath.Base(prev))
		cause = back(cause)
		if uerr := e.app.Update(old); uerr != nil {
			cause = errors.Join(cause, uerr)
		}
		// Instances an earlier batch of the reload replaced run the new
		// release: they are replaced again from the old one.
		if replacedSince(e, began) {
			if rerr := e.app.Reload(ctx); rerr != nil {
				cause = errors.Join(cause, fmt.Errorf("reload from the old release: %w", rerr))
			}
		}
		return cause
	}
	if err := d.persist(); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	return nil
}

// replacedSince says whether an instance of e started after t.
func replacedSince(e *entry, t time.Time) bool {
	st, err := e.app.Status()
	if err != nil {
		return false
	}
	for _, in := range st.Instances {
		if in.PID != 0 && in.StartedAt.After(t) {
			return true
		}
	}
	return false
}

// listReleases answers GET /v1/releases/{app}.
func (d *Daemon) listReleases(r *http.Request) (any, error) {
	name := r.PathValue("app")
	if why := spec.CheckName(name); why != "" {
		return nil, badRequest("app name %q: %s", name, why)
	}
	rs, err := d.releaseStore().List(name)
	if err != nil {
		return nil, err
	}
	if rs == nil {
		return nil, &httpError{http.StatusNotFound, fmt.Sprintf("app %s has no releases on this host: `tend deploy DIR --app %s` makes one", name, name)}
	}
	return rs, nil
}

// rollback answers POST /v1/releases/{app}/rollback: make an earlier
// release current, the same zero-downtime way as a deploy.
func (d *Daemon) rollback(w http.ResponseWriter, r *http.Request) {
	defer d.recoverStream(w, r)
	var req api.RollbackRequest
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if r.ContentLength != 0 {
		if err := decodeBody(r, &req); err != nil {
			writeJSON(w, http.StatusBadRequest, api.Error{Error: err.Error()})
			return
		}
	}
	name := r.PathValue("app")
	d.deployMu.Lock()
	defer d.deployMu.Unlock()
	if d.up.busy.get() {
		writeJSON(w, http.StatusServiceUnavailable, api.Error{Error: "the daemon is being updated (tend update): roll back again in a moment; nothing changed"})
		return
	}
	target, e, err := d.rollbackTarget(name, req)
	if err != nil {
		code := http.StatusBadRequest
		var he *httpError
		if errors.As(err, &he) {
			code = he.code
		}
		writeJSON(w, code, api.Error{Error: err.Error()})
		return
	}
	s := newDeployStream(w)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), deployTimeout)
	defer cancel()
	var cur *spec.App
	if e != nil {
		if c, err := e.app.Spec(); err == nil {
			cur = &c
		}
	}
	want, err := d.releaseSpec(name, target.Dir, cur)
	if err == nil {
		s.progress("rolling %s back to release %d (%s)", name, target.Seq, target.Version)
		err = d.activate(ctx, s, name, target, want, e)
	}
	finish(s, target, err)
}

// rollbackTarget finds the release to go back to: req.Seq, or req.Back
// (at least 1) releases older than the active one.
func (d *Daemon) rollbackTarget(name string, req api.RollbackRequest) (api.Release, *entry, error) {
	var none api.Release
	if why := spec.CheckName(name); why != "" {
		return none, nil, badRequest("app name %q: %s", name, why)
	}
	if req.Seq < 0 || req.Back < 0 || req.Seq > 0 && req.Back > 0 {
		return none, nil, badRequest("give a release number or how many to go back, not both")
	}
	rs, err := d.releaseStore().List(name)
	if err != nil {
		return none, nil, err
	}
	if len(rs) == 0 {
		return none, nil, &httpError{http.StatusNotFound, fmt.Sprintf("app %s has no releases on this host", name)}
	}
	active := slices.IndexFunc(rs, func(r api.Release) bool { return r.Active })
	target := -1
	if req.Seq == 0 {
		var older []int
		for i, r := range rs {
			if active < 0 || r.Seq < rs[active].Seq {
				older = append(older, i)
			}
		}
		slices.SortFunc(older, func(a, b int) int { return rs[b].Seq - rs[a].Seq })
		back := max(req.Back, 1)
		if back > len(older) {
			return none, nil, badRequest("app %s has %d releases older than the active one, not %d (see `tend releases %s`)", name, len(older), back, name)
		}
		target = older[back-1]
	} else {
		target = slices.IndexFunc(rs, func(r api.Release) bool { return r.Seq == req.Seq })
		if target < 0 {
			return none, nil, &httpError{http.StatusNotFound, fmt.Sprintf("app %s has no release %d (see `tend releases %s`)", name, req.Seq, name)}
		}
		if target == active {
			return none, nil, badRequest("release %d of %s is already active", req.Seq, name)
		}
	}
	e, err := d.byName(name)
	return rs[target], e, err
}
