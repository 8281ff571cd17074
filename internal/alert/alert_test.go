package alert

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/events"
)

// receiver is a webhook on loopback that records what it is sent and
// answers with code.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	bodies []string // guarded by mu
	paths  []string // guarded by mu
	code   int
	// hold, when set, makes each request wait for it to close (or for
	// the client to give up); arrived gets a value as each one arrives.
	hold    chan struct{}
	arrived chan struct{}
}

func newReceiver(t *testing.T, code int) *receiver {
	r := &receiver{code: code, arrived: make(chan struct{}, 1000)}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.bodies = append(r.bodies, string(b))
		r.paths = append(r.paths, req.URL.RequestURI())
		r.mu.Unlock()
		r.arrived <- struct{}{}
		if r.hold != nil {
			select {
			case <-r.hold:
			case <-req.Context().Done():
			}
		}
		w.WriteHeader(r.code)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.bodies...)
}

// eventually polls cond until it holds, failing after a deadline.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// running runs a over bus until the test ends.
func running(t *testing.T, a *Alerter, bus *events.Bus) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.Run(ctx, bus)
	}()
	t.Cleanup(func() { cancel(); <-done })
}

func target(url, format string) Target {
	return Target{URL: url, Format: format, MinInterval: time.Minute, Timeout: 5 * time.Second, Attempts: 3}
}

func TestAlertsAreDeliveredOncePerIncidentWithTheirRecovery(t *testing.T) {
	rj, rs := newReceiver(t, 200), newReceiver(t, 204)
	bus := events.New(64)
	a := New(Options{
		Targets: []Target{target(rj.URL+"/hook/SECRET?token=x", FormatJSON), target(rs.URL+"/slack", FormatSlack)},
		Host:    "web-1", Stable: func(string) time.Duration { return time.Millisecond }, Backoff: time.Millisecond,
	})
	running(t, a, bus)
	// Run follows the bus from now on: wait until it does.
	eventually(t, "the alerter to follow", func() bool {
		bus.Publish(api.StreamEvent{Type: api.EventIncident, App: "probe", Namespace: "default", Kind: api.AlertMemoryLimit, Message: "probe"})
		return len(a.Recent().Alerts) > 0
	})
	eventually(t, "the probe's delivery", func() bool { return len(rj.got()) >= 1 && len(rs.got()) >= 1 })
	base := len(rj.got())
	baseS := len(rs.got())

	raised, _ := bus.Follow(0, false, func(e *api.StreamEvent) bool { return e.Type == api.EventAlert })
	defer raised.Close()
	for u := 1; u <= 5; u++ {
		bus.Publish(*crash("api", u))
	}
	bus.Publish(*state("api", api.StatusOnline, ""))
	eventually(t, "the alert and its recovery", func() bool { return len(rj.got()) >= base+2 && len(rs.got()) >= baseS+2 })

	var bodies []Body
	for _, s := range rj.got()[base:] {
		var b Body
		if err := json.Unmarshal([]byte(s), &b); err != nil {
			t.Fatalf("json body %q: %v", s, err)
		}
		bodies = append(bodies, b)
	}
	if len(bodies) != 2 {
		t.Fatalf("json target got %d alerts; want 2: %v", len(bodies), bodies)
	}
	first, second := bodies[0], bodies[1]
	if first.Host != "web-1" || first.App != "api" || first.Kind != api.AlertCrashLoop || first.Recovered || first.Message != loopMsg || first.Time.IsZero() {
		t.Errorf("first alert = %+v", first)
	}
	if want := "[web-1] api: crash loop: " + loopMsg; first.Text != want {
		t.Errorf("text = %q; want %q", first.Text, want)
	}
	if !second.Recovered || second.Kind != api.AlertCrashLoop || second.Text != "[web-1] api: recovered from crash loop: online and stable for 1ms" {
		t.Errorf("second alert = %+v", second)
	}
	slack := rs.got()[baseS:]
	if want := `{"text":"[web-1] api: recovered from crash loop: online and stable for 1ms"}`; slack[1] != want {
		t.Errorf("slack body = %s; want %s", slack[1], want)
	}

	// Each alert is published on the bus too, for the dashboard.
	var shown []string
	for len(shown) < 2 {
		evs, err := raised.Next(context.Background(), 10)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			shown = append(shown, fmt.Sprintf("%s/%s %s recovered=%v", e.Namespace, e.App, e.Alert.Kind, e.Alert.Recovered))
		}
	}
	if want := []string{"default/api crash_loop recovered=false", "default/api crash_loop recovered=true"}; strings.Join(shown, "|") != strings.Join(want, "|") {
		t.Errorf("alert events %q; want %q", shown, want)
	}

	rec := a.Recent()
	if len(rec.Targets) != 2 || rec.Targets[0].URL != "http://"+strings.TrimPrefix(rj.URL, "http://")+"/…" {
		t.Errorf("targets = %+v", rec.Targets)
	}
	last := rec.Alerts[len(rec.Alerts)-1]
	eventually(t, "the recovery's delivery to be recorded", func() bool {
		last = a.Recent().Alerts[len(a.Recent().Alerts)-1]
		return last.Deliveries[0].Status == api.DeliveryDelivered && last.Deliveries[1].Status == api.DeliveryDelivered
	})
	if last.Deliveries[0].Code != 200 || last.Deliveries[1].Code != 204 || last.Deliveries[0].Attempts != 1 {
		t.Errorf("deliveries = %+v", last.Deliveries)
	}
}

