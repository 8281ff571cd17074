package daemon

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/fleet"
	"github.com/tendhq/tend/internal/spec"
)

// startFleet starts the daemon's part in a fleet: the embedded hub
// (Options.FleetHub) and the agent (Options.FleetAgent). stop stops the agent, then
// the hub, and waits for both; the agent runs on a goroutine of its own
// and never holds up the daemon.
func (d *Daemon) startFleet(ctx context.Context, o Options) (stop func(), err error) {
	var hub *fleet.Hub
	if o.FleetHub != nil {
		cfg := *o.FleetHub
		cfg.Log = d.log
		if hub, err = fleet.StartHub(ctx, cfg); err != nil {
			return nil, err
		}
		d.log.Info("fleet hub serving", "url", hub.URL(), "fingerprint", hub.Fingerprint)
	}
	closeHub := func() {}
	if hub != nil {
		// The dashboard's Hosts page: the fleet as the hub's buckets say.
		v := newFleetView()
		stopView := background(func(ctx context.Context) { v.watch(ctx, hub, d.log) })
		d.dash.fleet.Store(v)
		closeHub = func() {
			d.dash.fleet.Store(nil)
			stopView()
			hub.Close()
		}
	}
	if o.FleetAgent == nil {
		return closeHub, nil
	}
	cfg := *o.FleetAgent
	cfg.Log, cfg.Version = d.log, d.version
	if cfg.URL == "" && hub != nil {
		// The daemon's own hub: in-process, with a credential of its own.
		creds, err := hub.Keys().Creds(fleet.RoleHost, cfg.Name)
		if err != nil {
			closeHub()
			return nil, err
		}
		cfg.Options = append(cfg.Options, nats.InProcessServer(hub.Server()), fleet.CredsOption(creds))
	}
	agent, err := fleet.NewAgent(cfg, &fleetLocal{d: d})
	if err != nil {
		closeHub()
		return nil, err
	}
	stopAgent := background(func(ctx context.Context) {
		if err := agent.Run(ctx); err != nil {
			d.log.Error("fleet agent stopped", "err", err)
		}
	})
	return func() {
		stopAgent()
		closeHub()
	}, nil
}

// fleetLocal is the daemon as its fleet agent sees it.
type fleetLocal struct {
	d    *Daemon
	once sync.Once
	h    http.Handler
}

// Handler is the control API, as the socket serves it.
func (l *fleetLocal) Handler() http.Handler {
	l.once.Do(func() { l.h = l.d.waitRestored(l.d.routes()) })
	return l.h
}

// ApplyFleet runs the plan of tend apply over the apps the fleet placed
// here (managed) and those it places now, with prune: an app the fleet
// placed and no longer places is deleted; apps started here by hand are
// not the fleet's and are left alone.
func (l *fleetLocal) ApplyFleet(ctx context.Context, raw []json.RawMessage, managed []string) (api.ApplyResult, error) {
	d := l.d
	select {
	case <-d.restored:
	case <-ctx.Done():
		return api.ApplyResult{}, ctx.Err()
	}
	var desired []spec.App
	if len(raw) > 0 {
		b, err := json.Marshal(raw)
		if err != nil {
			return api.ApplyResult{}, err
		}
		if desired, _, err = spec.DecodeJSON(b, spec.DecodeOptions{File: "fleet desired state", MaxInstances: d.maxInstances}); err != nil {
			return api.ApplyResult{}, err
		}
	}
	d.applyMu.Lock()
	defer d.applyMu.Unlock()
	ours := slices.Clone(managed)
	for _, a := range desired {
		ours = append(ours, a.Key())
	}
	current := slices.DeleteFunc(d.currentSpecs(), func(a spec.App) bool { return !slices.Contains(ours, a.Key()) })
	// Apps the fleet starts inherit the daemon's environment, as apps
	// started by hand inherit their caller's.
	res, err := d.execute(ctx, current, desired, true, false, daemonEnv())
	d.publishPlan(nil, api.EventApply, res, err)
	return res, err
}

// daemonEnv is the daemon's environment less TEND_HOME.
func daemonEnv() map[string]string {
	m := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok && k != "TEND_HOME" {
			m[k] = v
		}
	}
	return m
}
