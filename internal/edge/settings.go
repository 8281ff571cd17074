package edge

import (
	"crypto/tls"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/tendhq/tend/internal/edge/edgeconf"
	"github.com/tendhq/tend/internal/edge/h1"
	"github.com/tendhq/tend/internal/edge/ratelimit"
	"github.com/tendhq/tend/internal/edge/static"
	"github.com/tendhq/tend/internal/edge/tlsstore"
	"github.com/tendhq/tend/internal/edge/transform"
)

// settings are Options compiled for serving. They are immutable once
// built: Update swaps them whole, and a request keeps the settings it
// started with.
type settings struct {
	o        edgeconf.Options // with the defaults filled in
	headers  *transform.HeaderPolicy
	cookies  *transform.CookiePolicy
	compress bool
	trusted  []netip.Prefix
	limiter  *ratelimit.Limiter // nil: no rate limits
	static   *static.Server     // nil: no static files
	certs    *tlsstore.Store    // nil: plain HTTP
	tls      *tls.Config        // nil: plain HTTP
}

// compileEnv is what compiling needs from the front.
type compileEnv struct {
	stateDir string
	now      func() time.Time
	log      *slog.Logger
	next     http.Handler // the proxy, behind static files
}

// compile builds settings from validated options. What has not changed
// since prev (the certificate, the rate limits' buckets) is kept. It
// fails only when a certificate cannot be loaded or made.
func compile(o edgeconf.Options, prev *settings, env compileEnv) (*settings, error) {
	o = o.Clone().WithDefaults()
	s := &settings{
		o:        o,
		headers:  transform.NewHeaderPolicy(&o),
		cookies:  transform.NewCookiePolicy(&o),
		compress: o.CompressionOn(),
	}
	for _, p := range o.TrustedProxies {
		if pf, err := edgeconf.ParsePrefix(p); err == nil {
			s.trusted = append(s.trusted, pf)
		}
	}
	if prev != nil && prev.limiter.SameRules(o.RateLimits) {
		s.limiter = prev.limiter
	} else {
		s.limiter = ratelimit.New(o.RateLimits)
	}
	if o.Static != nil {
		s.static = static.New(*o.Static, env.next, markStatic)
	}
	if !o.TLSOn() {
		return s, nil
	}
	if prev != nil && prev.certs != nil && *prev.o.TLS == *o.TLS {
		s.certs, s.tls = prev.certs, prev.tls
		return s, nil
	}
	var err error
	if o.TLS.SelfSigned {
		s.certs, err = tlsstore.SelfSigned(env.stateDir, env.now, env.log)
	} else {
		s.certs, err = tlsstore.Load(o.TLS.Cert, o.TLS.Key, env.now, env.log)
	}
	if err != nil {
		return nil, err
	}
	s.tls = tlsstore.NewConfig(s.certs)
	return s, nil
}

// server is the settings an HTTP/1 server holds: changing them takes a
// new server (on the same listener).
func (s *settings) server() h1.Settings {
	return h1.Settings{ReadHeader: s.o.ReadHeaderTimeout.D(), Idle: s.o.IdleTimeout.D(), MaxHeader: int64(s.o.MaxHeaderBytes), Body: s.o.BodyTimeout.D()}
}

// upstreamSettings are the settings of the client to the instances.
type upstreamSettings struct {
	dial, responseHeader, idle time.Duration
}

func (s *settings) upstream() upstreamSettings {
	return upstreamSettings{s.o.DialTimeout.D(), s.o.ResponseHeaderTimeout.D(), s.o.UpstreamIdleTimeout.D()}
}

// markStatic records a response of the static files as theirs, for the
// access log and the counters.
func markStatic(w http.ResponseWriter, r *http.Request) {
	if ex := exchangeFor(w, r); ex != nil {
		ex.instance = "static"
	}
}
