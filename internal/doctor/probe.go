package doctor

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/tendhq/tend/internal/spec"
)

// minCompressible is the smallest body worth compressing, as the edge has
// it: a smaller response coming back plain says nothing.
const minCompressible = 1 << 10

// probeTimeout bounds the probe unless the caller's client has a timeout.
const probeTimeout = 10 * time.Second

// tls checks that the public port is HTTPS, unless only this host can reach
// it (a TLS proxy in front is then the operator's business).
func (c *checker) tls() {
	u, err := url.Parse(c.in.URL)
	switch {
	case err == nil && u.Scheme == "https":
		c.add("tls", Pass, "Served over HTTPS at "+c.in.URL+".", "")
	case c.in.Loopback:
		c.add("tls", Pass, "Plain HTTP at "+c.in.URL+", listening on loopback only.", "")
	default:
		c.add("tls", Fail, "Plain HTTP at "+c.in.URL+" on a public address: cookies and credentials cross the network in clear.", fmt.Sprintf(
			"Serve HTTPS from the edge: `tend set %s edge.tls.cert=/path/fullchain.pem edge.tls.key=/path/privkey.pem`.", c.name))
	}
}

// probe makes one GET through the edge, as a browser would, and checks the
// response's headers, compression and cookies.
func (c *checker) probe(ctx context.Context) {
	var client http.Client
	if c.in.HTTPClient != nil {
		client = *c.in.HTTPClient
	}
	if client.Timeout == 0 {
		client.Timeout = probeTimeout
	}
	// The response checked is the edge's own, not where it redirects.
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.in.URL, nil)
	if err == nil {
		req.Header.Set("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
		// Set by hand, so the transport leaves the body encoded as it came.
		req.Header.Set("Accept-Encoding", "gzip, br")
		req.Header.Set("User-Agent", "tend-doctor")
	}
	var res *http.Response
	if err == nil {
		res, err = client.Do(req)
	}
	if err != nil {
		c.add("probe", Warn, fmt.Sprintf("GET %s failed, so headers, compression and cookies were not checked: %v.", c.in.URL, err), fmt.Sprintf(
			"Check that the app is online with `tend ls`, and why not with `tend logs %s`.", c.name))
		return
	}
	defer res.Body.Close()
	n, _ := io.Copy(io.Discard, io.LimitReader(res.Body, 1<<20))
	c.headers(res)
	c.compression(res, n)
	c.cookies(res)
}

// proxied says whether the edge stands between clients and the app, so its
// settings can fix what the app does not do.
func (c *checker) proxied() bool {
	sp := c.in.App.Spec
	return sp == nil || sp.Mode != spec.ModeFork
}

// headers checks Helmet's most important headers and that X-Powered-By,
// which tells attackers what to try, is gone.
func (c *checker) headers(res *http.Response) {
	h := res.Header
	want := []string{"Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy"}
	if res.Request.URL.Scheme == "https" {
		want = append(want, "Strict-Transport-Security")
	}
	// CSP's frame-ancestors is the modern X-Frame-Options.
	if !strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors") {
		want = append(want, "X-Frame-Options")
	}
	var missing []string
	for _, k := range want {
		if h.Get(k) == "" {
			missing = append(missing, k)
		}
	}
	slices.Sort(missing)
	var problems []string
	if len(missing) > 0 {
		problems = append(problems, "missing "+strings.Join(missing, ", "))
	}
	if v := h.Get("X-Powered-By"); v != "" {
		problems = append(problems, "X-Powered-By: "+v+" names the framework")
	}
	if len(problems) == 0 {
		c.add("headers", Pass, fmt.Sprintf("GET %s has the security headers (%s).", c.in.URL, strings.Join(want, ", ")), "")
		return
	}
	fix := fmt.Sprintf("Let the edge send Helmet's defaults again with `tend unset %s edge.headers edge.headers_remove`, or add `app.use(helmet())` to the app.", c.name)
	if !c.proxied() {
		fix = fmt.Sprintf("Add `app.use(helmet())` to the app, or `tend set %s mode=proxy` so the edge sends them.", c.name)
	}
	c.add("headers", Warn, fmt.Sprintf("GET %s: %s.", c.in.URL, strings.Join(problems, "; ")), fix)
}

