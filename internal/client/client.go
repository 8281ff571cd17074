// Package client is the typed client of tend's control API. It dials
// $TEND_HOME/tend.sock and, when nobody answers there, starts a daemon;
// or it reaches a daemon on another host over TLS with a bearer token
// (NewRemote), pinning the certificate of one no CA vouches for.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/home"
)

// Client talks to the daemon of one TEND_HOME.
type Client struct {
	Home    string
	hc      *http.Client
	sockErr error // the socket's path cannot be used (too long)
	// base is where requests go: http://tend over the socket, or the
	// remote daemon's https URL, with its token and certificate check.
	base     string
	token    string
	verifier *verifier
}

// New returns a client for the daemon in home. It does not connect.
func New(dir string) *Client {
	sock, sockErr := home.Socket(dir)
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
		MaxIdleConns: 1,
	}
	return &Client{Home: dir, hc: &http.Client{Transport: tr}, sockErr: sockErr, base: "http://tend"}
}

// NewVia returns a client of the daemon of a fleet host, reached
// through rt (fleet.Control.Transport); name says which host in messages.
func NewVia(name string, rt http.RoundTripper) *Client {
	return &Client{Home: "host " + name, hc: &http.Client{Transport: rt}}
}

// Error is an answer of the daemon other than 2xx.
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string { return e.Message }

// ErrNoDaemon means nothing answers on the socket.
var ErrNoDaemon = errors.New("no tend daemon is running")

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	resp, err := c.send(ctx, method, path, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("read daemon answer: %w", err)
	}
	return nil
}

// send makes a request with in as its JSON body and returns a 2xx answer,
// whose body the caller closes; anything else is an error.
func (c *Client) send(ctx context.Context, method, path string, in any) (*http.Response, error) {
	var body io.Reader
	switch v := in.(type) {
	case nil:
	case *Upload:
		body = v.Body
	default:
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	if c.sockErr != nil {
		return nil, c.sockErr
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+api.Prefix+path, body)
	if err != nil {
		return nil, err
	}
	if up, ok := in.(*Upload); ok {
		up.prepare(req)
	} else if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		var mismatch *MismatchError
		switch {
		case errors.As(err, &mismatch):
			return nil, mismatch
		case c.verifier != nil && isNoDaemon(err):
			return nil, c.unreachable(err)
		case isNoDaemon(err):
			return nil, ErrNoDaemon
		case c.verifier != nil && ctx.Err() == nil:
			return nil, fmt.Errorf("talk to %s: %w", c.base, err)
		}
		return nil, fmt.Errorf("talk to daemon: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		var e api.Error
		b, _ := io.ReadAll(resp.Body)
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(b))
		}
		if c.verifier != nil {
			e.Error = c.refused(resp.StatusCode, e.Error)
		}
		return nil, &Error{Status: resp.StatusCode, Message: e.Error}
	}
	return resp, nil
}

func isNoDaemon(err error) bool {
	return errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED)
}

// Ping asks the daemon who it is, without starting one.
func (c *Client) Ping(ctx context.Context) (api.Ping, error) {
	var p api.Ping
	err := c.do(ctx, http.MethodGet, "/ping", nil, &p)
	return p, err
}

// Ensure makes sure a daemon answers, starting one in the background when
// none does: `exe daemon` in a session of its own, its output appended to
// $TEND_HOME/tend.log. It returns once the daemon has restored its apps.
// A remote daemon is only asked: it is never started from here.
func (c *Client) Ensure(ctx context.Context, exe string) (api.Ping, error) {
	p, err := c.Ping(ctx)
	if !errors.Is(err, ErrNoDaemon) || c.verifier != nil {
		return p, err
	}
	if err := c.spawn(ctx, exe); err != nil {
		return api.Ping{}, err
	}
	return c.Ping(ctx)
}

