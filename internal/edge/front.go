// Package edge is the HTTP front of an app in proxy mode: it listens on the
// app's public port and sends each request to one of the app's instances,
// which listen on private loopback ports. On the way it applies the
// production checklist (issue 5): TLS with HTTP/2, compression, security
// headers, secure cookies, limits, access logs and static files, all set
// per app by Options and changeable while it runs (Front.Update).
//
// The front and its pool are here, one file per concern, as Caddy's
// reverse proxy has it: front.go is the front and its generations,
// listener.go the listener shared by the servers of successive settings,
// settings.go the Options compiled for serving, response.go the writer
// every response goes through, pool.go the instances and their counters,
// selection.go the balancing policies, proxy.go the proxy and its
// retries, limits.go, forwarded.go, accesslog.go, stats.go, loglimit.go
// and redirect.go one concern each. The rest are rooms of their own, which
// import nothing of the front (the arrows point from here to them):
//
//	edgeconf    the Options: types, defaults, decoding, validation (no runtime code)
//	h1          the HTTP/1 server and the framing guard of its connections
//	upstream    the HTTP/1.1 client to the instances
//	transform   compression, security headers, cookie flags
//	tlsstore    certificates, reloaded from disk or self-signed
//	ratelimit   rate_limits' token buckets
//	static      static files, under the front or alone (tend serve)
//	socket      socket mode, where tend is not in the data path, and its Node preload
//	rawconn     raw system calls on TCP connections, both sides
//	httpsyntax  the RFC 9110 grammar they share
package edge

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tendhq/tend/internal/edge/edgeconf"
	"github.com/tendhq/tend/internal/edge/h1"
	"github.com/tendhq/tend/internal/edge/ratelimit"
)

// Config is one app's front.
type Config struct {
	App          string // the app's name, for errors and logs
	Addr         string // public listen address, e.g. ":8080"
	Balance      Balance
	StickyCookie string // cookie name of Sticky (default "tend_sticky")

	// Options are the app's edge settings; their relative paths must have
	// been resolved (Options.Validate with the ecosystem file's directory).
	Options edgeconf.Options
	// StateDir keeps what the front makes once and reuses: the
	// self-signed certificate (e.g. $TEND_HOME/tls). "" keeps it in
	// memory only.
	StateDir string
	// AccessLog receives each access log line (without a newline) when
	// Options.AccessLog is json or combined. It is called from the
	// request's goroutine once the response is complete and must not
	// block; the line is the callee's to keep.
	AccessLog func(line []byte)

	// OnDown is called when connections to a backend fail and it leaves
	// selection; Add (or MarkUp) brings it back. It is called from a
	// request's goroutine and must not block.
	OnDown func(id string)
	Log    *slog.Logger // default: discard

	// Layers wrap the proxy, the first outermost, inside the edge's own
	// (limits, headers, compression): they see requests that reach an
	// instance.
	Layers []func(http.Handler) http.Handler

	// Listener, when set, is the public listener to serve instead of
	// binding Addr: one a previous daemon handed over (Front.Handover).
	Listener net.Listener

	now func() time.Time // tests: the clock of certificate checks, rate limits and logs
}

// DefaultStickyCookie is the name of the sticky cookie when the app sets none.
const DefaultStickyCookie = "tend_sticky"

