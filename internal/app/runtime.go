package app

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/autoscale"
	"github.com/tendhq/tend/internal/schedule"
	"github.com/tendhq/tend/internal/spec"
	"github.com/tendhq/tend/internal/watch"
)

// maxEvents is how many of its own actions an app remembers for describe.
const maxEvents = 50

// event records something tend did to the app on its own (a watch reload,
// a cron reload, an autoscale step), for describe and the daemon's log.
func (a *App) event(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	a.events = append(a.events, api.Event{At: a.fx.Now(), Message: msg})
	if len(a.events) > maxEvents {
		a.events = slices.Delete(a.events, 0, len(a.events)-maxEvents)
	}
	if a.cfg.Log != nil {
		a.cfg.Log.Info(msg, "app", a.spec.Name)
	}
}

// arm starts what acts on the app while it runs: the file watcher, the
// cron schedule and the autoscaler, as its spec says. Owner goroutine.
func (a *App) arm() {
	a.disarm()
	s := a.spec
	if len(s.Watch) > 0 {
		w, err := watch.New(watch.Options{
			Paths:  s.Watch,
			Root:   s.Cwd,
			Ignore: append(watch.DefaultIgnore(), s.IgnoreWatch...),
			Delay:  s.WatchDelay.D(),
		}, func(paths []string) {
			shown := paths
			if len(shown) > 3 {
				shown = append(slices.Clone(shown[:3]), fmt.Sprintf("and %d more", len(paths)-3))
			}
			a.reloadBy("watch: " + strings.Join(shown, ", ") + " changed")
		})
		if err != nil {
			a.event("watch not started: %v", err)
		} else {
			a.watcher = w
		}
	}
	if s.CronRestart != "" {
		if sched, err := schedule.Parse(s.CronRestart); err == nil {
			expr := s.CronRestart
			a.cronStop = schedule.Run(sched, schedule.SystemClock{}, func() {
				a.reloadBy("cron_restart " + expr)
			})
		}
	}
	if s.Autoscale != nil {
		a.scaler = autoscale.New(s.Autoscale.Policy())
	}
}

// disarm stops the watcher, the cron schedule and the autoscaler.
func (a *App) disarm() {
	if a.watcher != nil {
		a.watcher.Close()
		a.watcher = nil
	}
	if a.cronStop != nil {
		a.cronStop()
		a.cronStop = nil
	}
	a.scaler = nil
}

// reloadBy reloads the app on tend's own initiative, unless the user has
// stopped it meanwhile. It runs on a helper goroutine: a reload takes time.
func (a *App) reloadBy(reason string) {
	a.goHelper(func() {
		var stopped bool
		if a.do(func() { stopped = a.stopped }) != nil || stopped {
			return
		}
		_ = a.do(func() { a.event("reload: %s", reason) })
		ctx, cancel := context.WithTimeout(a.ctx, 5*time.Minute)
		defer cancel()
		if err := a.reload(ctx, true); err != nil {
			_ = a.do(func() { a.event("reload after %s failed: %v", reason, err) })
		}
	})
}

// autoscale feeds the scaler one sample. Owner goroutine.
func (a *App) autoscale(now time.Time) {
	if a.scaler == nil || a.stopped || a.scaling {
		return
	}
	x := autoscale.Sample{At: now, Instances: len(a.slots)}
	n := 0
	var p95 time.Duration
	for _, s := range a.slots {
		if p := s.cur; p != nil {
			n++
			x.CPU += p.usage.CPUPercent
			if a.front != nil {
				if h := a.front.Stats(p.id()); h != nil {
					x.InFlight += float64(h.InFlight)
					p95 = max(p95, time.Duration(h.P95MS*float64(time.Millisecond)))
				}
			}
		}
	}
	if n == 0 {
		return
	}
	x.CPU /= float64(n)
	x.InFlight /= float64(n)
	x.P95 = p95
	d := a.scaler.Observe(x)
	if d.Delta == 0 {
		return
	}
	target := len(a.slots) + d.Delta
	a.event("autoscale %d -> %d: %s", len(a.slots), target, d.Reason)
	a.scaling = true
	a.goHelper(func() {
		ctx, cancel := context.WithTimeout(a.ctx, 5*time.Minute)
		defer cancel()
		err := a.Scale(ctx, target)
		_ = a.do(func() {
			a.scaling = false
			if err != nil {
				a.event("autoscale to %d failed: %v", target, err)
			}
		})
	})
}

// Update installs new settings in place: no process is touched. The
// restart policy holds from the next exit of each instance (with its
// history kept), stop and readiness settings from the next stop or start,
// traffic settings and log settings at once (the running processes' log
// files are reconfigured, or swapped for those of new paths); the watcher,
// cron schedule and autoscaler are re-armed. The instance count is left
// alone (Scale changes it). A log file of a new path that cannot be
// opened fails the update, which then changes nothing; traffic settings
// the edge refuses (validated before, so not expected) are returned and
// said in the app's events, the other settings installed all the same.
func (a *App) Update(s spec.App) error {
	var err error
	if e := a.do(func() {
		if s.Name != a.spec.Name || s.Namespace != a.spec.Namespace {
			return
		}
		s.Instances = len(a.slots)
		prev := a.spec
		a.spec = s
		// First what can fail: a log file that cannot be opened leaves
		// every setting as it was.
		if e := a.reconfigureLogs(); e != nil {
			a.spec = prev
			err = fmt.Errorf("%s: %w; nothing changed (fix the path, or its directory's permissions)", s.Name, e)
			return
		}
		for _, sl := range a.slots {
			sl.tracker.SetPolicy(policy(s))
		}
		if a.front != nil {
			if e := a.front.Configure(s); e != nil {
				a.event("traffic settings not applied: %v", e)
				err = fmt.Errorf("traffic settings of %s: %w", s.Name, e)
			}
		}
		if !a.stopped {
			a.arm()
		}
	}); e != nil {
		return e
	}
	return err
}

// SetEnv replaces the environment inherited from the caller, for the next
// start of each instance.
func (a *App) SetEnv(env map[string]string) error {
	return a.do(func() { a.callerEnv = env })
}
