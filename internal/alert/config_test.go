package alert

import (
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tendhq/tend/internal/conf"
)

func decode(t *testing.T, src string) ([]Target, []string) {
	t.Helper()
	var raw map[string]any
	if err := yaml.Unmarshal([]byte(src), &raw); err != nil {
		t.Fatal(err)
	}
	d := conf.NewDecoder("daemon.yaml", "", raw)
	targets := Decode(d, "alerts", raw["alerts"])
	var errs []string
	for _, e := range d.Errs() {
		errs = append(errs, e.Error())
	}
	return targets, errs
}

func TestDecodeFillsDefaults(t *testing.T) {
	got, errs := decode(t, `
alerts:
  - url: https://hooks.slack.com/services/T0/B0/SECRET
    format: slack
    events: [errored, crash_loop]
    min_interval: 5m
  - url: http://127.0.0.1:9000/hook
    timeout: 2s
    attempts: 2
`)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	want := []Target{
		{URL: "https://hooks.slack.com/services/T0/B0/SECRET", Format: FormatSlack, Events: []string{"errored", "crash_loop"},
			MinInterval: 5 * time.Minute, Timeout: DefaultTimeout, Attempts: DefaultAttempts},
		{URL: "http://127.0.0.1:9000/hook", Format: FormatJSON, MinInterval: DefaultMinInterval, Timeout: 2 * time.Second, Attempts: 2},
	}
	if len(got) != 2 || !equal(got[0], want[0]) || !equal(got[1], want[1]) {
		t.Fatalf("targets\n  %+v\nwant\n  %+v", got, want)
	}
	if !got[1].Wants("host_lost") || got[0].Wants("memory_limit") || !got[0].Wants("errored") {
		t.Error("Wants does not follow events")
	}
}

func equal(a, b Target) bool {
	return a.URL == b.URL && a.Format == b.Format && slices.Equal(a.Events, b.Events) &&
		a.MinInterval == b.MinInterval && a.Timeout == b.Timeout && a.Attempts == b.Attempts
}

func TestDecodeRefusesBadTargets(t *testing.T) {
	cases := []struct {
		src  string
		want []string
	}{
		{"alerts:\n  - url: ftp://example.com/SECRET\n", []string{
			"daemon.yaml: alerts[0].url: want an http:// or https:// URL, got scheme ftp"}},
		{"alerts:\n  - url: hooks.example.com/SECRET\n", []string{
			"daemon.yaml: alerts[0].url: want an http:// or https:// URL, got scheme none"}},
		{"alerts:\n  - url: 'https:///SECRET'\n", []string{
			"daemon.yaml: alerts[0].url: the URL has no host"}},
		{"alerts:\n  - format: slack\n", []string{
			"daemon.yaml: alerts[0].url: required: the webhook to POST alerts to (http:// or https://)"}},
		{"alerts:\n  - url: https://h/x\n    events: [errored, crashloop, disk]\n", []string{
			`daemon.yaml: alerts[0].events[1]: unknown event kind "crashloop" (did you mean crash_loop?); known: errored, crash_loop, memory_limit, reload_failed, deploy_failed, host_lost`,
			`daemon.yaml: alerts[0].events[2]: unknown event kind "disk"; known: errored, crash_loop, memory_limit, reload_failed, deploy_failed, host_lost`}},
		{"alerts:\n  - url: https://h/x\n    colour: red\n", []string{
			"daemon.yaml: alerts[0].colour: unknown key; known keys: url, format, events, min_interval, timeout, attempts"}},
		{"alerts:\n  - url: https://h/x\n    format: teams\n", []string{
			`daemon.yaml: alerts[0].format: want json or slack, got "teams"`}},
		{"alerts:\n  - url: https://h/x\n    timeout: 1h\n    attempts: 50\n", []string{
			"daemon.yaml: alerts[0].timeout: want a duration between 100ms and 1m0s, got 1h0m0s",
			"daemon.yaml: alerts[0].attempts: must be between 1 and 10, got 50"}},
		{"alerts:\n  url: https://h/x\n", []string{
			"daemon.yaml: alerts: want a list of webhooks such as [{url: https://hooks.example.com/...}], got a mapping"}},
		{"alerts:\n  - https://h/SECRET\n", []string{
			"daemon.yaml: alerts[0]: want a mapping such as {url: https://hooks.example.com/...}, got a string: write url: before it"}},
		{"alerts:\n" + strings.Repeat("  - url: https://h/x\n", MaxTargets+1), []string{
			"daemon.yaml: alerts: 21 targets; at most 20 are allowed"}},
	}
	for _, c := range cases {
		_, errs := decode(t, c.src)
		if !slices.Equal(errs, c.want) {
			t.Errorf("%s\n  got  %q\n  want %q", c.src, errs, c.want)
		}
		for _, e := range errs {
			if strings.Contains(e, "SECRET") {
				t.Errorf("an error shows the URL's secret: %s", e)
			}
		}
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"https://hooks.slack.com/services/T0/B0/SECRET": "https://hooks.slack.com/…",
		"http://127.0.0.1:9000/hook?token=SECRET":       "http://127.0.0.1:9000/…",
		"http://127.0.0.1:9000?token=SECRET":            "http://127.0.0.1:9000/…",
		"https://user:SECRET@example.com/":              "https://example.com",
		"https://example.com":                           "https://example.com",
		"::":                                            "(a URL that does not parse)",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q; want %q", in, got, want)
		}
	}
}