// sendOne raises one alert on a and returns its id.
func sendOne(a *Alerter, key string) uint64 {
	a.raise([]Raised{{Key: key, Kind: api.AlertReloadFailed, App: "api", Subject: "api", Message: "reload failed: " + key, Time: time.Now()}})
	rec := a.Recent().Alerts
	return rec[len(rec)-1].ID
}

// publishOne has the running a raise an alert of app's failed reload, by
// way of bus, and returns its id.
func publishOne(t *testing.T, a *Alerter, bus *events.Bus, app string) uint64 {
	t.Helper()
	msg := "reload failed: " + app
	var id uint64
	eventually(t, "the alert of "+app, func() bool {
		if id == 0 {
			bus.Publish(*incident(app, api.AlertReloadFailed, msg, false)) // again, until Run follows
		}
		for _, al := range a.Recent().Alerts {
			if al.Message == msg {
				id = al.ID
				return true
			}
		}
		return false
	})
	return id
}

func delivery(a *Alerter, id uint64) api.Delivery {
	for _, al := range a.Recent().Alerts {
		if al.ID == id {
			return al.Deliveries[0]
		}
	}
	return api.Delivery{}
}

func TestAFailingTargetIsRetriedABoundedNumberOfTimes(t *testing.T) {
	for _, c := range []struct {
		code     int
		attempts int
	}{
		{500, 4}, {503, 4}, {429, 4}, // worth another attempt
		{404, 1}, {400, 1}, // not
	} {
		r := newReceiver(t, c.code)
		tg := target(r.URL+"/SECRET", FormatJSON)
		tg.Attempts = 4
		a := New(Options{Targets: []Target{tg}, Backoff: time.Millisecond})
		bus := events.New(8)
		running(t, a, bus)
		id := publishOne(t, a, bus, "api")
		eventually(t, "the delivery to fail", func() bool { return delivery(a, id).Status == api.DeliveryFailed })
		d := delivery(a, id)
		if len(r.got()) != c.attempts || d.Attempts != c.attempts || d.Code != c.code {
			t.Errorf("HTTP %d: %d requests, delivery %+v; want %d attempts", c.code, len(r.got()), d, c.attempts)
		}
		if want := fmt.Sprintf("HTTP %d %s", c.code, http.StatusText(c.code)); d.Error != want {
			t.Errorf("error %q", d.Error)
		}
		if st := a.Recent().Targets[0]; st.Failed != 1 || st.Delivered != 0 {
			t.Errorf("target counts %+v", st)
		}
	}
}

