package app

import (
	"context"
	"fmt"

	"github.com/tendhq/tend/internal/api"
)

// seen is what Emit was last told, so that emitChanges reports only what
// changed. Owned by the run goroutine.
type seen struct {
	status string // "" before the first call: stopped, as a new app is
	reason string
	slots  map[int]seenSlot // by instance index
	note   api.Event        // the newest of a.events already reported
}

type seenSlot struct {
	status   string
	pid      int
	next     int // pid of the replacement a reload started, 0 for none
	lastExit *api.Exit
}

// emitChanges tells cfg.Emit what changed since it last ran: exits,
// instance and app statuses, reload steps and notes. The owner goroutine
// calls it after every command and process event, so no place that
// changes a status needs to remember to report it.
func (a *App) emitChanges() {
	if a.cfg.Emit == nil {
		return
	}
	ev := func(typ string, index int) api.StreamEvent {
		return api.StreamEvent{Type: typ, App: a.spec.Name, Namespace: a.spec.Namespace, AppID: a.id, Instance: index}
	}
	emit := a.cfg.Emit
	if a.seen.slots == nil {
		a.seen.slots = map[int]seenSlot{}
		a.seen.status = api.StatusStopped
	}
	if n := len(a.events); n > 0 && a.events[n-1] != a.seen.note {
		first := n - 1
		for first > 0 && a.events[first-1] != a.seen.note {
			first--
		}
		for _, e := range a.events[first:] {
			m := ev(api.EventAppNote, -1)
			m.Time, m.Message = e.At, e.Message
			emit(m)
		}
		a.seen.note = a.events[n-1]
	}
	insts := make([]api.Instance, 0, len(a.slots))
	present := make(map[int]bool, len(a.slots))
	for _, s := range a.slots {
		now := seenSlot{status: s.status(), lastExit: s.lastExit}
		if s.cur != nil {
			now.pid = s.cur.sp.Pid()
		}
		if s.next != nil {
			now.next = s.next.sp.Pid()
		}
		insts = append(insts, api.Instance{Status: now.status})
		present[s.index] = true
		was, ok := a.seen.slots[s.index]
		if !ok {
			was.status = api.StatusStopped // new slots start so
		}
		if now.lastExit != was.lastExit && now.lastExit != nil {
			m := ev(api.EventInstanceExit, s.index)
			m.Exit = now.lastExit
			emit(m)
		}
		if now.next != was.next {
			m := ev(api.EventReloadStep, s.index)
			switch {
			case now.next != 0:
				m.PID, m.Message = now.next, fmt.Sprintf("instance %d: new process %d started", s.index, now.next)
			case now.pid == was.next:
				m.PID, m.Message = now.pid, fmt.Sprintf("instance %d: new process %d took over from %d", s.index, now.pid, was.pid)
			default:
				m.PID, m.Message = was.next, fmt.Sprintf("instance %d: new process %d did not take over", s.index, was.next)
			}
			emit(m)
		}
		if now.status != was.status || now.pid != was.pid {
			m := ev(api.EventInstanceState, s.index)
			m.Status, m.PID = now.status, now.pid
			emit(m)
		}
		a.seen.slots[s.index] = now
	}
	for i := range a.seen.slots {
		if !present[i] {
			delete(a.seen.slots, i) // scaled down
		}
	}
	if st := summarize(insts); st != a.seen.status || a.reason != a.seen.reason {
		m := ev(api.EventAppState, -1)
		m.Status, m.Reason = st, a.reason
		emit(m)
		a.seen.status, a.seen.reason = st, a.reason
	}
}

// incident tells cfg.Emit about something tend could not fix on its own
// (an api.Alert* kind), or that it is over. Owner goroutine.
func (a *App) incident(kind, msg string, resolved bool) {
	if a.cfg.Emit == nil {
		return
	}
	a.cfg.Emit(api.StreamEvent{Type: api.EventIncident, App: a.spec.Name, Namespace: a.spec.Namespace, AppID: a.id,
		Instance: -1, Kind: kind, Message: msg, Resolved: resolved})
}

// reportReload reports a reload that failed as an incident, and the next
// one that succeeds as its end. A reload cut short by its caller or by the
// app's end is no incident. A helper goroutine, after the reload.
func (a *App) reportReload(ctx context.Context, err error) {
	if ctx.Err() != nil || a.ctx.Err() != nil {
		return
	}
	_ = a.do(func() {
		switch {
		case err != nil:
			a.reloadFailed = true
			a.incident(api.AlertReloadFailed, err.Error(), false)
		case a.reloadFailed:
			a.reloadFailed = false
			a.incident(api.AlertReloadFailed, "a reload succeeded", true)
		}
	})
}
