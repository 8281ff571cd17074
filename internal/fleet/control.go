package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/tendhq/tend/internal/api"
)

// Control is the control point's connection to a fleet: tend hosts, tend
// apply with a fleet file, tend --host.
type Control struct {
	nc *nats.Conn
	js jetstream.JetStream

	mu sync.Mutex
	kv map[string]jetstream.KeyValue // guarded by mu: the buckets opened
	// denied are the requests in flight by subject, told when the server
	// refuses to carry a publish to it (a read-only credential); guarded
	// by mu.
	denied map[string][]chan error
}

// ControlConfig is how the control point reaches the hub.
type ControlConfig struct {
	URL   string
	Creds string
	TLS   ClientTLS
	// Options are added to the connection's (tests: an in-process hub).
	Options []nats.Option
}

// Dial connects to the hub.
func Dial(cfg ControlConfig) (*Control, error) {
	c := &Control{denied: map[string][]chan error{}, kv: map[string]jetstream.KeyValue{}}
	opts := []nats.Option{nats.Name("tend control"), nats.Timeout(5 * time.Second), nats.ErrorHandler(c.asyncError)}
	if cfg.Creds != "" {
		opts = append(opts, nats.UserCredentials(cfg.Creds))
	}
	if len(cfg.Options) == 0 && (cfg.TLS.CA != "" || cfg.TLS.Fingerprint != "" || strings.HasPrefix(cfg.URL, "tls://")) {
		tc, err := cfg.TLS.Config()
		if err != nil {
			return nil, err
		}
		opts = append(opts, nats.Secure(tc))
	}
	nc, err := nats.Connect(cfg.URL, append(opts, cfg.Options...)...)
	if err != nil {
		return nil, fmt.Errorf("connect to the fleet hub %s: %w", cfg.URL, err)
	}
	c.nc = nc
	if c.js, err = jetstream.New(nc); err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

// asyncError hands a refused publish to the requests waiting on it: the
// server says so only asynchronously, and the request would wait for ever.
func (c *Control) asyncError(_ *nats.Conn, _ *nats.Subscription, err error) {
	const pre = "Permissions Violation for Publish to \""
	msg := err.Error()
	i := strings.Index(msg, pre)
	if i < 0 {
		return
	}
	subj, _, _ := strings.Cut(msg[i+len(pre):], "\"")
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ch := range c.denied[subj] {
		select {
		case ch <- err:
		default:
		}
	}
}

// guard returns ctx canceled when the server refuses a publish to subj;
// done ends the guard and returns err, or the refusal that caused it.
func (c *Control) guard(ctx context.Context, subj string) (context.Context, func(error) error) {
	denied, unwatch := c.watchDenied(subj)
	ctx, cancel := context.WithCancelCause(ctx)
	stopped := make(chan struct{})
	// Ends when done is called.
	go func() {
		select {
		case err := <-denied:
			cancel(err)
		case <-stopped:
		}
	}()
	return ctx, func(err error) error {
		close(stopped)
		unwatch()
		if cause := context.Cause(ctx); err != nil && cause != nil && !errors.Is(cause, context.Canceled) && !errors.Is(cause, context.DeadlineExceeded) {
			err = cause
		}
		cancel(nil)
		return err
	}
}

// watchDenied registers a request to subj until the returned func.
func (c *Control) watchDenied(subj string) (<-chan error, func()) {
	ch := make(chan error, 1)
	c.mu.Lock()
	c.denied[subj] = append(c.denied[subj], ch)
	c.mu.Unlock()
	return ch, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.denied[subj] = slices.DeleteFunc(c.denied[subj], func(x chan error) bool { return x == ch })
		if len(c.denied[subj]) == 0 {
			delete(c.denied, subj)
		}
	}
}

// KeyValue opens one of the fleet's buckets, once.
func (c *Control) KeyValue(ctx context.Context, bucket string) (jetstream.KeyValue, error) {
	c.mu.Lock()
	kv, ok := c.kv[bucket]
	c.mu.Unlock()
	if ok {
		return kv, nil
	}
	kv, err := c.js.KeyValue(ctx, bucket)
	if err != nil {
		return nil, c.bucketErr(bucket, err)
	}
	c.mu.Lock()
	c.kv[bucket] = kv
	c.mu.Unlock()
	return kv, nil
}

