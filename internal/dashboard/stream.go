package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/app"
	"github.com/tendhq/tend/internal/events"
	"github.com/tendhq/tend/internal/logs"
)

const (
	// maxStreams bounds the pages open at once.
	maxStreams = 64
	// streamWriteTimeout cuts off a browser that takes no bytes for that
	// long; until then, what it cannot take is dropped and counted.
	streamWriteTimeout = 30 * time.Second
	// logBuffer is each log page's buffer in the hub: beyond it, lines are
	// dropped for that page (and counted), never the app slowed.
	logBuffer = 2000
	// logBatch is the most lines sent in one message.
	logBatch = 500
	// logBacklog is how many recent lines a log page starts with.
	logBacklog = 200
	heartbeat  = 15 * time.Second
)

// stateEvents are the bus events that change what a page shows at once.
var stateEvents = map[string]bool{
	api.EventAppState: true, api.EventInstanceState: true, api.EventInstanceExit: true,
	api.EventReloadStep: true, api.EventAppNote: true, api.EventCommand: true, api.EventScale: true,
	api.EventSet: true, api.EventApply: true,
}

// lineMsg is one log line as the logs page gets it.
type lineMsg struct {
	T   int64  `json:"t"` // unix milliseconds
	App string `json:"app"`
	I   int    `json:"i"`
	S   string `json:"s"` // out, err, tend
	M   string `json:"m"`
}

// stream serves a page's one server-sent-event stream (?page=overview,
// app&app=ID or logs&app=NAME|all): the figures at each interval, the
// bus's events of the page's apps as they happen, the log lines. A page
// that does not keep up loses updates and lines, counted in the messages
// that reach it.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, _ *session) {
	q := r.URL.Query()
	page := q.Get("page")
	appID := -1
	switch page {
	case "overview", "hosts":
	case "app":
		n, err := strconv.Atoi(q.Get("app"))
		if err != nil {
			writeJSON(w, http.StatusBadRequest, api.Error{Error: "app: want an app id"})
			return
		}
		appID = n
	case "logs":
	default:
		writeJSON(w, http.StatusBadRequest, api.Error{Error: "page: want overview, app, logs or hosts"})
		return
	}
	if s.bc.count() >= maxStreams {
		writeJSON(w, http.StatusServiceUnavailable, api.Error{Error: fmt.Sprintf("%d dashboard pages are open, the most at once: close some", maxStreams)})
		return
	}
	sub, last := s.bc.subscribe()
	defer s.bc.unsubscribe(sub)

	ctx, cancel := context.WithCancel(r.Context())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()

	// Events of the bus, for the overview's and app page's freshness.
	var evc chan []api.StreamEvent
	if page != "logs" {
		evc = make(chan []api.StreamEvent, 4)
		follow := func() *events.Follower {
			f, _ := s.cfg.Events.Follow(0, false, func(e *api.StreamEvent) bool {
				return stateEvents[e.Type] && (appID < 0 || e.AppID == appID || e.AppID < 0)
			})
			return f
		}
		wg.Go(func() { s.followBus(ctx, follow, evc) })
	}
	var lines <-chan logs.Line
	var backlog []logs.Line
	if page == "logs" {
		// Followed first, so that no line falls between the backlog and
		// the tail (one may come twice).
		lines = s.cfg.Logs.Follow(ctx, logMatch(q.Get("app")), logBuffer)
		backlog = s.cfg.Logs.Tail(logMatch(q.Get("app")), logBacklog)
	}

	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	send := func(event string, v any) bool {
		b, err := json.Marshal(v)
		if err != nil {
			return false
		}
		_ = rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	sendTick := func(t tick) bool {
		dropped := s.bc.droppedOf(sub)
		switch page {
		case "app":
			for _, a := range t.raw {
				if a.ID == appID {
					return send("app", struct {
						App     api.App `json:"app"`
						T       int64   `json:"t"`
						Dropped int64   `json:"dropped"`
					}{a, s.cfg.Now().Unix(), dropped})
				}
			}
			return send("gone", struct{}{})
		case "logs":
			return true
		case "hosts":
			if s.cfg.Hosts == nil {
				return true
			}
			return send("hosts", struct {
				Hosts   []HostView `json:"hosts"`
				Error   string     `json:"error,omitempty"`
				T       int64      `json:"t"` // unix milliseconds: last_seen is measured from it
				Dropped int64      `json:"dropped"`
			}{t.hosts, t.hostsErr, s.cfg.Now().UnixMilli(), dropped})
		default:
			return send("apps", struct {
				Apps    []Summary `json:"apps"`
				Alerts  []Alert   `json:"alerts"`
				Fleet   bool      `json:"fleet"`
				T       int64     `json:"t"`
				Dropped int64     `json:"dropped"`
			}{t.apps, t.alerts, s.cfg.Hosts != nil, s.cfg.Now().Unix(), dropped})
		}
	}
	if last.apps != nil && !sendTick(last) {
		return
	}
	if rc.Flush() != nil { // the headers, at least: the page knows it is live
		return
	}
	var lineDrops int64
	if len(backlog) > 0 {
		msgs := make([]lineMsg, len(backlog))
		for i, l := range backlog {
			msgs[i] = toMsg(l, &lineDrops)
		}
		if !send("lines", struct {
			Lines   []lineMsg `json:"lines"`
			Dropped int64     `json:"dropped"`
		}{msgs, 0}) {
			return
		}
	}
	// ended tells the page its session is over (logged out, expired, or
	// its token revoked), checked at every tick: the page goes to the
	// login.
	ended := func() bool {
		if s.sess.get(r) != nil {
			return false
		}
		send("ended", struct{}{})
		return true
	}
	hb := time.NewTicker(heartbeat)
	defer hb.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case t := <-sub.ch:
			if ended() || !sendTick(t) {
				return
			}
		case evs, ok := <-evc:
			if !ok {
				return
			}
			s.refresh()
			if page == "app" && !send("events", evs) {
				return
			}
		case l, ok := <-lines:
			if !ok {
				return
			}
			batch := []lineMsg{toMsg(l, &lineDrops)}
		more:
			for len(batch) < logBatch {
				select {
				case l, ok := <-lines:
					if !ok {
						break more
					}
					batch = append(batch, toMsg(l, &lineDrops))
				default:
					break more
				}
			}
			if !send("lines", struct {
				Lines   []lineMsg `json:"lines"`
				Dropped int64     `json:"dropped"`
			}{batch, lineDrops}) {
				return
			}
		case <-hb.C:
			if ended() {
				return
			}
			_ = rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
			if _, err := w.Write([]byte(": heartbeat\n\n")); err != nil || rc.Flush() != nil {
				return
			}
		}
	}
}

