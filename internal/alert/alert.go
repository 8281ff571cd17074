// Package alert tells a person when an app needs one: it watches the
// daemon's event bus for incidents (an app errored, a crash loop, a
// memory-limit replacement, a failed reload or deploy, a fleet host lost),
// raises one alert when each begins and one when it is over, and POSTs
// them to the webhooks of daemon.yaml's alerts list.
//
// Finding incidents is the Detector's job, a pure decision object; each
// target's rate limit (min_interval) is a limiter, pure too. The Alerter
// wires them to the bus and to one sender goroutine per target, whose
// bounded queue drops its oldest alert when full (counted), so that a slow
// or dead webhook never holds up the daemon. It keeps the recent alerts in
// a bounded ring for GET /v1/alerts (tend alerts ls, the dashboard).
package alert

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/events"
)

// DefaultKeep is how many recent alerts an alerter keeps.
const DefaultKeep = 200

// Options configure an Alerter.
type Options struct {
	Targets []Target
	// Host is the name alerts carry; default the machine's host name.
	Host string
	Log  *slog.Logger
	// Stable says how long an app (namespace/name) must stay online with
	// no crash for its errored and crash_loop incidents to be over; nil
	// is one second, the default min_uptime.
	Stable func(app string) time.Duration
	// Keep is how many recent alerts are kept; default DefaultKeep.
	Keep int
	// Backoff is the wait before the first retry of a delivery, doubled
	// for each next one (at most MaxBackoff); default 1s.
	Backoff time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Resume is what the alerter of the daemon before an update in place
	// handed over (Alerter.Handover); Online then says whether an app
	// (namespace/name) is online now.
	Resume *Handed
	Online func(app string) bool
	// Flush is how long Run, once it is told to end, goes on delivering
	// what is queued (tend run, whose container ends as an app errs);
	// 0 ends the deliveries at once, leaving them pending.
	Flush time.Duration
}

// Handed is what an alerter hands over to the next daemon's across an
// update in place (tend update): its open incidents, so that an app still
// errored is not alerted again, and its recent alerts, with their ids.
type Handed struct {
	Open   map[string]time.Time `json:"open,omitempty"`
	Recent []api.Alert          `json:"recent,omitempty"`
	NextID uint64               `json:"next_id,omitempty"`
	// Pending are the deliveries not made yet, in each target's order,
	// which the next daemon's senders take up.
	Pending []Pending `json:"pending,omitempty"`
}

// Pending is a delivery of alert ID to the target-th target (whose URL
// has the SHA-256 URLHash: the URL holds the webhook's secret) handed
// over with what to send and how many attempts were made.
type Pending struct {
	ID      uint64          `json:"id"`
	Target  int             `json:"target"`
	URLHash string          `json:"url_sha256"`
	Tried   int             `json:"tried,omitempty"`
	Body    json.RawMessage `json:"body"`
}

func urlHash(u string) string {
	sum := sha256.Sum256([]byte(u))
	return hex.EncodeToString(sum[:])
}

// Alerter raises alerts from the bus's events and delivers them. Run
// drives it; Recent and Test may be called from any goroutine.
type Alerter struct {
	host    string
	log     *slog.Logger
	now     func() time.Time
	keep    int
	bus     *events.Bus // set by Run, for its goroutine: where raised alerts are published
	senders []*sender
	// resume and online are Options.Resume's incidents and Options.Online,
	// which Run gives the detector.
	resume map[string]time.Time
	online func(app string) bool
	flush  time.Duration

	// ran is closed when Run has returned, its senders stopped; started
	// says Run was called.
	ran     chan struct{}
	started atomic.Bool

	mu       sync.Mutex
	det      *Detector   // changed by Run's goroutine only, under mu (Handover reads it)
	recent   []api.Alert // guarded by mu; oldest first, at most keep
	nextID   uint64      // guarded by mu
	limiters []*limiter  // guarded by mu; one per target
}

