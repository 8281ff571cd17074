package daemon

// The remote control API: the same /v1 routes as the unix socket, served
// on remote_addr over TLS only, each request authorised by a bearer token
// (internal/remote: the token store, the guard, the route table). A plain
// HTTP request to that port gets Go's TLS server's answer, a 400 "client
// sent an HTTP request to an HTTPS server", and nothing of the API.
//
// An update hands the listening socket over as it does the unix socket's:
// the new program serves it from the first request, and a connection made
// meanwhile waits in the backlog. A new daemon.yaml whose remote_addr
// differs (or is gone) closes it and binds the new address.

import (
	"errors"
	"fmt"
	"log"
	"maps"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/loglimit"
	"github.com/tendhq/tend/internal/remote"
)

// errLocalOnly refuses a route the table keeps to the unix socket.
var errLocalOnly = errors.New("this is not served beyond the unix socket (token management, update, kill): run it on the daemon's host")

// serveRemote serves the control API on addr over TLS (the certificate
// of cert and key, or the self-signed one of TEND_HOME/remote) until
// stop, which ends the streams and waits for the server.
func (d *Daemon) serveRemote(addr, cert, key string) (stop func(), err error) {
	cfg, certs, err := remote.ServerTLS(d.home, cert, key, d.log)
	if err != nil {
		return nil, fmt.Errorf("remote_addr: %w", err)
	}
	tokens, err := remote.Open(d.home)
	if err != nil {
		return nil, fmt.Errorf("remote_addr: %w", err)
	}
	ln := d.up.remote // handed over by the program before an update
	d.up.remote = nil
	if ln != nil && !sameAddr(ln.Addr(), addr) {
		d.log.Info("remote_addr changed: the inherited listener is closed", "was", ln.Addr().String(), "now", addr)
		ln.Close()
		ln = nil
	}
	if ln == nil {
		if ln, err = net.Listen("tcp", addr); err != nil {
			return nil, fmt.Errorf("remote_addr %s: %w", addr, err)
		}
	}
	now := time.Now
	var handshakes loglimit.Limiter
	srv := &http.Server{
		Handler:           d.remoteHandler(&remote.Guard{Tokens: tokens}, d.apiHandler()),
		TLSConfig:         cfg,
		ReadHeaderTimeout: 10 * time.Second, // also the TLS handshake's
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          log.New(loglimit.Writer{Log: d.log.With("listener", "remote"), Now: now, Lim: &handshakes}, "", 0),
	}
	errc, endStreams, served := d.remote.start(srv, ln, true)
	fp := ""
	if c := certs.Certificate(); c != nil && c.Leaf != nil {
		fp = remote.Fingerprint(c.Leaf.Raw)
	}
	d.log.Info("remote control API serving", "addr", ln.Addr().String(), "fingerprint", fp)
	return func() {
		endStreams() // the apps are down: nothing remains worth waiting for
		d.remote.mu.Lock()
		d.remote.srv = nil
		d.remote.mu.Unlock()
		_ = srv.Close()
		<-served
		if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("remote control API", "err", err)
		}
	}, nil
}

// remoteOn says whether the remote API is being served.
func (d *Daemon) remoteOn() bool {
	d.remote.mu.Lock()
	defer d.remote.mu.Unlock()
	return d.remote.srv != nil
}

// sameAddr says whether ln, an inherited listener, listens where addr
// (host:port, as daemon.yaml gives it) asks.
func sameAddr(ln net.Addr, addr string) bool {
	have, ok := ln.(*net.TCPAddr)
	if !ok {
		return false
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if p, err := strconv.Atoi(port); err != nil || p != have.Port {
		return false
	}
	if host == "" {
		return have.IP.IsUnspecified()
	}
	ip := net.ParseIP(host)
	if ip == nil {
		ips, err := net.LookupIP(host)
		if err != nil || len(ips) == 0 {
			return false
		}
		ip = ips[0]
	}
	return ip.Equal(have.IP) || ip.IsUnspecified() && have.IP.IsUnspecified()
}

// remoteHandler authorises every request before next sees it: a token,
// one that may do what the route needs (remote.Classify), and never a
// local-only route. Refusals are logged at most once per
// loglimit.Every; a served request is logged at debug with its token's
// name.
func (d *Daemon) remoteHandler(g *remote.Guard, next http.Handler) http.Handler {
	var refusals loglimit.Limiter
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		access := remote.Classify(r)
		tok, err := g.Check(r, access != remote.Read)
		code := remote.Status(err)
		if err == nil && access == remote.Never {
			err, code = errLocalOnly, http.StatusForbidden
		}
		if err != nil {
			if ok, suppressed := refusals.Allow(time.Now()); ok {
				d.log.Warn("remote request refused", "addr", r.RemoteAddr, "method", r.Method, "path", r.URL.Path,
					"token", tok.Name, "status", code, "err", err, "suppressed", suppressed)
			}
			switch code {
			case http.StatusUnauthorized:
				w.Header().Set("WWW-Authenticate", `Bearer realm="tend"`)
			case http.StatusTooManyRequests:
				w.Header().Set("Retry-After", strconv.Itoa(int(remote.FailWindow.Seconds())))
			}
			writeJSON(w, code, api.Error{Error: err.Error()})
			return
		}
		d.log.Debug("remote request", "token", tok.Name, "scope", string(tok.Scope), "method", r.Method, "path", r.URL.Path, "addr", r.RemoteAddr)
		next.ServeHTTP(w, r.WithContext(remote.WithToken(r.Context(), tok)))
	})
}

// fromRemote says whether r came from beyond the unix socket.
func fromRemote(r *http.Request) bool {
	_, ok := remote.TokenFrom(r.Context())
	return ok
}

// readOnly says whether r came with a read-only token.
func readOnly(r *http.Request) bool {
	t, ok := remote.TokenFrom(r.Context())
	return ok && !t.CanChange()
}

// callerEnv is the environment apps of a request inherit: the caller's
// as it sent it, or, for a remote caller (whose environment is its own
// host's, and is not sent), the daemon's own.
func callerEnv(r *http.Request, sent map[string]string) map[string]string {
	if sent != nil || !fromRemote(r) {
		return sent
	}
	m := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok && !strings.HasPrefix(k, "TEND_") {
			m[k] = v
		}
	}
	return m
}

// hiddenValue replaces the values of an app's environment for a
// read-only token: they are the app's secrets.
const hiddenValue = "(hidden: needs an operator token)"

// hideEnv hides the environment values of the apps' settings.
func hideEnv(apps []api.App) {
	for i := range apps {
		if s := apps[i].Spec; s != nil && len(s.Env) > 0 {
			c := *s
			c.Env = maps.Clone(s.Env)
			for k := range c.Env {
				c.Env[k] = hiddenValue
			}
			apps[i].Spec = &c
		}
	}
}
