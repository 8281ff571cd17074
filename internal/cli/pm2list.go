package cli

import (
	"cmp"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/app"
	"github.com/tendhq/tend/internal/client"
	"github.com/tendhq/tend/internal/home"
	"github.com/tendhq/tend/internal/pm2"
	"github.com/tendhq/tend/internal/spec"
)

// sortFields are what `ls --sort FIELD[:asc|desc]` orders apps by (PM2's
// syntax and fields, and restarts). Figures of many instances are summed;
// uptime is the longest, a duration (PM2 sorts by start time, so its
// order is the reverse).
var sortFields = map[string]func(a, b api.App) int{
	"name": func(a, b api.App) int { return cmp.Compare(a.Name, b.Name) },
	"id":   func(a, b api.App) int { return cmp.Compare(a.ID, b.ID) },
	"cpu":  func(a, b api.App) int { return cmp.Compare(sum(a, cpuOf), sum(b, cpuOf)) },
	"mem":  func(a, b api.App) int { return cmp.Compare(sum(a, memOf), sum(b, memOf)) },
	"uptime": func(a, b api.App) int {
		return cmp.Compare(longest(a), longest(b))
	},
	"restarts":  func(a, b api.App) int { return cmp.Compare(sum(a, restartsOf), sum(b, restartsOf)) },
	"namespace": func(a, b api.App) int { return cmp.Compare(a.Namespace, b.Namespace) },
	"pid":       func(a, b api.App) int { return cmp.Compare(firstPID(a), firstPID(b)) },
	"status":    func(a, b api.App) int { return cmp.Compare(a.Status, b.Status) },
}

func cpuOf(in api.Instance) float64      { return in.CPUPercent }
func memOf(in api.Instance) float64      { return float64(in.MemoryBytes) }
func restartsOf(in api.Instance) float64 { return float64(in.Restarts) }

func sum(a api.App, f func(api.Instance) float64) float64 {
	var s float64
	for _, in := range a.Instances {
		s += f(in)
	}
	return s
}

func firstPID(a api.App) int {
	for _, in := range a.Instances {
		if in.PID > 0 {
			return in.PID
		}
	}
	return 0
}

func longest(a api.App) int64 {
	var m int64
	for _, in := range a.Instances {
		m = max(m, in.UptimeMS)
	}
	return m
}

// sortApps orders apps by a `--sort` value: FIELD or FIELD:asc|desc.
func sortApps(apps []api.App, by string) error {
	if by == "" {
		return nil
	}
	field, order, _ := strings.Cut(by, ":")
	field = strings.ToLower(field)
	if field == "memory" {
		field = "mem"
	}
	f, ok := sortFields[field]
	if !ok {
		return fmt.Errorf("--sort %s: want one of name, namespace, id, pid, cpu, mem, uptime, restarts, status, optionally with :asc or :desc (e.g. --sort cpu:desc)", by)
	}
	switch order {
	case "", "asc":
	case "desc":
		inner := f
		f = func(a, b api.App) int { return inner(b, a) }
	default:
		return fmt.Errorf("--sort %s: the order is asc or desc, as in --sort %s:desc", by, field)
	}
	slices.SortStableFunc(apps, func(a, b api.App) int {
		return cmp.Or(f(a, b), cmp.Compare(a.ID, b.ID))
	})
	return nil
}

// printPM2List prints apps in `pm2 jlist`'s shape.
func (e *env) printPM2List(ctx context.Context, c *client.Client, sortBy string) error {
	apps, err := c.Describe(ctx, "all")
	if err != nil {
		return friendly(err)
	}
	if err := sortApps(apps, sortBy); err != nil {
		return err
	}
	dir := e.home
	if e.host != "" {
		p, err := c.Ping(ctx) // the paths are the remote daemon's
		if err != nil {
			return friendly(err)
		}
		dir = p.Home
	}
	return e.printJSON(pm2.JList(apps, logPath(filepath.Join(dir, home.LogsDir))))
}

// logPath says where a daemon whose logs directory is dir writes an
// instance's stream.
func logPath(dir string) func(s *spec.App, stream string, index int) string {
	return func(s *spec.App, stream string, index int) string {
		setting := s.OutFile
		if stream == "error" {
			setting = s.ErrorFile
		}
		return app.StreamFile(s, dir, setting, stream, index)
	}
}
