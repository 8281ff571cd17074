// Package plan computes the least disruptive way to make the apps that run
// equal to the apps of a file: which to start, delete, scale, reload, change
// in place or replace. It is pure: it compares settings and touches nothing;
// the daemon executes the plan (tend apply) and the CLI prints it (--dry-run).
package plan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/tendhq/tend/internal/spec"
)

// Kind is what a step does to an app.
type Kind string

// The kinds of step, from the most to the least disruptive.
const (
	// Start starts an app that is in the file and does not run.
	Start Kind = "start"
	// Delete stops and forgets an app that is not in the file (prune).
	Delete Kind = "delete"
	// KeepRemoved lists an app that is not in the file but is kept because
	// the plan was made without prune. Nothing is done.
	KeepRemoved Kind = "keep-removed"
	// Replace deletes the app and starts it again with its new settings (a
	// restart, with downtime): its port or mode changed, which rebinds the
	// public socket, so no zero-downtime path exists.
	Replace Kind = "replace"
	// Scale changes the instance count (From → To).
	Scale Kind = "scale"
	// Reload replaces every instance with zero downtime, so that a changed
	// command, environment or process setting takes effect.
	Reload Kind = "reload"
	// Update installs the new settings in place; no process is touched.
	// Edge and log settings apply at once, policy settings at the next
	// exit, stop or start (Settings says when, key by key).
	Update Kind = "update"
	// Unchanged lists an app whose settings are the same. Nothing is done.
	Unchanged Kind = "unchanged"
)

// Step is one action on one app.
type Step struct {
	Kind Kind
	// App is the app's key, namespace/name.
	App string
	// From and To are instance counts, set for Scale only.
	From, To int
	// Keys are the changed settings that call for this step, sorted. A key
	// of an object setting is reported per member: env.LOG_LEVEL.
	Keys []string
	// Effect is how the changed keys take effect, for update, reload,
	// replace and scale (Kind.Effect): in place, reload, restart, scale.
	Effect string
	Reason string
}

// Plan is the steps that make what runs equal to a file, in the order in
// which they are to be executed:
//
//  1. every delete, so that a port or name freed by a removed app is free
//     for the apps that follow;
//  2. the apps that run and changed, by key; each app's steps in the order
//     update, scale down, reload, scale up (below);
//  3. every start;
//  4. the apps that need nothing (keep-removed, unchanged), to be listed.
//
// Within each group apps are ordered by namespace/name.
//
// Every step of an app works with the app's desired settings. Update
// installs them in place, which is what makes the other steps use them, so
// an executor installs the desired settings of an app in place before its
// first step, even when the plan holds no update step for it (an env-only
// change, say). Scale down comes before reload so that instances about to
// go are not reloaded; scale up comes after it so that new instances, which
// start with the new settings, are not reloaded either.
type Plan struct{ Steps []Step }

// Empty reports whether executing the plan would change nothing.
func (p Plan) Empty() bool {
	for _, s := range p.Steps {
		if s.Kind != Unchanged && s.Kind != KeepRemoved {
			return false
		}
	}
	return true
}

