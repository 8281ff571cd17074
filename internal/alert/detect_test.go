package alert

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/api"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// step is one thing that happens to a detector, at a time after t0: an
// event, or (ev nil) a tick.
type step struct {
	at   time.Duration
	ev   *api.StreamEvent
	want []string // what is raised, as show prints it
}

func show(r Raised) string {
	what := "alert"
	if r.Recovered {
		what = "recovered"
	}
	return fmt.Sprintf("%s %s %s @%s: %s", what, r.Kind, r.Subject, r.Time.Sub(t0), r.Message)
}

func state(app, status, reason string) *api.StreamEvent {
	return &api.StreamEvent{Type: api.EventAppState, App: app, Namespace: "default", Instance: -1, Status: status, Reason: reason}
}

func crash(app string, unstable int) *api.StreamEvent {
	return &api.StreamEvent{Type: api.EventInstanceExit, App: app, Namespace: "default", Exit: &api.Exit{
		Code: 1, Unstable: unstable, Reason: fmt.Sprintf("exited with code 1 after 40ms (unstable %d/16); restarting now", unstable),
		Stderr: []string{"Error: boom", "    at boom (app.js:1)", "", "Node.js v20.0.0"}, Error: "Error: boom",
	}}
}

func stopped(app string) *api.StreamEvent {
	return &api.StreamEvent{Type: api.EventInstanceExit, App: app, Namespace: "default", Exit: &api.Exit{Code: 0, Expected: true, Reason: "stopped by tend"}}
}

func incident(app, kind, msg string, resolved bool) *api.StreamEvent {
	return &api.StreamEvent{Type: api.EventIncident, App: app, Namespace: "default", Instance: -1, Kind: kind, Message: msg, Resolved: resolved}
}

const loopMsg = "instance 0 restarted 3 times in a row, each time up less than its min_uptime; last exit: exited with code 1 after 40ms (unstable 3/16); restarting now; error: Error: boom"

