// Package edgeconf is the configuration of an app's edge: the Options of
// its `edge:` block, their defaults, their decoding from an ecosystem file
// and their validation. It holds no runtime code (no listeners, no
// goroutines, no servers), so that the spec, the API wire types and the
// client can carry edge settings without linking the edge itself;
// internal/edge compiles Options into what it serves with.
//
// options.go is the types and their defaults, decode.go the decoding
// (durations, sizes, key paths and unknown keys), validate.go the checks
// of values.
package edgeconf

import (
	"maps"
	"slices"
	"time"
)

// Options are one app's edge settings: the `edge:` block of an ecosystem
// file, decoded from JSON (or YAML/TOML turned into the same values) with
// DecodeOptions. The zero value means every default; DefaultOptions spells
// them out. Everything here can change while the front runs (Front.Update).
type Options struct {
	// TLS serves HTTPS (HTTP/2 and HTTP/1.1) instead of plain HTTP: PEM
	// files that are reloaded when they change on disk, or a self-signed
	// certificate for development. Also `tls: self-signed`.
	TLS *TLSOptions `json:"tls,omitempty"`
	// RedirectHTTP is a port for a plain-HTTP listener that answers every
	// request with a 308 to the same URL over HTTPS. 0: none. Needs TLS.
	RedirectHTTP int `json:"redirect_http,omitempty"`

	// Compression of responses with gzip, br or zstd (default on).
	Compression *bool `json:"compression,omitempty"`

	// Metrics counts each instance's requests, latency and bytes for
	// ls, describe and Prometheus (default on).
	Metrics *bool `json:"metrics,omitempty"`

	// Headers sets response headers: Helmet's by default (see
	// SecurityHeaders), each of which can be given another value or "off"
	// (false for X-DNS-Prefetch-Control, whose own value is off);
	// other names add headers of their own. A header the app set itself
	// is kept unless its name is in HeadersOverride ("*": all), where an
	// "off" header is removed from the app's response too.
	Headers         Headers  `json:"headers,omitempty"`
	HeadersOverride []string `json:"headers_override,omitempty"`
	// HeadersRemove are removed from every response (default
	// [X-Powered-By]); an empty list removes none.
	HeadersRemove []string `json:"headers_remove,omitempty"`

	// Cookies are the flags added to the app's Set-Cookie headers.
	Cookies *CookieOptions `json:"cookies,omitempty"`

	// Client side. A header larger than MaxHeaderBytes gets 431, a body
	// larger than MaxBody 413 (0: no limit).
	ReadHeaderTimeout Duration `json:"read_header_timeout,omitempty"` // default 10s
	IdleTimeout       Duration `json:"idle_timeout,omitempty"`        // default 60s between keep-alive requests
	MaxHeaderBytes    Size     `json:"max_header_bytes,omitempty"`    // default 32K
	MaxBody           Size     `json:"max_body,omitempty"`            // default 0: no limit
	// BodyTimeout is how long the edge waits, in all, for each 8 KiB of
	// a request body (or for its end): a minimum rate (8 KiB per 60s,
	// 136 B/s, by default), which a body that trickles in a byte at a
	// time fails, where it would pass nginx's client_body_timeout (the
	// time between two reads). Past it the request gets 408 (or, when a
	// response has begun, the connection closes).
	BodyTimeout Duration `json:"body_timeout,omitempty"` // default 60s

	// Instance side. UpstreamIdleTimeout closes pooled connections before
	// Node's 5s keep-alive does, so a request is never sent on a connection
	// the app is closing.
	DialTimeout           Duration `json:"dial_timeout,omitempty"`            // default 2s
	ResponseHeaderTimeout Duration `json:"response_header_timeout,omitempty"` // default 0: none (long polls are legitimate)
	UpstreamIdleTimeout   Duration `json:"upstream_idle_timeout,omitempty"`   // default 4s

	// TrustedProxies are the CIDRs (or addresses) of proxies in front of
	// the edge: their X-Forwarded-For, -Host and -Proto are kept (and the
	// client address is read from X-Forwarded-For); anybody else's are
	// replaced.
	TrustedProxies []string `json:"trusted_proxies,omitempty"`
	// RateLimits limit requests per client address under path prefixes.
	RateLimits []RateLimit `json:"rate_limits,omitempty"`
	// AccessLog is off (default), json or combined.
	AccessLog AccessLogFormat `json:"access_log,omitempty"`
	// Static serves files under a path prefix before the app.
	Static *StaticOptions `json:"static,omitempty"`
}

