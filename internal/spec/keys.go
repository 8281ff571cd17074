package spec

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/tendhq/tend/internal/conf"
	"github.com/tendhq/tend/internal/edge/edgeconf"
	"github.com/tendhq/tend/internal/schedule"
)

const (
	msgUnsupported = "not supported by this version of tend; ignored"
	msgUnknown     = "unknown key; ignored"
)

// appKeys are the keys of one app object, in the order they are decoded:
// a setter may read what an earlier one stored (script reads cwd, name
// reads script, interpreter reads script and args, mode reads port and
// instances, listen_timeout reads wait_ready).
var appKeys = conf.Table[target]{
	Lenient: true,
	Other:   otherKey,
	Fields: []conf.Field[target]{
		conf.Custom("cwd", setCwd).Else(defaultCwd),
		conf.Custom("script", setScript).Else(func(d *conf.Decoder, _ *target) {
			d.Errorf("script", "required: the file or command to run")
		}),
		conf.Custom("name", setName).Else(defaultName),
		conf.StringField("namespace", checkName, func(t *target) *string { return &t.Namespace }),
		conf.Custom("args", func(d *conf.Decoder, key string, v any, t *target) { t.Args = args(d, key, v) }),
		conf.StringField("resolved_from", nil, func(t *target) *string { return &t.ResolvedFrom }),
		conf.Custom("interpreter", setInterpreter).Or("exec_interpreter").Else(defaultInterpreter),
		conf.Custom("interpreter_args", func(d *conf.Decoder, key string, v any, t *target) {
			// After the node options of a resolved npm script, if any.
			t.InterpreterArgs = append(t.InterpreterArgs, args(d, key, v)...)
		}).Or("node_args"),
		conf.Custom("env", func(d *conf.Decoder, _ string, _ any, t *target) { t.Env = withScriptEnv(t, env(d, t.o.EnvName)) }).
			Else(func(d *conf.Decoder, t *target) { t.Env = withScriptEnv(t, env(d, t.o.EnvName)) }),
		conf.Custom("instances", setInstances),
		conf.IntField("port", 1, 65535, func(t *target) *int { return &t.Port }),
		conf.Custom("instance_var", setInstanceVar),
		conf.Custom("increment_var", setIncrementVar),
		conf.BoolField("autorestart", func(t *target) *bool { return &t.Autorestart }),
		conf.IntField("max_restarts", 0, conf.Unbounded, func(t *target) *int { return &t.MaxRestarts }),
		conf.DurationField("min_uptime", func(t *target) *Duration { return &t.MinUptime }),
		conf.DurationField("restart_delay", func(t *target) *Duration { return &t.RestartDelay }),
		conf.DurationField("exp_backoff_restart_delay", func(t *target) *Duration { return &t.ExpBackoffRestartDelay }),
		conf.DurationField("kill_timeout", func(t *target) *Duration { return &t.KillTimeout }),
		conf.Custom("kill_signal", setKillSignal),
		conf.Custom("shutdown_with_message", nodeOnly(func(t *target) *bool { return &t.ShutdownWithMessage }, "the message goes over Node's IPC channel; other apps stop on kill_signal")),
		conf.Custom("source_map_support", nodeOnly(func(t *target) *bool { return &t.SourceMapSupport }, "it is node's --enable-source-maps")),
		conf.Custom("stop_exit_codes", func(d *conf.Decoder, key string, v any, t *target) { t.StopExitCodes = exitCodes(d, key, v) }),

		// Traffic: how the app is reached and when an instance is ready.
		conf.Custom("mode", setMode).Or("exec_mode").Else(func(d *conf.Decoder, t *target) { checkMode(d, t) }),
		conf.Custom("balance", setBalance),
		conf.StringField("sticky_cookie", checkCookieName, func(t *target) *string { return &t.StickyCookie }),
		conf.BoolField("wait_ready", func(t *target) *bool { return &t.WaitReady }),
		conf.Custom("health_path", setHealthPath),
		conf.Custom("listen_timeout", func(d *conf.Decoder, key string, v any, t *target) {
			defaultListenTimeout(d, t)
			conf.DurationField(key, func(t *target) *Duration { return &t.ListenTimeout }).Set(d, key, v, t)
		}).Else(defaultListenTimeout),
		conf.IntField("reload_batch", 1, conf.Unbounded, func(t *target) *int { return &t.ReloadBatch }),
		conf.Custom("max_memory_restart", setMaxMemory),

		// Runtime: what acts while the app runs.
		conf.Custom("watch", setWatch),
		conf.StringsField("ignore_watch", conf.Unbounded, nil, func(t *target) *[]string { return &t.IgnoreWatch }),
		conf.DurationField("watch_delay", func(t *target) *Duration { return &t.WatchDelay }),
		conf.StringField("cron_restart", checkCron, func(t *target) *string { return &t.CronRestart }).Or("cron"),
		conf.Custom("autoscale", setAutoscale),
		conf.Custom("profile_on_stall", setProfileOnStall),
		conf.BoolField("heap_snapshot_on_memory_limit", func(t *target) *bool { return &t.HeapSnapshotOnMemoryLimit }),

		// Logs: where and how the app's output is written.
		conf.Custom("out_file", logPath(func(t *target) *string { return &t.OutFile })).Or("output", "out", "out_log"),
		conf.Custom("error_file", logPath(func(t *target) *string { return &t.ErrorFile })).Or("error", "err", "err_file", "err_log"),
		conf.Custom("log_file", setLogFile).Or("log"),
		conf.BoolField("merge_logs", func(t *target) *bool { return &t.MergeLogs }).Or("combine_logs"),
		conf.BoolField("time", func(t *target) *bool { return &t.Time }),
		conf.BoolField("compress", func(t *target) *bool { return &t.Compress }),
		conf.Custom("log_date_format", func(d *conf.Decoder, key string, v any, t *target) {
			conf.StringField(key, checkMoment, func(t *target) *string { return &t.LogDateFormat }).Set(d, key, v, t)
			// In PM2 the format alone asks for timestamps.
			if _, given := d.Get("time"); !given {
				t.Time = true
			}
		}),
		conf.Custom("log_type", setLogType),
		conf.Custom("max_size", setMaxSize),
		conf.StringField("rotate_interval", checkInterval, func(t *target) *string { return &t.RotateInterval }),
		conf.IntField("retain", 0, conf.Unbounded, func(t *target) *int { return &t.Retain }),

		conf.Custom("edge", setEdge),

		// Releases: what tend deploy does for the app.
		conf.StringField("post_deploy", nil, func(t *target) *string { return &t.PostDeploy }).Or("post-deploy"),
		conf.IntField("retain_releases", 1, 1000, func(t *target) *int { return &t.RetainReleases }),
	},
}

