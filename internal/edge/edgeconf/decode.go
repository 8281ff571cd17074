package edgeconf

import (
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strings"

	"github.com/tendhq/tend/internal/conf"
)

// Durations and sizes read conf's one grammar of each.
type (
	Duration = conf.Duration
	Size     = conf.Size
)

// FieldError is one reason Options were refused; its Path is the key path
// inside the edge block, such as "tls.cert" or "rate_limits[1].path".
type FieldError = conf.FieldError

// Ceilings of the lists and maps an edge block may hold: each is far
// beyond what a real front uses, and keeps a careless or hostile file from
// costing the daemon memory and time per request.
const (
	maxHeaders      = 256
	maxRateLimits   = 256
	maxMethods      = 32
	maxProxies      = 1024
	maxCookieNames  = 256
	maxHeaderLength = 8 << 10
)

// JoinFieldErrors joins errors into one, each path under "edge.", for the
// front's Listen and Update.
func JoinFieldErrors(es conf.Errors) error {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = "edge: " + e.Reason
		if e.Path != "" {
			lines[i] = "edge." + e.Path + ": " + e.Reason
		}
	}
	return errors.New(strings.Join(lines, "; "))
}

// DecodeOptions reads an edge block decoded from YAML, JSON or TOML (maps
// with string keys, slices and scalars) into Options, and validates them
// (see Validate). Every unknown key and every value of the wrong type is
// reported, by key path, not only the first.
func DecodeOptions(raw any, baseDir string) (Options, conf.Errors) {
	var o Options
	if raw == nil {
		return o, nil
	}
	m, ok := raw.(map[string]any)
	if !ok {
		return o, conf.Errors{{Reason: "want a map of settings, such as {tls: {cert: a.pem, key: b.pem}}, got " + conf.Describe(raw)}}
	}
	d := conf.NewDecoder("", "", m)
	optionKeys.Decode(d, &o)
	errs := d.Errs()
	// Validate what did decode: a key that did not is left at its
	// default, and only its decoding error is reported.
	for _, e := range o.Validate(baseDir) {
		if !slices.ContainsFunc(errs, func(d *FieldError) bool { return d.Path == e.Path || strings.HasPrefix(e.Path, d.Path+".") }) {
			errs = append(errs, e)
		}
	}
	if len(errs) > 0 {
		slices.SortStableFunc(errs, func(a, b *FieldError) int { return strings.Compare(a.Path, b.Path) })
		return Options{}, errs
	}
	return o, nil
}

// optionKeys are the keys of an edge block. Ranges and the checks that
// read files are Validate's, which also runs on Options made in code.
var optionKeys = conf.Table[Options]{Fields: []conf.Field[Options]{
	conf.Custom("tls", func(d *conf.Decoder, key string, v any, o *Options) {
		o.TLS = &TLSOptions{}
		decodeTLS(d, key, v, o.TLS)
	}),
	conf.IntField("redirect_http", math.MinInt32, math.MaxInt32, func(o *Options) *int { return &o.RedirectHTTP }),
	conf.OptBoolField("compression", func(o *Options) **bool { return &o.Compression }),
	conf.OptBoolField("metrics", func(o *Options) **bool { return &o.Metrics }),
	conf.Custom("headers", func(d *conf.Decoder, key string, v any, o *Options) { decodeHeaders(d, key, v, &o.Headers) }),
	conf.StringsField("headers_override", maxHeaders, nil, func(o *Options) *[]string { return &o.HeadersOverride }),
	conf.StringsField("headers_remove", maxHeaders, nil, func(o *Options) *[]string { return &o.HeadersRemove }),
	conf.Custom("cookies", func(d *conf.Decoder, key string, v any, o *Options) {
		o.Cookies = &CookieOptions{}
		decodeCookies(d, key, v, o.Cookies)
	}),
	conf.DurationField("read_header_timeout", func(o *Options) *Duration { return &o.ReadHeaderTimeout }),
	conf.DurationField("idle_timeout", func(o *Options) *Duration { return &o.IdleTimeout }),
	conf.SizeField("max_header_bytes", 0, math.MaxInt64, func(o *Options) *Size { return &o.MaxHeaderBytes }),
	conf.SizeField("max_body", 0, math.MaxInt64, func(o *Options) *Size { return &o.MaxBody }),
	conf.DurationField("body_timeout", func(o *Options) *Duration { return &o.BodyTimeout }),
	conf.DurationField("dial_timeout", func(o *Options) *Duration { return &o.DialTimeout }),
	conf.DurationField("response_header_timeout", func(o *Options) *Duration { return &o.ResponseHeaderTimeout }),
	conf.DurationField("upstream_idle_timeout", func(o *Options) *Duration { return &o.UpstreamIdleTimeout }),
	conf.StringsField("trusted_proxies", maxProxies, nil, func(o *Options) *[]string { return &o.TrustedProxies }),
	conf.Custom("rate_limits", decodeRateLimits),
	conf.Custom("access_log", func(d *conf.Decoder, key string, v any, o *Options) { decodeAccessLog(d, key, v, &o.AccessLog) }),
	conf.Custom("static", func(d *conf.Decoder, key string, v any, o *Options) {
		if m, ok := d.Map(key, v, "{dir: public, prefix: /assets}"); ok {
			o.Static = &StaticOptions{}
			staticKeys.Decode(d.Sub(key, m), o.Static)
		}
	}),
}}

