package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tendhq/tend/internal/alert"
	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/dashboard"
	"github.com/tendhq/tend/internal/doctor"
	"github.com/tendhq/tend/internal/fleet"
	"github.com/tendhq/tend/internal/remote"
	"github.com/tendhq/tend/internal/supervise"
)

// DashboardOptions configure the web dashboard.
type DashboardOptions struct {
	// Addr, when set, serves the dashboard there for the daemon's life
	// (daemon.yaml's dashboard_addr); beyond loopback over TLS only.
	Addr string
	// CertFile and KeyFile are the TLS certificate beyond loopback
	// (remote_cert, remote_key); both empty: the self-signed one.
	CertFile, KeyFile string
	// Alerts, when set, lists the recent alerts on the overview.
	Alerts dashboard.Alerts
}

// dashState is the dashboard of a daemon: started with the daemon when
// daemon.yaml says where, or by the first `tend dashboard` on loopback,
// and stopped with the daemon.
type dashState struct {
	opts     DashboardOptions
	interval time.Duration
	// hub says the daemon runs the fleet's hub; agent is its place in a
	// fleet it only joins (nil: none). Both are set before Run.
	hub   bool
	agent *fleet.AgentConfig
	// fleet is the hub's fleet as the Hosts page lists it, while the hub
	// runs (fleetview.go).
	fleet atomic.Pointer[fleetView]

	mu  sync.Mutex // guards srv
	srv *dashboard.Server
}

