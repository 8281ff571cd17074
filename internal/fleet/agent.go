package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/home"
	"github.com/tendhq/tend/internal/metrics"
)

// AgentConfig configures an agent: the hub: section of daemon.yaml.
type AgentConfig struct {
	// URL is the hub (tls://host:4222, or a list, comma-separated, of a
	// cluster's servers); Creds the path of this host's credentials file
	// (tend hub add-host prints it).
	URL   string
	Creds string
	TLS   ClientTLS
	// Name is this host's name in the fleet; Labels what selectors match.
	Name   string
	Labels map[string]string
	// Version is the daemon's version.
	Version string
	// StateFile keeps which apps the fleet placed here across restarts
	// ($TEND_HOME/fleet.json).
	StateFile string
	// StatusEvery is the longest time between two status writes (default
	// 10s); a change is written within a second.
	StatusEvery time.Duration
	// Options are added to the connection's (tests: an in-process hub).
	Options []nats.Option
	Log     *slog.Logger
}

// Local is the daemon as its agent sees it.
type Local interface {
	// Handler serves the daemon's control API (/v1/...).
	Handler() http.Handler
	// ApplyFleet makes the apps the fleet placed here equal to desired
	// with the plan of tend apply: an app in managed that desired lacks is
	// deleted; an app in neither is not the fleet's and is left alone.
	ApplyFleet(ctx context.Context, desired []json.RawMessage, managed []string) (api.ApplyResult, error)
}

// Agent joins a daemon to a fleet. Run owns everything it starts.
type Agent struct {
	cfg   AgentConfig
	local Local
	log   *slog.Logger

	mu      sync.Mutex
	conv    Convergence // guarded by mu
	managed []string    // guarded by mu: the apps the fleet placed here
	// pushed is the latest desired state the hub republished, newer than
	// a get may yet see on a replica; guarded by mu.
	pushed *pushedDesired
	// saidRefused: the hub's refusal of the credentials was logged since
	// the agent last connected; guarded by mu.
	saidRefused bool
	// profiling holds a token while a profile is taken: one at a time.
	profiling chan struct{}
}

type pushedDesired struct {
	rev     uint64
	data    []byte
	deleted bool
}

// agentState is the agent's file: what the fleet placed here.
type agentState struct {
	Revision uint64   `json:"revision"`
	Managed  []string `json:"managed"`
}