var tlsKeys = conf.Table[TLSOptions]{Fields: []conf.Field[TLSOptions]{
	conf.StringField("cert", nil, func(t *TLSOptions) *string { return &t.Cert }),
	conf.StringField("key", nil, func(t *TLSOptions) *string { return &t.Key }),
	conf.BoolField("self_signed", func(t *TLSOptions) *bool { return &t.SelfSigned }),
}}

// decodeTLS reads a {cert, key} or {self_signed} mapping, or the
// shorthand "self-signed".
func decodeTLS(d *conf.Decoder, key string, v any, t *TLSOptions) {
	switch x := v.(type) {
	case string:
		if x == "self-signed" || x == "self_signed" {
			*t = TLSOptions{SelfSigned: true}
			return
		}
		d.Errorf(key, "want {cert: FILE, key: FILE}, {self_signed: true} or \"self-signed\", not %q", x)
	case map[string]any:
		tlsKeys.Decode(d.Sub(key, x), t)
	default:
		d.Errorf(key, "want {cert: FILE, key: FILE}, {self_signed: true} or \"self-signed\", got %s", conf.Describe(v))
	}
}

// decodeHeaders reads header values by name: strings, and false (or "off"
// spelt as a string, which Validate and the edge read) for none.
func decodeHeaders(d *conf.Decoder, key string, v any, h *Headers) {
	m, ok := v.(map[string]any)
	if !ok {
		d.Errorf(key, "want a map of header names to values (or off), got %s", conf.Describe(v))
		return
	}
	if len(m) > maxHeaders {
		d.Errorf(key, "%d headers; at most %d are allowed", len(m), maxHeaders)
		return
	}
	out := make(Headers, len(m))
	for name, e := range m {
		switch x := e.(type) {
		case string:
			if len(x) > maxHeaderLength {
				d.Errorf(conf.Join(key, name), "the value is longer than %d bytes", maxHeaderLength)
				continue
			}
			out[name] = x
		case bool:
			if x {
				d.Errorf(conf.Join(key, name), "want a string value or off")
				continue
			}
			out[name] = ""
		default:
			d.Errorf(conf.Join(key, name), "want a string value or off, got %s", conf.Describe(e))
		}
	}
	*h = out
}

var cookieKeys = conf.Table[CookieOptions]{Fields: []conf.Field[CookieOptions]{
	conf.OptBoolField("secure", func(c *CookieOptions) **bool { return &c.Secure }),
	conf.OptBoolField("httponly", func(c *CookieOptions) **bool { return &c.HTTPOnly }),
	conf.StringField("samesite", nil, func(c *CookieOptions) *string { return &c.SameSite }),
	conf.StringsField("httponly_allow", maxCookieNames, nil, func(c *CookieOptions) *[]string { return &c.HTTPOnlyAllow }),
	conf.Custom("rename", func(d *conf.Decoder, key string, v any, c *CookieOptions) {
		if m, ok := d.Map(key, v, "{from: connect.sid, to: sid}"); ok {
			c.Rename = &CookieRename{}
			renameKeys.Decode(d.Sub(key, m), c.Rename)
		}
	}),
}}

