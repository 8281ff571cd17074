package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/plan"
	"github.com/tendhq/tend/internal/spec"
	"go.yaml.in/yaml/v3"
)

// apply answers POST /v1/apply: make what runs equal to a file, doing the
// least (start, delete with prune, scale, reload, change in place).
func (d *Daemon) apply(r *http.Request) (any, error) {
	var req api.ApplyRequest
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	raw, err := json.Marshal(req.Apps)
	if err != nil {
		return nil, badRequest("apps: %v", err)
	}
	// As in start: the CLI checked the files of the file it loaded, unless
	// it is on another host.
	desired, _, err := spec.DecodeJSON(raw, spec.DecodeOptions{SkipFileChecks: !fromRemote(r), MaxInstances: d.maxInstances})
	if err != nil {
		return nil, badRequest("%v", err)
	}
	d.applyMu.Lock()
	defer d.applyMu.Unlock()
	res, err := d.execute(r.Context(), d.currentSpecs(), desired, req.Prune, req.DryRun, callerEnv(r, req.Env))
	if !req.DryRun {
		d.publishPlan(nil, api.EventApply, res, err)
	}
	return res, err
}

// currentSpecs returns the settings of every registered app.
func (d *Daemon) currentSpecs() []spec.App {
	d.mu.Lock()
	entries := slices.Clone(d.apps)
	d.mu.Unlock()
	var out []spec.App
	for _, e := range entries {
		if s, err := e.app.Spec(); err == nil {
			out = append(out, s)
		}
	}
	return out
}

// execute makes and, unless dryRun, carries out the plan from current to
// desired. It stops at the first failing step and says which.
func (d *Daemon) execute(ctx context.Context, current, desired []spec.App, prune, dryRun bool, env map[string]string) (api.ApplyResult, error) {
	p := plan.Make(current, desired, prune)
	res := api.ApplyResult{Text: p.String(), Steps: []api.PlanStep{}}
	for _, s := range p.Steps {
		res.Steps = append(res.Steps, api.PlanStep{Kind: string(s.Kind), App: s.App, From: s.From, To: s.To, Keys: s.Keys, Effect: s.Effect, Reason: s.Reason})
	}
	if dryRun || p.Empty() {
		return res, nil
	}
	want := map[string]spec.App{}
	for _, s := range desired {
		want[s.Key()] = s
	}
	installed := map[string]bool{}
	var err error
	for i, s := range p.Steps {
		if err = d.step(ctx, s, want[s.App], installed, env); err != nil {
			err = fmt.Errorf("step %d (%s %s): %w", i+1, s.Kind, s.App, err)
			break
		}
		res.Done++
	}
	if perr := d.persist(); perr != nil {
		err = errors.Join(err, fmt.Errorf("write state: %w", perr))
	}
	res.Applied = err == nil
	return res, err
}

// step carries out one step of a plan.
func (d *Daemon) step(ctx context.Context, s plan.Step, want spec.App, installed map[string]bool, env map[string]string) error {
	if s.Kind == plan.Unchanged || s.Kind == plan.KeepRemoved {
		return nil
	}
	e := d.byKey(s.App)
	switch s.Kind {
	case plan.Start:
		return d.startApp(ctx, d.newID(), want, env)
	case plan.Delete, plan.Replace:
		if e == nil {
			return fmt.Errorf("no app %s", s.App)
		}
		id := e.id
		if env == nil {
			if rec, err := e.app.Record(); err == nil {
				env = rec.CallerEnv
			}
		}
		if err := e.app.Delete(ctx); err != nil {
			return err
		}
		d.unregister(e)
		if s.Kind == plan.Delete {
			return nil
		}
		return d.startApp(ctx, id, want, env)
	}
	if e == nil {
		return fmt.Errorf("no app %s", s.App)
	}
	// The desired settings go in first, so that scale and reload use them.
	if !installed[s.App] {
		if err := e.app.Update(want); err != nil {
			return err
		}
		installed[s.App] = true
	}
	switch s.Kind {
	case plan.Scale:
		return e.app.Scale(ctx, s.To)
	case plan.Reload:
		return e.app.Reload(ctx)
	}
	return nil // update: done above
}

func (d *Daemon) byKey(key string) *entry {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, e := range d.apps {
		if e.namespace+"/"+e.name == key {
			return e
		}
	}
	return nil
}

func (d *Daemon) newID() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	id := d.nextID
	d.nextID++
	return id
}

func (d *Daemon) startApp(ctx context.Context, id int, s spec.App, env map[string]string) error {
	e := d.register(id, s, env, time.Now())
	return e.app.Start(ctx)
}

