package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/ready"
)

// Apps instrumented for PM2 (@pm2/io, tx2) keep their instruments: their
// metrics join the app's own, the actions they offer can be triggered,
// and their messages go on the event stream (internal/ready/pm2.go has the
// protocol).

// Bounds on what one process can make the daemon hold.
const (
	// maxActions is the most actions a process can offer.
	maxActions = 64
	// maxPendingTriggers is the most triggers of one process waiting for
	// a reply at once.
	maxPendingTriggers = 32
	// maxMessagesPerSecond bounds the app.message events of one process,
	// so that a chatty app cannot push every other event out of the
	// daemon's ring of recent events.
	maxMessagesPerSecond = 20
)

// ErrNoAction means no instance of the app offers the action.
var ErrNoAction = errors.New("no such action")

// setMetric records one of the app's own metrics, up to maxCustomMetrics
// names. Owner goroutine.
func (p *proc) setMetric(name string, v float64) {
	if p.custom == nil {
		p.custom = map[string]float64{}
	}
	if _, ok := p.custom[name]; ok || len(p.custom) < maxCustomMetrics {
		p.custom[name] = v
	}
}

// pm2Sink returns the callback with which a process's IPC reader reports
// PM2's messages to the owner goroutine.
func (a *App) pm2Sink(p *proc) ready.PM2Func {
	return func(m ready.PM2Msg) {
		switch m.Kind {
		case ready.PM2Metrics:
			a.post(func() {
				for name, v := range m.Metrics {
					p.setMetric(name, v)
				}
			})
		case ready.PM2Action:
			a.post(func() {
				if !slices.Contains(p.actions, m.Action) && len(p.actions) < maxActions {
					p.actions = append(p.actions, m.Action)
				}
			})
		case ready.PM2Reply:
			a.post(func() {
				// Replies carry no id: the oldest trigger of that action
				// takes it, as in PM2.
				for i, w := range p.pending {
					if w.action == m.Action {
						w.reply <- m.Data // buffered, never blocks
						p.pending = slices.Delete(p.pending, i, i+1)
						return
					}
				}
			})
		case ready.PM2Message:
			a.post(func() {
				now := a.fx.Now()
				if now.Sub(p.msgSecond) >= time.Second {
					if p.msgDropped > 0 {
						a.event("instance %d: %d process:msg/human:event messages not passed on (more than %d a second)", p.slot.index, p.msgDropped, maxMessagesPerSecond)
					}
					p.msgSecond, p.msgCount, p.msgDropped = now, 0, 0
				}
				if p.msgCount++; p.msgCount > maxMessagesPerSecond {
					p.msgDropped++
					return
				}
				if a.cfg.Emit != nil {
					a.cfg.Emit(api.StreamEvent{Type: api.EventAppMessage, App: a.spec.Name, Namespace: a.spec.Namespace,
						AppID: a.id, Instance: p.slot.index, PID: p.sp.Pid(), Action: m.Type, Message: string(m.Data)})
				}
			})
		}
	}
}

// trigger is one trigger of an action waiting for its reply.
type trigger struct {
	action string
	reply  chan json.RawMessage
}

