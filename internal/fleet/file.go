package fleet

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/tendhq/tend/internal/conf"
	"github.com/tendhq/tend/internal/spec"
)

// Placement says on which hosts an app runs: the hosts named, or those
// whose labels include every label of the selector; PerHost, when set, is
// its instances on each of them.
type Placement struct {
	Hosts    []string          `json:"hosts,omitempty"`
	Selector map[string]string `json:"selector,omitempty"`
	PerHost  int               `json:"per_host,omitempty"`
}

// PlacedApp is an app of a fleet file and where it goes.
type PlacedApp struct {
	App   spec.App
	Place Placement
	path  string // apps[i], for messages
}

// IsFleetFile says whether the ecosystem file at path places its apps on
// hosts (an app has hosts: or selector:): tend apply then writes the
// fleet's desired state instead of changing the local daemon.
func IsFleetFile(path string) bool {
	b, err := os.ReadFile(path)
	if err != nil || !isYAML(path) {
		return false
	}
	var top struct {
		Apps []map[string]any `yaml:"apps"`
	}
	if yaml.Unmarshal(b, &top) != nil {
		return false
	}
	for _, a := range top.Apps {
		if _, ok := a["hosts"]; ok {
			return true
		}
		if _, ok := a["selector"]; ok {
			return true
		}
	}
	return false
}

