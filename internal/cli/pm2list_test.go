package cli

import (
	"slices"
	"strings"
	"testing"

	"github.com/tendhq/tend/internal/api"
)

func TestSortAppsByPM2Fields(t *testing.T) {
	apps := func() []api.App {
		return []api.App{
			{ID: 0, Name: "b", Namespace: "x", Instances: []api.Instance{{PID: 30, CPUPercent: 5, MemoryBytes: 100, UptimeMS: 10, Restarts: 1}}},
			{ID: 1, Name: "c", Namespace: "a", Instances: []api.Instance{{PID: 10, CPUPercent: 1, MemoryBytes: 50, UptimeMS: 99, Restarts: 0}, {PID: 11, CPUPercent: 1, MemoryBytes: 60}}},
			{ID: 2, Name: "a", Namespace: "a", Instances: []api.Instance{{PID: 20, CPUPercent: 3, MemoryBytes: 500, UptimeMS: 50, Restarts: 4}}},
		}
	}
	for by, want := range map[string]string{
		"":              "bca",
		"name":          "abc",
		"name:desc":     "cba",
		"id:desc":       "acb",
		"cpu":           "cab", // c's two instances sum to 2
		"cpu:desc":      "bac",
		"mem":           "bca",
		"memory:desc":   "acb",
		"uptime:desc":   "cab",
		"restarts:desc": "abc",
		"pid":           "cab",
		"namespace":     "cab", // ties keep id order
		"NAME:desc":     "cba",
	} {
		got := apps()
		if err := sortApps(got, by); err != nil {
			t.Errorf("--sort %q: %v", by, err)
			continue
		}
		var names []string
		for _, a := range got {
			names = append(names, a.Name)
		}
		if s := strings.Join(names, ""); s != want {
			t.Errorf("--sort %q: %s, want %s", by, s, want)
		}
	}
	for _, bad := range []string{"colour", "name:up", "cpu:desc:x"} {
		a := apps()
		if err := sortApps(a, bad); err == nil || !strings.Contains(err.Error(), "--sort "+bad) {
			t.Errorf("--sort %q: err %v", bad, err)
		}
		if !slices.EqualFunc(a, apps(), func(x, y api.App) bool { return x.ID == y.ID }) {
			t.Errorf("--sort %q reordered the apps", bad)
		}
	}
}
