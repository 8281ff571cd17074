// Package dashboard is tend's web console, served by the daemon: an
// overview of every app, a page per app with its instances, charts,
// events and crashes, a live log tail, actions (restart, reload, scale,
// stop, start, profiles) and doctor's checks.
//
// It is a client of the daemon's own sources, called in process: the
// control API's handler for what the CLI can do (describe, actions,
// profiles), the app snapshot for the figures, the event bus and the log
// hub for what is live. It keeps an hour of each app's figures in rings
// (history.go) while it is enabled, and serves one server-sent-event
// stream per open page (stream.go).
//
// Security: on loopback it serves plain HTTP (browsers treat
// http://127.0.0.1 as a secure context); beyond loopback only TLS, with
// the remote API's certificate or the self-signed one. A session comes
// from a one-time login link (`tend dashboard`) or a token of the remote
// token store typed into the login page; a read-only token gets a session
// that changes nothing. Every change is a POST with this dashboard's
// Origin and the session's CSRF token; pages carry a strict CSP.
package dashboard

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/doctor"
	"github.com/tendhq/tend/internal/events"
	"github.com/tendhq/tend/internal/logs"
	"github.com/tendhq/tend/internal/remote"
)

// Alert is one alert as the overview lists it.
type Alert struct {
	Time     time.Time `json:"time"`
	App      string    `json:"app,omitempty"`
	Kind     string    `json:"kind"`
	Message  string    `json:"message"`
	Resolved bool      `json:"resolved,omitempty"`
}

// Alerts is where the overview's "recent alerts" come from (the alerting
// of daemon.yaml's alerts:); nil when alerts are not configured.
type Alerts interface {
	Recent() []Alert
}

// Config is what a dashboard serves from.
type Config struct {
	Home string
	// API is the daemon's control API (paths under api.Prefix), called in
	// process for describe, actions and profiles.
	API http.Handler
	// Apps returns every app's status without events: the figures.
	Apps   func() []api.App
	Events *events.Bus
	Logs   *logs.Hub
	// Tokens are the remote API's tokens, which log in beyond the link.
	Tokens *remote.Store
	// Interval is how often figures are recorded (the metrics interval).
	Interval time.Duration
	Log      *slog.Logger
	Alerts   Alerts
	// Doctor runs doctor's checks on an app (a target as the API takes
	// it); nil hides them.
	Doctor func(ctx context.Context, target string) ([]doctor.Result, error)
	// CertFile and KeyFile are the TLS certificate beyond loopback (the
	// remote API's remote_cert and remote_key); both empty: self-signed.
	CertFile, KeyFile string
	// Hosts lists the fleet's hosts for the Hosts page, when this daemon
	// runs the fleet's hub; nil: the page says FleetNote, or that there
	// is no fleet.
	Hosts func(ctx context.Context) ([]HostView, error)
	// FleetNote is what the Hosts page says when Hosts is nil and the
	// daemon is in a fleet all the same (an agent only).
	FleetNote string
	Version   string
	Now       func() time.Time // time.Now when nil
	// Listener and Resume are what the daemon before an update in place
	// handed over (Server.Handover): its listening socket, served instead
	// of listening on addr (the caller checks it listens there), and its
	// sessions and history.
	Listener net.Listener
	Resume   *Handed
}

// Server is a running dashboard. Start starts it; Close stops it and
// every goroutine it started.
type Server struct {
	cfg   Config
	sess  *sessions
	guard *remote.Guard
	hist  *history
	bc    *broadcaster
	base  string // the URL it serves at, without a path

	srv         *http.Server
	rawLn       net.Listener // the listening socket, under its TLS layer
	served      chan struct{}
	poke        chan struct{} // capacity 1: refresh the pages now
	stopCollect func()
	endStreams  context.CancelFunc
}

// Loopback says whether addr's host is a loopback address (or localhost).
func Loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Start listens on addr and serves the dashboard. Beyond loopback it
// serves TLS only, and a certificate that cannot be had refuses the start.
// cfg.Listener, when set, is Start's: served, or closed.
func Start(addr string, cfg Config) (*Server, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	var tlsCfg *tls.Config
	if !Loopback(addr) {
		c, _, err := remote.ServerTLS(cfg.Home, cfg.CertFile, cfg.KeyFile, cfg.Log)
		if err != nil {
			if cfg.Listener != nil {
				cfg.Listener.Close() // its clients are refused, not left waiting
			}
			return nil, fmt.Errorf("dashboard on %s is served over TLS only, beyond loopback: %w (daemon.yaml: remote_cert, remote_key)", addr, err)
		}
		tlsCfg = c
	}
	ln := cfg.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", addr); err != nil {
			return nil, fmt.Errorf("dashboard: listen on %s: %w (set another dashboard_addr in daemon.yaml)", addr, err)
		}
	}
	s := &Server{
		cfg:    cfg,
		sess:   newSessions(cfg.Now),
		guard:  &remote.Guard{Tokens: cfg.Tokens, Now: cfg.Now},
		hist:   newHistory(cfg.Interval),
		bc:     newBroadcaster(),
		served: make(chan struct{}),
		poke:   make(chan struct{}, 1),
	}
	if cfg.Tokens != nil {
		s.sess.tokenLive = cfg.Tokens.Has
	}
	s.rawLn = ln
	if cfg.Resume != nil {
		if err := s.resume(cfg.Resume); err != nil {
			cfg.Log.Warn("dashboard: the hand-over taken up in part", "err", err)
		}
	}
	scheme := "http"
	if tlsCfg != nil {
		scheme = "https"
		ln = tls.NewListener(ln, tlsCfg)
	}
	s.base = scheme + "://" + publicHost(ln.Addr().(*net.TCPAddr))
	streams, end := context.WithCancel(context.Background())
	s.endStreams = end
	s.srv = &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return streams },
		ErrorLog:          slog.NewLogLogger(cfg.Log.Handler(), slog.LevelDebug),
	}
	go func() {
		defer close(s.served)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			cfg.Log.Error("dashboard stopped serving", "err", err)
		}
	}()
	collectCtx, stopCollect := context.WithCancel(context.Background())
	collected := make(chan struct{})
	go func() {
		defer close(collected)
		s.collect(collectCtx)
	}()
	s.stopCollect = func() { stopCollect(); <-collected }
	cfg.Log.Info("dashboard serving", "url", s.base)
	return s, nil
}