// set answers POST /v1/apps/{target}/set: change single settings as a
// file would, validated the same way, then do the least that applies them.
func (d *Daemon) set(r *http.Request) (any, error) {
	var req api.SetRequest
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	if len(req.Set) == 0 && len(req.Unset) == 0 {
		return nil, badRequest("nothing to set or unset")
	}
	m, err := d.match(r.PathValue("target"))
	if err != nil {
		return nil, err
	}
	d.applyMu.Lock()
	defer d.applyMu.Unlock()
	var current, desired []spec.App
	for _, e := range m {
		cur, err := e.app.Spec()
		if err != nil {
			continue
		}
		next, err := edit(cur, req.Set, req.Unset, d.maxInstances)
		if err != nil {
			return nil, badRequest("%s: %v", cur.Name, err)
		}
		current = append(current, cur)
		desired = append(desired, next)
	}
	res, err := d.execute(r.Context(), current, desired, false, req.DryRun, nil)
	if !req.DryRun {
		d.publishPlan(m, api.EventSet, res, err)
	}
	return res, err
}

// edit returns s with keys set and unset, decoded and validated as an
// ecosystem entry. Keys are dotted paths (env.LOG_LEVEL, autoscale.max);
// values are read as YAML scalars, so 6 is a number and true a boolean.
func edit(s spec.App, set map[string]string, unset []string, maxInstances int) (spec.App, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return s, err
	}
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		return s, err
	}
	// A key's other name (out for out_file, PM2's exec_interpreter) is the
	// key: the app's JSON form holds the key itself.
	set, unset, err = canonical(set, unset)
	if err != nil {
		return s, err
	}
	// Decoded again from scratch, defaults must come from the decoder,
	// not from the old values of settings derived from others.
	if _, ok := set["wait_ready"]; ok || slices.Contains(unset, "wait_ready") {
		delete(raw, "listen_timeout")
	}
	for _, key := range unset {
		if err := walk(raw, key, nil, true); err != nil {
			return s, err
		}
	}
	for key, text := range set {
		var v any
		if err := yaml.Unmarshal([]byte(text), &v); err != nil {
			v = text
		}
		if err := walk(raw, key, v, false); err != nil {
			return s, err
		}
	}
	out, err := json.Marshal([]any{raw})
	if err != nil {
		return s, err
	}
	apps, warns, err := spec.DecodeJSON(out, spec.DecodeOptions{MaxInstances: maxInstances})
	if err != nil {
		return s, errors.New(strings.ReplaceAll(err.Error(), "apps[0].", ""))
	}
	// A key a file may carry for PM2's sake is only a warning there; typed
	// in a command, it is a mistake to say, not to ignore.
	for _, w := range warns {
		key := strings.TrimPrefix(w.Path, "apps[0].")
		for k := range set {
			if k == key || strings.HasPrefix(k, key+".") {
				return s, fmt.Errorf("%s: %s", key, strings.TrimSuffix(w.Message, "; ignored"))
			}
		}
	}
	if apps[0].Name != s.Name || apps[0].Namespace != s.Namespace {
		return s, errors.New("name and namespace cannot be changed with set: start the app under the new name")
	}
	return apps[0], nil
}

// canonical names the keys of set and unset by their keys rather than
// their aliases; two names of one key in set are an error.
func canonical(set map[string]string, unset []string) (map[string]string, []string, error) {
	name := func(key string) string {
		top, rest, dotted := strings.Cut(key, ".")
		top, _ = spec.CanonicalKey(top)
		if dotted {
			return top + "." + rest
		}
		return top
	}
	out := make(map[string]string, len(set))
	given := map[string]string{}
	for k, v := range set {
		c := name(k)
		if other, ok := given[c]; ok {
			a, b := min(k, other), max(k, other)
			return nil, nil, fmt.Errorf("%s and %s name the same setting; give one", a, b)
		}
		given[c] = k
		out[c] = v
	}
	names := make([]string, len(unset))
	for i, k := range unset {
		names[i] = name(k)
	}
	return out, names, nil
}

// walk sets (or, with del, removes) the value at a dotted key path.
func walk(raw map[string]any, key string, v any, del bool) error {
	parts := strings.Split(key, ".")
	m := raw
	for i, p := range parts {
		if p == "" {
			return fmt.Errorf("%q: empty key", key)
		}
		if i == len(parts)-1 {
			if del {
				delete(m, p)
			} else {
				m[p] = v
			}
			return nil
		}
		next, ok := m[p].(map[string]any)
		if !ok {
			if m[p] != nil && !del {
				return fmt.Errorf("%s: is not a mapping", strings.Join(parts[:i+1], "."))
			}
			if del {
				return nil
			}
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	return nil
}
