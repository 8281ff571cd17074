package app

import (
	"context"
	"fmt"
	"time"

	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/metrics"
)

// Pids returns the pid (and process group) of every running process of
// the app, for the daemon's sampler.
func (a *App) Pids() ([]int, error) {
	var pids []int
	err := a.do(func() {
		for _, s := range a.slots {
			for _, p := range []*proc{s.cur, s.next} {
				if p != nil {
					pids = append(pids, p.sp.Pid())
				}
			}
		}
	})
	return pids, err
}

// Observe takes a sample of the app's process trees, keyed by process
// group. An instance whose tree stays above max_memory_restart for two
// samples in a row is replaced: a new process first, then the old one
// stopped, so that in a cluster no request fails.
func (a *App) Observe(usage map[int]metrics.Usage) error {
	return a.do(func() {
		limit := a.spec.MaxMemoryRestart
		for _, s := range a.slots {
			p := s.cur
			if p == nil {
				continue
			}
			u, ok := usage[p.sp.Pid()]
			if !ok {
				continue
			}
			p.usage = u
			if limit <= 0 || p.stopping || s.next != nil {
				continue
			}
			if u.MemoryBytes <= uint64(limit) {
				p.overLimit = 0
				continue
			}
			p.overLimit++
			if p.overLimit == 2 {
				reason := fmt.Sprintf("max_memory_restart: memory %s above the limit %s for 2 samples in a row",
					mib(u.MemoryBytes), mib(uint64(limit)))
				index, limit := s.index, a.spec.ListenTimeout.D()+2*a.spec.KillTimeout.D()+10*time.Second
				snapshot := 0
				if a.spec.HeapSnapshotOnMemoryLimit && a.spec.IsNode() {
					snapshot = p.sp.Pid()
				}
				a.goHelper(func() { a.replace(index, reason, limit, snapshot) })
			}
		}
		a.autoscale(a.fx.Now())
	})
}

// replace swaps one instance for a fresh process, as a reload does, within
// limit. It gives way to a user's operation in progress: the next sample
// over the limit tries again. With snapshot, the pid of the process, a heap
// snapshot of it is taken first (Config.BeforeMemoryRestart). A helper
// goroutine.
func (a *App) replace(index int, reason string, limit time.Duration, snapshot int) {
	if !a.opMu.TryLock() {
		_ = a.do(func() {
			if index < len(a.slots) && a.slots[index].cur != nil {
				a.slots[index].cur.overLimit = 1
			}
		})
		return
	}
	defer a.opMu.Unlock()
	if snapshot > 0 && a.cfg.BeforeMemoryRestart != nil {
		a.cfg.BeforeMemoryRestart(index, snapshot)
	}
	ctx, cancel := context.WithTimeout(a.ctx, limit)
	defer cancel()
	err := a.reloadBatch(ctx, index, index+1)
	_ = a.do(func() {
		if index < len(a.slots) {
			if err != nil {
				reason += fmt.Sprintf("; replacement failed: %v", err)
			}
			a.slots[index].reason = reason
		}
		if a.ctx.Err() == nil { // not cut short by the app's end
			a.incident(api.AlertMemoryLimit, fmt.Sprintf("instance %d replaced: %s", index, reason), false)
		}
	})
}

func mib(b uint64) string { return fmt.Sprintf("%.1fMB", float64(b)/(1<<20)) }
