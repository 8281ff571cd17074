// Package spec defines an app as tend runs it: the settings of one ecosystem
// entry, their defaults, and their validation. Every way an app reaches the
// daemon (command-line flags, an ecosystem file, an API request, the state
// file) goes through Decode so that defaults and errors are the same.
package spec

import (
	"strings"
	"time"

	"github.com/tendhq/tend/internal/autoscale"
	"github.com/tendhq/tend/internal/conf"
	"github.com/tendhq/tend/internal/edge/edgeconf"
)

// Defaults, as PM2 has them.
const (
	DefaultNamespace   = "default"
	DefaultMaxRestarts = 16
	DefaultMinUptime   = time.Second
	DefaultKillTimeout = 1600 * time.Millisecond
	DefaultKillSignal  = "SIGINT"
)

// Modes of an app.
const (
	ModeFork   = "fork"
	ModeProxy  = "proxy"
	ModeSocket = "socket"
)

// Balancing strategies of proxy mode.
const (
	BalanceLeastConn  = "least_conn"
	BalanceRoundRobin = "round_robin"
	BalanceSticky     = "sticky"
)

// Readiness defaults, as PM2's listen_timeout.
const (
	DefaultListenTimeout    = 3 * time.Second
	DefaultWaitReadyTimeout = 8 * time.Second
	DefaultReloadBatch      = 1
)

// InterpreterNone means the script is executed directly.
const InterpreterNone = "none"

// App is one app's settings after defaults were applied. Its JSON form is the
// ecosystem form (PM2's option names), so an App marshalled and decoded again
// is the same App.
type App struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	// Script is an absolute path to a file, or a command found on PATH.
	Script string   `json:"script"`
	Args   []string `json:"args,omitempty"`
	// Interpreter is "node", "python3", "bash", a path, or InterpreterNone.
	Interpreter     string   `json:"interpreter"`
	InterpreterArgs []string `json:"interpreter_args,omitempty"`
	// ResolvedFrom says what tend was given when it resolved the command:
	// "npm start: node ./bin/www" for `npm start` run as the Node file its
	// package.json script names. Informational.
	ResolvedFrom string            `json:"resolved_from,omitempty"`
	Cwd          string            `json:"cwd"`
	Env          map[string]string `json:"env,omitempty"`
	// Instances is at least 1; "max" in a file is resolved to the CPU count.
	Instances int `json:"instances"`
	// Port is the public port the app serves on; 0 when it has none.
	Port int `json:"port,omitempty"`
	// InstanceVar names the variable that holds an instance's index
	// ("": DefaultInstanceVar). IncrementVar names a variable of Env
	// whose integer value instance i gets plus i (see InstanceEnv).
	InstanceVar  string `json:"instance_var,omitempty"`
	IncrementVar string `json:"increment_var,omitempty"`
	// Mode is ModeFork (no port, or one instance owning the port itself),
	// ModeProxy (the edge listens on Port and balances over instances on
	// private ports) or ModeSocket (every instance inherits one listening
	// socket as fd 3).
	Mode string `json:"mode"`
	// Balance picks an instance per request in proxy mode.
	Balance      string `json:"balance,omitempty"`
	StickyCookie string `json:"sticky_cookie,omitempty"`
	// WaitReady makes an instance ready only when it says so: Node's
	// process.send('ready'), or READY=1 on NOTIFY_SOCKET.
	WaitReady bool `json:"wait_ready,omitempty"`
	// HealthPath, when set, makes an instance ready when GET on it answers 2xx.
	HealthPath string `json:"health_path,omitempty"`
	// ListenTimeout bounds the wait for readiness.
	ListenTimeout Duration `json:"listen_timeout"`
	// ReloadBatch is how many instances a reload replaces at once.
	ReloadBatch int `json:"reload_batch"`
	// MaxMemoryRestart replaces an instance whose process tree's RSS stays
	// above this many bytes for two samples in a row; 0 = no limit.
	MaxMemoryRestart int64 `json:"max_memory_restart,omitempty"`

	// Watch lists the paths (relative to Cwd) whose changes reload the app;
	// `watch: true` is ["."]. IgnoreWatch adds globs to the default ignores.
	Watch       []string `json:"watch,omitempty"`
	IgnoreWatch []string `json:"ignore_watch,omitempty"`
	WatchDelay  Duration `json:"watch_delay,omitempty"`
	// CronRestart reloads the app on a 5-field cron schedule.
	CronRestart string `json:"cron_restart,omitempty"`
	// Autoscale lets the instance count follow load.
	Autoscale *Autoscale `json:"autoscale,omitempty"`
	// ProfileOnStall records a CPU profile of a Node instance whose event
	// loop stalls; nil means never.
	ProfileOnStall *ProfileOnStall `json:"profile_on_stall,omitempty"`
	// HeapSnapshotOnMemoryLimit takes a heap snapshot of a Node instance
	// before max_memory_restart replaces it.
	HeapSnapshotOnMemoryLimit bool `json:"heap_snapshot_on_memory_limit,omitempty"`
	// Edge is the production checklist the edge applies in front of the
	// app (TLS, compression, headers, cookies, limits, access log, static
	// files); nil means the defaults.
	Edge *edgeconf.Options `json:"edge,omitempty"`

	// Log files: absolute paths, or /dev/null; "" means the default under
	// $TEND_HOME/logs. LogFile, when set, gets both streams combined;
	// LogFileDefault puts that file under $TEND_HOME/logs too.
	OutFile   string `json:"out_file,omitempty"`
	ErrorFile string `json:"error_file,omitempty"`
	LogFile   string `json:"log_file,omitempty"`
	// MergeLogs writes every instance to the same files (no -<i> suffix).
	MergeLogs bool `json:"merge_logs,omitempty"`
	// Time prefixes each line with a timestamp in LogDateFormat (moment
	// tokens); LogType "json" writes one JSON object per line instead.
	Time          bool   `json:"time,omitempty"`
	LogDateFormat string `json:"log_date_format,omitempty"`
	LogType       string `json:"log_type,omitempty"`
	// Rotation: at MaxSize bytes and/or on RotateInterval boundaries, keep
	// Retain rotated files, gzip them with Compress. Zero values take the
	// daemon's defaults (daemon.yaml).
	MaxSize        int64  `json:"max_size,omitempty"`
	RotateInterval string `json:"rotate_interval,omitempty"`
	Retain         int    `json:"retain,omitempty"`
	Compress       bool   `json:"compress,omitempty"`

	Autorestart            bool     `json:"autorestart"`
	MaxRestarts            int      `json:"max_restarts"`
	MinUptime              Duration `json:"min_uptime"`
	RestartDelay           Duration `json:"restart_delay"`
	ExpBackoffRestartDelay Duration `json:"exp_backoff_restart_delay"`
	KillTimeout            Duration `json:"kill_timeout"`
	// KillSignal is a canonical signal name such as "SIGINT".
	KillSignal    string `json:"kill_signal"`
	StopExitCodes []int  `json:"stop_exit_codes,omitempty"`

	// PostDeploy is a shell command run in a new release's directory
	// before it becomes current (tend deploy); a non-zero exit aborts the
	// deploy. RetainReleases is how many releases are kept (0: 5).
	PostDeploy     string `json:"post_deploy,omitempty"`
	RetainReleases int    `json:"retain_releases,omitempty"`
	// ShutdownWithMessage stops a Node app by sending it 'shutdown' over
	// its IPC channel; KillSignal follows after KillTimeout, SIGKILL after
	// another.
	ShutdownWithMessage bool `json:"shutdown_with_message,omitempty"`
	// SourceMapSupport runs node with --enable-source-maps.
	SourceMapSupport bool `json:"source_map_support,omitempty"`
}