func (c Config) withDefaults() Config {
	if c.StickyCookie == "" {
		c.StickyCookie = DefaultStickyCookie
	}
	if c.Log == nil {
		c.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c
}

// Front is a running front. Listen starts it; Close stops it and every
// goroutine it started.
type Front struct {
	app       string
	log       *slog.Logger
	acc       *acceptor
	pool      *pool
	up        *proxy
	handler   http.Handler // Layers around the proxy
	layered   bool         // there are Layers: requests carry their exchange in the context
	balMu     sync.Mutex   // serializes balance changes; guards cookie
	cookie    string       // the sticky cookie's name
	host      string       // of the listen address, for the redirect listener
	port      string       // the port listened on
	stateDir  string
	accessLog func([]byte)
	now       func() time.Time
	smuggling logLimiter // refusedFraming's lines
	h2log     logLimiter // the HTTP/2 servers' lines

	live atomic.Pointer[settings] // what a request starting now gets

	base      context.Context    // of every request
	cancel    context.CancelFunc // cancels every request: Close's last resort
	closing   chan struct{}      // closed when Close begins
	closeOnce sync.Once
	closeErr  error

	// mu serializes Update and Close, and guards the fields below.
	mu       sync.Mutex
	gen      *generation // the server taking new connections
	redirect *redirector // nil: no redirect listener
	shut     bool
	retiring sync.WaitGroup // servers shutting down after an Update

	// gate guards closed, so that no handler is counted once Close waits
	// for handlers: a WaitGroup must not grow from zero during Wait.
	gate     sync.RWMutex
	closed   bool
	handlers sync.WaitGroup // running handlers; upgraded ones outlive Shutdown
}

// generation is one server of the front, serving a view of the listener;
// an Update of server settings starts the next and retires it. Its
// HTTP/1 connections (plain, or TLS that chose http/1.1) go to the
// front's own server (internal/edge/h1), its HTTP/2 ones to net/http's.
type generation struct {
	h1      *h1.Server
	h2      *http.Server
	h2ln    *connListener
	view    *view
	idle    time.Duration
	served  chan struct{} // closed when both servers stopped serving
	retired atomic.Bool   // its connections close after their next response
}

// shutdown stops both servers taking requests and waits for those in
// flight, until ctx ends.
func (g *generation) shutdown(ctx context.Context) error {
	return errors.Join(g.h1.Shutdown(ctx), g.h2.Shutdown(ctx))
}

// close cuts both servers' connections off.
func (g *generation) close() {
	g.h1.Close()
	g.h2.Close()
}

// Listen binds cfg.Addr at once, so that a port in use is reported to the
// caller, and serves on it in goroutines of its own until Close. Options
// that are not valid, or a certificate that cannot be loaded, fail it
// before anything is bound.
func Listen(cfg Config) (*Front, error) {
	cfg = cfg.withDefaults()
	o := cfg.Options.Clone()
	if errs := o.Validate(""); len(errs) > 0 {
		return nil, fmt.Errorf("edge of %s: %w", cfg.App, edgeconf.JoinFieldErrors(errs))
	}
	bal, err := newBalancer(cfg.Balance, cfg.StickyCookie)
	if err != nil {
		return nil, fmt.Errorf("edge of %s: %w", cfg.App, err)
	}
	log := cfg.Log.With("app", cfg.App)
	f := &Front{
		app:       cfg.App,
		log:       log,
		pool:      newPool(),
		cookie:    cfg.StickyCookie,
		stateDir:  cfg.StateDir,
		accessLog: cfg.AccessLog,
		now:       cfg.now,
		closing:   make(chan struct{}),
	}
	f.up = &proxy{pool: f.pool, onDown: cfg.OnDown, log: log, app: cfg.App, now: cfg.now}
	f.up.balance.Store(bal)
	f.handler = http.HandlerFunc(f.proxy)
	f.layered = len(cfg.Layers) > 0
	for i := len(cfg.Layers) - 1; i >= 0; i-- {
		f.handler = cfg.Layers[i](f.handler)
	}
	s, err := compile(o, nil, f.env())
	if err != nil {
		return nil, fmt.Errorf("edge of %s: %w", cfg.App, err)
	}
	ln, err := cfg.Listener, error(nil)
	if ln == nil {
		ln, err = net.Listen("tcp", cfg.Addr)
	}
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return nil, fmt.Errorf("edge of %s: %s is already in use by another process: stop it or give the app another port: %w", cfg.App, cfg.Addr, err)
	case errors.Is(err, syscall.EACCES):
		return nil, fmt.Errorf("edge of %s: %s: ports below 1024 need root or CAP_NET_BIND_SERVICE: %w", cfg.App, cfg.Addr, err)
	case err != nil:
		return nil, fmt.Errorf("edge of %s: listen on %s: %w", cfg.App, cfg.Addr, err)
	}
	f.host, _, _ = net.SplitHostPort(cfg.Addr)
	_, f.port, _ = net.SplitHostPort(ln.Addr().String())
	if s.o.RedirectHTTP != 0 {
		if f.redirect, err = listenRedirect(f.host, s.o.RedirectHTTP, f.port, &s.o, log); err != nil {
			ln.Close()
			return nil, fmt.Errorf("edge of %s: %w", cfg.App, err)
		}
	}
	f.up.setSettings(s.upstream())
	f.base, f.cancel = context.WithCancel(context.Background())
	f.live.Store(s)
	f.acc = newAcceptor(ln, log, f.refusedFraming)
	f.acc.configure(s)
	f.gen = f.serveGeneration(s)
	return f, nil
}