func TestDetector(t *testing.T) {
	s := time.Second
	tick := func(at time.Duration, want ...string) step { return step{at: at, want: want} }
	cases := []struct {
		name  string
		steps []step
	}{
		{"a crash loop is told once, then its end once the app is stable", []step{
			{0, state("api", api.StatusOnline, ""), nil},
			{50 * time.Millisecond, state("api", api.StatusWaiting, ""), nil}, // restarts after a delay
			{100 * time.Millisecond, crash("api", 1), nil},
			{200 * time.Millisecond, crash("api", 2), nil},
			{300 * time.Millisecond, crash("api", 3), []string{"alert crash_loop api @300ms: " + loopMsg}},
			{400 * time.Millisecond, crash("api", 4), nil},
			{500 * time.Millisecond, crash("api", 5), nil},
			tick(2 * s), // the app was not seen online: still looping
			{3 * s, state("api", api.StatusOnline, ""), nil},
			tick(3*s + 999*time.Millisecond),
			tick(4*s, "recovered crash_loop api @4s: online and stable for 1s"),
			tick(10 * s),
		}},
		{"a crash while online starts the stable time again", []step{
			{0, state("api", api.StatusOnline, ""), nil},
			{0, crash("api", 3), []string{"alert crash_loop api @0s: " + loopMsg}},
			{800 * time.Millisecond, crash("api", 4), nil},
			tick(1500 * time.Millisecond),
			tick(1800*time.Millisecond, "recovered crash_loop api @1.8s: online and stable for 1s"),
		}},
		{"a loop restarted at once, the app never leaving online, ends after its last crash", []step{
			{0, state("api", api.StatusOnline, ""), nil},
			{100 * time.Millisecond, crash("api", 3), []string{"alert crash_loop api @100ms: " + loopMsg}},
			tick(1099 * time.Millisecond),
			tick(1100*time.Millisecond, "recovered crash_loop api @1.1s: online and stable for 1s"),
		}},
		{"errored, then started again by hand", []step{
			{0, state("api", api.StatusErrored, "instance 0: exited with code 1 after 40ms; 16 unstable restarts in a row (each up less than 1s); not restarting"),
				[]string{"alert errored api @0s: instance 0: exited with code 1 after 40ms; 16 unstable restarts in a row (each up less than 1s); not restarting"}},
			{s, state("api", api.StatusErrored, "again"), nil},
			tick(5 * s),
			{60 * s, state("api", api.StatusLaunching, ""), nil},
			{61 * s, state("api", api.StatusOnline, ""), nil},
			tick(62*s, "recovered errored api @1m2s: online and stable for 1s"),
		}},
		{"a crash loop that ends errored is two incidents, both over when the app is", []step{
			{0, crash("api", 3), []string{"alert crash_loop api @0s: " + loopMsg}},
			{s, state("api", api.StatusErrored, ""), []string{"alert errored api @1s: its restart policy gave up"}},
			{9 * s, state("api", api.StatusOnline, ""), nil},
			{9 * s, stopped("api"), nil}, // a stop of tend's is no crash
			tick(10*s, "recovered errored api @10s: online and stable for 1s", "recovered crash_loop api @10s: online and stable for 1s"),
		}},
		{"an app online with nothing open has nothing to end", []step{
			{0, state("api", api.StatusOnline, ""), nil},
			{0, crash("api", 1), nil},
			tick(5 * s),
		}},
		{"a reload failure is told once, and its end when a reload succeeds", []step{
			{0, incident("api", api.AlertReloadFailed, "reload failed: instance 0: not ready within 8s", false),
				[]string{"alert reload_failed api @0s: reload failed: instance 0: not ready within 8s"}},
			{s, incident("api", api.AlertReloadFailed, "reload failed: again", false), nil},
			{2 * s, incident("api", api.AlertReloadFailed, "a reload succeeded", true), []string{"recovered reload_failed api @2s: a reload succeeded"}},
			{3 * s, incident("api", api.AlertReloadFailed, "a reload succeeded", true), nil},
		}},
		{"each memory-limit replacement is told: it has no end", []step{
			{0, incident("api", api.AlertMemoryLimit, "instance 1 replaced: max_memory_restart: memory 300.0MB above the limit 200.0MB for 2 samples in a row", false),
				[]string{"alert memory_limit api @0s: instance 1 replaced: max_memory_restart: memory 300.0MB above the limit 200.0MB for 2 samples in a row"}},
			{s, incident("api", api.AlertMemoryLimit, "instance 1 replaced: again", false), []string{"alert memory_limit api @1s: instance 1 replaced: again"}},
		}},
		{"a host lost is about the host, and told again once it is back", []step{
			{0, &api.StreamEvent{Type: api.EventIncident, AppID: -1, Instance: -1, Kind: api.AlertHostLost, Host: "web-2", Message: "no heartbeat for 30s"},
				[]string{"alert host_lost web-2 @0s: no heartbeat for 30s"}},
			{s, &api.StreamEvent{Type: api.EventIncident, AppID: -1, Instance: -1, Kind: api.AlertHostLost, Host: "web-3", Message: "no heartbeat for 30s"},
				[]string{"alert host_lost web-3 @1s: no heartbeat for 30s"}},
			{2 * s, &api.StreamEvent{Type: api.EventIncident, AppID: -1, Instance: -1, Kind: api.AlertHostLost, Host: "web-2", Resolved: true},
				[]string{"recovered host_lost web-2 @2s: resolved"}},
		}},
		{"a deploy failure and its end", []step{
			{0, incident("api", api.AlertDeployFailed, "release 42: npm ci failed", false), []string{"alert deploy_failed api @0s: release 42: npm ci failed"}},
			{s, incident("api", api.AlertDeployFailed, "release 43 is live", true), []string{"recovered deploy_failed api @1s: release 43 is live"}},
		}},
		{"an incident of a kind tend does not know is ignored", []step{
			{0, incident("api", "disk_full", "no space", false), nil},
		}},
		{"apps are apart, and a namespace shows", []step{
			{0, crash("api", 3), []string{"alert crash_loop api @0s: " + loopMsg}},
			{0, &api.StreamEvent{Type: api.EventInstanceExit, App: "api", Namespace: "shop", Exit: &api.Exit{Code: 2, Unstable: 5, Reason: "exited with code 2 after 1ms (unstable 5/16); restarting now"}, Instance: 1},
				[]string{"alert crash_loop shop/api @0s: instance 1 restarted 5 times in a row, each time up less than its min_uptime; last exit: exited with code 2 after 1ms (unstable 5/16); restarting now"}},
		}},
		{"a deleted app's incidents are forgotten: it is told again if it comes back", []step{
			{0, crash("api", 3), []string{"alert crash_loop api @0s: " + loopMsg}},
			{s, &api.StreamEvent{Type: api.EventCommand, App: "api", Namespace: "default", Action: "delete"}, nil},
			tick(5 * s),
			{6 * s, crash("api", 3), []string{"alert crash_loop api @6s: " + loopMsg}},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := NewDetector(func(app string) time.Duration {
				if app != "default/api" {
					t.Errorf("stable time asked for %q", app)
				}
				return time.Second
			})
			for i, st := range c.steps {
				now := t0.Add(st.at)
				var got []Raised
				if st.ev != nil {
					got = d.Observe(*st.ev, now)
				} else {
					got = d.Tick(now)
				}
				var shown []string
				for _, r := range got {
					shown = append(shown, show(r))
				}
				if !slices.Equal(shown, st.want) {
					t.Fatalf("step %d: raised\n  %q\nwant\n  %q", i, shown, st.want)
				}
			}
		})
	}
}

