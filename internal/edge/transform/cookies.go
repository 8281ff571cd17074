package transform

import (
	"cmp"
	"net/http"
	"strings"

	"github.com/tendhq/tend/internal/edge/edgeconf"
)

// CookiePolicy adds flags to the app's cookies. Each Set-Cookie is edited
// as text, attributes appended: parsing and writing it again with
// net/http would drop what it does not know, such as Priority or
// Partitioned.
type CookiePolicy struct {
	secure   bool            // add Secure over TLS
	httpOnly bool            // add HttpOnly unless the name is in allow
	sameSite string          // "Lax", "Strict", "None", or "" for none added
	allow    map[string]bool // cookie names scripts read
	from, to string          // rename from → to for clients; "" for none
}

// NewCookiePolicy compiles o's Cookies.
func NewCookiePolicy(o *edgeconf.Options) *CookiePolicy {
	c := o.Cookies
	if c == nil {
		c = &edgeconf.CookieOptions{}
	}
	p := &CookiePolicy{
		secure:   c.Secure == nil || *c.Secure,
		httpOnly: c.HTTPOnly == nil || *c.HTTPOnly,
		allow:    map[string]bool{},
	}
	switch strings.ToLower(c.SameSite) {
	case "", "lax":
		p.sameSite = "Lax"
	case "strict":
		p.sameSite = "Strict"
	case "none":
		p.sameSite = "None"
	}
	allow := c.HTTPOnlyAllow
	if allow == nil {
		allow = edgeconf.DefaultHTTPOnlyAllow()
	}
	for _, name := range allow {
		p.allow[name] = true
	}
	if c.Rename != nil {
		p.from, p.to = cmp.Or(c.Rename.From, edgeconf.DefaultSessionCookie), c.Rename.To
	}
	return p
}

// Apply edits every Set-Cookie of a response; secure says the client's
// connection is HTTPS.
func (p *CookiePolicy) Apply(h http.Header, secure bool) {
	for i, line := range h["Set-Cookie"] {
		if edited := p.edit(line, secure); edited != line {
			h["Set-Cookie"][i] = edited
		}
	}
}

// edit returns line with the missing flags appended, and the cookie
// renamed; line itself when nothing changes.
func (p *CookiePolicy) edit(line string, secure bool) string {
	pair, attrs, _ := strings.Cut(line, ";")
	name, _, ok := strings.Cut(pair, "=")
	if !ok {
		return line // not a cookie: leave it to the browser to refuse
	}
	name = strings.TrimSpace(name)
	var hasSecure, hasHTTPOnly, hasSameSite, sameSiteNone bool
	for attrs != "" {
		var a string
		a, attrs, _ = strings.Cut(attrs, ";")
		k, v, _ := strings.Cut(a, "=")
		switch k = strings.TrimSpace(k); {
		case strings.EqualFold(k, "secure"):
			hasSecure = true
		case strings.EqualFold(k, "httponly"):
			hasHTTPOnly = true
		case strings.EqualFold(k, "samesite"):
			hasSameSite = true
			sameSiteNone = strings.EqualFold(strings.TrimSpace(v), "none")
		}
	}
	var add []string
	if p.from != "" && name == p.from {
		line = p.to + strings.TrimLeft(line, " \t")[len(p.from):]
	}
	if !hasSameSite && p.sameSite != "" {
		add = append(add, "SameSite="+p.sameSite)
		sameSiteNone = p.sameSite == "None"
	}
	// Browsers drop a SameSite=None cookie without Secure.
	if !hasSecure && (p.secure && secure || sameSiteNone) {
		add = append(add, "Secure")
	}
	if !hasHTTPOnly && p.httpOnly && !p.allow[name] {
		add = append(add, "HttpOnly")
	}
	if len(add) == 0 {
		return line
	}
	var b strings.Builder
	b.Grow(len(line) + 32)
	b.WriteString(strings.TrimRight(line, " \t;"))
	for _, a := range add {
		b.WriteString("; ")
		b.WriteString(a)
	}
	return b.String()
}

// Request renames the session cookie back to the name the app knows, in
// the Cookie headers of a request to an instance. A cookie that arrives
// under the app's own name is dropped: only the edge gives it that name.
func (p *CookiePolicy) Request(h http.Header) {
	if p.from == "" {
		return
	}
	vals := h["Cookie"]
	for i, v := range vals {
		if !strings.Contains(v, p.from) && !strings.Contains(v, p.to) {
			continue
		}
		var b strings.Builder
		for part := range strings.SplitSeq(v, ";") {
			part = strings.TrimSpace(part)
			name, rest, _ := strings.Cut(part, "=")
			switch name {
			case p.from:
				continue
			case p.to:
				part = p.from + "=" + rest
			}
			if part == "" {
				continue
			}
			if b.Len() > 0 {
				b.WriteString("; ")
			}
			b.WriteString(part)
		}
		vals[i] = b.String()
	}
	if len(vals) > 0 {
		// An emptied header would reach the app as "Cookie:", which some
		// parsers choke on.
		kept := vals[:0]
		for _, v := range vals {
			if v != "" {
				kept = append(kept, v)
			}
		}
		if len(kept) == 0 {
			delete(h, "Cookie")
		} else {
			h["Cookie"] = kept
		}
	}
}

// Renames says whether the policy renames a cookie, so that a request's
// Cookie headers must go through Request.
func (p *CookiePolicy) Renames() bool { return p.from != "" }
