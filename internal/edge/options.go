package edge

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"net/textproto"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
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
	// in Config.StateDir, for development.
	SelfSigned bool `json:"self_signed,omitempty"`
}

// UnmarshalJSON reads an object, or the shorthand "self-signed".
func (t *TLSOptions) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		switch s {
		case "self-signed", "self_signed":
			*t = TLSOptions{SelfSigned: true}
			return nil
		}
		return fmt.Errorf("want {cert: FILE, key: FILE}, {self_signed: true} or \"self-signed\", not %q", s)
	}
	type plain TLSOptions
	return json.Unmarshal(b, (*plain)(t))
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

// UnmarshalJSON reads an object, or false for no flags at all.
func (c *CookieOptions) UnmarshalJSON(b []byte) error {
	var on bool
	if json.Unmarshal(b, &on) == nil {
		if on {
			*c = CookieOptions{}
		} else {
			*c = CookieOptions{Secure: new(false), HTTPOnly: new(false), SameSite: "off"}
		}
		return nil
	}
	type plain CookieOptions
	return json.Unmarshal(b, (*plain)(c))
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

// UnmarshalJSON reads a format name, or false for off.
func (f *AccessLogFormat) UnmarshalJSON(b []byte) error {
	var on bool
	if json.Unmarshal(b, &on) == nil {
		if on {
			return errors.New("want off, json or combined")
		}
		*f = AccessLogOff
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New("want off, json or combined")
	}
	*f = AccessLogFormat(strings.ToLower(s))
	return nil
}

// Headers are response header values by name; "off", false or "" means
// none (for X-DNS-Prefetch-Control, whose values are on and off, only
// false or "").
type Headers map[string]string

// UnmarshalJSON reads strings, and false as "".
func (h *Headers) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return errors.New("want a map of header names to values (or off)")
	}
	out := make(Headers, len(raw))
	for k, v := range raw {
		var s string
		var on bool
		switch {
		case json.Unmarshal(v, &s) == nil:
			out[k] = s
		case json.Unmarshal(v, &on) == nil && !on:
			out[k] = ""
		default:
			return fmt.Errorf("header %s: want a string value or off", k)
		}
	}
	*h = out
	return nil
}

// Duration is a time.Duration that reads "10s" or a number of
// milliseconds, as PM2's settings are.
type Duration time.Duration

// D returns the duration as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalJSON writes the duration as a string such as "10s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a number of milliseconds or a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var ms float64
	if json.Unmarshal(b, &ms) == nil {
		if ms < 0 || ms > math.MaxInt64/float64(time.Millisecond) || math.IsNaN(ms) {
			return fmt.Errorf("%v ms is out of range", ms)
		}
		*d = Duration(ms * float64(time.Millisecond))
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New(`want a duration such as "10s" or a number of milliseconds`)
	}
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		return d.UnmarshalJSON([]byte(strconv.FormatFloat(n, 'f', -1, 64)))
	}
	p, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf(`%q: want a duration such as "10s", "1m30s" or a number of milliseconds`, s)
	}
	*d = Duration(p)
	return nil
}

// Size is a number of bytes that reads "32K", "10M", "1G" (powers of
// 1024, with an optional B or iB) or a plain number.
type Size int64

// MarshalJSON writes the size in the largest unit that divides it.
func (s Size) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

func (s Size) String() string {
	for _, u := range []struct {
		suffix string
		n      int64
	}{{"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}} {
		if s != 0 && int64(s)%u.n == 0 {
			return strconv.FormatInt(int64(s)/u.n, 10) + u.suffix
		}
	}
	return strconv.FormatInt(int64(s), 10)
}

// UnmarshalJSON reads a number of bytes or a size string.
func (s *Size) UnmarshalJSON(b []byte) error {
	var n float64
	if json.Unmarshal(b, &n) == nil {
		if n < 0 || n > math.MaxInt64 || n != math.Trunc(n) {
			return fmt.Errorf("%v is not a size in bytes", n)
		}
		*s = Size(n)
		return nil
	}
	var str string
	if err := json.Unmarshal(b, &str); err != nil {
		return errors.New(`want a size such as "32K", "10M" or a number of bytes`)
	}
	v, err := ParseSize(str)
	if err != nil {
		return err
	}
	*s = Size(v)
	return nil
}

// ParseSize reads "512", "32K", "32KB", "32KiB", "10M", "1.5G" (units are
// powers of 1024, case-insensitive).
func ParseSize(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "B"), "I")
	mult := 1.0
	if t != "" {
		switch t[len(t)-1] {
		case 'K':
			mult = 1 << 10
		case 'M':
			mult = 1 << 20
		case 'G':
			mult = 1 << 30
		case 'T':
			mult = 1 << 40
		}
		if mult != 1 {
			t = t[:len(t)-1]
		}
	}
	n, err := strconv.ParseFloat(strings.TrimSpace(t), 64)
	if err != nil || n < 0 || math.IsInf(n, 0) || n*mult > math.MaxInt64 {
		return 0, fmt.Errorf(`%q: want a size such as "32K", "10M" or a number of bytes`, s)
	}
	return int64(n * mult), nil
}