// Trigger calls action on every instance that offers it (or on instance
// index only, when it is 0 or more), with param when it is not nil, and
// waits up to timeout for each reply. Instances that are not online, or
// do not offer the action, get an error of their own; when no instance
// offers it the error is ErrNoAction, naming the actions there are.
func (a *App) Trigger(ctx context.Context, action string, param *string, index int, timeout time.Duration) ([]api.TriggerReply, error) {
	type call struct {
		out  *api.TriggerReply
		p    *proc
		w    *trigger
		send *ready.Sender
	}
	var out []api.TriggerReply
	var calls []call
	var err error
	if e := a.do(func() {
		if index >= len(a.slots) {
			err = fmt.Errorf("%s has %d instance(s), 0 to %d: %w %d", a.spec.Name, len(a.slots), len(a.slots)-1, ErrNoInstance, index)
			return
		}
		var offered []string
		var targets []*slot
		busy := false
		for _, s := range a.slots {
			if index < 0 || s.index == index {
				targets = append(targets, s)
			}
		}
		out = make([]api.TriggerReply, len(targets))
		for i, s := range targets {
			r := &out[i]
			r.App, r.Instance = a.spec.Name, s.index
			p := s.cur
			switch {
			case p == nil || p.state != api.StatusOnline && p.state != api.StatusUnready:
				r.Error = fmt.Sprintf("instance %d is %s", s.index, s.status())
				continue
			case p.sender == nil:
				r.Error = fmt.Sprintf("instance %d has no IPC channel (only Node.js apps have one)", s.index)
				continue
			}
			r.PID = p.sp.Pid()
			for _, n := range p.actions {
				if !slices.Contains(offered, n) {
					offered = append(offered, n)
				}
			}
			switch {
			case !slices.Contains(p.actions, action):
				r.Error = fmt.Sprintf("instance %d has no action %q (%s)", s.index, action, actionList(p.actions))
			case len(p.pending) >= maxPendingTriggers:
				busy = true
				r.Error = fmt.Sprintf("instance %d has %d triggers waiting for a reply already", s.index, len(p.pending))
			default:
				w := &trigger{action: action, reply: make(chan json.RawMessage, 1)}
				p.pending = append(p.pending, w)
				calls = append(calls, call{out: r, p: p, w: w, send: p.sender})
			}
		}
		online := slices.ContainsFunc(out, func(r api.TriggerReply) bool { return r.PID > 0 })
		if len(calls) == 0 && online && !busy {
			err = fmt.Errorf("%s: %w %q: %s", a.spec.Name, ErrNoAction, action, offeredText(offered))
		}
	}); e != nil {
		return nil, e
	}
	if err != nil {
		return nil, err
	}
	msg := ready.Trigger(action, param)
	sent := make([]bool, len(calls))
	for i, c := range calls {
		if e := c.send.Send(msg); e != nil {
			c.out.Error = fmt.Sprintf("instance %d: %v", c.out.Instance, e)
		} else {
			sent[i] = true
		}
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	expired := false
	for i, c := range calls {
		if sent[i] {
			c.out.Error = a.await(ctx, c.p, c.w, deadline.C, &expired, timeout)
			if c.out.Error == "" {
				c.out.Reply = <-c.w.reply
				continue
			}
		}
		a.forget(c.p, c.w)
	}
	return out, nil
}

// await waits for w's reply, which it leaves in w.reply, or says why there
// is none. expired says the deadline has passed (for the calls after the
// one that saw it).
func (a *App) await(ctx context.Context, p *proc, w *trigger, deadline <-chan time.Time, expired *bool, timeout time.Duration) string {
	if len(w.reply) > 0 {
		return ""
	}
	if *expired {
		return fmt.Sprintf("instance %d did not reply within %s", p.slot.index, timeout)
	}
	select {
	case r := <-w.reply:
		w.reply <- r
		return ""
	case <-p.sp.Done():
		return fmt.Sprintf("instance %d exited before it replied", p.slot.index)
	case <-deadline:
		*expired = true
		return fmt.Sprintf("instance %d did not reply within %s", p.slot.index, timeout)
	case <-ctx.Done():
		return fmt.Sprintf("instance %d: %v", p.slot.index, ctx.Err())
	case <-a.done:
		return fmt.Sprintf("instance %d: %v", p.slot.index, ErrDeleted)
	}
}

// forget drops a trigger that will not wait for its reply any more.
func (a *App) forget(p *proc, w *trigger) {
	_ = a.do(func() {
		p.pending = slices.DeleteFunc(p.pending, func(x *trigger) bool { return x == w })
	})
}

func offeredText(offered []string) string {
	if len(offered) == 0 {
		return "no instance offers an action (an app offers them with @pm2/io's io.action or tx2.action)"
	}
	return "its instances offer " + strings.Join(offered, ", ")
}

func actionList(actions []string) string {
	if len(actions) == 0 {
		return "it offers none"
	}
	return "it offers " + strings.Join(actions, ", ")
}