// NewAgent returns an agent of local; Run starts it.
func NewAgent(cfg AgentConfig, local Local) (*Agent, error) {
	if err := CheckName(cfg.Name); err != nil {
		return nil, err
	}
	if err := CheckLabels(cfg.Labels); err != nil {
		return nil, err
	}
	if cfg.URL == "" && len(cfg.Options) == 0 {
		return nil, errors.New("hub url: missing")
	}
	if cfg.StatusEvery <= 0 {
		cfg.StatusEvery = 10 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	a := &Agent{cfg: cfg, local: local, log: cfg.Log.With("fleet", cfg.Name), profiling: make(chan struct{}, 1)}
	if cfg.StateFile != "" {
		b, err := os.ReadFile(cfg.StateFile)
		if err == nil {
			var st agentState
			if err := json.Unmarshal(b, &st); err != nil {
				return nil, fmt.Errorf("%s: %w", cfg.StateFile, err)
			}
			a.managed, a.conv.Revision = st.Managed, st.Revision
		}
	}
	return a, nil
}

// Options are the connection options of a host's agent.
func (cfg AgentConfig) options() ([]nats.Option, error) {
	opts := []nats.Option{
		nats.Name("tend agent " + cfg.Name),
		nats.CustomInboxPrefix(inboxPrefix(cfg.Name)),
		// The hub may be down when the daemon starts, and go away later:
		// keep trying, forever, and fail publishes at once meanwhile.
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.CustomReconnectDelay(reconnectDelay),
		// Refused credentials (revoked, or another hub's) are retried
		// too, more slowly: new ones copied over the file get in
		// without a restart of the daemon.
		nats.IgnoreAuthErrorAbort(),
		nats.ReconnectBufSize(-1),
		nats.PingInterval(5 * time.Second),
	}
	if cfg.Creds != "" {
		opts = append(opts, nats.UserCredentials(cfg.Creds))
	}
	if cfg.URL != "" && len(cfg.Options) == 0 {
		tc, err := cfg.TLS.Config()
		if err != nil {
			return nil, err
		}
		if cfg.TLS.CA != "" || cfg.TLS.Fingerprint != "" || strings.HasPrefix(cfg.URL, "tls://") {
			opts = append(opts, nats.Secure(tc))
		}
	}
	return append(opts, cfg.Options...), nil
}

// reconnectDelay is the wait before the attempts round of reconnecting:
// about a second for the first 20 (a hub restarting), then about 5 s (a
// hub away, or refusing this host's credentials).
func reconnectDelay(attempts int) time.Duration {
	if attempts <= 20 {
		return 500*time.Millisecond + rand.N(750*time.Millisecond)
	}
	return 5*time.Second + rand.N(time.Second)
}

// Run runs the agent until ctx is done: it connects (and reconnects, for
// ever) to the hub, heartbeats, writes its status, reconciles with the
// desired state and answers requests. It never blocks the daemon: a hub
// that is away costs only what the agent writes meanwhile. Run returns
// once every goroutine it started has ended.
func (a *Agent) Run(ctx context.Context) error {
	opts, err := a.cfg.options()
	if err != nil {
		return err
	}
	wake := make(chan struct{}, 1)
	poke := func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	opts = append(opts,
		nats.ConnectHandler(func(*nats.Conn) { a.log.Info("fleet hub connected"); a.connected(); poke() }),
		nats.ReconnectHandler(func(*nats.Conn) { a.log.Info("fleet hub reconnected"); a.connected(); poke() }),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				a.log.Warn("fleet hub disconnected; apps keep running", "err", err)
			}
		}),
		nats.ReconnectErrHandler(func(_ *nats.Conn, err error) { a.refused(err) }),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { a.refused(err) }),
	)
	nc, err := nats.Connect(a.cfg.URL, opts...)
	if err != nil {
		return fmt.Errorf("fleet hub %s: %w", a.cfg.URL, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	// The desired state, once stored, comes republished with its revision.
	desiredSub, err := nc.Subscribe(desiredNotice(a.cfg.Name), func(m *nats.Msg) {
		rev, err := strconv.ParseUint(m.Header.Get("Nats-Sequence"), 10, 64)
		if err != nil {
			return
		}
		op := m.Header.Get("KV-Operation")
		a.mu.Lock()
		if a.pushed == nil || rev > a.pushed.rev {
			a.pushed = &pushedDesired{rev: rev, data: m.Data, deleted: op == "DEL" || op == "PURGE"}
		}
		a.mu.Unlock()
		poke()
	})
	if err != nil {
		return err
	}
	defer desiredSub.Unsubscribe()

	// Every goroutine below ends before the connection closes: the
	// deferred calls run in reverse, cancel first, then the wait.
	var wg sync.WaitGroup
	var closing sync.Mutex // held to add to wg, and to stop adding
	stopped := false       // guarded by closing
	defer wg.Wait()
	defer func() {
		closing.Lock()
		stopped = true
		closing.Unlock()
	}()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Requests run each on a goroutine of their own, a few at once, so
	// that a long reload does not hold up an ls.
	slots := make(chan struct{}, 8)
	reqSub, err := nc.Subscribe("tend.req."+a.cfg.Name+".*", func(m *nats.Msg) {
		select {
		case slots <- struct{}{}:
		default:
			a.respond(m, Reply{Status: http.StatusServiceUnavailable, Body: errorBody("host %s is busy with 8 requests: try again", a.cfg.Name)})
			return
		}
		closing.Lock()
		defer closing.Unlock()
		if stopped {
			<-slots
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			a.serve(ctx, nc, js, m)
		}()
	})
	if err != nil {
		return err
	}
	defer reqSub.Unsubscribe()

	wg.Add(1)
	go func() {
		defer wg.Done()
		a.reconcileLoop(ctx, nc, wake)
	}()
	a.reportLoop(ctx, nc, js)
	return nil
}

// connected notes that the hub let the agent in.
func (a *Agent) connected() {
	a.mu.Lock()
	a.saidRefused = false
	a.mu.Unlock()
}

// refused logs the hub's refusal of this host's credentials, once until
// the agent connects again: it retries every few seconds.
func (a *Agent) refused(err error) {
	if !errors.Is(err, nats.ErrAuthorization) && !errors.Is(err, nats.ErrAuthRevoked) && !errors.Is(err, nats.ErrAuthExpired) {
		return
	}
	a.mu.Lock()
	said := a.saidRefused
	a.saidRefused = true
	a.mu.Unlock()
	if !said {
		a.log.Error("fleet hub refuses this host's credentials (revoked, expired or another hub's); apps keep running, the agent retries: tend hub add-host "+a.cfg.Name+" on the hub makes new ones", "creds", a.cfg.Creds, "err", err)
	}
}

// reportLoop heartbeats every HeartbeatEvery and writes the status when
// it changed or StatusEvery passed, until ctx is done.
func (a *Agent) reportLoop(ctx context.Context, nc *nats.Conn, js jetstream.JetStream) {
	t := time.NewTicker(HeartbeatEvery)
	defer t.Stop()
	var last []byte // the status last written, less its time and figures
	var lastAt time.Time
	for {
		if nc.IsConnected() {
			hb, _ := json.Marshal(Heartbeat{Time: time.Now().UTC(), Version: a.cfg.Version})
			if err := a.put(ctx, js, HeartbeatBucket, hb); err != nil {
				a.log.Debug("fleet heartbeat", "err", err)
			}
			st, key, err := a.status(ctx)
			switch {
			case err != nil:
				a.log.Debug("fleet status", "err", err)
			case !bytes.Equal(key, last) || time.Since(lastAt) >= a.cfg.StatusEvery:
				b, _ := json.Marshal(st)
				if err := a.put(ctx, js, StatusBucket, b); err != nil {
					a.log.Debug("fleet status", "err", err)
				} else {
					last, lastAt = key, time.Now()
				}
			}
		} else {
			last = nil // write it again once back
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (a *Agent) put(ctx context.Context, js jetstream.JetStream, bucket string, b []byte) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	_, err := js.Publish(ctx, kvSubject(bucket, a.cfg.Name), b)
	return err
}

// status gathers the host's status; key is its part that counts as a
// change (not the time, nor the CPU and memory figures).
func (a *Agent) status(ctx context.Context) (Status, []byte, error) {
	var apps []api.App
	if err := a.get(ctx, "/apps", &apps); err != nil {
		return Status{}, nil, err
	}
	var ping api.Ping
	if err := a.get(ctx, "/ping", &ping); err != nil {
		return Status{}, nil, err
	}
	a.mu.Lock()
	conv := a.conv
	managed := slices.Clone(a.managed)
	a.mu.Unlock()
	st := Status{Host: a.cfg.Name, Labels: a.cfg.Labels, Version: ping.Version, Time: time.Now().UTC(), Facts: facts(), Desired: conv, Apps: []AppStatus{}}
	st.Facts.DaemonUptimeMS = time.Since(ping.StartedAt).Milliseconds()
	var key bytes.Buffer
	fmt.Fprintf(&key, "%s %v %d %d %q %v|", st.Version, st.Labels, conv.Revision, conv.Tried, conv.Error, conv.Steps)
	for _, app := range apps {
		s := AppStatus{Name: app.Name, Namespace: app.Namespace, Status: app.Status, Port: app.Port, Instances: len(app.Instances),
			Fleet: slices.Contains(managed, app.Namespace+"/"+app.Name)}
		for _, in := range app.Instances {
			if in.Status == api.StatusOnline {
				s.Online++
			}
			s.Restarts += in.Restarts
			s.CPUPercent += in.CPUPercent
			s.MemoryBytes += in.MemoryBytes
			fmt.Fprintf(&key, "%d:%s ", in.PID, in.Status)
		}
		st.CPUPercent += s.CPUPercent
		st.MemoryBytes += s.MemoryBytes
		st.Apps = append(st.Apps, s)
		fmt.Fprintf(&key, "%s/%s %s %d %d %d %t|", s.Namespace, s.Name, s.Status, s.Instances, s.Online, s.Restarts, s.Fleet)
	}
	return st, key.Bytes(), nil
}

// facts reads the host's figures; what cannot be read stays zero.
func facts() Facts {
	f := Facts{OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU()}
	f.Hostname, _ = os.Hostname()
	if mi, err := metrics.ReadMemInfo(); err == nil {
		f.MemTotal, f.MemAvailable = mi.Total, mi.Available
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if fields := strings.Fields(string(b)); len(fields) > 0 {
			f.Load1, _ = strconv.ParseFloat(fields[0], 64)
		}
	}
	return f
}

// get calls the daemon's API in-process.
func (a *Agent) get(ctx context.Context, path string, out any) error {
	rep := a.call(ctx, Request{Method: http.MethodGet, Path: path})
	if rep.Status != http.StatusOK {
		return fmt.Errorf("GET %s: %d %s", path, rep.Status, rep.Body)
	}
	return json.Unmarshal(rep.Body, out)
}

// reconcileLoop applies the desired state whenever woken (a write to the
// desired key, a (re)connection) and every half minute, until ctx is done.
func (a *Agent) reconcileLoop(ctx context.Context, nc *nats.Conn, wake <-chan struct{}) {
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-t.C:
		}
		if !nc.IsConnected() {
			continue // the reconnection wakes us
		}
		if err := a.reconcile(ctx, nc); err != nil && ctx.Err() == nil {
			a.log.Warn("fleet reconcile", "err", err)
		}
	}
}

// reconcile fetches the desired state and applies it with the plan of
// tend apply. What runs is left as it is when the desired state cannot be
// read.
func (a *Agent) reconcile(ctx context.Context, nc *nats.Conn) error {
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	want, rev, err := a.desired(rctx, nc)
	cancel()
	a.mu.Lock()
	managed := slices.Clone(a.managed)
	pushed := a.pushed
	a.mu.Unlock()
	if pushed != nil && pushed.rev > rev {
		want, rev, err = Desired{}, pushed.rev, nil
		if !pushed.deleted {
			if err = json.Unmarshal(pushed.data, &want); err != nil {
				err = fmt.Errorf("desired state revision %d: %w", rev, err)
			}
		}
	}
	if err != nil {
		return err
	}
	keys, err := appKeys(want.Apps)
	if err != nil {
		a.setConv(Convergence{Revision: a.convRevision(), Tried: rev, Error: err.Error(), At: time.Now().UTC()}, managed, nil)
		return err
	}
	res, err := a.local.ApplyFleet(ctx, want.Apps, managed)
	var steps []string
	for _, s := range res.Steps {
		if s.Kind != "unchanged" && s.Kind != "keep-removed" {
			steps = append(steps, s.Kind+" "+s.App)
		}
	}
	if err != nil {
		// What started before the failure is the fleet's too.
		union := append(slices.Clone(managed), keys...)
		slices.Sort(union)
		a.setConv(Convergence{Revision: a.convRevision(), Tried: rev, Error: err.Error(), At: time.Now().UTC(), Steps: steps}, slices.Compact(union), nil)
		return err
	}
	if len(steps) > 0 {
		a.log.Info("fleet applied", "revision", rev, "steps", strings.Join(steps, ", "))
	}
	prev := a.convSteps()
	if len(steps) == 0 && a.convRevision() == rev {
		steps = prev // nothing new: keep what the revision did
	}
	return a.setConv(Convergence{Revision: rev, Tried: rev, At: time.Now().UTC(), Steps: steps}, keys, &agentState{Revision: rev, Managed: keys})
}

func (a *Agent) convRevision() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.conv.Revision
}