func TestDetectorNextIsTheEarliestStableTime(t *testing.T) {
	stable := map[string]time.Duration{"default/a": 5 * time.Second, "default/b": 2 * time.Second}
	d := NewDetector(func(app string) time.Duration { return stable[app] })
	if _, ok := d.Next(); ok {
		t.Fatal("Next is due with nothing open")
	}
	d.Observe(*crash("a", 3), t0)
	d.Observe(*crash("b", 3), t0)
	d.Observe(*state("a", api.StatusOnline, ""), t0)
	d.Observe(*state("b", api.StatusOnline, ""), t0.Add(time.Second))
	if next, ok := d.Next(); !ok || !next.Equal(t0.Add(3*time.Second)) {
		t.Fatalf("Next = %v, %v; want b's, at 3s", next.Sub(t0), ok)
	}
	if got := d.Tick(t0.Add(3 * time.Second)); len(got) != 1 || got[0].App != "b" {
		t.Fatalf("Tick at 3s raised %v; want b's recovery", got)
	}
	if next, ok := d.Next(); !ok || !next.Equal(t0.Add(5*time.Second)) {
		t.Fatalf("Next = %v, %v; want a's, at 5s", next.Sub(t0), ok)
	}
}

func TestDetectorKeepsAtMostMaxIncidents(t *testing.T) {
	d := NewDetector(func(string) time.Duration { return time.Second })
	for i := range MaxIncidents + 10 {
		if got := d.Observe(*incident(fmt.Sprint("app", i), api.AlertReloadFailed, "x", false), t0.Add(time.Duration(i))); len(got) != 1 {
			t.Fatalf("incident %d raised %d alerts", i, len(got))
		}
	}
	if len(d.open) != MaxIncidents {
		t.Fatalf("%d incidents open; want at most %d", len(d.open), MaxIncidents)
	}
	// The oldest were forgotten: their end is not told.
	if got := d.Observe(*incident("app0", api.AlertReloadFailed, "ok", true), t0.Add(time.Hour)); len(got) != 0 {
		t.Fatalf("the end of a forgotten incident was told: %v", got)
	}
	if got := d.Observe(*incident("app20", api.AlertReloadFailed, "ok", true), t0.Add(time.Hour)); len(got) != 1 {
		t.Fatalf("the end of a kept incident was not told: %v", got)
	}
}

func TestMessagesAreClipped(t *testing.T) {
	d := NewDetector(func(string) time.Duration { return time.Second })
	long := string(make([]byte, 5000))
	got := d.Observe(*incident("api", api.AlertReloadFailed, "é"+long, false), t0)
	if len(got) != 1 || len(got[0].Message) > MaxMessage {
		t.Fatalf("message of %d bytes; want at most %d", len(got[0].Message), MaxMessage)
	}
}

// A detector that resumes a previous one's incidents (a daemon updated in
// place) does not tell them again while they go on, and tells their
// recovery: at once counted from now for an app online now, or from when
// it is online again.
func TestDetectorResumesTheIncidentsOfAnother(t *testing.T) {
	stable := func(string) time.Duration { return time.Second }
	old := NewDetector(stable)
	for _, ev := range []*api.StreamEvent{
		state("api", api.StatusErrored, "gave up"),
		state("web", api.StatusOnline, ""), crash("web", 3),
	} {
		old.Observe(*ev, t0)
	}
	open := old.Open()
	if len(open) != 2 {
		t.Fatalf("open incidents %v, want api's errored and web's crash loop", open)
	}

	d := NewDetector(stable)
	d.Resume(open, func(app string) bool { return app == "default/web" }, t0.Add(time.Minute))
	var got []string
	for _, st := range []step{
		{time.Minute, state("api", api.StatusErrored, "gave up"), nil}, // found errored by the new daemon
		{time.Minute + 500*time.Millisecond, nil, nil},
		{time.Minute + time.Second, nil, []string{"recovered crash_loop web @1m1s: online and stable for 1s"}},
		{2 * time.Minute, state("api", api.StatusOnline, ""), nil},
		{2*time.Minute + time.Second, nil, []string{"recovered errored api @2m1s: online and stable for 1s"}},
	} {
		var rs []Raised
		if st.ev != nil {
			rs = d.Observe(*st.ev, t0.Add(st.at))
		} else {
			rs = d.Tick(t0.Add(st.at))
		}
		got = got[:0]
		for _, r := range rs {
			got = append(got, show(r))
		}
		if !slices.Equal(got, st.want) && (len(got) > 0 || len(st.want) > 0) {
			t.Errorf("at %s: raised %q, want %q", st.at, got, st.want)
		}
	}
	if len(d.Open()) != 0 {
		t.Errorf("incidents left open: %v", d.Open())
	}
}
