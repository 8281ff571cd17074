package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/events"
)

const (
	// heartbeat is how often an idle event stream gets a comment line, so
	// that proxies and NATs in between keep the connection.
	heartbeat = 15 * time.Second
	// eventWriteTimeout bounds one write to an event stream: a reader that
	// takes no bytes for that long is cut off rather than holding its
	// handler forever (it falls a ring behind long before).
	eventWriteTimeout = time.Minute
	// eventBatch is the most events written between two flushes.
	eventBatch = 256
)

// streamTypes are the event types a client may ask for with ?types=.
var streamTypes = []string{
	api.EventAppState, api.EventInstanceState, api.EventInstanceExit, api.EventReloadStep, api.EventAppNote,
	api.EventCommand, api.EventScale, api.EventSet, api.EventApply, api.EventSample, api.EventIncident, api.EventAlert, api.EventAppMessage, api.EventProfile,
}

// eventStream answers GET /v1/events?since=&app=&types=: the daemon's
// events as server-sent events, from now on, or after the id in the
// Last-Event-ID header (which wins, as a reconnecting EventSource sends it
// with the original URL) or ?since=. A resume id the bus no longer keeps
// gets a "gap" event first; a reader that falls a ring behind gets a
// "dropped" event and the stream ends. It ends too when the client leaves
// or the daemon stops (the bus closes).
func (d *Daemon) eventStream(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	since, resume := uint64(0), false
	for _, s := range []string{r.Header.Get("Last-Event-ID"), q.Get("since")} {
		if s == "" {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, api.Error{Error: fmt.Sprintf("resume id %q: want the id of an event (a number)", s)})
			return
		}
		since, resume = n, true
		break
	}
	types := map[string]bool{}
	if s := q.Get("types"); s != "" {
		for _, t := range strings.Split(s, ",") {
			t = strings.TrimSpace(t)
			if !slices.Contains(streamTypes, t) {
				writeJSON(w, http.StatusBadRequest, api.Error{Error: fmt.Sprintf("types: unknown event type %q (known: %s)", t, strings.Join(streamTypes, ", "))})
				return
			}
			types[t] = true
		}
	}
	f, gap := d.events.Follow(since, resume, eventFilter(q.Get("app"), types))
	defer f.Close()

	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	write := func(evs ...api.StreamEvent) error {
		_ = rc.SetWriteDeadline(time.Now().Add(eventWriteTimeout))
		for _, e := range evs {
			if err := writeEvent(w, e); err != nil {
				return err
			}
		}
		return rc.Flush()
	}
	if gap != nil {
		if write(api.StreamEvent{Type: api.EventGap, Time: time.Now(), AppID: -1, Instance: -1, Gap: gap}) != nil {
			return
		}
	} else if rc.Flush() != nil { // the headers: the client knows it follows
		return
	}
	for {
		ctx, cancel := context.WithTimeout(r.Context(), heartbeat)
		evs, err := f.Next(ctx, eventBatch)
		cancel()
		var lapped *events.LappedError
		switch {
		case err == nil:
			if write(evs...) != nil {
				return
			}
		case errors.As(err, &lapped):
			_ = write(api.StreamEvent{Type: api.EventDropped, Time: time.Now(), AppID: -1, Instance: -1, Gap: &lapped.Gap})
			return
		case errors.Is(err, context.DeadlineExceeded) && r.Context().Err() == nil:
			_ = rc.SetWriteDeadline(time.Now().Add(eventWriteTimeout))
			if _, err := w.Write([]byte(": heartbeat\n\n")); err != nil || rc.Flush() != nil {
				return
			}
		default: // the client left, or the daemon stops
			return
		}
	}
}

// writeEvent writes one server-sent event. Gap and dropped notices have
// no id line: the reader's last id stays that of the last event it got.
func writeEvent(w http.ResponseWriter, e api.StreamEvent) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if e.ID != 0 {
		if _, err := fmt.Fprintf(w, "id: %d\n", e.ID); err != nil {
			return err
		}
	}
	_, err = fmt.Fprintf(w, "event: %s\ndata: %s\n\n", e.Type, b)
	return err
}