func (a *Agent) convSteps() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.conv.Steps
}

// setConv records the outcome of a reconcile, and writes the state file.
func (a *Agent) setConv(c Convergence, managed []string, st *agentState) error {
	a.mu.Lock()
	a.conv, a.managed = c, managed
	a.mu.Unlock()
	if st == nil {
		st = &agentState{Revision: c.Revision, Managed: managed}
	}
	if a.cfg.StateFile == "" {
		return nil
	}
	b, _ := json.Marshal(st)
	if err := os.MkdirAll(filepath.Dir(a.cfg.StateFile), 0o700); err != nil {
		return err
	}
	return home.WriteFile(a.cfg.StateFile, b, 0o600)
}

// desired reads this host's desired state and its revision; a host with
// none has no apps placed (revision 0).
func (a *Agent) desired(ctx context.Context, nc *nats.Conn) (Desired, uint64, error) {
	var d Desired
	m, err := nc.RequestWithContext(ctx, directGetSubject(DesiredBucket, a.cfg.Name), nil)
	if err != nil {
		return d, 0, fmt.Errorf("read desired state: %w", err)
	}
	rev, _ := strconv.ParseUint(m.Header.Get("Nats-Sequence"), 10, 64)
	switch st := m.Header.Get("Status"); {
	case st == "404":
		return d, 0, nil
	case st != "":
		return d, 0, fmt.Errorf("read desired state: %s %s", st, m.Header.Get("Description"))
	}
	if op := m.Header.Get("KV-Operation"); op == "DEL" || op == "PURGE" {
		return d, rev, nil
	}
	if err := json.Unmarshal(m.Data, &d); err != nil {
		return d, rev, fmt.Errorf("desired state revision %d: %w", rev, err)
	}
	return d, rev, nil
}