// compression checks that text is compressed. Only a text response of at
// least minCompressible can show it is not; a smaller one passes if Vary:
// Accept-Encoding shows a compressor looked at it.
func (c *checker) compression(res *http.Response, n int64) {
	h := res.Header
	ct := h.Get("Content-Type")
	vary := false
	for _, v := range h.Values("Vary") {
		for t := range strings.SplitSeq(v, ",") {
			vary = vary || strings.EqualFold(strings.TrimSpace(t), "Accept-Encoding") || strings.TrimSpace(t) == "*"
		}
	}
	fix := fmt.Sprintf("Turn the edge's compression on with `tend set %s edge.compression=true`.", c.name)
	if !c.proxied() {
		fix = fmt.Sprintf("Add `app.use(compression())` to the app, or `tend set %s mode=proxy` so the edge compresses.", c.name)
	}
	got := fmt.Sprintf("GET %s answered %d with %d bytes of %s", c.in.URL, res.StatusCode, n, orNone(ct))
	switch enc := h.Get("Content-Encoding"); {
	case enc != "" && !strings.EqualFold(enc, "identity"):
		c.add("compression", Pass, fmt.Sprintf("GET %s came back with Content-Encoding: %s.", c.in.URL, enc), "")
	case textual(ct) && n >= minCompressible:
		c.add("compression", Warn, got+", uncompressed although the request accepted gzip and br.", fix)
	case vary:
		c.add("compression", Pass, got+": too small or not text, so not compressed; Vary: Accept-Encoding shows compression is on.", "")
	default:
		c.add("compression", Warn, got+" and no Vary: Accept-Encoding: too small or not text to tell whether compression is on.", fix)
	}
}

func orNone(ct string) string {
	if ct == "" {
		return "no Content-Type"
	}
	return ct
}

// textual is the edge's list of types worth compressing.
func textual(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	mt = strings.ToLower(strings.TrimSpace(mt))
	switch mt {
	case "application/json", "application/javascript", "application/x-javascript",
		"application/ecmascript", "application/xml", "image/svg+xml":
		return true
	}
	return strings.HasPrefix(mt, "text/") || strings.HasSuffix(mt, "+json") || strings.HasSuffix(mt, "+xml")
}

// defaultSessionNames are session cookie names frameworks use unless told
// otherwise: they tell an attacker which framework, and so which exploits,
// to try. connect.sid, express-session's, is the one the issue calls a FAIL.
var defaultSessionNames = map[string]string{
	"connect.sid":       "express-session",
	"PHPSESSID":         "PHP",
	"JSESSIONID":        "Java servlets",
	"sessionid":         "Django",
	"session":           "Flask and cookie-session",
	"koa.sess":          "koa-session",
	"ASP.NET_SessionId": "ASP.NET",
	"_session_id":       "Rails",
	"laravel_session":   "Laravel",
}

// scriptReadable are cookies that scripts must read, so HttpOnly would
// break them: Angular's CSRF token (as the edge's default allow-list).
var scriptReadable = []string{"XSRF-TOKEN"}

// cookies checks the flags of every cookie the probed response sets, and
// their names.
func (c *checker) cookies(res *http.Response) {
	ks := res.Cookies()
	if len(ks) == 0 {
		c.add("cookies", Pass, fmt.Sprintf("GET %s sets no cookies (only this response is checked).", c.in.URL), "")
		return
	}
	https := res.Request.URL.Scheme == "https"
	var names, bad []string
	for _, k := range ks {
		names = append(names, k.Name)
		var miss []string
		if https && !k.Secure {
			miss = append(miss, "Secure")
		}
		if !k.HttpOnly && !slices.Contains(scriptReadable, k.Name) {
			miss = append(miss, "HttpOnly")
		}
		switch {
		case k.SameSite == 0:
			miss = append(miss, "SameSite")
		case k.SameSite == http.SameSiteNoneMode && !k.Secure:
			miss = append(miss, "Secure, which SameSite=None requires")
		}
		if len(miss) > 0 {
			bad = append(bad, k.Name+" lacks "+strings.Join(miss, ", "))
		}
	}
	if len(bad) == 0 {
		c.add("cookies", Pass, fmt.Sprintf("GET %s sets %s with Secure, HttpOnly and SameSite.", c.in.URL, strings.Join(names, ", ")), "")
	} else {
		fix := fmt.Sprintf("Let the edge add the flags with `tend unset %s edge.cookies`, or set secure, httpOnly and sameSite in the app's cookie options.", c.name)
		if !c.proxied() {
			fix = "Set secure, httpOnly and sameSite: 'lax' in the app's cookie options (express-session: `cookie: {...}`)."
		}
		c.add("cookies", Warn, fmt.Sprintf("GET %s: %s.", c.in.URL, strings.Join(bad, "; ")), fix)
	}
	c.sessionCookie(names)
}

func (c *checker) sessionCookie(names []string) {
	for _, n := range names {
		fw, ok := defaultSessionNames[n]
		if !ok {
			continue
		}
		level, fix := Warn, fmt.Sprintf("Give the session cookie a name of your own in the app, or rename it at the edge: `tend set %s edge.cookies.rename.from=%s edge.cookies.rename.to=%s.sid`.", c.name, n, c.name)
		if n == "connect.sid" {
			level, fix = Fail, fmt.Sprintf("Name the session cookie in the app, `session({name: '%s.sid', ...})`, or rename it at the edge: `tend set %s edge.cookies.rename.to=%s.sid`.", c.name, c.name, c.name)
		}
		c.add("session_cookie", level, fmt.Sprintf("The session cookie %s is %s's default name, which tells attackers what the app runs.", n, fw), fix)
		return
	}
	c.add("session_cookie", Pass, "No cookie uses a framework's default session name ("+strings.Join(names, ", ")+").", "")
}