// TLSOptions are a certificate and key (PEM files), or SelfSigned.
type TLSOptions struct {
	Cert string `json:"cert,omitempty"`
	Key  string `json:"key,omitempty"`
	// SelfSigned generates a certificate for localhost once and keeps it
	// in the front's state directory (edge.Config.StateDir), for development.
	SelfSigned bool `json:"self_signed,omitempty"`
}

// CookieOptions are the flags added to each Set-Cookie of the app.
// `cookies: false` turns all of them off.
type CookieOptions struct {
	Secure   *bool `json:"secure,omitempty"`   // add Secure when the client connection is TLS (default true)
	HTTPOnly *bool `json:"httponly,omitempty"` // add HttpOnly (default true)
	// SameSite is added when a cookie has none: lax (default), strict,
	// none (which forces Secure) or off.
	SameSite string `json:"samesite,omitempty"`
	// HTTPOnlyAllow are cookie names that scripts must read, so they get
	// no HttpOnly (default [XSRF-TOKEN], Angular's CSRF cookie).
	HTTPOnlyAllow []string `json:"httponly_allow,omitempty"`
	// Rename hides the framework's session cookie name from clients.
	Rename *CookieRename `json:"rename,omitempty"`
}

// CookieRename renames the cookie From (default connect.sid, Express's
// session cookie) to To for clients: Set-Cookie going out, Cookie coming
// in.
type CookieRename struct {
	From string `json:"from,omitempty"`
	To   string `json:"to"`
}

// RateLimit allows each client address PerMinute requests under Path
// (a path prefix, matched on whole segments and case-insensitively, as
// Express routes are), with bursts of Burst (default PerMinute). Excess
// requests get 429 with Retry-After.
type RateLimit struct {
	Path      string   `json:"path"`
	PerMinute float64  `json:"per_minute"`
	Burst     int      `json:"burst,omitempty"`
	Methods   []string `json:"methods,omitempty"` // default: every method
}

// AccessLogFormat is off, json or combined.
type AccessLogFormat string

// Access log formats.
const (
	AccessLogOff      AccessLogFormat = "off"
	AccessLogJSON     AccessLogFormat = "json"
	AccessLogCombined AccessLogFormat = "combined"
)

// Headers are response header values by name; "off", false or "" means
// none (for X-DNS-Prefetch-Control, whose values are on and off, only
// false or "").
type Headers map[string]string

// StaticOptions serve the files of Dir under the URL path Prefix.
type StaticOptions struct {
	Prefix string `json:"prefix,omitempty"` // default "/"; stripped before looking in Dir
	Dir    string `json:"dir"`
	// SPA answers a page request for a path that is no file with
	// index.html, so that a single-page app's client-side routes load.
	SPA bool `json:"spa,omitempty"`
}

// The defaults of Options.
const (
	defaultReadHeaderTimeout   = 10 * time.Second
	defaultIdleTimeout         = 60 * time.Second
	defaultBodyTimeout         = 60 * time.Second
	defaultMaxHeaderBytes      = 32 << 10
	defaultDialTimeout         = 2 * time.Second
	defaultUpstreamIdleTimeout = 4 * time.Second
)

// DefaultSessionCookie is the cookie cookies.rename renames when it
// names none: Express's session cookie.
const DefaultSessionCookie = "connect.sid"

var (
	defaultHeadersRemove = []string{"X-Powered-By"}
	defaultHTTPOnlyAllow = []string{"XSRF-TOKEN"}
)

// DefaultHTTPOnlyAllow are the cookies that get no HttpOnly when
// cookies.httponly_allow is not given: Angular's CSRF cookie.
func DefaultHTTPOnlyAllow() []string { return slices.Clone(defaultHTTPOnlyAllow) }

// DefaultOptions are the settings of an app that has no edge block, with
// every default spelled out (for `tend describe`). Decoding a block over
// them or over the zero Options gives the same front.
func DefaultOptions() Options {
	on := true
	return Options{
		Compression:   &on,
		Headers:       SecurityHeaders(),
		HeadersRemove: slices.Clone(defaultHeadersRemove),
		Cookies: &CookieOptions{
			Secure: new(true), HTTPOnly: new(true), SameSite: "lax",
			HTTPOnlyAllow: slices.Clone(defaultHTTPOnlyAllow),
		},
		ReadHeaderTimeout:   Duration(defaultReadHeaderTimeout),
		IdleTimeout:         Duration(defaultIdleTimeout),
		MaxHeaderBytes:      defaultMaxHeaderBytes,
		BodyTimeout:         Duration(defaultBodyTimeout),
		DialTimeout:         Duration(defaultDialTimeout),
		UpstreamIdleTimeout: Duration(defaultUpstreamIdleTimeout),
		AccessLog:           AccessLogOff,
	}
}