func (f *Front) env() compileEnv {
	return compileEnv{stateDir: f.stateDir, now: f.now, log: f.log, next: f.handler}
}

// serveGeneration starts the servers of a generation with the server
// settings of s on a new view of the listener.
func (f *Front) serveGeneration(s *settings) *generation {
	g := &generation{served: make(chan struct{}), view: f.acc.view(), idle: s.o.IdleTimeout.D()}
	maxHeader := int64(s.o.MaxHeaderBytes)
	handler := func(w http.ResponseWriter, r *http.Request) {
		if h2HeadersTooLarge(w, r, maxHeader) {
			return
		}
		if g.retired.Load() {
			// Over HTTP/1 the connection closes after this response;
			// over HTTP/2 the server sends GOAWAY.
			w.Header().Set("Connection", "close")
		}
		f.serve(w, r)
	}
	g.h1 = h1.NewServer(f.base, s.server(), handler, f.log)
	g.h2ln = newConnListener(g.view.Addr())
	g.h2 = &http.Server{
		Handler:           http.HandlerFunc(handler),
		ReadHeaderTimeout: s.o.ReadHeaderTimeout.D(),
		IdleTimeout:       s.o.IdleTimeout.D(),
		MaxHeaderBytes:    h2HeaderBytes(s.o.MaxHeaderBytes),
		ErrorLog:          log.New(limitedLog{Log: f.log, Now: f.now, Lim: &f.h2log}, "", 0),
		BaseContext:       func(net.Listener) context.Context { return f.base },
	}
	h2served := make(chan struct{})
	go func() {
		defer close(h2served)
		if err := g.h2.Serve(g.h2ln); !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			f.log.Error("edge stopped serving HTTP/2", "addr", g.view.Addr(), "err", err)
		}
	}()
	go func() {
		defer close(g.served)
		defer func() { <-h2served }()
		defer g.h2ln.Close()
		for {
			c, err := g.view.Accept()
			if err != nil {
				return
			}
			if fc, ok := c.(*h1.Conn); ok {
				g.h1.Serve(fc)
			} else {
				g.h2ln.deliver(c)
			}
			f.acc.taken()
		}
	}()
	return g
}

// retire stops g taking connections and lets its connections end without
// a race: closing a keep-alive connection that is idle may cross a request
// the client is sending on it, so instead each one answers its next
// request with Connection: close, and those that stay idle end at their
// idle timeout, as they would have anyway. Past that timeout only requests
// in flight can be left, and Shutdown waits for them, until Close.
func (f *Front) retire(g *generation) {
	g.retired.Store(true)
	g.view.Close()
	f.retiring.Add(1)
	go func() {
		defer f.retiring.Done()
		t := time.NewTimer(g.idle)
		select {
		case <-t.C:
		case <-f.base.Done():
			t.Stop()
		}
		// Until Close cancels f.base: then what is left is cut off.
		if err := g.shutdown(f.base); err != nil {
			g.close()
		}
		<-g.served
	}()
}

// refusedFraming logs a request refused for carrying both Content-Length
// and Transfer-Encoding, at most once per loglimit.Every.
func (f *Front) refusedFraming(c net.Conn) {
	if ok, suppressed := f.smuggling.Allow(f.now()); ok {
		f.log.Warn("refused a request with both Content-Length and Transfer-Encoding (request smuggling?)", "client", c.RemoteAddr(), "suppressed", suppressed)
	}
}

// Addr is the address the front listens on (with the port chosen when
// Config.Addr asked for port 0).
func (f *Front) Addr() net.Addr { return f.acc.ln.Addr() }