func TestAHangingTargetTimesOutAndAFullQueueDropsItsOldest(t *testing.T) {
	r := newReceiver(t, 200)
	r.hold = make(chan struct{})
	tg := target(r.URL+"/hook/SECRET", FormatJSON)
	tg.Timeout, tg.Attempts = 2*time.Second, 1
	a := New(Options{Targets: []Target{tg}, Backoff: time.Millisecond})
	bus := events.New(8)
	running(t, a, bus)
	first := publishOne(t, a, bus, "first")
	<-r.arrived // the first is in flight, held
	var ids []uint64
	for i := range QueueSize + 3 {
		ids = append(ids, publishOne(t, a, bus, fmt.Sprint("app", i)))
	}
	// Raising never waited for the held request; the 3 oldest queued were
	// pushed out.
	st := a.Recent().Targets[0]
	if st.Dropped != 3 || st.Queued != QueueSize {
		t.Fatalf("target %+v; want 3 dropped, %d queued", st, QueueSize)
	}
	for i, id := range ids {
		if got, want := delivery(a, id).Status == api.DeliveryDropped, i < 3; got != want {
			t.Errorf("alert %d dropped: %v; want %v", i, got, want)
		}
	}
	eventually(t, "the held request to time out", func() bool { return delivery(a, first).Status == api.DeliveryFailed })
	if d := delivery(a, first); d.Error != "no answer within 2s" {
		t.Errorf("delivery %+v", d)
	}
	close(r.hold)
	eventually(t, "the queue to drain", func() bool { return delivery(a, ids[len(ids)-1]).Status == api.DeliveryDelivered })
}

func TestRateLimitedAlertsAreSuppressedPerTarget(t *testing.T) {
	r1, r2 := newReceiver(t, 200), newReceiver(t, 200)
	fast := target(r2.URL, FormatJSON)
	fast.MinInterval = 0
	only := target(r1.URL, FormatJSON)
	only.Events = []string{api.AlertErrored}
	a := New(Options{Targets: []Target{only, fast}})
	id1 := sendOne(a, "same")
	id2 := sendOne(a, "same")
	var got [][2]string
	for _, al := range a.Recent().Alerts {
		got = append(got, [2]string{al.Deliveries[0].Status, al.Deliveries[1].Status})
	}
	want := [][2]string{{api.DeliverySkipped, api.DeliveryPending}, {api.DeliverySkipped, api.DeliveryPending}}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] || id1 == id2 {
		t.Fatalf("deliveries %v; want %v", got, want)
	}
	b := New(Options{Targets: []Target{target(r1.URL, FormatJSON)}})
	sendOne(b, "same")
	sendOne(b, "same")
	sendOne(b, "other")
	var statuses []string
	for _, al := range b.Recent().Alerts {
		statuses = append(statuses, al.Deliveries[0].Status)
	}
	if strings.Join(statuses, ",") != "pending,suppressed,pending" || b.Recent().Targets[0].Suppressed != 1 {
		t.Fatalf("statuses %v, target %+v", statuses, b.Recent().Targets[0])
	}
}

func TestTestSendsASampleToEveryTarget(t *testing.T) {
	ok, bad := newReceiver(t, 200), newReceiver(t, 500)
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL + "/hook/SECRET"
	dead.Close()
	a := New(Options{Host: "web-1", Targets: []Target{target(ok.URL+"/a", FormatSlack), target(bad.URL+"/b", FormatJSON), target(deadURL, FormatJSON)}})
	res := a.Test(context.Background())
	if len(res) != 3 || res[0].Code != 200 || res[0].Error != "" || res[1].Code != 500 || res[1].Error != "HTTP 500 Internal Server Error" || res[2].Code != 0 || res[2].Error == "" {
		t.Fatalf("results %+v", res)
	}
	if strings.Contains(res[2].Error, "SECRET") || strings.Contains(res[2].Target, "SECRET") {
		t.Errorf("a result shows the URL's secret: %+v", res[2])
	}
	if got := ok.got(); len(got) != 1 || got[0] != `{"text":"[web-1] tend alerts test: test: a sample alert: this target is reached"}` {
		t.Errorf("slack sample %q", got)
	}
	if len(bad.got()) != 1 {
		t.Errorf("the sample was sent %d times to a target answering 500; want once", len(bad.got()))
	}
	al := a.Recent().Alerts[0]
	if al.Kind != api.AlertTest || al.Deliveries[0].Status != api.DeliveryDelivered || al.Deliveries[1].Status != api.DeliveryFailed {
		t.Errorf("recorded %+v", al)
	}
}