// Keys are the keys of an app, as a file, tend set and the state file name
// them (not their aliases), in the order they are decoded.
func Keys() []string { return appKeys.Keys() }

// CanonicalKey returns the key of which key is an alias (exec_interpreter:
// interpreter), key itself when it is one, and false when no app key has
// that name.
func CanonicalKey(key string) (string, bool) {
	for _, f := range appKeys.Fields {
		if f.Key == key || slices.Contains(f.Aliases, key) {
			return f.Key, true
		}
	}
	return key, false
}

// unsupported are PM2's other app keys (lib/API/schema.json, with aliases).
// They get a warning of their own so that a PM2 user knows the key was
// understood and deliberately ignored, rather than misspelt.
var unsupported = keySet(`watch_options
	pid_file pid disable_logs
	disable_source_map_support vizion
	filter_env name_prefix install_url force post_update treekill pmx automation
	trace disable_trace v8 event_loop_inspector deep_monitoring io append_env_to_name
	execute_command kill_retry_time write windowsHide uid gid user username autostart`)

func keySet(keys string) map[string]bool {
	set := map[string]bool{}
	for _, k := range strings.Fields(keys) {
		set[k] = true
	}
	return set
}

// asTendDoes are values of unsupported keys that ask for what tend does
// anyway. Many PM2 files spell out such defaults; warning about them would
// only teach users to ignore warnings.
var asTendDoes = map[string][]any{
	"autostart":  {true},
	"force":      {false},
	"vizion":     {false},
	"pmx":        {false},
	"automation": {false},
	// Source maps are off unless source_map_support asks for them.
	"disable_source_map_support": {true},
}