// startDashboard serves the dashboard on addr, unless it is served
// already (then that one is returned).
func (d *Daemon) startDashboard(addr string) (*dashboard.Server, error) {
	d.dash.mu.Lock()
	defer d.dash.mu.Unlock()
	if d.dash.srv != nil {
		return d.dash.srv, nil
	}
	// What the dashboard before an update handed over: taken once, and
	// served or closed.
	ln, resume := d.up.dash, d.up.dashState
	d.up.dash, d.up.dashState = nil, nil
	if ln != nil && !sameAddr(ln.Addr(), addr) {
		d.log.Info("dashboard_addr changed: the inherited dashboard listener is closed", "was", ln.Addr().String(), "now", addr)
		ln.Close()
		ln = nil
	}
	tokens, err := remote.Open(d.home)
	if err != nil {
		if ln != nil {
			ln.Close()
		}
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	srv, err := dashboard.Start(addr, dashboard.Config{
		Listener:  ln,
		Resume:    resume,
		Home:      d.home,
		API:       d.waitRestored(d.routes()),
		Apps:      d.snapshot,
		Events:    d.events,
		Logs:      d.hub,
		Tokens:    tokens,
		Interval:  d.dash.interval,
		Log:       d.log.With("part", "dashboard"),
		Alerts:    d.dashAlerts(),
		Doctor:    d.doctor,
		CertFile:  d.dash.opts.CertFile,
		KeyFile:   d.dash.opts.KeyFile,
		Hosts:     d.fleetHosts(),
		FleetNote: d.fleetNote(),
		Version:   d.version,
	})
	if err != nil {
		return nil, err
	}
	d.dash.srv = srv
	return srv, nil
}

// handOverDashboard stops the dashboard, if it runs, for an update: its
// listening socket and state go to the next program.
func (d *Daemon) handOverDashboard(ctx context.Context) (*handedDashboard, *os.File) {
	d.dash.mu.Lock()
	srv := d.dash.srv
	d.dash.srv = nil
	d.dash.mu.Unlock()
	if srv == nil {
		return nil, nil
	}
	f, state, err := srv.Handover(ctx)
	if err != nil {
		d.log.Error("dashboard not handed over; the new daemon serves it again when daemon.yaml says where, and its sessions log in again", "err", err)
		return nil, nil
	}
	fd, err := supervise.Inheritable(f)
	if err != nil {
		d.log.Error("dashboard not handed over", "err", err)
		f.Close()
		return nil, nil
	}
	return &handedDashboard{FD: fd, State: state}, f
}

// dashboardAddr is where the dashboard is served from the start: where
// daemon.yaml says, or, after an update, where the daemon before served
// one (tend dashboard's port).
func (d *Daemon) dashboardAddr() string {
	if d.dash.opts.Addr != "" {
		return d.dash.opts.Addr
	}
	d.dash.mu.Lock() // startDashboard takes d.up.dash under it
	defer d.dash.mu.Unlock()
	if d.up.dash != nil {
		return d.up.dash.Addr().String()
	}
	return ""
}

// closeDashboard stops the dashboard, if it runs.
func (d *Daemon) closeDashboard() {
	d.dash.mu.Lock()
	srv := d.dash.srv
	d.dash.srv = nil
	d.dash.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

// openDashboard answers POST /v1/dashboard (tend dashboard): the
// dashboard's URL, started on a free loopback port for the daemon's life
// when none is configured, and a one-time login link.
func (d *Daemon) openDashboard(*http.Request) (any, error) {
	addr := d.dash.opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	srv, err := d.startDashboard(addr)
	if err != nil {
		return nil, err
	}
	return api.Dashboard{URL: srv.URL(), Login: srv.LoginLink()}, nil
}

// doctor runs doctor's checks on the apps of target for the dashboard,
// with what the daemon knows: the app, its environment and a probe of
// its port (the boot unit and npm audit are the CLI's).
func (d *Daemon) doctor(ctx context.Context, target string) ([]doctor.Result, error) {
	m, err := d.match(target)
	if err != nil {
		return nil, err
	}
	probe := &http.Client{
		Timeout:       10 * time.Second,
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	defer probe.CloseIdleConnections()
	var out []doctor.Result
	for _, a := range d.statuses(m, true) {
		in := doctor.Input{App: a, HTTPClient: probe, LogRotationDefault: d.logDefaults.MaxSize > 0 || d.logDefaults.Interval != ""}
		i := slices.IndexFunc(m, func(e *entry) bool { return e.id == a.ID })
		if env, err := m[i].app.Env(); err == nil && len(env.Instances) > 0 {
			in.Env = env.Instances[0].Env
		}
		if a.Port > 0 {
			scheme := "http"
			if a.Mode != "fork" && a.Spec != nil && a.Spec.Edge != nil && a.Spec.Edge.TLS != nil {
				scheme = "https"
			}
			in.URL = scheme + "://127.0.0.1:" + strconv.Itoa(a.Port) + "/"
		}
		out = append(out, doctor.Check(ctx, in)...)
	}
	return out, nil
}

// dashAlerts is what the overview lists as recent alerts: the options' own
// source when a test set one, else the alerter's, when daemon.yaml has
// alert targets (nil otherwise: the overview says alerts are not set up).
func (d *Daemon) dashAlerts() dashboard.Alerts {
	if d.dash.opts.Alerts != nil {
		return d.dash.opts.Alerts
	}
	if d.alerts == nil || len(d.alerts.Recent().Targets) == 0 {
		return nil
	}
	return recentAlerts{d.alerts}
}

// recentAlerts lists the alerter's recent alerts, newest first, for the
// overview.
type recentAlerts struct{ a *alert.Alerter }

// maxDashAlerts is how many alerts the overview lists.
const maxDashAlerts = 20

func (r recentAlerts) Recent() []dashboard.Alert {
	all := r.a.Recent().Alerts
	out := make([]dashboard.Alert, 0, min(len(all), maxDashAlerts))
	for i := len(all) - 1; i >= 0 && len(out) < maxDashAlerts; i-- {
		a := all[i]
		out = append(out, dashboard.Alert{Time: a.Time, App: a.App, Kind: a.Kind, Message: a.Message, Resolved: a.Recovered})
	}
	return out
}

// fleetHosts is where the Hosts page reads the fleet: the hub's view when
// this daemon runs the hub; nil otherwise (an agent's credentials read
// only its own keys).
func (d *Daemon) fleetHosts() func(context.Context) ([]dashboard.HostView, error) {
	if !d.dash.hub {
		return nil
	}
	return func(context.Context) ([]dashboard.HostView, error) {
		v := d.dash.fleet.Load()
		if v == nil {
			return nil, errors.New("the fleet hub is starting")
		}
		return v.hosts()
	}
}

// fleetNote is what the Hosts page of an agent that runs no hub says.
func (d *Daemon) fleetNote() string {
	a := d.dash.agent
	if d.dash.hub || a == nil {
		return ""
	}
	return fmt.Sprintf("This host, %s, belongs to the fleet of the hub at %s. Its credentials read only its own keys: "+
		"the fleet's hosts are listed on the dashboard of the daemon that runs the hub (hub: {listen: ...} in its daemon.yaml).", a.Name, a.URL)
}