// String is the plan as tend apply --dry-run prints it: one aligned line
// per step, such as
//
//	reload  default/api  (env.LOG_LEVEL, script)  zero-downtime reload: new processes start with the new settings
func (p Plan) String() string {
	var b bytes.Buffer
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, s := range p.Steps {
		var detail []string
		switch {
		case s.Kind == Scale:
			detail = append(detail, fmt.Sprintf("%d -> %d", s.From, s.To))
		case len(s.Keys) > 0:
			detail = append(detail, "("+strings.Join(s.Keys, ", ")+")")
		}
		if s.Reason != "" {
			detail = append(detail, s.Reason)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Kind, s.App, strings.Join(detail, "  "))
	}
	tw.Flush()
	// tabwriter pads the last column too when another line's is wider.
	lines := strings.Split(b.String(), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	return strings.Join(lines, "\n")
}

// Make compares the apps that run with the apps of a file. With prune, apps
// that run but are not in the file are deleted; without, they are listed as
// keep-removed. Apps are matched by namespace/name; desired is assumed
// validated (keys unique), and of duplicates the last one counts.
func Make(current, desired []spec.App, prune bool) Plan {
	cur, want := index(current), index(desired)
	var deletes, changes, starts, idle []Step
	for key := range cur {
		if _, ok := want[key]; ok {
			continue
		}
		if prune {
			deletes = append(deletes, Step{Kind: Delete, App: key, Reason: "not in the file"})
		} else {
			idle = append(idle, Step{Kind: KeepRemoved, App: key, Reason: "not in the file; kept (--prune deletes it)"})
		}
	}
	for key, w := range want {
		c, ok := cur[key]
		if !ok {
			starts = append(starts, Step{Kind: Start, App: key, Reason: "new app"})
			continue
		}
		steps := compare(key, object(c), object(w))
		if len(steps) == 0 {
			idle = append(idle, Step{Kind: Unchanged, App: key})
		}
		changes = append(changes, steps...)
	}
	byApp := func(a, b Step) int { return strings.Compare(a.App, b.App) }
	for _, g := range [][]Step{deletes, starts, idle} {
		slices.SortFunc(g, byApp)
	}
	// Stable: an app's own steps keep the order compare gave them.
	slices.SortStableFunc(changes, byApp)
	return Plan{Steps: slices.Concat(deletes, changes, starts, idle)}
}

func index(apps []spec.App) map[string]spec.App {
	m := make(map[string]spec.App, len(apps))
	for _, a := range apps {
		m[a.Key()] = a
	}
	return m
}

// compare returns the steps that turn app c into app w, given in their
// JSON form, in execution order; none when they are equal.
func compare(key string, c, w map[string]json.RawMessage) []Step {
	from, to := count(c), count(w)
	scale := Step{Kind: Scale, App: key, Keys: []string{"instances"}, Effect: Scale.Effect()}
	if lo, hi, ok := autoscaled(w); ok {
		// The scaler owns the count; the file's instances is where it
		// starts. Apply only brings the count into the range.
		to = min(max(from, lo), hi)
		scale.Reason = "into autoscale.min/max"
	}
	scale.From, scale.To = from, to
	var keys []string
	for _, k := range Diff(c, w) {
		if k != "instances" || from != to {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 && from == to {
		return nil
	}
	byKind := map[Kind][]string{}
	for _, k := range keys {
		kind := Classify(k)
		byKind[kind] = append(byKind[kind], k)
	}
	if r := byKind[Replace]; len(r) > 0 {
		// Delete and start applies every other change too.
		return []Step{{Kind: Replace, App: key, Keys: keys, Effect: Replace.Effect(),
			Reason: fmt.Sprintf("restart: %s changed, the public socket is rebound (refused meanwhile)", strings.Join(r, " and "))}}
	}
	var steps []Step
	if u := byKind[Update]; len(u) > 0 {
		steps = append(steps, Step{Kind: Update, App: key, Keys: u, Effect: Update.Effect(),
			Reason: "in place: " + strings.Join(areas(u), ", ") + "; no process restarted"})
	}
	if to < from {
		steps = append(steps, scale)
	}
	if r := byKind[Reload]; len(r) > 0 {
		steps = append(steps, Step{Kind: Reload, App: key, Keys: r, Effect: Reload.Effect(),
			Reason: "zero-downtime reload: new processes start with the new settings"})
	}
	if to > from {
		steps = append(steps, scale)
	}
	return steps
}

// count reads the instance count of an app's JSON form.
func count(m map[string]json.RawMessage) int {
	var n int
	_ = json.Unmarshal(m["instances"], &n) // spec.App always has it
	return n
}

// autoscaled reads the range of an app whose count follows its load: the
// autoscale block (issue 7), {min, max, target_...}.
func autoscaled(m map[string]json.RawMessage) (lo, hi int, ok bool) {
	var a struct {
		Min int `json:"min"`
		Max int `json:"max"`
	}
	if json.Unmarshal(m["autoscale"], &a) != nil || a.Min < 1 || a.Max < a.Min {
		return 0, 0, false
	}
	return a.Min, a.Max, true
}

// object is an app's JSON form, top-level key by key: the keys and values
// that the ecosystem file, the state file and the API all use.
func object(a spec.App) map[string]json.RawMessage {
	b, err := json.Marshal(a)
	if err != nil {
		panic(fmt.Sprintf("plan: marshal app %s: %v", a.Key(), err)) // spec.App always marshals
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		panic(fmt.Sprintf("plan: unmarshal app %s: %v", a.Key(), err))
	}
	return m
}

// Diff returns the settings that differ between two apps' JSON forms,
// sorted. A key missing on one side (omitempty) differs from a present
// value. When the value is an object on both sides (or an object on one and
// absent on the other), as env is, the changed members are reported as
// key.member, so that a plan says which variable changed. The identity keys
// name and namespace are not compared.
func Diff(cur, want map[string]json.RawMessage) []string {
	var keys []string
	for _, k := range union(cur, want) {
		if k == "name" || k == "namespace" {
			continue
		}
		a, b := cur[k], want[k]
		if bytes.Equal(a, b) {
			continue
		}
		ma, okA := members(a)
		mb, okB := members(b)
		if !okA || !okB {
			keys = append(keys, k)
			continue
		}
		for _, m := range union(ma, mb) {
			if !bytes.Equal(ma[m], mb[m]) {
				keys = append(keys, k+"."+m)
			}
		}
	}
	slices.Sort(keys)
	return keys
}

// members decodes a JSON object; an absent or null value is an empty one.
func members(v json.RawMessage) (map[string]json.RawMessage, bool) {
	if len(v) == 0 || string(v) == "null" {
		return nil, true
	}
	var m map[string]json.RawMessage
	if bytes.HasPrefix(bytes.TrimSpace(v), []byte("{")) && json.Unmarshal(v, &m) == nil {
		return m, true
	}
	return nil, false
}

func union[V any](a, b map[string]V) []string {
	var keys []string
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}