// FieldError is one reason Options were refused. Path is the key path
// inside the edge block, such as "tls.cert" or "rate_limits[1].path".
type FieldError struct{ Path, Reason string }

func (e FieldError) Error() string {
	if e.Path == "" {
		return e.Reason
	}
	return e.Path + ": " + e.Reason
}

// fieldErrors joins errors into one, for Listen and Update.
func fieldErrors(es []FieldError) error {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = "edge." + e.Error()
	}
	return errors.New(strings.Join(lines, "; "))
}

// The defaults of Options.
const (
	defaultReadHeaderTimeout   = 10 * time.Second
	defaultIdleTimeout         = 60 * time.Second
	defaultMaxHeaderBytes      = 32 << 10
	defaultDialTimeout         = 2 * time.Second
	defaultUpstreamIdleTimeout = 4 * time.Second
	defaultSessionCookie       = "connect.sid"
)

var (
	defaultHeadersRemove = []string{"X-Powered-By"}
	defaultHTTPOnlyAllow = []string{"XSRF-TOKEN"}
)

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
		DialTimeout:         Duration(defaultDialTimeout),
		UpstreamIdleTimeout: Duration(defaultUpstreamIdleTimeout),
		AccessLog:           AccessLogOff,
	}
}

// withDefaults fills in what o leaves at zero.
func (o Options) withDefaults() Options {
	def := func(d *Duration, v time.Duration) {
		if *d == 0 {
			*d = Duration(v)
		}
	}
	def(&o.ReadHeaderTimeout, defaultReadHeaderTimeout)
	def(&o.IdleTimeout, defaultIdleTimeout)
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

// compressionOn says whether responses are compressed.
func (o *Options) compressionOn() bool { return o.Compression == nil || *o.Compression }

// tlsOn says whether the front serves HTTPS.
func (o *Options) tlsOn() bool {
	return o.TLS != nil && (o.TLS.SelfSigned || o.TLS.Cert != "" || o.TLS.Key != "")
}

// DecodeOptions reads an edge block decoded from YAML, JSON or TOML (maps
// with string keys, slices and scalars) into Options, and validates them
// (see Validate). Every unknown key and every value of the wrong type is
// reported, by key path, not only the first.
func DecodeOptions(raw any, baseDir string) (Options, []FieldError) {
	var o Options
	if raw == nil {
		return o, nil
	}
	errs := unknownKeys(raw, reflect.TypeFor[Options](), "")
	b, err := json.Marshal(raw)
	if err != nil {
		return o, append(errs, FieldError{Reason: fmt.Sprintf("not a map of settings: %v", err)})
	}
	errs = append(errs, decodeFields(b, &o)...)
	// Validate what did decode: a key that did not is left at its
	// default, and only its decoding error is reported.
	for _, e := range o.Validate(baseDir) {
		if !slices.ContainsFunc(errs, func(d FieldError) bool { return d.Path == e.Path || strings.HasPrefix(e.Path, d.Path+".") }) {
			errs = append(errs, e)
		}
	}
	if len(errs) > 0 {
		slices.SortStableFunc(errs, func(a, b FieldError) int { return strings.Compare(a.Path, b.Path) })
		return Options{}, errs
	}
	return o, nil
}

// decodeFields decodes b into o field by field, so that one bad value
// does not hide the next.
func decodeFields(b []byte, o *Options) []FieldError {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return []FieldError{{Reason: "want a map of settings, such as {tls: {cert: a.pem, key: b.pem}}"}}
	}
	var errs []FieldError
	v := reflect.ValueOf(o).Elem()
	t := v.Type()
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		for i := range t.NumField() {
			if jsonName(t.Field(i)) != k {
				continue
			}
			if err := json.Unmarshal(fields[k], v.Field(i).Addr().Interface()); err != nil {
				errs = append(errs, FieldError{k, decodeReason(k, err)})
			}
		}
	}
	return errs
}