// Close closes the connection.
func (c *Control) Close() { c.nc.Close() }

// Host is one host of the fleet as the hub knows it.
type Host struct {
	Status
	// Alive says its heartbeat key has not expired; LastSeen is its last
	// heartbeat or status.
	Alive    bool      `json:"alive"`
	LastSeen time.Time `json:"last_seen"`
}

// Hosts lists every host that ever reported, by name.
func (c *Control) Hosts(ctx context.Context) ([]Host, error) {
	names, err := c.keys(ctx, StatusBucket)
	if err != nil {
		return nil, err
	}
	status, err := c.KeyValue(ctx, StatusBucket)
	if err != nil {
		return nil, err
	}
	beats, err := c.KeyValue(ctx, HeartbeatBucket)
	if err != nil {
		return nil, err
	}
	var out []Host
	for _, name := range names {
		e, err := status.Get(ctx, name)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read status of %s: %w", name, err)
		}
		var h Host
		if err := json.Unmarshal(e.Value(), &h.Status); err != nil {
			return nil, fmt.Errorf("status of %s: %w", name, err)
		}
		h.Host, h.LastSeen = name, h.Time
		hb, err := beats.Get(ctx, name)
		switch {
		case err == nil:
			h.Alive = true
			var b Heartbeat
			if json.Unmarshal(hb.Value(), &b) == nil && b.Time.After(h.LastSeen) {
				h.LastSeen = b.Time
			}
		case !errors.Is(err, jetstream.ErrKeyNotFound):
			return nil, fmt.Errorf("read heartbeat of %s: %w", name, err)
		}
		out = append(out, h)
	}
	return out, nil
}

// keys lists a bucket's keys from its stream's subjects, which needs no
// consumer (a read-only credential may not make one).
func (c *Control) keys(ctx context.Context, bucket string) ([]string, error) {
	s, err := c.js.Stream(ctx, "KV_"+bucket)
	if err != nil {
		return nil, c.bucketErr(bucket, err)
	}
	prefix := "$KV." + bucket + "."
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(prefix+">"))
	if err != nil {
		return nil, c.bucketErr(bucket, err)
	}
	var keys []string
	for subj := range info.State.Subjects {
		keys = append(keys, strings.TrimPrefix(subj, prefix))
	}
	slices.Sort(keys)
	if len(keys) > MaxHosts {
		return nil, fmt.Errorf("bucket %s holds %d keys, more than the %d hosts a fleet may have", bucket, len(keys), MaxHosts)
	}
	return keys, nil
}

func (c *Control) bucketErr(bucket string, err error) error {
	if errors.Is(err, jetstream.ErrStreamNotFound) || errors.Is(err, jetstream.ErrBucketNotFound) {
		return fmt.Errorf("the hub has no fleet bucket %s: start it with tend hub, or run tend apply with an operator credential once to create the buckets", bucket)
	}
	return fmt.Errorf("bucket %s: %w", bucket, err)
}

// Desired reads host's desired state and its revision (0: none).
func (c *Control) Desired(ctx context.Context, host string) (Desired, uint64, error) {
	var d Desired
	kv, err := c.KeyValue(ctx, DesiredBucket)
	if err != nil {
		return d, 0, err
	}
	e, err := kv.Get(ctx, host)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return d, 0, nil
	}
	if err != nil {
		return d, 0, err
	}
	if err := json.Unmarshal(e.Value(), &d); err != nil {
		return d, e.Revision(), fmt.Errorf("desired state of %s: %w", host, err)
	}
	return d, e.Revision(), nil
}

// ErrConflict means a desired state changed since it was read.
var ErrConflict = errors.New("changed since it was read (another apply?): run again")