// serve counts the handler so that Close can wait for it, and runs the
// request through the edge.
func (f *Front) serve(w http.ResponseWriter, r *http.Request) {
	f.gate.RLock()
	if f.closed {
		f.gate.RUnlock()
		w.Header().Set("Retry-After", "1")
		w.Header().Set("Connection", "close")
		http.Error(w, "503 Service Unavailable: "+f.app+" is shutting down", http.StatusServiceUnavailable)
		return
	}
	f.handlers.Add(1)
	f.gate.RUnlock()
	defer f.handlers.Done()

	s := f.live.Load()
	ex := &exchange{start: f.now(), s: s}
	// The edge's handlers find ex on their writer (exchangeFor); behind
	// Layers, which may wrap it, they find it in the context. A copy of
	// r, as WithContext makes, costs an allocation: only when needed.
	var st *tls.ConnectionState
	if fc := h1.ConnOf(r.Context()); fc != nil {
		if r.TLS == nil {
			st = fc.TLS() // HTTP/1 over TLS: the server saw a h1.Conn
		}
		if !f.layered {
			// A Layer may give the request a context of its own, with a
			// deadline, say: then the proxy watches that context.
			ex.fc = fc
		}
	}
	if f.layered {
		r = r.WithContext(context.WithValue(r.Context(), exchangeKey{}, ex))
	} else if st != nil {
		r = r.WithContext(r.Context())
	}
	if st != nil {
		r.TLS = st
	}
	ex.client, ex.trusted = clientOf(s.trusted, r)
	ex.secure = r.TLS != nil || ex.trusted && strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
	rw := newResponse(w, r, ex)
	completed := false
	defer func() {
		if completed {
			rw.finish()
		}
		// A handler that panicked (the proxy does, with
		// http.ErrAbortHandler, when an instance dies mid-response) has
		// a broken response: the server closes the connection, and the
		// encoder is left to the garbage collector.
		now := f.now()
		if b := ex.answered; b != nil && (s.o.Metrics == nil || *s.o.Metrics) {
			b.traffic.observe(rw.status, r.ContentLength, rw.bytes, now.Sub(ex.start), ex.retries, now)
		}
		if s.o.AccessLog != edgeconf.AccessLogOff && f.accessLog != nil {
			f.accessLog(accessLine(s.o.AccessLog, ex, r, rw.status, rw.bytes, now))
		}
		rw.release()
	}()
	f.handle(w, rw, r, s, ex)
	completed = true
}

// handle applies the request side of the edge, then serves r from static
// files or the app. w is the server's writer, rw the edge's around it.
func (f *Front) handle(w, rw http.ResponseWriter, r *http.Request, s *settings, ex *exchange) {
	if ok, wait := s.limiter.Allow(r, ex.client, ex.start); !ok {
		rw.Header().Set("Retry-After", strconv.Itoa(ratelimit.RetryAfter(wait)))
		http.Error(rw, "429 Too Many Requests: slow down, and try again after Retry-After seconds", http.StatusTooManyRequests)
		return
	}
	timeBody(w, r, s.o.BodyTimeout.D())
	if !limitBody(w, rw, r, int64(s.o.MaxBody)) {
		return
	}
	if s.static != nil && s.static.Match(r) {
		s.static.ServeHTTP(rw, r)
		return
	}
	f.handler.ServeHTTP(rw, r)
}

// proxy sends r to an instance. A request that did not come through
// serve (a layer that calls the handler itself) gets an exchange here.
func (f *Front) proxy(w http.ResponseWriter, r *http.Request) {
	ex := exchangeFor(w, r)
	if ex == nil {
		ex = &exchange{s: f.live.Load()}
	}
	f.up.serve(w, r, ex)
}