func TestText(t *testing.T) {
	for _, c := range []struct {
		r    Raised
		want string
	}{
		{Raised{Kind: api.AlertReloadFailed, Subject: "api", Message: "reload failed: api: instance 0: not ready"}, "[web-1] api: reload failed: api: instance 0: not ready"},
		{Raised{Kind: api.AlertReloadFailed, Subject: "api", Message: "a reload succeeded", Recovered: true}, "[web-1] api: recovered from reload failed: a reload succeeded"},
		{Raised{Kind: api.AlertMemoryLimit, Subject: "api", Message: "instance 1 replaced: max_memory_restart: ..."}, "[web-1] api: memory limit: instance 1 replaced: max_memory_restart: ..."},
		{Raised{Kind: api.AlertHostLost, Subject: "web-2", Message: "no heartbeat for 30s"}, "[web-1] web-2: host lost: no heartbeat for 30s"},
		{Raised{Kind: api.AlertDeployFailed, Message: "release 3: npm ci failed"}, "[web-1] deploy failed: release 3: npm ci failed"},
	} {
		if got := text("web-1", c.r); got != c.want {
			t.Errorf("text = %q; want %q", got, c.want)
		}
	}
}

func TestRecentKeepsABoundedRing(t *testing.T) {
	a := New(Options{Keep: 5})
	for range 12 {
		sendOne(a, "k")
	}
	rec := a.Recent().Alerts
	if len(rec) != 5 || rec[0].ID != 8 || rec[4].ID != 12 {
		t.Fatalf("kept %d alerts from id %d; want 5 from 8", len(rec), rec[0].ID)
	}
	// A delivery report for an alert no longer kept changes nothing.
	a.report(1, 0, func(d *api.Delivery) { t.Fatal("report reached a forgotten alert") })
}

// An alerter resuming from a hand-over keeps the recent alerts and their
// ids; a delivery still pending was in the old program's queue, which is
// gone: it shows as dropped, saying why.
func TestAlerterResumesRecentAlerts(t *testing.T) {
	h := &Handed{
		Recent: []api.Alert{
			{ID: 4, Kind: api.AlertErrored, App: "api", Deliveries: []api.Delivery{{Target: "t", Status: api.DeliveryDelivered, Code: 200}}},
			{ID: 5, Kind: api.AlertCrashLoop, App: "web", Deliveries: []api.Delivery{{Target: "t", Status: api.DeliveryPending}}},
		},
		NextID: 6,
	}
	a := New(Options{Resume: h})
	got := a.Recent().Alerts
	if len(got) != 2 || got[0].ID != 4 || got[0].Deliveries[0].Status != api.DeliveryDelivered {
		t.Fatalf("recent after resume: %+v", got)
	}
	if d := got[1].Deliveries[0]; d.Status != api.DeliveryDropped || d.Error == "" {
		t.Errorf("a pending delivery after resume: %+v, want dropped with a reason", d)
	}
	if h.Recent[1].Deliveries[0].Status != api.DeliveryPending {
		t.Errorf("resume changed the handed alerts")
	}
	if next := a.Handover(); next.NextID != 6 || len(next.Recent) != 2 {
		t.Errorf("handover after resume: %+v", next)
	}
}

