package alert

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/tendhq/tend/internal/api"
)

// Limits of what the detector keeps, so that a daemon with endless apps
// or incidents keeps a flat memory.
const (
	// MaxIncidents is how many incidents may be open at once; past it the
	// oldest is forgotten (its recovery is then never told).
	MaxIncidents = 1000
	// MaxApps is how many apps' states the detector follows.
	MaxApps = 10000
	// MaxMessage is the longest message an alert carries, in bytes.
	MaxMessage = 1000
)

// Raised is what the detector decided to tell: an incident begun, or over
// (Recovered).
type Raised struct {
	Key       string // the incident: kind and app (or host)
	Kind      string // an api.Alert* kind
	App       string // the app, as tend shows it ("" for a host)
	Subject   string // what the alert is about: the app, or the host lost
	Message   string
	Recovered bool
	Time      time.Time

	name, namespace string // the app's, when it is about one
}

// Detector finds incidents in the daemon's events and says when each
// begins and ends. Like restart.Tracker it is a pure decision object: no
// goroutine, no timer, no clock; time arrives with each call, and Next
// says when Tick is due. One goroutine uses it.
//
// An app's errored and crash_loop incidents end once it has been online
// for its stable time (its min_uptime, the restart policy's own measure of
// a process that no longer crash-loops) with no crash meanwhile. The other
// kinds are published as incidents (api.EventIncident) by whoever sees
// them, and end when that publisher says so; memory_limit has no end: each
// replacement is told, the rate limit of each target keeping them apart.
type Detector struct {
	// stable is how long an app must stay online, crash-free, for its
	// incidents to be over.
	stable func(app string) time.Duration
	apps   map[string]*appState // by namespace/name
	open   map[string]time.Time // incident key → when it began
}

type appState struct {
	online   bool      // the app's last status was online
	stableAt time.Time // when its incidents are over unless it crashes first; zero when not due
}

// NewDetector returns a detector; stable says how long an app (by
// namespace/name) must stay online with no crash for its errored and
// crash_loop incidents to be over.
func NewDetector(stable func(app string) time.Duration) *Detector {
	return &Detector{stable: stable, apps: map[string]*appState{}, open: map[string]time.Time{}}
}

// Observe takes one event of the bus, seen at now, and returns what to tell.
func (d *Detector) Observe(ev api.StreamEvent, now time.Time) []Raised {
	app := appKey(ev)
	switch ev.Type {
	case api.EventAppState:
		st := d.app(app)
		if st == nil {
			return nil
		}
		st.online = ev.Status == api.StatusOnline
		switch {
		case ev.Status == api.StatusErrored:
			st.stableAt = time.Time{}
			why := ev.Reason
			if why == "" {
				why = "its restart policy gave up"
			}
			return d.begin(now, api.AlertErrored, ev, app, "", why)
		case st.online:
			d.arm(app, st, now)
		default:
			st.stableAt = time.Time{}
		}
	case api.EventInstanceExit:
		st := d.app(app)
		if st == nil || ev.Exit == nil || ev.Exit.Expected {
			return nil
		}
		var out []Raised
		if ev.Exit.Unstable >= api.AlertCrashLoopRestarts {
			msg := fmt.Sprintf("instance %d restarted %d times in a row, each time up less than its min_uptime; last exit: %s",
				ev.Instance, ev.Exit.Unstable, ev.Exit.Reason)
			if ev.Exit.Error != "" {
				msg += "; error: " + clip(ev.Exit.Error, 200)
			}
			out = d.begin(now, api.AlertCrashLoop, ev, app, "", msg)
		}
		// A crash: not stable yet. The process may have been started
		// again at once, the app staying online (no event says so):
		// count from now.
		st.stableAt = time.Time{}
		if st.online {
			d.arm(app, st, now)
		}
		return out
	case api.EventIncident:
		if !slices.Contains(api.AlertKinds, ev.Kind) {
			return nil
		}
		subject := ev.Host
		if app != "" && ev.Kind != api.AlertHostLost {
			subject = ""
		}
		if ev.Resolved {
			msg := ev.Message
			if msg == "" {
				msg = "resolved"
			}
			return d.end(now, ev.Kind, ev, app, subject, msg)
		}
		if ev.Kind == api.AlertMemoryLimit {
			return []Raised{d.raised(now, ev.Kind, ev, app, subject, ev.Message, false)}
		}
		return d.begin(now, ev.Kind, ev, app, subject, ev.Message)
	case api.EventCommand:
		if ev.Action == "delete" && ev.Error == "" && app != "" {
			// Gone: what was open about it will never be over.
			delete(d.apps, app)
			for k := range d.open {
				if strings.HasSuffix(k, " "+app) {
					delete(d.open, k)
				}
			}
		}
	}
	return nil
}