// otherKey deals with the keys the table does not declare that are not
// misspellings: env_<name> blocks, and PM2's keys tend ignores.
func otherKey(d *conf.Decoder, key string, v any) bool {
	switch {
	case strings.HasPrefix(key, "env_"):
	case unsupported[key]:
		if !slices.Contains(asTendDoes[key], v) {
			d.Warnf(key, "%s", msgUnsupported)
		}
	default:
		return false
	}
	return true
}

func setKillSignal(d *conf.Decoder, key string, v any, t *target) {
	s, ok := v.(string)
	if !ok {
		d.Errorf(key, "want a signal name such as \"SIGTERM\", got %s", conf.Describe(v))
		return
	}
	sig, err := conf.SignalName(s)
	if err != nil {
		d.Errorf(key, "%v", err)
		return
	}
	t.KillSignal = sig
}

func setMaxMemory(d *conf.Decoder, key string, v any, t *target) {
	n, err := conf.SizeValue(v)
	switch {
	case err != nil:
		d.Errorf(key, "%v", err)
	case n < 1<<20:
		d.Errorf(key, "%d bytes is less than 1M: no app fits", n)
	default:
		t.MaxMemoryRestart = n
	}
}

func setMode(d *conf.Decoder, key string, v any, t *target) {
	s, err := conf.String(v)
	if err != nil {
		d.Errorf(key, "%v", err)
		checkMode(d, t)
		return
	}
	switch s {
	case ModeFork, "fork_mode":
		t.Mode = ModeFork
	case ModeProxy, "cluster", "cluster_mode":
		// PM2's cluster mode is tend's proxy mode: N instances behind one
		// port. PM2 files often say cluster without naming the port
		// (node's cluster module shares whatever the app binds): that is
		// fork mode, where the instances of a Node app without a port
		// share the ports they listen on, as under PM2.
		switch {
		case t.Port == 0 && key == "exec_mode" && t.IsNode():
			t.Mode = ModeFork
		case t.Port == 0 && key == "exec_mode":
			d.Warnf(key, "cluster mode without a port shares the ports a Node app listens on, and this app is not one: "+
				"set port (the edge balances over the instances) and mode: socket if they must share one socket; running in fork mode")
			t.Mode = ModeFork
		default:
			t.Mode = ModeProxy
		}
	case ModeSocket:
		t.Mode = ModeSocket
	default:
		d.Errorf(key, "want fork, proxy or socket, got %q", s)
	}
	checkMode(d, t)
}

// checkMode picks the mode the port implies when none was given, and
// refuses a mode that does not fit the port and instances.
func checkMode(d *conf.Decoder, t *target) {
	switch {
	case t.Mode == "" && t.Port > 0:
		t.Mode = ModeProxy
	case t.Mode == "":
		t.Mode = ModeFork
	case t.Mode != ModeFork && t.Port == 0:
		d.Errorf("port", "%s mode needs a port (set port, or use fork mode)", t.Mode)
	case t.Mode == ModeFork && t.Port > 0 && t.Instances > 1:
		d.Errorf("instances", "%d instances in fork mode would all bind port %d; use proxy or socket mode", t.Instances, t.Port)
	}
}

func setBalance(d *conf.Decoder, key string, v any, t *target) {
	s, err := conf.String(v)
	if err != nil {
		d.Errorf(key, "%v", err)
		return
	}
	switch s {
	case BalanceLeastConn, BalanceRoundRobin, BalanceSticky:
		t.Balance = s
	default:
		d.Errorf(key, "want least_conn, round_robin or sticky, got %q", s)
	}
}