// decodeReason turns a json error into a reason a user can act on.
func decodeReason(key string, err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		where := ""
		if te.Field != "" {
			where = " at " + te.Field
		}
		return fmt.Sprintf("%s%s is %s, want %s", key, where, te.Value, kindName(te.Type))
	}
	return err.Error()
}

func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Slice:
		return "a list"
	case reflect.Map, reflect.Struct, reflect.Pointer:
		return "a map"
	}
	return t.String()
}

func jsonName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	return name
}

// unknownKeys walks raw along t and reports keys t has no field for.
// Maps of free names (Headers) are not walked.
func unknownKeys(raw any, t reflect.Type, path string) []FieldError {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var errs []FieldError
	switch t.Kind() {
	case reflect.Struct:
		m, ok := raw.(map[string]any)
		if !ok {
			return nil // a type error, or a shorthand; decoding says which
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			f, ok := fieldByJSON(t, k)
			if !ok {
				errs = append(errs, FieldError{join(path, k), "unknown key; " + knownKeys(t)})
				continue
			}
			errs = append(errs, unknownKeys(m[k], f.Type, join(path, k))...)
		}
	case reflect.Slice:
		if l, ok := raw.([]any); ok {
			for i, e := range l {
				errs = append(errs, unknownKeys(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i))...)
			}
		}
	}
	return errs
}

func fieldByJSON(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		if f := t.Field(i); jsonName(f) == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func knownKeys(t reflect.Type) string {
	var names []string
	for i := range t.NumField() {
		if n := jsonName(t.Field(i)); n != "" && n != "-" {
			names = append(names, n)
		}
	}
	return "known keys: " + strings.Join(names, ", ")
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// Validate checks every setting and reports each problem with its key
// path. Relative file paths (tls.cert, tls.key, static.dir) are resolved
// against baseDir in place; with baseDir "" they must be absolute. A
// certificate and key must load as a pair.
func (o *Options) Validate(baseDir string) []FieldError {
	var errs []FieldError
	bad := func(path, format string, args ...any) {
		errs = append(errs, FieldError{path, fmt.Sprintf(format, args...)})
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
	case o.RedirectHTTP != 0 && !o.tlsOn():
		bad("redirect_http", "redirects to HTTPS need tls")
	}

	for name, v := range o.Headers {
		if !validHeaderName(name) {
			bad("headers."+name, "not a valid header name")
		} else if !validHeaderValue(v) {
			bad("headers."+name, "the value has control characters")
		}
	}
	for i, name := range o.HeadersOverride {
		if name != "*" && !validHeaderName(name) {
			bad(fmt.Sprintf("headers_override[%d]", i), "%q is not a valid header name (or *)", name)
		}
	}
	for i, name := range o.HeadersRemove {
		if !validHeaderName(name) {
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
			if !isToken(name) {
				bad(fmt.Sprintf("cookies.httponly_allow[%d]", i), "%q is not a valid cookie name", name)
			}
		}
		if r := c.Rename; r != nil {
			from := cmpOr(r.From, defaultSessionCookie)
			switch {
			case !isToken(from):
				bad("cookies.rename.from", "%q is not a valid cookie name", r.From)
			case !isToken(r.To):
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
		{"read_header_timeout", o.ReadHeaderTimeout}, {"idle_timeout", o.IdleTimeout},
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
		if _, err := parsePrefix(p); err != nil {
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
			if !isToken(m) {
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
	slices.SortStableFunc(errs, func(a, b FieldError) int { return strings.Compare(a.Path, b.Path) })
	return errs
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// parsePrefix reads a CIDR, or an address as a one-address prefix.
func parsePrefix(s string) (netip.Prefix, error) {
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

func validHeaderName(s string) bool { return isToken(s) }

// validHeaderValue refuses control characters other than tab: CR and LF
// would split the header.
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// canonical is the header name as net/http keys it.
func canonical(name string) string { return textproto.CanonicalMIMEHeaderKey(name) }
