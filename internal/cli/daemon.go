package cli

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/tendhq/tend/internal/client"
	"github.com/tendhq/tend/internal/conf"
	"github.com/tendhq/tend/internal/daemon"
	"github.com/tendhq/tend/internal/home"
	"github.com/tendhq/tend/internal/logs"
	"github.com/tendhq/tend/internal/version"
)

func newDaemon(e *env) *cobra.Command {
	var metricsAddr, metricsToken string
	var metricsInterval string
	cmd := &cobra.Command{
		Use:   "daemon",
		Short: "Run the daemon in the foreground (other commands start it when needed)",
		Long: `Run the daemon in the foreground. Other commands start it in the background when none
answers. Its settings come from $TEND_HOME/daemon.yaml (metrics_addr, metrics_token,
metrics_interval, procs (CPUs to run on, default half of them), the default log
rotation: log_max_size, log_rotate_interval, log_retain, log_compress; alerts, the
webhooks of tend alerts; the remote control API: remote_addr, remote_cert, remote_key;
dashboard_addr, the web dashboard, over TLS beyond loopback with remote_cert and
remote_key; and hub: (listen: runs a fleet hub in the daemon; url:, creds:, name:,
labels: and fingerprint: or ca: join a fleet; see tend hub add-host)), which these flags
override.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadDaemonConfig(e.home)
			if err != nil {
				return err
			}
			every := cfg.MetricsInterval.D()
			if cmd.Flags().Changed("metrics-addr") {
				cfg.MetricsAddr = metricsAddr
			}
			if cmd.Flags().Changed("metrics-token") {
				cfg.MetricsToken = metricsToken
			}
			if cmd.Flags().Changed("metrics-interval") {
				d, err := conf.ParseDuration(metricsInterval)
				if err != nil || d < 100*time.Millisecond {
					return fmt.Errorf("--metrics-interval: want a duration of at least 100ms, got %q", metricsInterval)
				}
				every = d
			}
			defaults := cfg.logDefaults()
			var out io.Writer = e.stderr
			var own *logs.File
			ownLog := os.Getenv(daemon.EnvOwnLog) == "1" // kept across tend update
			os.Unsetenv(daemon.EnvOwnLog)
			if os.Getenv("TEND_READY_FD") != "" || ownLog {
				// Started in the background: the daemon's log is a file it
				// rotates itself (10M, 5 kept, unless daemon.yaml says).
				fc := defaults
				fc.Path = filepath.Join(e.home, home.LogName)
				if fc.MaxSize == 0 {
					fc.MaxSize = 10 << 20
				}
				if fc.Retain == 0 {
					fc.Retain = 5
				}
				if own, err = logs.OpenFile(fc); err != nil {
					return err
				}
				defer own.Close()
				out = own.LineWriter("tend")
			}
			log := slog.New(slog.NewTextHandler(out, nil))
			var ready func()
			// A client that started us waits for one byte on this fd.
			if fd, err := strconv.Atoi(os.Getenv("TEND_READY_FD")); err == nil {
				f := os.NewFile(uintptr(fd), "ready")
				os.Unsetenv("TEND_READY_FD")
				ready = func() { f.Write([]byte{1}); f.Close() }
				defer f.Close()
			}
			// Under systemd (Type=notify), say READY=1 once the apps are
			// restored. The apps get their own NOTIFY_SOCKET.
			if sock := os.Getenv("NOTIFY_SOCKET"); sock != "" {
				os.Unsetenv("NOTIFY_SOCKET")
				prev := ready
				ready = func() {
					if prev != nil {
						prev()
					}
					if err := daemon.Notify(sock, "READY=1"); err != nil {
						log.Warn("sd_notify", "err", err)
					}
				}
			}
			fleetHub, fleetAgent := cfg.Hub.fleet(e.home)
			err = daemon.Run(cmd.Context(), daemon.Options{
				FleetHub: fleetHub, FleetAgent: fleetAgent,
				Home: e.home, Version: version.String(), Log: log, Ready: ready,
				MetricsAddr: cfg.MetricsAddr, MetricsToken: cfg.MetricsToken, MetricsInterval: every,
				LogDefaults: defaults, OwnLog: own, Procs: cfg.Procs, MaxInstances: cfg.MaxInstances,
				MaxUpload: cfg.MaxUpload,
				Updatable: true, Argv: os.Args, Alerts: cfg.Alerts,
				RemoteAddr: cfg.RemoteAddr, RemoteCert: cfg.RemoteCert, RemoteKey: cfg.RemoteKey,
				Dashboard: daemon.DashboardOptions{Addr: cfg.DashboardAddr, CertFile: cfg.RemoteCert, KeyFile: cfg.RemoteKey},
			})
			if errors.Is(err, home.ErrRunning) {
				return fmt.Errorf("%w (%s)", err, e.home)
			}
			return err
		},
	}
	cmd.Flags().StringVar(&metricsAddr, "metrics-addr", "", "serve Prometheus /metrics on this address (e.g. 127.0.0.1:9209)")
	cmd.Flags().StringVar(&metricsToken, "metrics-token", "", "bearer token required on /metrics (mandatory beyond loopback)")
	cmd.Flags().StringVar(&metricsInterval, "metrics-interval", "", "how often process trees are sampled: milliseconds or a duration such as 500ms (default 1s)")
	return cmd
}

func newKill(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "kill",
		Short: "Stop every app, then the daemon (the apps come back with the next daemon)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c := client.New(e.home)
			err := c.Kill(cmd.Context())
			if errors.Is(err, client.ErrNoDaemon) {
				fmt.Fprintln(e.stdout, "no daemon is running")
				return nil
			}
			if err != nil {
				return friendly(err)
			}
			fmt.Fprintln(e.stdout, "daemon and apps stopped; the next tend command starts the daemon and restores the apps (`tend delete all` first to forget them)")
			return nil
		},
	}
}

func newPing(e *env) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "ping",
		Short: "Ask whether the daemon is running and answering (exit 1 when none is; it starts none)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			p, err := c.Ping(cmd.Context())
			if errors.Is(err, client.ErrNoDaemon) {
				return fmt.Errorf("no daemon is running in %s (any other command starts one)", e.home)
			}
			if err != nil {
				return friendly(err)
			}
			if asJSON {
				return e.printJSON(p)
			}
			fmt.Fprintf(e.stdout, "pong: daemon pid %d, version %s, home %s\n", p.PID, p.Version, p.Home)
			warnVersion(e, p.Version)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the daemon's answer as JSON")
	return cmd
}

func newVersion(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the CLI's and the daemon's versions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(e.stdout, "cli     %s\n", version.String())
			c, err := e.client()
			if err != nil {
				return err
			}
			p, err := c.Ping(cmd.Context())
			switch {
			case errors.Is(err, client.ErrNoDaemon):
				fmt.Fprintln(e.stdout, "daemon  not running")
				return nil
			case err != nil:
				return friendly(err)
			}
			fmt.Fprintf(e.stdout, "daemon  %s (pid %d)\n", p.Version, p.PID)
			warnVersion(e, p.Version)
			return nil
		},
	}
}

func warnVersion(e *env, daemonVersion string) {
	if daemonVersion != version.String() {
		fmt.Fprintf(e.stderr, "warning: the daemon runs %s but this CLI is %s; run `tend kill` and any tend command to restart it on this build (apps are restored)\n", daemonVersion, version.String())
	}
}