// eventFilter matches the events of app (a name, namespace/name, a
// namespace or an id, as targets are; "" or "all" for every app) whose
// type is in types (all when empty); events about no single app pass
// every app filter. It runs under the bus's lock, so it
// only compares strings.
func eventFilter(app string, types map[string]bool) func(*api.StreamEvent) bool {
	if app == "all" {
		app = ""
	}
	if app == "" && len(types) == 0 {
		return nil
	}
	return func(e *api.StreamEvent) bool {
		if len(types) > 0 && !types[e.Type] {
			return false
		}
		if app == "" || e.App == "" {
			return true // the event is about no single app (apply)
		}
		return e.App == app || e.Namespace == app || e.Namespace+"/"+e.App == app || strconv.Itoa(e.AppID) == app
	}
}

// publish tells the bus what happened to the app of e; err, when set, is
// why it failed.
func (d *Daemon) publish(e *entry, typ string, err error, fill func(*api.StreamEvent)) {
	if d.events == nil {
		return
	}
	ev := api.StreamEvent{Type: typ, App: e.name, Namespace: e.namespace, AppID: e.id, Instance: -1}
	if err != nil {
		ev.Error = err.Error()
	}
	if fill != nil {
		fill(&ev)
	}
	d.events.Publish(ev)
}

// publishSamples publishes each app's instance figures of the last
// sample, when somebody follows the bus: figures a second nobody reads
// are not worth a round trip to every app.
func (d *Daemon) publishSamples(entries []*entry) {
	if !d.events.Following() {
		return
	}
	for _, e := range entries {
		s, err := e.app.Status()
		if err != nil {
			continue
		}
		var figs []api.SampleFigure
		for _, in := range s.Instances {
			if in.PID > 0 {
				figs = append(figs, api.SampleFigure{Instance: in.Index, PID: in.PID, CPUPercent: in.CPUPercent, MemoryBytes: in.MemoryBytes, Processes: in.Processes})
			}
		}
		if len(figs) > 0 {
			d.publish(e, api.EventSample, nil, func(ev *api.StreamEvent) { ev.Samples = figs })
		}
	}
}

// publishCommand publishes the end of a user command on an app.
func (d *Daemon) publishCommand(e *entry, action string, err error) {
	d.publish(e, api.EventCommand, err, func(ev *api.StreamEvent) { ev.Action = action })
}

// publishing wraps the action f so that its end is published for each
// app: a scale with the instance count it reached, others as commands.
func (d *Daemon) publishing(action string, f func(context.Context, *entry) error) func(context.Context, *entry) error {
	return func(ctx context.Context, e *entry) error {
		err := f(ctx, e)
		if action != "scale" {
			d.publishCommand(e, action, err)
			return err
		}
		n, _ := e.app.Instances()
		d.publish(e, api.EventScale, err, func(ev *api.StreamEvent) { ev.To = n })
		return err
	}
}

// publishPlan publishes what apply or set did: for set, one event for each
// app it changed, with that app's steps; for apply (m nil), one event
// about no single app.
func (d *Daemon) publishPlan(m []*entry, typ string, res api.ApplyResult, err error) {
	if m == nil {
		ev := api.StreamEvent{Type: typ, AppID: -1, Instance: -1, Steps: res.Steps}
		if err != nil {
			ev.Error = err.Error()
		}
		d.events.Publish(ev)
		return
	}
	for _, e := range m {
		var steps []api.PlanStep
		for _, s := range res.Steps {
			if s.App == e.namespace+"/"+e.name {
				steps = append(steps, s)
			}
		}
		d.publish(e, typ, err, func(ev *api.StreamEvent) { ev.Steps = steps })
	}
}