// spawn starts a daemon and waits until it reports ready on a pipe, or
// exits. Another client starting one at the same moment is fine: the
// loser's daemon finds the lock taken and exits, and we wait for the winner.
func (c *Client) spawn(ctx context.Context, exe string) error {
	if err := home.Ensure(c.Home); err != nil {
		return err
	}
	logf, err := os.OpenFile(filepath.Join(c.Home, home.LogName), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open daemon log: %w", err)
	}
	defer logf.Close()
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	cmd := exec.Command(exe, "daemon")
	cmd.Env = append(os.Environ(), "TEND_HOME="+c.Home, "TEND_READY_FD=3")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Dir = "/"
	if err := cmd.Start(); err != nil {
		w.Close()
		return fmt.Errorf("start daemon: %w", err)
	}
	w.Close()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	ready := make(chan bool, 1)
	go func() {
		b := make([]byte, 1)
		n, _ := r.Read(b)
		ready <- n == 1
	}()
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	select {
	case ok := <-ready:
		if ok {
			return nil
		}
		// The pipe closed without a word: the daemon exited. If another
		// daemon won the lock, it is the one to talk to.
		err := <-exited
		if home.Unlocked(c.Home) {
			// Nobody else holds $TEND_HOME: our daemon failed on its own.
			return fmt.Errorf("daemon exited at start (%v):\n%s", err, c.logTail(5))
		}
		if _, perr := c.waitForOther(ctx); perr == nil {
			return nil
		}
		return fmt.Errorf("daemon exited at start (%v); see %s", err, filepath.Join(c.Home, home.LogName))
	case <-deadline.C:
		return fmt.Errorf("daemon did not become ready in 30s; see %s", filepath.Join(c.Home, home.LogName))
	case <-ctx.Done():
		return ctx.Err()
	}
}