// With Flush, the alerts queued when Run is told to end still go out
// (tend run); without, they are left pending.
func TestFlushDeliversWhatIsQueuedAtTheEnd(t *testing.T) {
	for _, flush := range []time.Duration{0, 10 * time.Second} {
		r := newReceiver(t, 200)
		r.hold = make(chan struct{})
		bus := events.New(64)
		a := New(Options{Targets: []Target{target(r.URL, FormatJSON)}, Flush: flush})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); a.Run(ctx, bus) }()
		eventually(t, "the alerter to follow", func() bool {
			bus.Publish(api.StreamEvent{Type: api.EventIncident, App: "probe", Namespace: "default", Kind: api.AlertMemoryLimit, Message: "probe"})
			return len(a.Recent().Alerts) > 0
		})
		// The probe's delivery is held by the receiver; another alert
		// waits in the queue behind it as Run is told to end.
		<-r.arrived
		bus.Publish(*state("api", api.StatusErrored, "gave up"))
		eventually(t, "the errored alert", func() bool { return len(a.Recent().Alerts) >= 2 })
		cancel()
		if flush > 0 {
			close(r.hold) // the drain goes on past the held delivery
			<-done
		} else {
			<-done // the held delivery was cut off
			close(r.hold)
		}
		n := 0
		for _, b := range r.got() {
			if strings.Contains(b, `"kind":"errored"`) {
				n++
			}
		}
		if want := map[bool]int{false: 0, true: 1}[flush > 0]; n != want {
			t.Errorf("flush %s: the errored alert was delivered %d times, want %d", flush, n, want)
		}
	}
}

// The deliveries not made when a daemon hands over (tend update), the one
// in flight and those queued behind it, are made by the next daemon, each
// once more; an attempt the hand-over cut off does not count.
func TestPendingDeliveriesAreCarriedAcrossAHandover(t *testing.T) {
	r := newReceiver(t, 200)
	r.hold = make(chan struct{})
	tg := target(r.URL+"/hook/SECRET", FormatJSON)
	bus := events.New(64)
	a := New(Options{Targets: []Target{tg}, Backoff: time.Millisecond})
	done := make(chan struct{})
	go func() { defer close(done); a.Run(context.Background(), bus) }()
	first := publishOne(t, a, bus, "first")
	<-r.arrived // in flight, held
	second := publishOne(t, a, bus, "second")

	bus.Close() // as the daemon's hand-over does
	h := a.Handover()
	<-done
	if len(h.Pending) != 2 || h.Pending[0].ID != first || h.Pending[1].ID != second || h.Pending[0].Tried != 0 {
		t.Fatalf("pending handed over: %+v", h.Pending)
	}
	b, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	var resumed Handed
	if err := json.Unmarshal(b, &resumed); err != nil {
		t.Fatal(err)
	}
	close(r.hold)

	next := New(Options{Targets: []Target{tg}, Backoff: time.Millisecond, Resume: &resumed})
	if d := delivery(next, first); d.Status != api.DeliveryPending {
		t.Fatalf("the cut-off delivery after resume: %+v, want pending", d)
	}
	running(t, next, events.New(64))
	eventually(t, "both deliveries", func() bool {
		return delivery(next, first).Status == api.DeliveryDelivered && delivery(next, second).Status == api.DeliveryDelivered
	})
	if d := delivery(next, first); d.Attempts != 1 {
		t.Errorf("the cut-off delivery: %+v, want 1 attempt counted", d)
	}
	count := func(app string) (n int) {
		for _, body := range r.got() {
			if strings.Contains(body, `"message":"reload failed: `+app+`"`) {
				n++
			}
		}
		return n
	}
	// first: the cut-off attempt and the one made after; second: once.
	if count("first") != 2 || count("second") != 1 {
		t.Errorf("received first %d times, second %d times; want 2 and 1", count("first"), count("second"))
	}
	if st := next.Recent().Targets[0]; st.Delivered != 2 || st.Queued != 0 {
		t.Errorf("target after the resumed deliveries: %+v", st)
	}

	// A target that left daemon.yaml: its deliveries are dropped, saying so.
	gone := New(Options{Targets: []Target{target(r.URL+"/other", FormatJSON)}, Resume: &resumed})
	if d := delivery(gone, second); d.Status != api.DeliveryDropped || !strings.Contains(d.Error, "left daemon.yaml") {
		t.Errorf("a delivery to a target no longer there: %+v", d)
	}
}