// New returns an alerter of o's targets; nothing runs until Run.
func New(o Options) *Alerter {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Host == "" {
		o.Host, _ = os.Hostname()
	}
	if o.Stable == nil {
		o.Stable = func(string) time.Duration { return time.Second }
	}
	if o.Keep <= 0 {
		o.Keep = DefaultKeep
	}
	if o.Backoff <= 0 {
		o.Backoff = time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	a := &Alerter{host: o.Host, log: o.Log, now: o.Now, keep: o.Keep, det: NewDetector(o.Stable), nextID: 1, online: o.Online, flush: o.Flush, ran: make(chan struct{})}
	if r := o.Resume; r != nil {
		a.resume = r.Open
		for _, al := range r.Recent[max(0, len(r.Recent)-a.keep):] {
			a.recent = append(a.recent, cloneAlert(al))
		}
		a.nextID = max(1, r.NextID)
		if n := len(a.recent); n > 0 {
			a.nextID = max(a.nextID, a.recent[n-1].ID+1)
		}
	}
	if a.online == nil {
		a.online = func(string) bool { return false }
	}
	for i, t := range o.Targets {
		a.senders = append(a.senders, newSender(t, i, o.Backoff, o.Log, a.report))
		a.limiters = append(a.limiters, newLimiter(t.MinInterval))
	}
	if o.Resume != nil {
		a.takeUp(o.Resume.Pending)
	}
	return a
}

// takeUp queues the deliveries an earlier daemon handed over to the same
// targets (the same place in daemon.yaml, the same URL); a pending
// delivery that none carries, or whose target changed, is dropped, saying
// why.
func (a *Alerter) takeUp(pending []Pending) {
	type key struct {
		id     uint64
		target int
	}
	carried := map[key]bool{} // false: carried to a target that changed
	for _, p := range pending {
		k := key{p.ID, p.Target}
		if p.Target < 0 || p.Target >= len(a.senders) || urlHash(a.senders[p.Target].t.URL) != p.URLHash || len(p.Body) == 0 {
			carried[k] = false
			continue
		}
		carried[k] = true
		a.senders[p.Target].enqueue(job{id: p.ID, body: p.Body, tried: p.Tried})
	}
	for i := range a.recent {
		for j := range a.recent[i].Deliveries {
			d := &a.recent[i].Deliveries[j]
			if d.Status != api.DeliveryPending {
				continue
			}
			ok, handed := carried[key{a.recent[i].ID, j}]
			switch {
			case ok:
				continue
			case handed || j >= len(a.senders):
				d.Error = "its target left daemon.yaml at an update"
			default:
				d.Error = "the daemon was updated before it was sent"
			}
			d.Status = api.DeliveryDropped
		}
	}
}

// watched are the events the detector reads.
func watched(e *api.StreamEvent) bool {
	switch e.Type {
	case api.EventAppState, api.EventInstanceExit, api.EventIncident, api.EventCommand:
		return true
	}
	return false
}

// Run reads bus and raises alerts until ctx is done or the bus closes.
// It starts the senders, and stops and waits for them before it returns:
// the alerts still queued then are not sent.
func (a *Alerter) Run(ctx context.Context, bus *events.Bus) {
	a.started.Store(true)
	defer close(a.ran)
	// The senders' context outlives ctx by Options.Flush: drain tells
	// them to return once their queue is empty.
	sctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	drain := make(chan struct{})
	var wg sync.WaitGroup
	for _, s := range a.senders {
		wg.Go(func() { s.run(sctx, drain) })
	}
	defer func() {
		if a.flush > 0 {
			close(drain)
			done := make(chan struct{})
			go func() { wg.Wait(); close(done) }()
			t := time.NewTimer(a.flush)
			select {
			case <-done:
			case <-t.C:
				a.log.Warn("alerts still queued when the daemon stopped were not sent", "waited", a.flush)
			}
			t.Stop()
		}
		stop()
		wg.Wait()
	}()
	a.bus = bus
	f := bus.FollowQuiet(watched)
	defer func() { f.Close() }()
	if a.resume != nil {
		a.mu.Lock()
		a.det.Resume(a.resume, a.online, a.now())
		a.mu.Unlock()
	}
	for {
		wait, cancel := ctx, context.CancelFunc(func() {})
		if next, ok := a.det.Next(); ok {
			wait, cancel = context.WithDeadline(ctx, next)
		}
		evs, err := f.Next(wait, 256)
		cancel()
		for _, ev := range evs {
			at := ev.Time
			if at.IsZero() {
				at = a.now()
			}
			a.mu.Lock()
			rs := a.det.Observe(ev, at)
			a.mu.Unlock()
			a.raise(rs)
		}
		a.mu.Lock()
		rs := a.det.Tick(a.now())
		a.mu.Unlock()
		a.raise(rs)
		var lapped *events.LappedError
		switch {
		case err == nil:
		case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		case errors.As(err, &lapped):
			// Behind by a whole ring: what was missed is lost; go on
			// from now.
			a.log.Warn("alerts fell behind the event bus; some events were not looked at", "missed", lapped.Gap.Missed)
			f.Close()
			f = bus.FollowQuiet(watched)
		default: // ctx done, or the bus closed: the daemon stops
			return
		}
	}
}

// raise records each alert, publishes it on the bus (the dashboard shows
// it live), and hands it to the targets that want it and whose rate limit
// lets it through.
func (a *Alerter) raise(rs []Raised) {
	for _, r := range rs {
		al, body, send := a.record(r)
		a.log.Info("alert", "app", al.App, "kind", al.Kind, "recovered", al.Recovered, "message", al.Message)
		shown := cloneAlert(al)
		a.bus.Publish(api.StreamEvent{Type: api.EventAlert, Time: al.Time, App: r.name, Namespace: r.namespace, AppID: -1, Instance: -1, Alert: &shown})
		for i, s := range a.senders {
			if send[i] {
				s.enqueue(job{id: al.ID, body: body[s.t.Format]})
			}
		}
	}
}

// record keeps r in the ring as an alert with a delivery per target, and
// returns it with its bodies by format and which targets to send it to.
func (a *Alerter) record(r Raised) (api.Alert, map[string][]byte, []bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	al := api.Alert{
		ID: a.nextID, Time: r.Time, Host: a.host, App: r.App, Kind: r.Kind, Message: r.Message,
		Recovered: r.Recovered, Text: text(a.host, r), Deliveries: []api.Delivery{},
	}
	a.nextID++
	send := make([]bool, len(a.senders))
	for i, s := range a.senders {
		d := api.Delivery{Target: s.shown, Status: api.DeliveryPending}
		switch {
		case !s.t.Wants(r.Kind):
			d.Status = api.DeliverySkipped
		case r.Kind != api.AlertTest && !a.limiters[i].allow(r, r.Time):
			d.Status = api.DeliverySuppressed
			s.count(func(c *counts) { c.suppressed++ })
		default:
			send[i] = true
		}
		al.Deliveries = append(al.Deliveries, d)
	}
	a.recent = append(a.recent, al)
	if len(a.recent) > a.keep {
		a.recent = slices.Delete(a.recent, 0, len(a.recent)-a.keep)
	}
	return cloneAlert(al), bodies(al, r.Subject), send
}

// report changes the delivery of alert id to target i, if still kept.
// Senders call it.
func (a *Alerter) report(id uint64, i int, change func(*api.Delivery)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.recent) == 0 || id < a.recent[0].ID {
		return
	}
	k := int(id - a.recent[0].ID)
	if k < len(a.recent) && a.recent[k].ID == id && i < len(a.recent[k].Deliveries) {
		change(&a.recent[k].Deliveries[i])
	}
}