// publicHost is the host:port a browser reaches a listener at: the
// machine's name for a wildcard address.
func publicHost(a *net.TCPAddr) string {
	host := a.IP.String()
	if a.IP.IsUnspecified() {
		host, _ = os.Hostname()
	}
	return net.JoinHostPort(host, strconv.Itoa(a.Port))
}

// URL is where the dashboard is served.
func (s *Server) URL() string { return s.base }

// LoginLink returns a link that logs a browser in once, within LinkTTL,
// with an operator session: it is given to whoever may use the unix
// socket, who may do everything anyway.
func (s *Server) LoginLink() string {
	return s.base + "/login?nonce=" + url.QueryEscape(s.sess.newLink())
}

// Close stops serving: the streams end, requests in flight get a few
// seconds, and the collector stops.
func (s *Server) Close() {
	s.endStreams()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_ = s.srv.Shutdown(ctx)
	_ = s.srv.Close()
	<-s.served
	s.stopCollect()
}

// collect records every app's figures each interval and hands the pages
// their updates, until ctx is done. Start runs it; Close stops it.
func (s *Server) collect(ctx context.Context) {
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	var last time.Time
	for {
		apps := s.cfg.Apps()
		now := s.cfg.Now()
		hosts, hostsErr := s.hosts(ctx)
		s.bc.publish(tick{raw: apps, apps: s.hist.record(now, apps), alerts: s.alerts(), hosts: hosts, hostsErr: hostsErr})
		last = now
	wait:
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.poke:
			// A process came or went: the pages hear of it now, not at
			// the next tick; at most a few times a second.
			now := s.cfg.Now()
			if now.Sub(last) < minRefresh {
				goto wait
			}
			apps := s.cfg.Apps()
			// The fleet's hosts are not this daemon's processes: the
			// last tick's stand.
			prev := s.bc.latest()
			s.bc.publish(tick{raw: apps, apps: s.hist.current(apps), alerts: s.alerts(), hosts: prev.hosts, hostsErr: prev.hostsErr})
			last = now
			goto wait
		}
	}
}

// minRefresh is the least time between two updates of the pages.
const minRefresh = 200 * time.Millisecond

// refresh asks the collector for an update of the pages out of turn.
func (s *Server) refresh() {
	select {
	case s.poke <- struct{}{}:
	default:
	}
}

func (s *Server) alerts() []Alert {
	if s.cfg.Alerts == nil {
		return nil
	}
	return s.cfg.Alerts.Recent()
}

// broadcaster hands each tick's overview to the open streams. A stream
// that has not taken the last one loses it (counted): a slow browser
// never slows the collector.
type broadcaster struct {
	mu   sync.Mutex // guards subs and last
	subs map[*subscriber]struct{}
	last tick
}

// tick is one interval's figures.
type tick struct {
	raw    []api.App // every app's status, for the app pages
	apps   []Summary
	alerts []Alert
	// hosts are the fleet's hosts (nil without a fleet view), hostsErr
	// why they could not be read.
	hosts    []HostView
	hostsErr string
}

type subscriber struct {
	ch      chan tick
	dropped int64 // ticks lost; guarded by broadcaster.mu
}

func newBroadcaster() *broadcaster { return &broadcaster{subs: map[*subscriber]struct{}{}} }

func (b *broadcaster) publish(t tick) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.last = t
	for s := range b.subs {
		select {
		case s.ch <- b.last:
		default:
			s.dropped++
		}
	}
}

// subscribe returns a subscriber and the latest tick.
func (b *broadcaster) subscribe() (*subscriber, tick) {
	s := &subscriber{ch: make(chan tick, 1)}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.subs[s] = struct{}{}
	return s, b.last
}

func (b *broadcaster) unsubscribe(s *subscriber) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.subs, s)
}

func (b *broadcaster) droppedOf(s *subscriber) int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return s.dropped
}

func (b *broadcaster) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs)
}

func (b *broadcaster) latest() tick {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.last
}
