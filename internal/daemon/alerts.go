package daemon

import (
	"net/http"
	"time"

	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/spec"
)

// alertsList answers GET /v1/alerts: the alert targets and the recent
// alerts (tend alerts ls, the dashboard).
func (d *Daemon) alertsList(*http.Request) (any, error) {
	return d.alerts.Recent(), nil
}

// alertsTest answers POST /v1/alerts/test: a sample alert to every target,
// and what each answered.
func (d *Daemon) alertsTest(r *http.Request) (any, error) {
	if d.alerts.Targets() == 0 {
		return nil, &httpError{http.StatusBadRequest, "no alert targets: add an alerts list to daemon.yaml in the tend home, then restart the daemon (tend kill; the next command starts it)"}
	}
	return d.alerts.Test(r.Context()), nil
}

// alertApp is the app the alerter names by namespace/name; nil when none.
func (d *Daemon) alertApp(app string) *entry {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, e := range d.apps {
		if e.namespace+"/"+e.name == app {
			return e
		}
	}
	return nil
}

// stableFor is how long the app (namespace/name) must stay online with no
// crash for its incidents to be over: its min_uptime, the restart policy's
// own measure of a process that does not crash-loop.
func (d *Daemon) stableFor(app string) time.Duration {
	if e := d.alertApp(app); e != nil {
		if s, err := e.app.Spec(); err == nil {
			return s.MinUptime.D()
		}
	}
	return spec.DefaultMinUptime
}

// appOnline says whether the app (namespace/name) is online now, for the
// alerter resuming the incidents of the daemon before an update.
func (d *Daemon) appOnline(app string) bool {
	if e := d.alertApp(app); e != nil {
		if st, err := e.app.Status(); err == nil {
			return st.Status == api.StatusOnline
		}
	}
	return false
}
