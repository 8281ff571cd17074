package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/daemon"
	"github.com/tendhq/tend/internal/logs"
	"github.com/tendhq/tend/internal/spec"
	"github.com/tendhq/tend/internal/version"
)

func newRun(e *env) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "run <ecosystem file|script> [flags] [-- args...]",
		Short: "Run apps in the foreground, for containers (PM2's pm2-runtime)",
		Long: `Run the daemon in the foreground with exactly the apps of a file (or one script), for
containers, as PID 1 if need be: it reaps every zombie, prints the apps' output to its
own stdout (one line per log line, app and instance named; --json for JSON lines),
turns SIGTERM or SIGINT into a graceful stop of every app (each within its
kill_timeout) and then exits 0, and exits 1 when an app ends errored. The control
socket stays available, so 'tend ls' works from 'docker exec'. A bad file exits
non-zero before anything starts.`,
		Args: cobra.MinimumNArgs(1),
	}
	o := addStartFlags(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the apps' output as JSON lines")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		// The settings of daemon.yaml, if the home has one: a bad one
		// stops the run before anything starts.
		cfg, err := loadDaemonConfig(e.home)
		if err != nil {
			return err
		}
		o.maxInstances = cfg.MaxInstances
		apps, warnings, err := o.apps(cmd, args)
		printWarnings(e, warnings)
		if errors.Is(err, errNotAScript) {
			return fmt.Errorf("%q is neither an ecosystem file, nor a script, nor a command on PATH", args[0])
		}
		if err != nil {
			return err
		}
		return e.runForeground(cfg, apps, asJSON)
	}
	return cmd
}

// runAlertsFlush is how long tend run gives the alerts still queued when
// it stops.
const runAlertsFlush = 5 * time.Second

// runForeground runs the daemon in this process with exactly apps, until
// a signal, the end of every app or an errored one (tend run, tend start
// --no-daemon).
// It takes all of cfg, as tend daemon does: alerts, metrics, log
// rotation, procs, the instance ceiling, the remote API, the dashboard
// and a fleet's hub or agent.
func (e *env) runForeground(cfg daemonConfig, apps []spec.App, asJSON bool) error {
	// Signals end the run gracefully; the root's context would also
	// stop on them, but tend run must own them as PID 1 does.
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer cancel()

	// The printer follows until the daemon has stopped every app and
	// drained their pipes, not until the signal: what apps print while
	// they shut down is all a container's log keeps of why.
	hub := logs.NewHub(1000)
	var printing sync.WaitGroup
	printCtx, stopPrinting := context.WithCancel(context.Background())
	defer stopPrinting()
	lines := hub.FollowDrained(printCtx, func(logs.Line) bool { return true }, 4*logs.DefaultFollowBuffer)
	printing.Go(func() {
		for l := range lines {
			if asJSON {
				_ = e.printJSONLine(daemon.LogLine(l))
			} else {
				fmt.Fprintf(e.stdout, "%s[%d] | %s\n", l.App, l.Instance, l.Text)
			}
		}
	})

	var mu sync.Mutex
	var errored []string // guarded by mu
	onState := func(states []api.App) {
		var bad []string
		done := len(states) > 0
		for _, a := range states {
			if a.Status == api.StatusErrored {
				bad = append(bad, fmt.Sprintf("%s (%s)", a.Name, a.Reason))
			}
			if a.Status != api.StatusStopped && a.Status != api.StatusErrored {
				done = false
			}
		}
		if len(bad) > 0 {
			mu.Lock()
			errored = bad
			mu.Unlock()
		}
		// An errored app ends the container, so its orchestrator can
		// act; so does the end of every app.
		if len(bad) > 0 || done {
			cancel()
		}
	}
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	fleetHub, fleetAgent := cfg.Hub.fleet(e.home)
	err := daemon.Run(ctx, daemon.Options{
		Home: e.home, Version: version.String(), Log: log, Hub: hub,
		Apply: apps, ApplyEnv: callerEnv(), OnState: onState,
		// An errored app ends the container: its alert is given the time
		// a container's stop grants (docker's is 10 s) to go out.
		Alerts: cfg.Alerts, AlertsFlush: runAlertsFlush,
		MetricsAddr: cfg.MetricsAddr, MetricsToken: cfg.MetricsToken, MetricsInterval: cfg.MetricsInterval.D(),
		LogDefaults: cfg.logDefaults(), Procs: cfg.Procs, MaxInstances: cfg.MaxInstances,
		MaxUpload:  cfg.MaxUpload,
		RemoteAddr: cfg.RemoteAddr, RemoteCert: cfg.RemoteCert, RemoteKey: cfg.RemoteKey,
		Dashboard: daemon.DashboardOptions{Addr: cfg.DashboardAddr, CertFile: cfg.RemoteCert, KeyFile: cfg.RemoteKey},
		FleetHub:  fleetHub, FleetAgent: fleetAgent,
	})
	cancel()
	stopPrinting()
	printing.Wait()
	if err != nil {
		return err
	}
	mu.Lock()
	defer mu.Unlock()
	if len(errored) > 0 {
		return fmt.Errorf("errored: %s", strings.Join(errored, ", "))
	}
	return nil
}
