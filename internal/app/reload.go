package app

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrReload is wrapped by the error of a reload whose new instance never
// became ready; the old instances keep serving.
var ErrReload = errors.New("reload failed")

// Reload replaces every instance with zero downtime, reload_batch at a
// time: start the replacement, wait until it is ready, put it in the pool,
// take the old one out, let its requests finish, stop it. If a replacement
// never becomes ready, it is stopped, the old instances keep serving, and
// the reload stops there with an error naming the instance and why.
func (a *App) Reload(ctx context.Context) error {
	return a.reload(ctx, false)
}

// reload is Reload; auto (a watch or cron reload) leaves a stopped app
// stopped.
func (a *App) reload(ctx context.Context, auto bool) (err error) {
	a.opMu.Lock()
	defer a.opMu.Unlock()
	defer func() { a.reportReload(ctx, err) }()
	var n, batch int
	if e := a.do(func() {
		if auto && a.stopped {
			return
		}
		if err = a.openTraffic(); err != nil {
			return
		}
		if a.stopped {
			a.stopped = false
			a.arm()
		}
		a.reason = ""
		n, batch = len(a.slots), max(a.spec.ReloadBatch, 1)
	}); e != nil {
		return e
	}
	if err != nil {
		return err
	}
	for i := 0; i < n; i += batch {
		if err := a.reloadBatch(ctx, i, min(i+batch, n)); err != nil {
			return err
		}
	}
	return a.settle(ctx)
}

// reloadBatch replaces the instances [from, to).
func (a *App) reloadBatch(ctx context.Context, from, to int) error {
	var news []*proc
	var errs []error
	if e := a.do(func() {
		for _, s := range a.slots[from:min(to, len(a.slots))] {
			a.cancelTimer(s)
			s.tracker.Reset()
			if s.cur == nil {
				// Nothing serves in this slot: start it the plain way.
				if err := a.spawn(s); err != nil {
					errs = append(errs, err)
				} else {
					news = append(news, s.cur)
				}
				continue
			}
			p, err := a.startProc(s)
			if err != nil {
				errs = append(errs, fmt.Errorf("instance %d: %w", s.index, err))
				continue
			}
			s.next = p
			news = append(news, p)
		}
	}); e != nil {
		return e
	}
	for _, p := range news {
		select {
		case <-p.ready:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	// A replacement that failed says why in its last stderr lines; waiting
	// for its pipes to drain happens here, not on the owner goroutine.
	// (ok and why are final once ready is closed.)
	tails := map[*proc]string{}
	for _, p := range news {
		if !p.ok {
			tails[p] = lastLines(p.stderrTail(250*time.Millisecond), 10)
		}
	}
	var olds []*proc
	if e := a.do(func() {
		for _, p := range news {
			s := p.slot
			if !p.ok {
				errs = append(errs, fmt.Errorf("instance %d: new process %s%s", s.index, p.why, tails[p]))
				if s.next == p {
					a.stopProc(p)
				}
				continue
			}
			if s.next != p {
				continue // started the plain way: already current
			}
			old := s.cur
			s.next = nil
			s.cur = p
			s.restarts++
			if a.front != nil && p.port > 0 {
				a.front.Add(p.id(), p.addr())
				p.inPool = true
			}
			if old != nil {
				a.stopProc(old)
				olds = append(olds, old)
			}
		}
	}); e != nil {
		return e
	}
	for _, p := range olds {
		select {
		case <-p.sp.Done():
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %s: %w", ErrReload, a.spec.Name, errors.Join(errs...))
	}
	return nil
}

// lastLines formats the end of a process's stderr for an error message.
func lastLines(lines []string, n int) string {
	if len(lines) == 0 {
		return ""
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "; last stderr lines:\n  " + strings.Join(lines, "\n  ")
}

// Scale sets the number of instances. New instances join the pool when
// ready; removed ones leave it before they stop. It returns when the new
// ones are ready and the removed ones gone.
func (a *App) Scale(ctx context.Context, n int) error {
	if n < 1 {
		return fmt.Errorf("scale %s to %d: an app needs at least 1 instance (stop it instead)", a.spec.Name, n)
	}
	a.opMu.Lock()
	defer a.opMu.Unlock()
	var removed []*proc
	var err error
	if e := a.do(func() {
		old := len(a.slots)
		a.spec.Instances = n
		if n < old {
			for _, s := range a.slots[n:] {
				a.cancelTimer(s)
				s.wantUp = false
				if s.next != nil {
					a.stopProc(s.next)
					removed = append(removed, s.next)
				}
				if s.cur != nil {
					a.stopProc(s.cur)
					removed = append(removed, s.cur)
				}
			}
		}
		a.resize(n)
		// One instance or more decides whether file names carry -<i>.
		if e := a.reconfigureLogs(); e != nil {
			a.event("log files not switched: %v", e)
		}
		if n > old && !a.stopped {
			for _, s := range a.slots[old:] {
				err = errors.Join(err, a.spawn(s))
			}
		}
	}); e != nil {
		return e
	}
	for _, p := range removed {
		select {
		case <-p.sp.Done():
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return errors.Join(err, a.settle(ctx))
}

// Instances reports how many instances the app has.
func (a *App) Instances() (int, error) {
	var n int
	err := a.do(func() { n = len(a.slots) })
	return n, err
}