// Recent returns the targets and the recent alerts, oldest first: what
// GET /v1/alerts answers.
func (a *Alerter) Recent() api.Alerts {
	out := api.Alerts{Targets: []api.AlertTarget{}, Alerts: []api.Alert{}}
	for _, s := range a.senders {
		out.Targets = append(out.Targets, s.state())
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, al := range a.recent {
		out.Alerts = append(out.Alerts, cloneAlert(al))
	}
	return out
}

// handoverWait bounds how long Handover waits for Run to stop its
// senders.
const handoverWait = 5 * time.Second

// Handover returns what the next daemon's alerter resumes from
// (Options.Resume) after an update in place. The bus Run reads must be
// closed first: Handover waits for Run to end, so that the deliveries it
// cut off are handed over, and none twice.
func (a *Alerter) Handover() *Handed {
	if a.started.Load() {
		t := time.NewTimer(handoverWait)
		select {
		case <-a.ran:
		case <-t.C:
			a.log.Warn("alerts: the senders did not stop in time; a delivery in flight may be made twice")
		}
		t.Stop()
	}
	h := &Handed{}
	for i, s := range a.senders {
		for _, j := range s.jobs() {
			h.Pending = append(h.Pending, Pending{ID: j.id, Target: i, URLHash: urlHash(s.t.URL), Tried: j.tried, Body: j.body})
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	h.Open, h.NextID = a.det.Open(), a.nextID
	for _, al := range a.recent {
		h.Recent = append(h.Recent, cloneAlert(al))
	}
	return h
}

// Targets is how many targets the alerter sends to.
func (a *Alerter) Targets() int { return len(a.senders) }

// Test sends a sample alert to every target at once, one attempt each,
// and returns what each answered, in the order of the targets. The sample
// is kept with the recent alerts.
func (a *Alerter) Test(ctx context.Context) []api.AlertTestResult {
	al, body, _ := a.record(Raised{
		Key: api.AlertTest, Kind: api.AlertTest, Subject: "tend alerts test",
		Message: "a sample alert: this target is reached", Time: a.now(),
	})
	out := make([]api.AlertTestResult, len(a.senders))
	var wg sync.WaitGroup
	for i, s := range a.senders {
		wg.Go(func() {
			code, err := s.post(ctx, body[s.t.Format])
			res := api.AlertTestResult{Target: s.shown, Format: s.t.Format, Code: code}
			if err != nil {
				res.Error = err.Error()
			}
			a.report(al.ID, i, func(d *api.Delivery) { settle(d, 1, code, err) })
			out[i] = res
		})
	}
	wg.Wait()
	return out
}

// settle records one attempt's outcome in d: delivered, or failed for now.
func settle(d *api.Delivery, attempt, code int, err error) {
	d.Attempts, d.Code, d.Error = attempt, code, ""
	if err != nil {
		d.Status, d.Error = api.DeliveryFailed, err.Error()
		return
	}
	d.Status = api.DeliveryDelivered
}

func cloneAlert(al api.Alert) api.Alert {
	al.Deliveries = slices.Clone(al.Deliveries)
	return al
}
