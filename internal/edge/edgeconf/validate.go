package edgeconf

import (
	"cmp"
	"crypto/tls"
	"fmt"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/tendhq/tend/internal/conf"
	"github.com/tendhq/tend/internal/edge/httpsyntax"
)

// Validate checks every setting and reports each problem with its key
// path. Relative file paths (tls.cert, tls.key, static.dir) are resolved
// against baseDir in place; with baseDir "" they must be absolute. A
// certificate and key must load as a pair.
func (o *Options) Validate(baseDir string) conf.Errors {
	var errs conf.Errors
	bad := func(path, format string, args ...any) {
		errs = append(errs, &FieldError{Path: path, Reason: fmt.Sprintf(format, args...)})
	}
	resolve := func(path string, p *string) bool {
		if *p == "" || filepath.IsAbs(*p) {
			return true
		}
		if baseDir == "" {
			bad(path, "%s is relative: give an absolute path", *p)
			return false
		}
		*p = filepath.Join(baseDir, *p)
		return true
	}

	if t := o.TLS; t != nil {
		switch {
		case t.SelfSigned && (t.Cert != "" || t.Key != ""):
			bad("tls", "give either cert and key, or self_signed: true, not both")
		case t.SelfSigned:
		case t.Cert == "" && t.Key == "":
			bad("tls", "give cert and key (PEM files), or self_signed: true")
		case t.Cert == "":
			bad("tls.cert", "missing: the key needs its certificate")
		case t.Key == "":
			bad("tls.key", "missing: the certificate needs its key")
		default:
			okc, okk := resolve("tls.cert", &t.Cert), resolve("tls.key", &t.Key)
			if okc && okk {
				if _, err := tls.LoadX509KeyPair(t.Cert, t.Key); err != nil {
					bad("tls.cert", "cannot use %s with %s: %v", t.Cert, t.Key, err)
				}
			}
		}
	}
	switch {
	case o.RedirectHTTP < 0 || o.RedirectHTTP > 65535:
		bad("redirect_http", "%d is not a port (1-65535)", o.RedirectHTTP)
	case o.RedirectHTTP != 0 && !o.TLSOn():
		bad("redirect_http", "redirects to HTTPS need tls")
	}

	for name, v := range o.Headers {
		if !httpsyntax.IsToken(name) {
			bad("headers."+name, "not a valid header name")
		} else if !httpsyntax.ValidFieldValue(v) {
			bad("headers."+name, "the value has control characters")
		}
	}
	for i, name := range o.HeadersOverride {
		if name != "*" && !httpsyntax.IsToken(name) {
			bad(fmt.Sprintf("headers_override[%d]", i), "%q is not a valid header name (or *)", name)
		}
	}
	for i, name := range o.HeadersRemove {
		if !httpsyntax.IsToken(name) {
			bad(fmt.Sprintf("headers_remove[%d]", i), "%q is not a valid header name", name)
		}
	}

	if c := o.Cookies; c != nil {
		switch strings.ToLower(c.SameSite) {
		case "", "lax", "strict", "none", "off":
		default:
			bad("cookies.samesite", "%q: want lax, strict, none or off", c.SameSite)
		}
		for i, name := range c.HTTPOnlyAllow {
			if !httpsyntax.IsToken(name) {
				bad(fmt.Sprintf("cookies.httponly_allow[%d]", i), "%q is not a valid cookie name", name)
			}
		}
		if r := c.Rename; r != nil {
			from := cmp.Or(r.From, DefaultSessionCookie)
			switch {
			case !httpsyntax.IsToken(from):
				bad("cookies.rename.from", "%q is not a valid cookie name", r.From)
			case !httpsyntax.IsToken(r.To):
				bad("cookies.rename.to", "%q is not a valid cookie name", r.To)
			case r.To == from:
				bad("cookies.rename.to", "%q is the name it renames: pick another", r.To)
			}
		}
	}

	for _, d := range []struct {
		key string
		v   Duration
	}{
		{"read_header_timeout", o.ReadHeaderTimeout}, {"idle_timeout", o.IdleTimeout}, {"body_timeout", o.BodyTimeout},
		{"dial_timeout", o.DialTimeout}, {"response_header_timeout", o.ResponseHeaderTimeout},
		{"upstream_idle_timeout", o.UpstreamIdleTimeout},
	} {
		if d.v < 0 {
			bad(d.key, "must not be negative")
		}
	}
	if n := o.MaxHeaderBytes; n != 0 && (n < 4<<10 || n > 16<<20) {
		bad("max_header_bytes", "%s: want between 4K and 16M", n)
	}
	if o.MaxBody < 0 {
		bad("max_body", "must not be negative")
	}

	for i, p := range o.TrustedProxies {
		if _, err := ParsePrefix(p); err != nil {
			bad(fmt.Sprintf("trusted_proxies[%d]", i), "%q is not a CIDR (10.0.0.0/8) or an address", p)
		}
	}
	for i, rl := range o.RateLimits {
		at := fmt.Sprintf("rate_limits[%d]", i)
		if !strings.HasPrefix(rl.Path, "/") {
			bad(at+".path", "%q: want a path prefix starting with /", rl.Path)
		}
		if !(rl.PerMinute > 0) || math.IsInf(rl.PerMinute, 0) {
			bad(at+".per_minute", "must be more than 0")
		}
		if rl.Burst < 0 {
			bad(at+".burst", "must not be negative")
		}
		for j, m := range rl.Methods {
			if !httpsyntax.IsToken(m) {
				bad(fmt.Sprintf("%s.methods[%d]", at, j), "%q is not an HTTP method", m)
			}
		}
	}
	switch o.AccessLog {
	case "", AccessLogOff, AccessLogJSON, AccessLogCombined:
	default:
		bad("access_log", "%q: want off, json or combined", o.AccessLog)
	}
	if s := o.Static; s != nil {
		if s.Prefix != "" && !strings.HasPrefix(s.Prefix, "/") {
			bad("static.prefix", "%q: want a path starting with /", s.Prefix)
		}
		switch {
		case s.Dir == "":
			bad("static.dir", "missing: the directory to serve")
		case resolve("static.dir", &s.Dir):
			if fi, err := os.Stat(s.Dir); err != nil {
				bad("static.dir", "%v", err)
			} else if !fi.IsDir() {
				bad("static.dir", "%s is not a directory", s.Dir)
			}
		}
	}
	slices.SortStableFunc(errs, func(a, b *FieldError) int { return strings.Compare(a.Path, b.Path) })
	return errs
}

// ParsePrefix reads a CIDR, or an address as a one-address prefix.
func ParsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}
