// Package edge is the HTTP front of an app in proxy mode: it listens on the
// app's public port and sends each request to one of the app's instances,
// which listen on private loopback ports.
//
// One file per concern, as Caddy's reverse proxy has it: front.go is the
// listener and its lifecycle, pool.go the instances and their counters,
// selection.go the balancing policies, upstream.go the proxy and its
// retries, socket.go socket mode (where tend is not in the data path).
// Issue 5's TLS, compression, headers and limits come as Config.Layers
// around the proxy and a TLS listener here.
package edge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"
)

// Config is one app's front.
type Config struct {
	App          string // the app's name, for errors and logs
	Addr         string // public listen address, e.g. ":8080"
	Balance      Balance
	StickyCookie string // cookie name of Sticky (default "tend_sticky")

	// OnDown is called when connections to a backend fail and it leaves
	// selection; Add (or MarkUp) brings it back. It is called from a
	// request's goroutine and must not block.
	OnDown func(id string)
	Log    *slog.Logger // default: discard

	// Layers wrap the proxy, the first outermost. Issue 5's compression,
	// security headers, cookie flags and limits are layers.
	Layers []func(http.Handler) http.Handler

	// Client side.
	ReadHeaderTimeout time.Duration // default 10s: slowloris
	IdleTimeout       time.Duration // default 60s between keep-alive requests
	// Instance side.
	DialTimeout time.Duration // default 2s
	// UpstreamIdleTimeout (default 4s) closes pooled connections before
	// Node's 5s keep-alive does, so a request is never sent on a
	// connection the app is closing.
	UpstreamIdleTimeout   time.Duration
	ResponseHeaderTimeout time.Duration // default none: long polls are legitimate
}

func (c Config) withDefaults() Config {
	if c.StickyCookie == "" {
		c.StickyCookie = "tend_sticky"
	}
	if c.Log == nil {
		c.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.ReadHeaderTimeout, 10*time.Second)
	def(&c.IdleTimeout, 60*time.Second)
	def(&c.DialTimeout, 2*time.Second)
	def(&c.UpstreamIdleTimeout, 4*time.Second)
	return c
}

// Front is a running front. Listen starts it; Close stops it and every
// goroutine it started.
type Front struct {
	app     string
	ln      net.Listener
	srv     *http.Server
	pool    *pool
	up      *upstream
	handler http.Handler // Layers around the proxy
	cookie  string

	cancel    context.CancelFunc // cancels every request: Close's last resort
	served    chan struct{}      // closed when Serve has returned
	closing   chan struct{}      // closed when Close begins
	closeOnce sync.Once
	closeErr  error

	// gate guards closed, so that no handler is counted once Close waits
	// for handlers: a WaitGroup must not grow from zero during Wait.
	gate     sync.RWMutex
	closed   bool
	handlers sync.WaitGroup // running handlers; upgraded ones outlive Shutdown
}

// Listen binds cfg.Addr at once, so that a port in use is reported to the
// caller, and serves on it in a goroutine of its own until Close.
func Listen(cfg Config) (*Front, error) {
	cfg = cfg.withDefaults()
	bal, err := newBalancer(cfg.Balance, cfg.StickyCookie)
	if err != nil {
		return nil, fmt.Errorf("edge of %s: %w", cfg.App, err)
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return nil, fmt.Errorf("edge of %s: %s is already in use by another process: stop it or give the app another port: %w", cfg.App, cfg.Addr, err)
	case errors.Is(err, syscall.EACCES):
		return nil, fmt.Errorf("edge of %s: %s: ports below 1024 need root or CAP_NET_BIND_SERVICE: %w", cfg.App, cfg.Addr, err)
	case err != nil:
		return nil, fmt.Errorf("edge of %s: listen on %s: %w", cfg.App, cfg.Addr, err)
	}
	log := cfg.Log.With("app", cfg.App)
	f := &Front{
		app:     cfg.App,
		ln:      ln,
		pool:    newPool(),
		cookie:  cfg.StickyCookie,
		served:  make(chan struct{}),
		closing: make(chan struct{}),
	}
	f.up = &upstream{pool: f.pool, transport: newTransport(cfg), onDown: cfg.OnDown, log: log}
	f.up.balance.Store(bal)
	f.handler = http.HandlerFunc(f.proxy(newProxy(f.up, cfg.App, log)))
	for i := len(cfg.Layers) - 1; i >= 0; i-- {
		f.handler = cfg.Layers[i](f.handler)
	}
	base, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	f.srv = &http.Server{
		Handler:           http.HandlerFunc(f.serve),
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return base },
	}
	go func() {
		defer close(f.served)
		if err := f.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			log.Error("edge stopped serving", "addr", ln.Addr(), "err", err)
		}
	}()
	return f, nil
}

// Addr is the address the front listens on (with the port chosen when
// Config.Addr asked for port 0).
func (f *Front) Addr() net.Addr { return f.ln.Addr() }

// serve counts the handler so that Close can wait for it.
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
	f.handler.ServeHTTP(w, r)
}

// proxy wraps the ReverseProxy so that the backend that answered is
// counted in flight until the response, or the upgraded connection, ends.
func (f *Front) proxy(rp http.Handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		att := &attempt{}
		defer att.release()
		rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), attemptKey{}, att)))
	}
}

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
	bal, err := newBalancer(b, f.cookie)
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
	// Shutdown waits for requests but not for upgraded connections, which
	// it no longer tracks; the handlers WaitGroup covers both.
	err := f.srv.Shutdown(ctx)
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
	f.srv.Close()
	<-done
	<-f.served
	f.up.transport.CloseIdleConnections()
	if err != nil {
		return fmt.Errorf("close edge of %s: requests still in flight were cut off: %w", f.app, err)
	}
	return nil
}