func isYAML(path string) bool {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// LoadFile reads and validates a fleet file whole: an ecosystem file
// (YAML or JSON) whose every app carries a placement. Paths must be
// absolute (they are paths on the hosts), and are checked there.
func LoadFile(path string, maxInstances int) ([]PlacedApp, error) {
	fail := func(key, format string, args ...any) ([]PlacedApp, error) {
		return nil, conf.Errors{{File: path, Path: key, Reason: fmt.Sprintf(format, args...)}}
	}
	if !isYAML(path) {
		return fail("", "a fleet file is YAML or JSON: name it *.yaml, *.yml or *.json")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fail("", "cannot read the file: %v", err)
	}
	var top map[string]any
	if err := yaml.Unmarshal(b, &top); err != nil {
		return fail("", "%v", err)
	}
	items, ok := top["apps"].([]any)
	if !ok || len(items) == 0 {
		return fail("apps", "required: a list of apps, each with hosts: or selector:")
	}
	if maxInstances <= 0 {
		maxInstances = spec.DefaultMaxInstances
	}
	var errs conf.Errors
	places := make([]Placement, len(items))
	for i, it := range items {
		key := fmt.Sprintf("apps[%d]", i)
		m, ok := it.(map[string]any)
		if !ok {
			errs = append(errs, &conf.FieldError{File: path, Path: key, Reason: "want a mapping (one app), got " + conf.Describe(it)})
			continue
		}
		d := conf.NewDecoder(path, key, m)
		places[i] = placement(d, maxInstances)
		errs = append(errs, d.Errs()...)
		delete(m, "hosts")
		delete(m, "selector")
		// Paths are the hosts': an app runs where its script is unless told.
		if script, ok := m["script"].(string); ok && filepath.IsAbs(script) && m["cwd"] == nil {
			m["cwd"] = filepath.Dir(script)
		}
		if n := places[i].PerHost; n > 0 {
			delete(m, "per_host")
			m["instances"] = n
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	raw, err := json.Marshal(items)
	if err != nil {
		return fail("apps", "%v", err)
	}
	apps, _, err := spec.DecodeJSON(raw, spec.DecodeOptions{File: path, SkipFileChecks: true, MaxInstances: maxInstances, PortsPlaced: true})
	if err != nil {
		return nil, err
	}
	out := make([]PlacedApp, len(apps))
	for i, a := range apps {
		out[i] = PlacedApp{App: a, Place: places[i], path: fmt.Sprintf("apps[%d]", i)}
	}
	return out, nil
}

// placement decodes an app's hosts, selector and per_host.
func placement(d *conf.Decoder, maxInstances int) Placement {
	var p Placement
	hv, hasHosts := d.Get("hosts")
	sv, hasSel := d.Get("selector")
	switch {
	case hasHosts && hasSel:
		d.Errorf("hosts", "give hosts or selector, not both")
	case !hasHosts && !hasSel:
		d.Errorf("", "placement: give hosts: [names] or selector: {label: value}")
	case hasHosts:
		list, ok := hv.([]any)
		if !ok || len(list) == 0 {
			d.Errorf("hosts", "want a list of host names, got %s", conf.Describe(hv))
			break
		}
		if len(list) > MaxHosts {
			d.Errorf("hosts", "%d hosts: at most %d", len(list), MaxHosts)
			break
		}
		for i, v := range list {
			s, _ := v.(string)
			if err := CheckName(s); err != nil {
				d.Errorf(fmt.Sprintf("hosts[%d]", i), "%v", err)
				continue
			}
			if slices.Contains(p.Hosts, s) {
				d.Errorf(fmt.Sprintf("hosts[%d]", i), "%s is listed twice", s)
				continue
			}
			p.Hosts = append(p.Hosts, s)
		}
	default:
		m, ok := sv.(map[string]any)
		if !ok || len(m) == 0 {
			d.Errorf("selector", "want a mapping of labels, such as {role: web}, got %s", conf.Describe(sv))
			break
		}
		p.Selector = map[string]string{}
		for k, v := range m {
			s, ok := conf.Scalar(v)
			if !ok {
				d.Errorf("selector."+k, "want a value, got %s", conf.Describe(v))
				continue
			}
			p.Selector[k] = s
		}
		if err := CheckLabels(p.Selector); err != nil {
			d.Errorf("selector", "%v", err)
		}
	}
	if v, ok := d.Get("per_host"); ok {
		n, err := conf.Int(v)
		if err != nil || n < 1 || n > maxInstances {
			d.Errorf("per_host", "want instances on each host, 1 to %d, got %s", maxInstances, conf.Describe(v))
		} else {
			p.PerHost = n
		}
	}
	return p
}

// Place gives each host its apps: hosts maps every known host to its
// labels. A host named that is not known, a selector that matches no
// host, or two apps with one port on one host is an error, and nothing is
// placed. Every known host is in the result, those with no app with an
// empty list.
func Place(file string, apps []PlacedApp, hosts map[string]map[string]string) (map[string][]json.RawMessage, error) {
	out := map[string][]json.RawMessage{}
	for h := range hosts {
		out[h] = []json.RawMessage{}
	}
	ports := map[string]map[int]string{} // host -> port -> the app's path and name
	known := slices.Sorted(maps.Keys(hosts))
	var errs conf.Errors
	for _, a := range apps {
		var on []string
		if a.Place.Hosts != nil {
			for i, h := range a.Place.Hosts {
				if _, ok := hosts[h]; !ok {
					errs = append(errs, &conf.FieldError{File: file, Path: fmt.Sprintf("%s.hosts[%d]", a.path, i),
						Reason: fmt.Sprintf("unknown host %q: the hosts the hub knows are %s (a host is known once its agent has reported)", h, list(known))})
					continue
				}
				on = append(on, h)
			}
		} else {
			for _, h := range known {
				if matches(hosts[h], a.Place.Selector) {
					on = append(on, h)
				}
			}
			if len(on) == 0 {
				errs = append(errs, &conf.FieldError{File: file, Path: a.path + ".selector",
					Reason: fmt.Sprintf("%s matches no host: %s", labelString(a.Place.Selector), hostLabels(known, hosts))})
			}
		}
		b, err := json.Marshal(a.App)
		if err != nil {
			return nil, err
		}
		for _, h := range on {
			out[h] = append(out[h], b)
		}
		if a.App.Port > 0 {
			for _, h := range on {
				if ports[h] == nil {
					ports[h] = map[int]string{}
				}
				if prev, ok := ports[h][a.App.Port]; ok {
					errs = append(errs, &conf.FieldError{File: file, Path: a.path + ".port",
						Reason: fmt.Sprintf("%d is also the port of %s on host %s; two apps on one host cannot listen on one port", a.App.Port, prev, h)})
					break
				}
				ports[h][a.App.Port] = fmt.Sprintf("%s (%s)", a.path, a.App.Name)
			}
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return out, nil
}

func matches(labels, selector map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func list(names []string) string {
	if len(names) == 0 {
		return "none yet"
	}
	return strings.Join(names, ", ")
}

// labelString is labels as k=v,k=v, sorted.
func labelString(labels map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		parts = append(parts, k+"="+labels[k])
	}
	return strings.Join(parts, ",")
}

func hostLabels(known []string, hosts map[string]map[string]string) string {
	if len(known) == 0 {
		return "the hub knows no host yet"
	}
	var parts []string
	for i, h := range known {
		if i == 20 {
			parts = append(parts, fmt.Sprintf("and %d more", len(known)-20))
			break
		}
		parts = append(parts, fmt.Sprintf("%s {%s}", h, labelString(hosts[h])))
	}
	return "the hosts are " + strings.Join(parts, ", ")
}

// LabelString is labels as k=v,k=v, sorted by key.
func LabelString(labels map[string]string) string { return labelString(labels) }

// SameApps says whether two lists of apps in their JSON form are equal.
func SameApps(a, b []json.RawMessage) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		var x, y bytes.Buffer
		if json.Compact(&x, a[i]) != nil || json.Compact(&y, b[i]) != nil || !bytes.Equal(x.Bytes(), y.Bytes()) {
			return false
		}
	}
	return true
}
