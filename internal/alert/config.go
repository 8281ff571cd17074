package alert

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/conf"
)

// Formats of a webhook's body.
const (
	FormatJSON  = "json"  // the alert as a JSON object (Body)
	FormatSlack = "slack" // {"text": "..."}: Slack, Mattermost, Discord's /slack endpoint
)

// Ceilings and defaults of the keys of a target.
const (
	MaxTargets         = 20
	DefaultMinInterval = time.Minute
	DefaultTimeout     = 10 * time.Second
	MaxTimeout         = time.Minute
	DefaultAttempts    = 4
	MaxAttempts        = 10
	maxURL             = 2048
)

// Target is one webhook of daemon.yaml's alerts list.
type Target struct {
	URL    string
	Format string   // FormatJSON or FormatSlack
	Events []string // the api.Alert* kinds it is sent; all when empty
	// MinInterval is the least time between two alerts of one incident
	// key (kind and app); those in between are suppressed, and so is the
	// recovery of a suppressed one.
	MinInterval time.Duration
	// Timeout bounds each attempt; Attempts is how many are made (with
	// exponential backoff between them) before the alert is failed.
	Timeout  time.Duration
	Attempts int
}

// Wants reports whether t is sent alerts of kind.
func (t Target) Wants(kind string) bool {
	return kind == api.AlertTest || len(t.Events) == 0 || slices.Contains(t.Events, kind)
}

// Shown is t's URL with nothing that may be a secret: the scheme and host
// only, the path and query (where webhook tokens live) cut to "/…".
func (t Target) Shown() string { return Redact(t.URL) }

// Redact is u without its user, path, query and fragment, for logs and
// messages: webhook URLs carry their secret there.
func Redact(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.Host == "" {
		return "(a URL that does not parse)"
	}
	s := p.Scheme + "://" + p.Host
	if p.Path != "" && p.Path != "/" || p.RawQuery != "" {
		s += "/…"
	}
	return s
}

var targetKeys = conf.Table[Target]{Fields: []conf.Field[Target]{
	conf.Custom("url", func(d *conf.Decoder, key string, v any, t *Target) {
		s, err := conf.String(v)
		if err != nil {
			d.Errorf(key, "%v", err)
			return
		}
		if reason := checkURL(s); reason != "" {
			d.Errorf(key, "%s", reason)
			return
		}
		t.URL = s
	}).Else(func(d *conf.Decoder, _ *Target) {
		d.Errorf("url", "required: the webhook to POST alerts to (http:// or https://)")
	}),
	conf.StringField("format", func(s string) string {
		if s != FormatJSON && s != FormatSlack {
			return fmt.Sprintf("want %s or %s, got %q", FormatJSON, FormatSlack, s)
		}
		return ""
	}, func(t *Target) *string { return &t.Format }),
	conf.StringsField("events", len(api.AlertKinds), func(s string) string {
		if !slices.Contains(api.AlertKinds, s) {
			hint := ""
			if near := conf.Nearest(s, api.AlertKinds); near != "" {
				hint = fmt.Sprintf(" (did you mean %s?)", near)
			}
			return fmt.Sprintf("unknown event kind %q%s; known: %s", s, hint, strings.Join(api.AlertKinds, ", "))
		}
		return ""
	}, func(t *Target) *[]string { return &t.Events }),
	durationField("min_interval", 0, 24*time.Hour, func(t *Target) *time.Duration { return &t.MinInterval }),
	durationField("timeout", 100*time.Millisecond, MaxTimeout, func(t *Target) *time.Duration { return &t.Timeout }),
	conf.IntField("attempts", 1, MaxAttempts, func(t *Target) *int { return &t.Attempts }),
}}

func durationField(name string, lo, hi time.Duration, field func(*Target) *time.Duration) conf.Field[Target] {
	return conf.Custom(name, func(d *conf.Decoder, key string, v any, t *Target) {
		p, err := conf.ParseDuration(v)
		if err != nil {
			d.Errorf(key, "%v", err)
			return
		}
		if p < lo || p > hi {
			d.Errorf(key, "want a duration between %s and %s, got %s", lo, hi, p)
			return
		}
		*field(t) = p
	})
}

// checkURL says what is wrong with a webhook URL, without repeating it
// (it holds a secret).
func checkURL(s string) string {
	if len(s) > maxURL {
		return fmt.Sprintf("a URL of %d bytes; at most %d are allowed", len(s), maxURL)
	}
	u, err := url.Parse(s)
	if err != nil {
		return "not a URL; want http:// or https:// and a host"
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		shown := u.Scheme
		if shown == "" {
			shown = "none"
		}
		return fmt.Sprintf("want an http:// or https:// URL, got scheme %s", shown)
	}
	if u.Host == "" || u.Hostname() == "" {
		return "the URL has no host"
	}
	return ""
}

// Decode reads daemon.yaml's alerts (a list of targets) at key, reporting
// problems to d, and returns the targets with their defaults filled in.
func Decode(d *conf.Decoder, key string, v any) []Target {
	list, ok := v.([]any)
	if !ok {
		d.Errorf(key, "want a list of webhooks such as [{url: https://hooks.example.com/...}], got %s", conf.Describe(v))
		return nil
	}
	if len(list) > MaxTargets {
		d.Errorf(key, "%d targets; at most %d are allowed", len(list), MaxTargets)
		return nil
	}
	out := make([]Target, 0, len(list))
	for i, e := range list {
		at := conf.Index(key, i)
		if _, isString := e.(string); isString {
			// Most likely the URL itself, which is not to be shown.
			d.Errorf(at, "want a mapping such as {url: https://hooks.example.com/...}, got a string: write url: before it")
			continue
		}
		m, ok := d.Map(at, e, "{url: https://hooks.example.com/...}")
		if !ok {
			continue
		}
		t := Target{Format: FormatJSON, MinInterval: DefaultMinInterval, Timeout: DefaultTimeout, Attempts: DefaultAttempts}
		targetKeys.Decode(d.Sub(at, m), &t)
		out = append(out, t)
	}
	return out
}
