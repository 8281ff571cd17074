package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/tendhq/tend/internal/client"
	"github.com/tendhq/tend/internal/daemon"
	"github.com/tendhq/tend/internal/home"
	"github.com/tendhq/tend/internal/logs"
	"github.com/tendhq/tend/internal/spec"
	"github.com/tendhq/tend/internal/version"
	"go.yaml.in/yaml/v3"
)

// daemonConfig is $TEND_HOME/daemon.yaml: the daemon's own settings.
type daemonConfig struct {
	MetricsAddr     string `yaml:"metrics_addr"`
	MetricsToken    string `yaml:"metrics_token"`
	MetricsInterval string `yaml:"metrics_interval"`
	// Log rotation for apps that set none, and for tend.log.
	LogMaxSize        string `yaml:"log_max_size"`
	LogRotateInterval string `yaml:"log_rotate_interval"`
	LogRetain         int    `yaml:"log_retain"`
	LogCompress       bool   `yaml:"log_compress"`
	// Procs is how many CPUs the daemon (and its edge) runs on at once;
	// default half of them.
	Procs int `yaml:"procs"`
}

// logDefaults turns the config's rotation settings into a FileConfig.
func (c daemonConfig) logDefaults(path string) (logs.FileConfig, error) {
	var fc logs.FileConfig
	if c.LogMaxSize != "" {
		n, err := logs.ParseSize(c.LogMaxSize)
		if err != nil {
			return fc, fmt.Errorf("%s: log_max_size: %w", path, err)
		}
		fc.MaxSize = n
	}
	if _, err := logs.ParseInterval(c.LogRotateInterval); err != nil {
		return fc, fmt.Errorf("%s: log_rotate_interval: %w", path, err)
	}
	if c.LogRetain < 0 {
		return fc, fmt.Errorf("%s: log_retain: must not be negative", path)
	}
	fc.Interval, fc.Retain, fc.Compress = c.LogRotateInterval, c.LogRetain, c.LogCompress
	return fc, nil
}

// loadDaemonConfig reads daemon.yaml; a missing file is the defaults.
func loadDaemonConfig(home string) (daemonConfig, time.Duration, error) {
	var c daemonConfig
	path := filepath.Join(home, "daemon.yaml")
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, 0, nil
	}
	if err != nil {
		return c, 0, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return c, 0, fmt.Errorf("%s: %w (keys: metrics_addr, metrics_token, metrics_interval, log_max_size, log_rotate_interval, log_retain, log_compress, procs)", path, err)
	}
	if c.Procs < 0 {
		return c, 0, fmt.Errorf("%s: procs: want a number of CPUs (1 or more; 0 for half of them), got %d", path, c.Procs)
	}
	var every time.Duration
	if c.MetricsInterval != "" {
		d, err := spec.ParseDuration(c.MetricsInterval)
		if err != nil || d < 100*time.Millisecond {
			return c, 0, fmt.Errorf("%s: metrics_interval: want a duration of at least 100ms, got %q", path, c.MetricsInterval)
		}
		every = d
	}
	return c, every, nil
}

func newDaemon(e *env) *cobra.Command {
	var metricsAddr, metricsToken string
	var metricsInterval time.Duration
	cmd := &cobra.Command{
		Use:   "daemon",
		Short: "Run the daemon in the foreground (other commands start it when needed)",
		Long: `Run the daemon in the foreground. Other commands start it in the background when none
answers. Its settings come from $TEND_HOME/daemon.yaml (metrics_addr, metrics_token,
metrics_interval, procs (CPUs to run on, default half of them), and the default log
rotation: log_max_size, log_rotate_interval, log_retain, log_compress), which these flags
override.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			conf, every, err := loadDaemonConfig(e.home)
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("metrics-addr") {
				conf.MetricsAddr = metricsAddr
			}
			if cmd.Flags().Changed("metrics-token") {
				conf.MetricsToken = metricsToken
			}
			if cmd.Flags().Changed("metrics-interval") {
				every = metricsInterval
			}
			defaults, err := conf.logDefaults(filepath.Join(e.home, "daemon.yaml"))
			if err != nil {
				return err
			}
			var out io.Writer = e.stderr
			var own *logs.File
			if os.Getenv("TEND_READY_FD") != "" {
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
			err = daemon.Run(cmd.Context(), daemon.Options{
				Home: e.home, Version: version.String(), Log: log, Ready: ready,
				MetricsAddr: conf.MetricsAddr, MetricsToken: conf.MetricsToken, MetricsInterval: every,
				LogDefaults: defaults, OwnLog: own, Procs: conf.Procs,
			})
			if errors.Is(err, home.ErrRunning) {
				return fmt.Errorf("%w (%s)", err, e.home)
			}
			return err
		},
	}
	cmd.Flags().StringVar(&metricsAddr, "metrics-addr", "", "serve Prometheus /metrics on this address (e.g. 127.0.0.1:9209)")
	cmd.Flags().StringVar(&metricsToken, "metrics-token", "", "bearer token required on /metrics (mandatory beyond loopback)")
	cmd.Flags().DurationVar(&metricsInterval, "metrics-interval", 0, "how often process trees are sampled (default 1s)")
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
	return &cobra.Command{
		Use:   "ping",
		Short: "Make sure the daemon is running and answering",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := e.connect(cmd.Context())
			if err != nil {
				return err
			}
			p, err := c.Ping(cmd.Context())
			if err != nil {
				return friendly(err)
			}
			fmt.Fprintf(e.stdout, "pong: daemon pid %d, version %s, home %s\n", p.PID, p.Version, p.Home)
			warnVersion(e, p.Version)
			return nil
		},
	}
}

func newVersion(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the CLI's and the daemon's versions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(e.stdout, "cli     %s\n", version.String())
			p, err := client.New(e.home).Ping(cmd.Context())
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
