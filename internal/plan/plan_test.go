package plan

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
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

// Every key an app accepts (the spec's key table, and the JSON form the
// plan compares) has an entry in Settings, or names the app: a key added
// without saying how its change takes effect fails here.
func TestEveryKeyHasASetting(t *testing.T) {
	keys := spec.Keys()
	if len(keys) < 40 {
		t.Fatalf("spec.Keys() = %d keys; the table was not read", len(keys))
	}
	ty := reflect.TypeFor[spec.App]()
	for i := range ty.NumField() {
		name, _, _ := strings.Cut(ty.Field(i).Tag.Get("json"), ",")
		if !slices.Contains(keys, name) {
			t.Errorf("spec.App's JSON key %q is not in the spec's key table", name)
		}
	}
	for _, k := range keys {
		_, ok := Settings[k]
		if !ok && !slices.Contains(Identity, k) {
			t.Errorf("key %s has no entry in Settings: say how its change takes effect", k)
		}
	}
	for k := range Settings {
		if !slices.Contains(keys, k) {
			t.Errorf("Settings has %s, which is no key of an app", k)
		}
	}
	// One kind per area: the README's table gives one effect per row.
	kinds := map[*Area]Kind{}
	for k, s := range Settings {
		if s.Area == nil || !slices.Contains(allAreas, s.Area) {
			t.Errorf("%s: area %v is not listed in allAreas", k, s.Area)
			continue
		}
		if prev, ok := kinds[s.Area]; ok && prev != s.Kind {
			t.Errorf("area %q has keys of kinds %s and %s", s.Area.Name, prev, s.Kind)
		}
		kinds[s.Area] = s.Kind
	}
}

// The README's table of settings is Markdown(): regenerate it with -update.
func TestReadmeTable(t *testing.T) {
	const begin, end = "<!-- settings table: go test ./internal/plan -update -->\n", "<!-- end of settings table -->"
	path := "../../README.md"
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	i, j := strings.Index(readme, begin), strings.Index(readme, end)
	if i < 0 || j < i {
		t.Fatalf("README.md lacks the markers %q and %q", begin, end)
	}
	got := readme[:i+len(begin)] + Markdown() + readme[j:]
	golden.Check(t, path, []byte(got))
}

func TestStepSaysTheEffect(t *testing.T) {
	a := spec.App{Name: "a", Namespace: "default", Instances: 1, Port: 80, Mode: spec.ModeProxy}
	b := a
	b.MaxSize, b.Balance, b.MaxRestarts = 10<<10, spec.BalanceSticky, 2
	p := Make([]spec.App{a}, []spec.App{b}, false)
	want := "update  default/a  (balance, max_restarts, max_size)  in place: log files, edge, restart policy; no process restarted"
	if got := strings.TrimSpace(p.String()); got != want || p.Steps[0].Effect != "in place" {
		t.Errorf("plan:\n%s\neffect %q; want\n%s", got, p.Steps[0].Effect, want)
	}
	b = a
	b.Port = 81
	if p := Make([]spec.App{a}, []spec.App{b}, false); !strings.Contains(p.String(), "restart: port changed") || p.Steps[0].Effect != "restart" {
		t.Errorf("port change:\n%s", p)
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
			"update  a  (autoscale.max, autoscale.min, autoscale.target_cpu)  in place: watch, cron and autoscale; no process restarted\nscale   a  1 -> 2  into autoscale.min/max"},
		{`{"instances":5,` + as + `}`, `{"instances":3}`, "update  a  (autoscale.max, autoscale.min, autoscale.target_cpu)  in place: watch, cron and autoscale; no process restarted\nscale   a  5 -> 3"},
	} {
		got := strings.TrimSpace(Plan{Steps: compare("a", raw(c.cur), raw(c.want))}.String())
		if got != c.plan {
			t.Errorf("%s -> %s:\ngot:\n%s\nwant:\n%s", c.cur, c.want, got, c.plan)
		}
	}
}