// WithDefaults fills in what o leaves at zero.
func (o Options) WithDefaults() Options {
	def := func(d *Duration, v time.Duration) {
		if *d == 0 {
			*d = Duration(v)
		}
	}
	def(&o.ReadHeaderTimeout, defaultReadHeaderTimeout)
	def(&o.IdleTimeout, defaultIdleTimeout)
	def(&o.BodyTimeout, defaultBodyTimeout)
	def(&o.DialTimeout, defaultDialTimeout)
	def(&o.UpstreamIdleTimeout, defaultUpstreamIdleTimeout)
	if o.MaxHeaderBytes == 0 {
		o.MaxHeaderBytes = defaultMaxHeaderBytes
	}
	if o.HeadersRemove == nil {
		o.HeadersRemove = defaultHeadersRemove
	}
	if o.AccessLog == "" {
		o.AccessLog = AccessLogOff
	}
	return o
}

// CompressionOn says whether responses are compressed.
func (o *Options) CompressionOn() bool { return o.Compression == nil || *o.Compression }

// TLSOn says whether the front serves HTTPS.
func (o *Options) TLSOn() bool {
	return o.TLS != nil && (o.TLS.SelfSigned || o.TLS.Cert != "" || o.TLS.Key != "")
}

// Clone copies o deeply, so that the caller's later changes to what it
// points to do not reach a running front.
func (o Options) Clone() Options {
	if o.TLS != nil {
		t := *o.TLS
		o.TLS = &t
	}
	if o.Compression != nil {
		c := *o.Compression
		o.Compression = &c
	}
	o.Headers = maps.Clone(o.Headers)
	o.HeadersOverride = slices.Clone(o.HeadersOverride)
	o.HeadersRemove = slices.Clone(o.HeadersRemove)
	if o.Cookies != nil {
		c := *o.Cookies
		if c.Secure != nil {
			c.Secure = new(*c.Secure)
		}
		if c.HTTPOnly != nil {
			c.HTTPOnly = new(*c.HTTPOnly)
		}
		c.HTTPOnlyAllow = slices.Clone(c.HTTPOnlyAllow)
		if c.Rename != nil {
			r := *c.Rename
			c.Rename = &r
		}
		o.Cookies = &c
	}
	o.TrustedProxies = slices.Clone(o.TrustedProxies)
	o.RateLimits = slices.Clone(o.RateLimits)
	for i := range o.RateLimits {
		o.RateLimits[i].Methods = slices.Clone(o.RateLimits[i].Methods)
	}
	if o.Static != nil {
		st := *o.Static
		o.Static = &st
	}
	return o
}

// helmet is the set of headers Helmet 8 sends by default, with its
// default values, in its order. HSTS goes only over TLS.
var helmet = []struct{ name, value string }{
	{"Content-Security-Policy", "default-src 'self';base-uri 'self';font-src 'self' https: data:;form-action 'self';frame-ancestors 'self';img-src 'self' data:;object-src 'none';script-src 'self';script-src-attr 'none';style-src 'self' https: 'unsafe-inline';upgrade-insecure-requests"},
	{"Cross-Origin-Opener-Policy", "same-origin"},
	{"Cross-Origin-Resource-Policy", "same-origin"},
	{"Origin-Agent-Cluster", "?1"},
	{"Referrer-Policy", "no-referrer"},
	{"Strict-Transport-Security", "max-age=31536000; includeSubDomains"},
	{"X-Content-Type-Options", "nosniff"},
	{"X-DNS-Prefetch-Control", "off"},
	{"X-Download-Options", "noopen"},
	{"X-Frame-Options", "SAMEORIGIN"},
	{"X-Permitted-Cross-Domain-Policies", "none"},
	{"X-XSS-Protection", "0"},
}

// SecurityHeaders returns the headers the edge adds by default: Helmet 8's.
func SecurityHeaders() Headers {
	h := make(Headers, len(helmet))
	for _, e := range helmet {
		h[e.name] = e.value
	}
	return h
}

// SecurityHeaderNames are the names of SecurityHeaders in Helmet's order,
// in which the edge writes them.
func SecurityHeaderNames() []string {
	names := make([]string, len(helmet))
	for i, e := range helmet {
		names[i] = e.name
	}
	return names
}