// appKeys lists the namespace/name of apps in their JSON form.
func appKeys(apps []json.RawMessage) ([]string, error) {
	keys := []string{}
	for i, raw := range apps {
		var id struct{ Name, Namespace string }
		if err := json.Unmarshal(raw, &id); err != nil || id.Name == "" {
			return nil, fmt.Errorf("desired state: app %d has no name", i)
		}
		if id.Namespace == "" {
			id.Namespace = "default"
		}
		keys = append(keys, id.Namespace+"/"+id.Name)
	}
	slices.Sort(keys)
	return keys, nil
}

// serve answers one request with the daemon's API.
func (a *Agent) serve(ctx context.Context, nc *nats.Conn, js jetstream.JetStream, m *nats.Msg) {
	var req Request
	if err := json.Unmarshal(m.Data, &req); err != nil {
		a.respond(m, Reply{Status: http.StatusBadRequest, Body: errorBody("bad fleet request: %v", err)})
		return
	}
	write := strings.HasSuffix(m.Subject, ".write")
	if err := allowed(req, write); err != nil {
		a.respond(m, Reply{Status: http.StatusForbidden, Body: errorBody("%v", err)})
		return
	}
	if req.Stream != "" && req.Method == http.MethodGet && following(req.Path) {
		a.serveStream(ctx, nc, m, req)
		return
	}
	if profile, _ := profilePath(req.Path); profile && req.Method == http.MethodPost {
		a.respond(m, a.serveProfile(ctx, js, req))
		return
	}
	a.respond(m, a.call(ctx, req))
}