var renameKeys = conf.Table[CookieRename]{Fields: []conf.Field[CookieRename]{
	conf.StringField("from", nil, func(r *CookieRename) *string { return &r.From }),
	conf.StringField("to", nil, func(r *CookieRename) *string { return &r.To }),
}}

// decodeCookies reads a mapping of flags, true for the defaults, or false
// for no flags at all.
func decodeCookies(d *conf.Decoder, key string, v any, c *CookieOptions) {
	switch x := v.(type) {
	case bool:
		if x {
			*c = CookieOptions{}
		} else {
			*c = CookieOptions{Secure: new(false), HTTPOnly: new(false), SameSite: "off"}
		}
	case map[string]any:
		cookieKeys.Decode(d.Sub(key, x), c)
	default:
		d.Errorf(key, "want a mapping such as {samesite: strict}, or false, got %s", conf.Describe(v))
	}
}

var rateLimitKeys = conf.Table[RateLimit]{Fields: []conf.Field[RateLimit]{
	conf.StringField("path", nil, func(r *RateLimit) *string { return &r.Path }),
	conf.FloatField("per_minute", math.Inf(-1), math.Inf(1), func(r *RateLimit) *float64 { return &r.PerMinute }),
	conf.IntField("burst", math.MinInt32, math.MaxInt32, func(r *RateLimit) *int { return &r.Burst }),
	conf.StringsField("methods", maxMethods, nil, func(r *RateLimit) *[]string { return &r.Methods }),
}}

func decodeRateLimits(d *conf.Decoder, key string, v any, o *Options) {
	list, ok := v.([]any)
	switch {
	case !ok:
		d.Errorf(key, "want a list such as [{path: /login, per_minute: 10}], got %s", conf.Describe(v))
		return
	case len(list) > maxRateLimits:
		d.Errorf(key, "%d rules; at most %d are allowed", len(list), maxRateLimits)
		return
	}
	o.RateLimits = make([]RateLimit, len(list))
	for i, e := range list {
		at := conf.Index(key, i)
		if m, ok := d.Map(at, e, "{path: /login, per_minute: 10}"); ok {
			rateLimitKeys.Decode(d.Sub(at, m), &o.RateLimits[i])
		}
	}
}

// decodeAccessLog reads a format name, or false for off.
func decodeAccessLog(d *conf.Decoder, key string, v any, f *AccessLogFormat) {
	switch x := v.(type) {
	case bool:
		if x {
			d.Errorf(key, "want off, json or combined")
			return
		}
		*f = AccessLogOff
	case string:
		*f = AccessLogFormat(strings.ToLower(x))
	default:
		d.Errorf(key, "want off, json or combined, got %s", conf.Describe(v))
	}
}

var staticKeys = conf.Table[StaticOptions]{Fields: []conf.Field[StaticOptions]{
	conf.StringField("prefix", nil, func(s *StaticOptions) *string { return &s.Prefix }),
	conf.StringField("dir", nil, func(s *StaticOptions) *string { return &s.Dir }),
	conf.BoolField("spa", func(s *StaticOptions) *bool { return &s.SPA }),
}}

// unmarshal reads JSON with the setter a key table uses, so that the wire
// form of Options (what describe prints, read back by the client) takes
// the grammar of the file.
func unmarshal[T any](b []byte, set func(d *conf.Decoder, key string, v any, dst *T), dst *T) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	d := conf.NewDecoder("", "", nil)
	set(d, "", v, dst)
	if errs := d.Errs(); len(errs) > 0 {
		return errs
	}
	return nil
}

// UnmarshalJSON reads an object, or the shorthand "self-signed".
func (t *TLSOptions) UnmarshalJSON(b []byte) error { return unmarshal(b, decodeTLS, t) }

// UnmarshalJSON reads an object, or true or false.
func (c *CookieOptions) UnmarshalJSON(b []byte) error { return unmarshal(b, decodeCookies, c) }

// UnmarshalJSON reads a format name, or false for off.
func (f *AccessLogFormat) UnmarshalJSON(b []byte) error { return unmarshal(b, decodeAccessLog, f) }

// UnmarshalJSON reads strings, and false as "".
func (h *Headers) UnmarshalJSON(b []byte) error { return unmarshal(b, decodeHeaders, h) }
