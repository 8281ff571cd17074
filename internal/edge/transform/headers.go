package transform

import (
	"net/http"
	"net/textproto"
	"slices"
	"strings"

	"github.com/tendhq/tend/internal/edge/edgeconf"
)

const (
	hsts = "Strict-Transport-Security"
	csp  = "Content-Security-Policy"
	// upgradeInsecure ends Helmet's CSP. It asks the browser to fetch
	// everything over https, which breaks a page served over plain HTTP
	// (on a LAN, say): like HSTS, it goes only over TLS.
	upgradeInsecure = ";upgrade-insecure-requests"
)

// headerRule is one header the edge sets.
type headerRule struct {
	name     string   // canonical
	value    []string // shared by every response: never modified in place
	plain    []string // the value over plain HTTP, when not value
	override bool     // replace the app's own value
	off      bool     // with override: remove the app's own value
	tlsOnly  bool
}

// HeaderPolicy is the compiled Headers, HeadersOverride and HeadersRemove.
type HeaderPolicy struct {
	rules  []headerRule
	remove []string // canonical

	// The rules that add a header the app did not set, written out
	// once as header lines, over plain HTTP and over TLS: a server that
	// writes heads itself (the edge's HTTP/1 server) takes them as they are when
	// the app set none of them, instead of a dozen map entries per
	// response.
	lines [2][]byte
}

// NewHeaderPolicy compiles o's Headers, HeadersOverride and
// HeadersRemove over Helmet's defaults.
func NewHeaderPolicy(o *edgeconf.Options) *HeaderPolicy {
	values := map[string]string{}
	for name, v := range edgeconf.SecurityHeaders() {
		values[canonical(name)] = v
	}
	for name, v := range o.Headers {
		values[canonical(name)] = v
	}
	overrideAll := slices.Contains(o.HeadersOverride, "*")
	override := map[string]bool{}
	for _, name := range o.HeadersOverride {
		override[canonical(name)] = true
	}
	p := &HeaderPolicy{}
	// Helmet's first, in its order, then the app's own in name order, so
	// that responses are the same from one request to the next.
	names := make([]string, 0, len(values))
	for _, name := range edgeconf.SecurityHeaderNames() {
		names = append(names, canonical(name))
	}
	var extra []string
	for name := range values {
		if !slices.Contains(names, name) {
			extra = append(extra, name)
		}
	}
	slices.Sort(extra)
	for _, name := range append(names, extra...) {
		v := values[name]
		r := headerRule{name: name, value: []string{v}, override: overrideAll || override[name], tlsOnly: name == hsts}
		if name == csp && v == helmetCSP {
			// Helmet's own; a CSP of the user's goes as written.
			r.plain = []string{strings.TrimSuffix(v, upgradeInsecure)}
		}
		if disabled(name, v) {
			if !r.override {
				continue
			}
			r.off = true
		}
		p.rules = append(p.rules, r)
	}
	for _, name := range o.HeadersRemove {
		p.remove = append(p.remove, canonical(name))
	}
	for i := range p.rules {
		r := &p.rules[i]
		if r.off || r.override {
			continue
		}
		line := r.name + ": " + r.value[0] + "\r\n" // checked by edgeconf.Options.Validate
		p.lines[1] = append(p.lines[1], line...)
		if !r.tlsOnly {
			p.lines[0] = append(p.lines[0], r.name+": "+r.valueFor(false)[0]+"\r\n"...)
		}
	}
	return p
}

// disabled says whether a configured value turns a header off: "off",
// or "" (what false decodes to). X-DNS-Prefetch-Control's own values are
// on and off, so only "" turns it off.
func disabled(name, v string) bool {
	return v == "" || strings.EqualFold(v, "off") && name != "X-Dns-Prefetch-Control"
}

// Apply edits the headers of a response as it goes out; secure says the
// client's connection is HTTPS.
func (p *HeaderPolicy) Apply(h http.Header, secure bool) {
	p.applyTo(h, secure, true)
}

// ApplyLines edits h as Apply does, except that when the app set none of
// the headers the edge adds, it returns them as header lines to write
// after h's, and h does not get them.
func (p *HeaderPolicy) ApplyLines(h http.Header, secure bool) []byte {
	if p.applyTo(h, secure, false) {
		return nil
	}
	if secure {
		return p.lines[1]
	}
	return p.lines[0]
}

// applyTo removes, overrides and turns off what the rules say; it adds
// the headers the app did not set to h when add is set or when the app
// set one of them, and says whether it did.
func (p *HeaderPolicy) applyTo(h http.Header, secure, add bool) bool {
	for _, name := range p.remove {
		delete(h, name)
	}
	for i := range p.rules {
		r := &p.rules[i]
		switch {
		case r.tlsOnly && !secure:
		case r.off:
			delete(h, r.name)
		case r.override:
			h[r.name] = r.valueFor(secure)
		case !add:
			if _, set := h[r.name]; set {
				add = true
			}
		}
	}
	if !add {
		return false
	}
	for i := range p.rules {
		r := &p.rules[i]
		if r.off || r.override || r.tlsOnly && !secure {
			continue
		}
		if _, set := h[r.name]; !set {
			h[r.name] = r.valueFor(secure)
		}
	}
	return true
}

// helmetCSP is Helmet's Content-Security-Policy, which ends with
// upgradeInsecure.
var helmetCSP = edgeconf.SecurityHeaders()[csp]

// valueFor is the rule's value over TLS (secure) or plain HTTP.
func (r *headerRule) valueFor(secure bool) []string {
	if !secure && r.plain != nil {
		return r.plain
	}
	return r.value
}

// canonical is the header name as net/http keys it.
func canonical(name string) string { return textproto.CanonicalMIMEHeaderKey(name) }