// Update changes the front's settings while it runs: no connection is
// refused and no instance restarts. Invalid options, a certificate that
// cannot be loaded or a redirect port in use change nothing. Requests in
// flight finish with the settings they started with. A change of
// read_header_timeout, idle_timeout or max_header_bytes starts a new
// server on the same listener for new connections (see retire for the
// old ones); a change of the instance timeouts applies to the requests
// that start after it, and idle connections to the instances are closed.
func (f *Front) Update(o edgeconf.Options) error {
	o = o.Clone()
	if errs := o.Validate(""); len(errs) > 0 {
		return fmt.Errorf("edge of %s: %w", f.app, edgeconf.JoinFieldErrors(errs))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.shut {
		return fmt.Errorf("edge of %s: the front is closed", f.app)
	}
	prev := f.live.Load()
	s, err := compile(o, prev, f.env())
	if err != nil {
		return fmt.Errorf("edge of %s: %w", f.app, err)
	}
	rd := f.redirect
	if s.o.RedirectHTTP != prev.o.RedirectHTTP {
		rd = nil
		if s.o.RedirectHTTP != 0 {
			if rd, err = listenRedirect(f.host, s.o.RedirectHTTP, f.port, &s.o, f.log); err != nil {
				return fmt.Errorf("edge of %s: %w", f.app, err)
			}
		}
	}
	// Nothing fails from here on.
	f.live.Store(s)
	f.acc.configure(s)
	if s.upstream() != prev.upstream() {
		f.up.setSettings(s.upstream())
	}
	if s.server() != prev.server() {
		old := f.gen
		f.gen = f.serveGeneration(s)
		f.retire(old)
	}
	if rd != f.redirect {
		f.redirect.close()
		f.redirect = rd
	}
	return nil
}

// Options are the settings the front serves with now, defaults filled in.
func (f *Front) Options() edgeconf.Options { return f.live.Load().o.Clone() }

// TLSError is why the certificate files on disk are not the certificate
// served (they changed but do not load as a pair), or nil.
func (f *Front) TLSError() error { return f.live.Load().certs.Err() }

// Add puts a ready backend in the pool. Adding an ID already there marks
// it up again (with a new address, it replaces the old one).
func (f *Front) Add(b Backend) { f.pool.add(b) }

// Remove takes a backend out of the pool, up or down: no new request goes
// to it; those in flight finish. Unknown IDs are ignored.
func (f *Front) Remove(id string) { f.pool.remove(id) }

// Drain waits until the removed backend id has no request in flight, or
// until ctx ends: an open WebSocket may never end on its own.
func (f *Front) Drain(ctx context.Context, id string) error { return f.pool.drain(ctx, id) }

// MarkDown takes a backend out of selection without removing it, as a
// failed connection does (without calling OnDown).
func (f *Front) MarkDown(id string) {
	if b := f.pool.member(id); b != nil {
		f.pool.setDown(b, true)
	}
}

// MarkUp puts a backend that was down back into selection.
func (f *Front) MarkUp(id string) {
	if b := f.pool.member(id); b != nil {
		f.pool.setDown(b, false)
	}
}

// Backends reports every backend in the pool, then the removed ones still
// draining.
func (f *Front) Backends() []BackendStats { return f.pool.stats() }

// SetBalance changes the balancing policy; requests already routed are
// not moved.
func (f *Front) SetBalance(b Balance) error {
	f.balMu.Lock()
	defer f.balMu.Unlock()
	return f.setBalance(b, f.cookie)
}

// SetBalancing changes the balancing policy and the name of the sticky
// cookie ("" is the default name) together, from the next request: a
// client holding a cookie of the old name is placed afresh, once.
func (f *Front) SetBalancing(b Balance, cookie string) error {
	if cookie == "" {
		cookie = DefaultStickyCookie
	}
	f.balMu.Lock()
	defer f.balMu.Unlock()
	if err := f.setBalance(b, cookie); err != nil {
		return err
	}
	f.cookie = cookie
	return nil
}

func (f *Front) setBalance(b Balance, cookie string) error {
	bal, err := newBalancer(b, cookie)
	if err != nil {
		return fmt.Errorf("edge of %s: %w", f.app, err)
	}
	f.up.balance.Store(bal)
	return nil
}

// Close stops accepting connections, lets the requests in flight finish
// until ctx ends, then cuts off what is left, and closes the idle
// connections to the instances. Every goroutine of the front has returned
// when it does. Later calls return the first call's result.
func (f *Front) Close(ctx context.Context) error {
	f.closeOnce.Do(func() { f.closeErr = f.close(ctx) })
	return f.closeErr
}

func (f *Front) close(ctx context.Context) error {
	close(f.closing)
	f.mu.Lock()
	f.shut = true
	g, rd := f.gen, f.redirect
	f.mu.Unlock()
	f.acc.Close()
	rd.close()
	// Shutdown waits for requests but not for upgraded connections, which
	// it no longer tracks; the handlers WaitGroup covers both.
	err := g.shutdown(ctx)
	f.gate.Lock()
	f.closed = true
	f.gate.Unlock()
	done := make(chan struct{})
	go func() { f.handlers.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	// Past ctx, cut off what is left: cancelling the base context aborts
	// upstream requests and closes upgraded connections; srv.Close closes
	// the client connections.
	f.cancel()
	g.close()
	<-done
	<-g.served
	f.retiring.Wait()
	f.up.closeIdle()
	if err != nil {
		return fmt.Errorf("close edge of %s: requests still in flight were cut off: %w", f.app, err)
	}
	return nil
}