// logTail returns the last lines of the daemon's log, where it says why it
// could not start.
func (c *Client) logTail(n int) string {
	b, err := os.ReadFile(filepath.Join(c.Home, home.LogName))
	if err != nil {
		return "(no " + home.LogName + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "  " + strings.Join(lines, "\n  ")
}

// waitForOther waits for a daemon started by someone else to answer and
// to have restored its apps, as spawn waits for its own.
func (c *Client) waitForOther(ctx context.Context) (api.Ping, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		p, err := c.Ping(ctx)
		if err == nil && !p.Restoring || time.Now().After(deadline) {
			return p, err
		}
		select {
		case <-ctx.Done():
			return api.Ping{}, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// WaitGone blocks until the daemon has released its lock, i.e. has exited.
func (c *Client) WaitGone(ctx context.Context) error {
	f, err := home.OpenLock(c.Home)
	if err != nil {
		return err
	}
	defer f.Close()
	done := make(chan error, 1)
	go func() { done <- syscall.Flock(int(f.Fd()), syscall.LOCK_SH) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// List returns every app.
func (c *Client) List(ctx context.Context) ([]api.App, error) {
	var out []api.App
	err := c.do(ctx, http.MethodGet, "/apps", nil, &out)
	return out, err
}

// Start registers and starts apps given as ecosystem objects.
func (c *Client) Start(ctx context.Context, req api.StartRequest) ([]api.App, error) {
	var out []api.App
	err := c.do(ctx, http.MethodPost, "/apps", req, &out)
	return out, err
}

// Describe returns the apps matching target, with their settings.
func (c *Client) Describe(ctx context.Context, target string) ([]api.App, error) {
	var out []api.App
	err := c.do(ctx, http.MethodGet, "/apps/"+url.PathEscape(target), nil, &out)
	return out, err
}

// Env returns the environment of the apps matching target.
func (c *Client) Env(ctx context.Context, target string) ([]api.Env, error) {
	var out []api.Env
	err := c.do(ctx, http.MethodGet, "/apps/"+url.PathEscape(target)+"/env", nil, &out)
	return out, err
}

// Action runs start, stop, restart, reset or signal on the apps matching target.
func (c *Client) Action(ctx context.Context, target, action string, req api.ActionRequest) ([]api.App, error) {
	var out []api.App
	err := c.do(ctx, http.MethodPost, "/apps/"+url.PathEscape(target)+"/"+action, req, &out)
	return out, err
}

// Trigger calls an action the instances of the apps matching target offer
// (@pm2/io, tx2) and returns each instance's reply.
func (c *Client) Trigger(ctx context.Context, target string, req api.TriggerRequest) ([]api.TriggerReply, error) {
	var out []api.TriggerReply
	err := c.do(ctx, http.MethodPost, "/apps/"+url.PathEscape(target)+"/trigger", req, &out)
	return out, err
}

// Delete stops and removes the apps matching target.
func (c *Client) Delete(ctx context.Context, target string) ([]api.App, error) {
	var out []api.App
	err := c.do(ctx, http.MethodDelete, "/apps/"+url.PathEscape(target), nil, &out)
	return out, err
}

// Alerts returns the alert targets and the recent alerts (GET /v1/alerts).
func (c *Client) Alerts(ctx context.Context) (api.Alerts, error) {
	var out api.Alerts
	err := c.do(ctx, http.MethodGet, "/alerts", nil, &out)
	return out, err
}

// TestAlerts sends a sample alert to every target (POST /v1/alerts/test).
func (c *Client) TestAlerts(ctx context.Context) ([]api.AlertTestResult, error) {
	var out []api.AlertTestResult
	err := c.do(ctx, http.MethodPost, "/alerts/test", nil, &out)
	return out, err
}

// Dashboard has the daemon serve the web dashboard (on loopback, unless
// daemon.yaml sets dashboard_addr) and returns its URL and a login link.
func (c *Client) Dashboard(ctx context.Context) (api.Dashboard, error) {
	var out api.Dashboard
	err := c.do(ctx, http.MethodPost, "/dashboard", nil, &out)
	return out, err
}

// Save writes every app to $TEND_HOME/dump.json.
func (c *Client) Save(ctx context.Context) (api.Saved, error) {
	var out api.Saved
	err := c.do(ctx, http.MethodPost, "/save", nil, &out)
	return out, err
}

// Resurrect starts the saved apps that are not registered.
func (c *Client) Resurrect(ctx context.Context) (api.Saved, error) {
	var out api.Saved
	err := c.do(ctx, http.MethodPost, "/resurrect", nil, &out)
	return out, err
}

// Kill stops every app and the daemon, and waits until the daemon is gone.
func (c *Client) Kill(ctx context.Context) error {
	if err := c.do(ctx, http.MethodPost, "/kill", nil, nil); err != nil {
		return err
	}
	return c.WaitGone(ctx)
}

// Update asks the daemon to replace its program in place by bin ("": the
// binary it runs from, as it is on disk now), keeping every app running.
// It returns once the daemon has committed to the hand-over; the new
// program answers Ping with Updates greater than the answer's.
func (c *Client) Update(ctx context.Context, bin string) (api.UpdateResponse, error) {
	var r api.UpdateResponse
	err := c.do(ctx, http.MethodPost, "/update", api.UpdateRequest{Binary: bin}, &r)
	return r, err
}

// Metrics returns every series the daemon exposes to Prometheus, as JSON.
func (c *Client) Metrics(ctx context.Context) ([]api.Metric, error) {
	var out []api.Metric
	err := c.do(ctx, http.MethodGet, "/metrics", nil, &out)
	return out, err
}

// Apply makes what runs equal to the given apps (or, with DryRun, says how).
func (c *Client) Apply(ctx context.Context, req api.ApplyRequest) (api.ApplyResult, error) {
	var out api.ApplyResult
	err := c.do(ctx, http.MethodPost, "/apply", req, &out)
	return out, err
}

// Set changes (and unsets) settings of the apps matching target.
func (c *Client) Set(ctx context.Context, target string, req api.SetRequest) (api.ApplyResult, error) {
	var out api.ApplyResult
	err := c.do(ctx, http.MethodPost, "/apps/"+url.PathEscape(target)+"/set", req, &out)
	return out, err
}

// LogsRequest selects output for Logs.
type LogsRequest struct {
	App    string // name, id, namespace or "" for all
	Lines  int    // backlog
	Follow bool
	Stream string // "out", "err" or "" for both
}

// Logs reads the backlog and, with Follow, new lines until ctx is done,
// calling fn for each line.
func (c *Client) Logs(ctx context.Context, r LogsRequest, fn func(api.LogLine) error) error {
	q := url.Values{}
	q.Set("app", r.App)
	q.Set("lines", strconv.Itoa(r.Lines))
	if r.Follow {
		q.Set("follow", "1")
	}
	if r.Stream != "" {
		q.Set("stream", r.Stream)
	}
	resp, err := c.send(ctx, http.MethodGet, "/logs?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	err = readSSE(resp.Body, fn)
	if se := (*streamError)(nil); errors.As(err, &se) {
		if ctx.Err() != nil {
			return nil // the caller stopped following
		}
		return fmt.Errorf("read log stream: %w", se.err)
	}
	return err
}

// FlushLogs empties the log files of the apps matching target ("" = all).
func (c *Client) FlushLogs(ctx context.Context, target string) error {
	return c.do(ctx, http.MethodPost, "/logs/flush?app="+url.QueryEscape(target), nil, nil)
}

// ReopenLogs reopens every log file (after an external logrotate).
func (c *Client) ReopenLogs(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/logs/reopen", nil, nil)
}

// EventsRequest asks for GET /v1/events.
type EventsRequest struct {
	App   string   // a target as commands take; "" for all apps
	Types []string // event types (api.Event*); none for all
	// With Resume, the stream starts after the event with id Since (0:
	// with every event the daemon still keeps); without, from now on.
	Since  uint64
	Resume bool
}

// Events streams the daemon's events to fn until ctx is done, fn returns
// an error (which Events returns), or the daemon ends the stream (it
// stopped, or dropped this reader, which fn is told by an
// api.EventDropped event). last is the id of the last event passed to
// fn, or r.Since: resume from there.
func (c *Client) Events(ctx context.Context, r EventsRequest, fn func(api.StreamEvent) error) (last uint64, err error) {
	last = r.Since
	q := url.Values{}
	if r.App != "" {
		q.Set("app", r.App)
	}
	if len(r.Types) > 0 {
		q.Set("types", strings.Join(r.Types, ","))
	}
	if r.Resume {
		q.Set("since", strconv.FormatUint(r.Since, 10))
	}
	resp, err := c.send(ctx, http.MethodGet, "/events?"+q.Encode(), nil)
	if err != nil {
		return last, err
	}
	defer resp.Body.Close()
	err = readSSE(resp.Body, func(e api.StreamEvent) error {
		if err := fn(e); err != nil {
			return err
		}
		if e.ID != 0 {
			last = e.ID
		}
		return nil
	})
	if se := (*streamError)(nil); errors.As(err, &se) {
		if ctx.Err() != nil {
			return last, ctx.Err()
		}
		return last, fmt.Errorf("read event stream: %w", se.err)
	}
	if err != nil {
		return last, err
	}
	return last, ctx.Err()
}

// FollowEvents is Events that reconnects, every retry while the daemon
// is away, resuming after the last event it passed to fn: a reader
// dropped for falling behind, or one whose daemon restarted, goes on with
// an api.EventGap event that says what it missed. It returns when ctx is
// done (nil) or fn returns an error (that error). onErr, when set, is
// told why each stream ended before it reconnects.
func (c *Client) FollowEvents(ctx context.Context, r EventsRequest, retry time.Duration, onErr func(error), fn func(api.StreamEvent) error) error {
	var fnErr error
	wrapped := func(e api.StreamEvent) error {
		fnErr = fn(e)
		return fnErr
	}
	for {
		last, err := c.Events(ctx, r, wrapped)
		switch {
		case fnErr != nil:
			return fnErr
		case ctx.Err() != nil:
			return nil
		}
		if err == nil {
			err = errors.New("the daemon ended the event stream")
		}
		if onErr != nil {
			onErr(err)
		}
		// Resume only once something was read: a stream that never
		// started keeps asking as it first did.
		if last != r.Since || r.Resume {
			r.Since, r.Resume = last, true
		}
		t := time.NewTimer(retry)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// Profile is a profile being received: Body is the file, streamed; Err,
// read after Body is drained, says whether it arrived whole.
type Profile struct {
	PID  int
	Body io.ReadCloser
	resp *http.Response
}

// Err reports an error the daemon sent after the body had begun (the body
// is then incomplete), or, with whole true, a warning about a whole body.
func (p *Profile) Err() (whole bool, err error) {
	if m := p.resp.Trailer.Get(api.ProfileErrorTrailer); m != "" {
		return false, errors.New(m)
	}
	if m := p.resp.Trailer.Get(api.ProfileWarningTrailer); m != "" {
		return true, errors.New(m)
	}
	return true, nil
}

// Profile starts a profile of one instance of target. It returns once the
// daemon has begun recording; the caller reads and closes Body.
func (c *Client) Profile(ctx context.Context, target string, req api.ProfileRequest) (*Profile, error) {
	resp, err := c.send(ctx, http.MethodPost, "/apps/"+url.PathEscape(target)+"/profile", req)
	if err != nil {
		return nil, err
	}
	pid, _ := strconv.Atoi(resp.Header.Get(api.ProfilePIDHeader))
	return &Profile{PID: pid, Body: resp.Body, resp: resp}, nil
}

// StopProfile ends the recording of an instance's profile early.
func (c *Client) StopProfile(ctx context.Context, target string, instance int) error {
	return c.do(ctx, http.MethodPost, "/apps/"+url.PathEscape(target)+"/profile/stop", api.ProfileStopRequest{Instance: instance}, nil)
}

// Profiles lists the profiles tend took by itself, of app or (app "") of
// every app, oldest first.
func (c *Client) Profiles(ctx context.Context, app string) ([]api.StoredProfile, error) {
	var out []api.StoredProfile
	path := "/profiles"
	if app != "" {
		path += "?app=" + url.QueryEscape(app)
	}
	err := c.do(ctx, http.MethodGet, path, nil, &out)
	return out, err
}