// Autoscale is an app's autoscale block: instances between Min and Max,
// following exactly one target.
type Autoscale struct {
	Min            int      `json:"min"`
	Max            int      `json:"max"`
	TargetCPU      float64  `json:"target_cpu,omitempty"`
	TargetInFlight float64  `json:"target_in_flight,omitempty"`
	TargetP95      Duration `json:"target_p95,omitempty"`
	UpWindow       Duration `json:"up_window,omitempty"`
	DownWindow     Duration `json:"down_window,omitempty"`
}

// ProfileOnStall is an app's profile_on_stall block: when a runtime report
// of an instance says its event loop was held up for Threshold or more, a
// CPU profile of Duration is recorded, at most MaxPerHour an hour for each
// instance.
type ProfileOnStall struct {
	Threshold  Duration `json:"threshold"`
	Duration   Duration `json:"duration"`
	MaxPerHour int      `json:"max_per_hour"`
}

// Defaults and ceilings of profile_on_stall.
const (
	DefaultStallThreshold  = 200 * time.Millisecond
	DefaultStallDuration   = 5 * time.Second
	DefaultStallMaxPerHour = 3
	MinStallThreshold      = 10 * time.Millisecond
	MaxStallDuration       = 10 * time.Minute
	MaxStallPerHour        = 60
)

// Key identifies an app uniquely within a daemon.
func (a *App) Key() string { return a.Namespace + "/" + a.Name }

// LogFileDefault is LogFile for PM2's `log_file: true` (and its bare
// `-l`): both streams combined in $TEND_HOME/logs/<name>.log.
const LogFileDefault = "true"

// IsNode reports whether the app runs under Node.js.
func (a *App) IsNode() bool {
	base := a.Interpreter
	if i := strings.LastIndexByte(base, '/'); i >= 0 {
		base = base[i+1:]
	}
	return base == "node" || base == "nodejs"
}

// Clustered reports whether the app is a cluster without a port (PM2's
// -i N, or exec_mode: cluster, on an app that listens on a port of its
// own): fork mode, no port, and instances (or an autoscale range) beyond
// one.
func (a *App) Clustered() bool {
	n := a.Instances
	if a.Autoscale != nil {
		n = max(n, a.Autoscale.Max)
	}
	return a.Portless() && n > 1
}

// Portless reports whether the app runs in fork mode with no port: it
// listens where it likes, and tend's edge is not in front of it.
func (a *App) Portless() bool { return a.Mode == ModeFork && a.Port == 0 }

// SharesPorts reports whether the app's instances share the ports they
// listen on, as under PM2's cluster mode: a Node cluster without a port.
func (a *App) SharesPorts() bool { return a.Clustered() && a.IsNode() }

// Duration is a duration as PM2's settings take it (see conf.Duration).
type Duration = conf.Duration

// ParseDuration reads a duration given as a decoded value (see
// conf.ParseDuration).
func ParseDuration(v any) (time.Duration, error) { return conf.ParseDuration(v) }

// Policy returns the autoscale policy of the block.
func (a *Autoscale) Policy() autoscale.Policy {
	return autoscale.Policy{
		Min: a.Min, Max: a.Max,
		TargetCPU: a.TargetCPU, TargetInFlight: a.TargetInFlight, TargetP95: a.TargetP95.D(),
		UpWindow: a.UpWindow.D(), DownWindow: a.DownWindow.D(),
	}
}