func checkCookieName(s string) string {
	if s == "" || strings.ContainsAny(s, " ;,=\t\"") {
		return fmt.Sprintf("%q is not a valid cookie name", s)
	}
	return ""
}

func setHealthPath(d *conf.Decoder, key string, v any, t *target) {
	s, err := conf.String(v)
	if err != nil {
		d.Errorf(key, "%v", err)
		return
	}
	if !strings.HasPrefix(s, "/") {
		d.Errorf(key, "must start with /, got %q", s)
	} else if t.Port == 0 {
		d.Errorf(key, "needs a port to probe")
	}
	t.HealthPath = s
}

func defaultListenTimeout(_ *conf.Decoder, t *target) {
	t.ListenTimeout = Duration(DefaultListenTimeout)
	if t.WaitReady {
		t.ListenTimeout = Duration(DefaultWaitReadyTimeout)
	}
}

func setWatch(d *conf.Decoder, key string, v any, t *target) {
	if on, ok := v.(bool); ok {
		if on {
			t.Watch = []string{"."}
		}
		return
	}
	t.Watch = d.Strings(key, v, conf.Unbounded, nil)
}

func checkCron(s string) string {
	if _, err := schedule.Parse(s); err != nil {
		return err.Error()
	}
	return ""
}

// autoscaleKeys are the keys of an app's autoscale block.
var autoscaleKeys = conf.Table[Autoscale]{Fields: []conf.Field[Autoscale]{
	conf.Custom("min", func(d *conf.Decoder, key string, v any, as *Autoscale) { as.Min, _ = intOf(d, key, v) }),
	conf.Custom("max", func(d *conf.Decoder, key string, v any, as *Autoscale) { as.Max, _ = intOf(d, key, v) }),
	conf.Custom("target_cpu", floatOf(func(as *Autoscale) *float64 { return &as.TargetCPU })),
	conf.Custom("target_in_flight", floatOf(func(as *Autoscale) *float64 { return &as.TargetInFlight })),
	conf.DurationField("target_p95", func(as *Autoscale) *Duration { return &as.TargetP95 }),
	conf.DurationField("up_window", func(as *Autoscale) *Duration { return &as.UpWindow }),
	conf.DurationField("down_window", func(as *Autoscale) *Duration { return &as.DownWindow }),
}}

func intOf(d *conf.Decoder, key string, v any) (int, bool) {
	n, err := conf.Int(v)
	if err != nil {
		d.Errorf(key, "%v", err)
		return 0, false
	}
	return n, true
}

func floatOf(field func(*Autoscale) *float64) func(d *conf.Decoder, key string, v any, as *Autoscale) {
	return func(d *conf.Decoder, key string, v any, as *Autoscale) {
		if f, err := conf.Float(v); err != nil {
			d.Errorf(key, "%v", err)
		} else {
			*field(as) = f
		}
	}
}

func setAutoscale(d *conf.Decoder, key string, v any, t *target) {
	m, ok := d.Map(key, v, "{min: 2, max: 8, target_cpu: 70}")
	if !ok {
		return
	}
	as := &Autoscale{}
	sub := d.Sub(key, m)
	before := len(d.Errs())
	autoscaleKeys.Decode(sub, as)
	if ceiling := t.o.maxInstances(); as.Max > ceiling {
		sub.Errorf("max", "%d is more than the %d instances an app may have (max_instances in daemon.yaml)", as.Max, ceiling)
	}
	if len(d.Errs()) == before {
		if err := as.Policy().Validate(); err != nil {
			// Validate names its keys autoscale.x; give them the app's
			// path.
			for _, line := range strings.Split(err.Error(), "\n") {
				d.Errorf("", "%s", line)
			}
		}
	}
	t.Autoscale = as
	if t.Instances < as.Min || t.Instances > as.Max {
		t.Instances = min(max(t.Instances, as.Min), as.Max)
	}
}