// followBus hands the events of f to evc until ctx is done. A page that
// fell a ring behind starts again from now: it shows state, and the next
// tick brings it up to date.
func (s *Server) followBus(ctx context.Context, follow func() *events.Follower, evc chan<- []api.StreamEvent) {
	defer close(evc)
	f := follow()
	defer func() { f.Close() }()
	for {
		evs, err := f.Next(ctx, 64)
		var lapped *events.LappedError
		switch {
		case errors.As(err, &lapped):
			f.Close()
			f = follow()
			continue
		case err != nil:
			return
		}
		select {
		case evc <- evs:
		case <-ctx.Done():
			return
		default:
			// The page is busy: the figures it gets next say the same.
			s.refresh()
		}
	}
}

func toMsg(l logs.Line, drops *int64) lineMsg {
	if l.Stream == logs.StreamTend {
		if n, ok := logs.ParseDropMarker(l.Text); ok {
			*drops += n
		}
	}
	return lineMsg{T: l.Time.UnixMilli(), App: l.App, I: l.Instance, S: l.Stream, M: l.Text}
}

// logMatch matches the lines of app (its log name: name, or
// namespace/name), or of every app for "" and "all".
func logMatch(name string) func(logs.Line) bool {
	if name == "" || name == "all" {
		return nil
	}
	ns, n, ok := strings.Cut(name, "/")
	if ok {
		name = app.LogName(ns, n)
	}
	return func(l logs.Line) bool { return l.App == name }
}
