package plan

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tendhq/tend/internal/golden"
	"github.com/tendhq/tend/internal/spec"
)

// TestGolden plans each case of testdata/plan: current.json (what runs),
// desired.json (the file) and, when a file named prune exists, with prune.
func TestGolden(t *testing.T) {
	dirs, err := filepath.Glob("../../testdata/plan/*")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no cases: %v", err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			_, err := os.Stat(filepath.Join(dir, "prune"))
			p := Make(load(t, dir, "current.json"), load(t, dir, "desired.json"), err == nil)
			got := p.String()
			if p.Empty() {
				got += "(empty)\n"
			}
			golden.Check(t, filepath.Join(dir, "plan.golden"), []byte(got))
		})
	}
}

func load(t *testing.T, dir, name string) []spec.App {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	// Unknown keys are typos in a fixture: they would silently compare equal.
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	var apps []spec.App
	if err := d.Decode(&apps); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return apps
}

func TestClassify(t *testing.T) {
	for key, want := range map[string]Kind{
		"instances":        Scale,
		"port":             Replace,
		"mode":             Replace,
		"script":           Reload,
		"env.LOG_LEVEL":    Reload,
		"interpreter_args": Reload,
		"balance":          Update,
		"edge.tls":         Update,
		"edge":             Update,
		"kill_timeout":     Update,
		"reload_batch":     Update,
		"cron_restart":     Update,
		"autoscale.max":    Update,
		"some_future_key":  Reload,
	} {
		if got := Classify(key); got != want {
			t.Errorf("Classify(%q) = %s, want %s", key, got, want)
		}
	}
}

// TestDiff covers keys spec.App does not have yet: nested objects such as
// edge, and unknown keys.
func TestDiff(t *testing.T) {
	raw := func(s string) map[string]json.RawMessage {
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	for _, c := range []struct {
		name, cur, want string
		keys            []string
	}{
		{"same", `{"name":"a","env":{"A":"1"}}`, `{"env":{"A":"1"},"name":"a"}`, nil},
		{"identity ignored", `{"name":"a","namespace":"x"}`, `{"name":"b","namespace":"y"}`, nil},
		{"member added", `{"edge":{"gzip":true}}`, `{"edge":{"gzip":true,"hsts":"1y"}}`, []string{"edge.hsts"}},
		{"object appears", `{}`, `{"edge":{"tls":{"cert":"c"},"gzip":true}}`, []string{"edge.gzip", "edge.tls"}},
		{"object goes", `{"env":{"B":"2","A":"1"}}`, `{}`, []string{"env.A", "env.B"}},
		{"scalar appears", `{}`, `{"port":80}`, []string{"port"}},
		{"object to scalar", `{"watch":["src"]}`, `{"watch":true}`, []string{"watch"}},
		{"unknown key", `{"future":1}`, `{"future":2}`, []string{"future"}},
	} {
		got := Diff(raw(c.cur), raw(c.want))
		if !slices.Equal(got, c.keys) {
			t.Errorf("%s: Diff = %q, want %q", c.name, got, c.keys)
		}
	}
}

func TestEmpty(t *testing.T) {
	a := spec.App{Name: "a", Namespace: "default", Instances: 1}
	b := spec.App{Name: "b", Namespace: "default", Instances: 1}
	if p := Make([]spec.App{a, b}, []spec.App{a}, false); !p.Empty() {
		t.Errorf("keep-removed only: not empty:\n%s", p)
	}
	if p := Make([]spec.App{a, b}, []spec.App{a}, true); p.Empty() {
		t.Errorf("prune: empty:\n%s", p)
	}
	if p := Make(nil, nil, true); !p.Empty() || p.String() != "" {
		t.Errorf("nothing: %q", p)
	}
}

// With autoscale, the count follows the load: apply does not scale to the
// file's instances, only into [min, max].
func TestAutoscaledCount(t *testing.T) {
	raw := func(s string) map[string]json.RawMessage {
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	const as = `"autoscale":{"min":2,"max":8,"target_cpu":70}`
	for _, c := range []struct{ cur, want, plan string }{
		{`{"instances":5,` + as + `}`, `{"instances":2,` + as + `}`, ""},
		{`{"instances":10,` + as + `}`, `{"instances":2,` + as + `}`, "scale  a  10 -> 8  into autoscale.min/max"},
		{`{"instances":1}`, `{"instances":1,` + as + `}`,
			"update  a  (autoscale.max, autoscale.min, autoscale.target_cpu)\nscale   a  1 -> 2  into autoscale.min/max"},
		{`{"instances":5,` + as + `}`, `{"instances":3}`, "update  a  (autoscale.max, autoscale.min, autoscale.target_cpu)\nscale   a  5 -> 3"},
	} {
		got := strings.TrimSpace(Plan{Steps: compare("a", raw(c.cur), raw(c.want))}.String())
		if got != c.plan {
			t.Errorf("%s -> %s:\ngot:\n%s\nwant:\n%s", c.cur, c.want, got, c.plan)
		}
	}
}