// Tick ends the incidents of the apps that have been stable long enough
// by now.
func (d *Detector) Tick(now time.Time) []Raised {
	var out []Raised
	apps := make([]string, 0, len(d.apps))
	for app, st := range d.apps {
		if !st.stableAt.IsZero() && !now.Before(st.stableAt) {
			apps = append(apps, app)
		}
	}
	slices.Sort(apps)
	for _, app := range apps {
		d.apps[app].stableAt = time.Time{}
		ev := fromKey(app)
		msg := "online and stable for " + human(d.stable(app))
		for _, kind := range []string{api.AlertErrored, api.AlertCrashLoop} {
			out = append(out, d.end(now, kind, ev, app, "", msg)...)
		}
	}
	return out
}

// Open returns the open incidents, by key, each with when it began.
func (d *Detector) Open() map[string]time.Time { return maps.Clone(d.open) }

// Resume takes over the incidents a previous detector had open (a daemon
// updated in place, see Handed): they are not told again while they go
// on, and their recovery is told as it would have been. online says
// whether an app (namespace/name) is online now: its stable time starts
// at now.
func (d *Detector) Resume(open map[string]time.Time, online func(app string) bool, now time.Time) {
	for k, began := range open {
		if len(d.open) >= MaxIncidents {
			break
		}
		d.open[k] = began
	}
	for k := range d.open {
		kind, app, _ := strings.Cut(k, " ")
		if kind != api.AlertErrored && kind != api.AlertCrashLoop || !strings.Contains(app, "/") {
			continue
		}
		if st := d.app(app); st != nil && online(app) {
			st.online = true
			d.arm(app, st, now)
		}
	}
}

// Next is when Tick is next due; false when it is not.
func (d *Detector) Next() (time.Time, bool) {
	var next time.Time
	for _, st := range d.apps {
		if !st.stableAt.IsZero() && (next.IsZero() || st.stableAt.Before(next)) {
			next = st.stableAt
		}
	}
	return next, !next.IsZero()
}

// arm starts the app's stable time, when something of it is open to end.
func (d *Detector) arm(app string, st *appState, now time.Time) {
	if !st.stableAt.IsZero() {
		return
	}
	if d.isOpen(key(api.AlertErrored, app)) || d.isOpen(key(api.AlertCrashLoop, app)) {
		st.stableAt = now.Add(d.stable(app))
	}
}

func (d *Detector) isOpen(k string) bool { _, ok := d.open[k]; return ok }

// begin opens the incident of kind about app (or subject), and tells it
// unless it is open already.
func (d *Detector) begin(now time.Time, kind string, ev api.StreamEvent, app, subject, msg string) []Raised {
	k := key(kind, first(subject, app))
	if d.isOpen(k) {
		return nil
	}
	if len(d.open) >= MaxIncidents {
		oldest, at := "", time.Time{}
		for k, t := range d.open {
			if oldest == "" || t.Before(at) || (t.Equal(at) && k < oldest) {
				oldest, at = k, t
			}
		}
		delete(d.open, oldest)
	}
	d.open[k] = now
	return []Raised{d.raised(now, kind, ev, app, subject, msg, false)}
}

// end closes the incident, and tells it if it was open.
func (d *Detector) end(now time.Time, kind string, ev api.StreamEvent, app, subject, msg string) []Raised {
	k := key(kind, first(subject, app))
	if !d.isOpen(k) {
		return nil
	}
	delete(d.open, k)
	return []Raised{d.raised(now, kind, ev, app, subject, msg, true)}
}

func (d *Detector) raised(now time.Time, kind string, ev api.StreamEvent, app, subject, msg string, recovered bool) Raised {
	shown := shownApp(ev)
	return Raised{
		Key: key(kind, first(subject, app)), Kind: kind, App: shown, Subject: first(subject, shown),
		Message: clip(msg, MaxMessage), Recovered: recovered, Time: now, name: ev.App, namespace: ev.Namespace,
	}
}

// app returns the state of app, made on first sight; nil for events about
// no app, or when too many apps are followed already.
func (d *Detector) app(app string) *appState {
	if app == "" {
		return nil
	}
	st := d.apps[app]
	if st == nil {
		if len(d.apps) >= MaxApps {
			return nil
		}
		st = &appState{}
		d.apps[app] = st
	}
	return st
}

func key(kind, subject string) string { return kind + " " + subject }

// appKey is the app of ev as namespace/name; "" for none.
func appKey(ev api.StreamEvent) string {
	if ev.App == "" {
		return ""
	}
	return ev.Namespace + "/" + ev.App
}

// fromKey is an event about the app of appKey.
func fromKey(app string) api.StreamEvent {
	ns, name, _ := strings.Cut(app, "/")
	return api.StreamEvent{App: name, Namespace: ns}
}

// shownApp is the app of ev as tend shows it: its name, with its namespace
// unless that is the default one.
func shownApp(ev api.StreamEvent) string {
	if ev.Namespace == "" || ev.Namespace == "default" || ev.App == "" {
		return ev.App
	}
	return ev.Namespace + "/" + ev.App
}

func first(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// clip cuts s to at most n bytes, on a rune boundary, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }

// human shows a duration as a person reads it: 1s, 1.5s, 250ms, 2m0s.
func human(d time.Duration) string {
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(100 * time.Millisecond).String()
}