// PutDesired writes host's desired state if its revision is still rev (0:
// it has none), and returns the new revision.
func (c *Control) PutDesired(ctx context.Context, host string, d Desired, rev uint64) (uint64, error) {
	kv, err := c.KeyValue(ctx, DesiredBucket)
	if err != nil {
		return 0, err
	}
	b, err := json.Marshal(d)
	if err != nil {
		return 0, err
	}
	var n uint64
	gctx, done := c.guard(ctx, kvSubject(DesiredBucket, host))
	if rev == 0 {
		n, err = kv.Create(gctx, host, b)
	} else {
		n, err = kv.Update(gctx, host, b, rev)
	}
	if err = done(err); err != nil && strings.Contains(strings.ToLower(err.Error()), "permissions violation") {
		return 0, fmt.Errorf("write the desired state of %s: this credential may not (a read-only one? tend hub creds makes an operator's): %w", host, err)
	}
	if errors.Is(err, jetstream.ErrKeyExists) {
		return 0, fmt.Errorf("desired state of %s %w", host, ErrConflict)
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence {
		return 0, fmt.Errorf("desired state of %s %w", host, ErrConflict)
	}
	return n, err
}

// EnsureBuckets creates the fleet's buckets where they are missing (an
// external NATS cluster; the embedded hub makes them itself).
func (c *Control) EnsureBuckets(ctx context.Context, replicas int) error {
	for _, b := range []string{StatusBucket, HeartbeatBucket, DesiredBucket} {
		if _, err := c.js.KeyValue(ctx, b); err != nil {
			return EnsureBuckets(ctx, c.js, replicas)
		}
	}
	if _, err := c.js.ObjectStore(ctx, ProfileBucket); err != nil {
		return EnsureBuckets(ctx, c.js, replicas)
	}
	return nil
}

// Transport is an http.RoundTripper that carries control API requests to
// host's agent, which serves them with its daemon's API: a client of the
// API (internal/client) drives a remote host as it drives the local one.
func (c *Control) Transport(host string) http.RoundTripper {
	return transport{c: c, host: host}
}

type transport struct {
	c    *Control
	host string
}

func (t transport) RoundTrip(r *http.Request) (*http.Response, error) {
	req := Request{Method: r.Method, Path: strings.TrimPrefix(r.URL.RequestURI(), api.Prefix)}
	if r.Body != nil {
		b, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return nil, err
		}
		req.Body = b
	}
	ctx := r.Context()
	if r.Method == http.MethodGet && following(req.Path) {
		return t.roundTripStream(ctx, req)
	}
	profile, stop := profilePath(req.Path)
	if profile && r.Method == http.MethodPost {
		return t.roundTripProfile(ctx, r, req)
	}
	data, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 10*time.Minute)
		defer cancel()
	}
	// Stopping a profile early changes nothing either.
	m, err := t.request(ctx, RequestSubject(t.host, r.Method != http.MethodGet && !stop), data)
	if err != nil {
		return nil, err
	}
	var rep Reply
	if err := json.Unmarshal(m.Data, &rep); err != nil {
		return nil, fmt.Errorf("host %s: bad answer: %w", t.host, err)
	}
	resp := response(rep, io.NopCloser(bytes.NewReader(rep.Body)))
	resp.ContentLength, resp.Request = int64(len(rep.Body)), r
	return resp, nil
}

// request sends a request to the host and waits for its answer, or for
// the server to refuse the credential the publish.
func (t transport) request(ctx context.Context, subj string, data []byte) (*nats.Msg, error) {
	ctx, done := t.c.guard(ctx, subj)
	m, err := t.c.nc.RequestWithContext(ctx, subj, data)
	err = done(err)
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return nil, fmt.Errorf("host %s does not answer: it is lost or its agent is not connected (tend hosts)", t.host)
	case err != nil && strings.Contains(strings.ToLower(err.Error()), "permissions violation"):
		return nil, fmt.Errorf("host %s: this credential may not do that (a read-only one?): %w", t.host, err)
	case err != nil:
		return nil, fmt.Errorf("host %s: %w", t.host, err)
	}
	return m, nil
}