// stallKeys are the keys of an app's profile_on_stall block.
var stallKeys = conf.Table[ProfileOnStall]{Fields: []conf.Field[ProfileOnStall]{
	conf.DurationField("threshold", func(p *ProfileOnStall) *Duration { return &p.Threshold }),
	conf.DurationField("duration", func(p *ProfileOnStall) *Duration { return &p.Duration }),
	conf.IntField("max_per_hour", 1, MaxStallPerHour, func(p *ProfileOnStall) *int { return &p.MaxPerHour }),
}}

// setProfileOnStall reads profile_on_stall: a block, or true for the
// defaults (false for none).
func setProfileOnStall(d *conf.Decoder, key string, v any, t *target) {
	p := &ProfileOnStall{Threshold: Duration(DefaultStallThreshold), Duration: Duration(DefaultStallDuration), MaxPerHour: DefaultStallMaxPerHour}
	if b, ok := v.(bool); ok {
		if b {
			t.ProfileOnStall = p
		}
		return
	}
	m, ok := d.Map(key, v, "{threshold: 200ms, duration: 5s, max_per_hour: 3}")
	if !ok {
		return
	}
	sub := d.Sub(key, m)
	stallKeys.Decode(sub, p)
	if th := p.Threshold.D(); th < MinStallThreshold {
		sub.Errorf("threshold", "%s is below %s: a loop that late is not a stall", th, MinStallThreshold)
	}
	if du := p.Duration.D(); du <= 0 || du > MaxStallDuration {
		sub.Errorf("duration", "%s: want more than 0 and at most %s", du, MaxStallDuration)
	}
	t.ProfileOnStall = p
}

// logPath reads a log file's path: absolute, /dev/null, or relative to
// the app's cwd.
func logPath(field func(*target) *string) func(d *conf.Decoder, key string, v any, t *target) {
	return func(d *conf.Decoder, key string, v any, t *target) {
		s, err := conf.String(v)
		switch {
		case err != nil:
			d.Errorf(key, "%v", err)
		case s == "":
			d.Errorf(key, "must not be empty (use /dev/null to discard)")
		case s == os.DevNull || filepath.IsAbs(s):
			*field(t) = filepath.Clean(s)
		case t.Cwd != "":
			*field(t) = filepath.Join(t.Cwd, s)
		default:
			d.Errorf(key, "%q must be an absolute path", s)
		}
	}
}

// setLogFile takes log_file: a path as the other log files take one, or
// PM2's true (the combined log under $TEND_HOME/logs, LogFileDefault) and
// false (none).
func setLogFile(d *conf.Decoder, key string, v any, t *target) {
	switch v {
	case true, LogFileDefault:
		t.LogFile = LogFileDefault
	case false:
		t.LogFile = ""
	default:
		logPath(func(t *target) *string { return &t.LogFile })(d, key, v, t)
	}
}

func checkMoment(s string) string {
	if _, err := conf.ParseMomentLayout(s); err != nil {
		return err.Error()
	}
	return ""
}

func setLogType(d *conf.Decoder, key string, v any, t *target) {
	s, err := conf.String(v)
	if err != nil {
		d.Errorf(key, "%v", err)
		return
	}
	switch s {
	case "json":
		t.LogType = s
	case "", "raw", "text":
	default:
		d.Errorf(key, "want json (or leave it out for plain lines), got %q", s)
	}
}

func setMaxSize(d *conf.Decoder, key string, v any, t *target) {
	n, err := conf.SizeValue(v)
	switch {
	case err != nil:
		d.Errorf(key, "%v", err)
	case n > 0 && n < 1024:
		d.Errorf(key, "%d bytes is too small to hold lines (at least 1K)", n)
	default:
		t.MaxSize = n
	}
}

func checkInterval(s string) string {
	if _, err := conf.ParseInterval(s); err != nil {
		return err.Error()
	}
	return ""
}

func setEdge(d *conf.Decoder, key string, v any, t *target) {
	o, errs := edgeconf.DecodeOptions(v, t.Cwd)
	for _, e := range errs {
		d.Errorf(conf.Join(key, e.Path), "%s", e.Reason)
	}
	if len(errs) == 0 {
		t.Edge = &o
	}
}