// allowed says why a request may not be served through the fleet: what
// changes apps must come on the write subject (a profile, which changes
// nothing, may come on either), and what streams without end (events) or
// replaces the daemon cannot come at all.
func allowed(req Request, write bool) error {
	p, _, _ := strings.Cut(req.Path, "?")
	if !strings.HasPrefix(p, "/") || strings.Contains(p, "..") {
		return fmt.Errorf("bad path %q", req.Path)
	}
	profile, stop := profilePath(req.Path)
	if req.Method != http.MethodGet && !write && !((profile || stop) && req.Method == http.MethodPost) {
		return errors.New("a read-only request may only read (GET) or profile")
	}
	switch {
	case p == "/events", p == "/kill", p == "/update":
		return fmt.Errorf("%s %s is not served through the fleet: run it on the host", req.Method, p)
	case following(req.Path) && req.Stream == "":
		return errors.New("a request that follows needs a stream subject (a client older than this agent?)")
	}
	return nil
}

// call serves req with the daemon's API in-process.
func (a *Agent) call(ctx context.Context, req Request) Reply {
	hr, err := http.NewRequestWithContext(ctx, req.Method, "http://tend"+api.Prefix+req.Path, bytes.NewReader(req.Body))
	if err != nil {
		return Reply{Status: http.StatusBadRequest, Body: errorBody("%v", err)}
	}
	if len(req.Body) > 0 {
		hr.Header.Set("Content-Type", "application/json")
	}
	rec := &recorder{header: http.Header{}}
	a.local.Handler().ServeHTTP(rec, hr)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	if rec.body.Len() > MaxReply {
		return Reply{Status: http.StatusInsufficientStorage, Body: errorBody("the answer is %d bytes, more than the fleet carries (%d): ask for less (fewer lines)", rec.body.Len(), MaxReply)}
	}
	return Reply{Status: rec.status, ContentType: rec.header.Get("Content-Type"), Body: rec.body.Bytes()}
}

func (a *Agent) respond(m *nats.Msg, r Reply) {
	if m.Reply == "" {
		return
	}
	b, _ := json.Marshal(r)
	if err := m.Respond(b); err != nil {
		a.log.Debug("fleet reply", "err", err)
	}
}

func errorBody(format string, args ...any) []byte {
	b, _ := json.Marshal(api.Error{Error: fmt.Sprintf(format, args...)})
	return b
}

// recorder is the http.ResponseWriter of an in-process call.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}
func (r *recorder) Flush() {}

var _ io.Writer = (*recorder)(nil)
