// Package api holds the wire types of tend's control API, served by the
// daemon over $TEND_HOME/tend.sock under /v1 and used by internal/client.
//
// The JSON forms of App and Instance are what `tend ls --json` and
// `tend describe --json` print; fields are only ever added, never renamed.
package api

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/tendhq/tend/internal/spec"
)

// Prefix is the path prefix of every endpoint of this API version.
const Prefix = "/v1"

// App statuses. An app's status summarises its instances'.
const (
	StatusLaunching = "launching"
	StatusOnline    = "online"
	StatusStopping  = "stopping"
	StatusStopped   = "stopped"
	StatusWaiting   = "waiting" // backing off before a restart
	StatusErrored   = "errored"
	// StatusUnready is an instance that runs but did not become ready
	// within listen_timeout (Instance.Reason says why). It gets no traffic
	// and is probed again: once ready, it goes online and joins the pool.
	StatusUnready = "unready"
)

// Ping answers GET /v1/ping.
type Ping struct {
	Version   string    `json:"version"`
	PID       int       `json:"pid"`
	Home      string    `json:"home"`
	StartedAt time.Time `json:"started_at"`
	// Restoring is true while the daemon is starting the apps of its
	// state again; commands that change apps wait until it is done.
	Restoring bool `json:"restoring,omitempty"`
	// Updates is how many times this daemon was updated in place (tend
	// update); UpdateError says why the last one kept the old binary.
	Updates     int    `json:"updates,omitempty"`
	UpdateError string `json:"update_error,omitempty"`
}

// UpdateRequest is the body of POST /v1/update: replace the daemon's
// program in place by Binary ("": the binary the daemon was started from,
// as it is on disk now), keeping every app process running.
type UpdateRequest struct {
	Binary string `json:"binary,omitempty"`
}

// UpdateResponse says that the hand-over has begun: the daemon answers
// again as the new program, with Ping.Updates one more than Updates.
type UpdateResponse struct {
	PID     int    `json:"pid"`
	From    string `json:"from"` // the version now running
	To      string `json:"to"`   // the new binary's
	Binary  string `json:"binary"`
	Updates int    `json:"updates"`
}

// StartRequest is the body of POST /v1/apps. Apps are ecosystem objects
// (PM2 option names) with absolute paths; the daemon validates them whole
// before starting any.
type StartRequest struct {
	Apps []json.RawMessage `json:"apps"`
	// Env is the caller's environment, which every instance inherits
	// under the app's own env (as PM2 does).
	Env map[string]string `json:"env"`
	// Stopped registers the apps without starting them (tend import).
	Stopped bool `json:"stopped,omitempty"`
}

// ActionRequest is the body of POST /v1/apps/{target}/{action}. Target is an
// app name, an id, a namespace or "all".
type ActionRequest struct {
	Signal    string            `json:"signal,omitempty"`     // for "signal"
	UpdateEnv bool              `json:"update_env,omitempty"` // for "restart"
	Env       map[string]string `json:"env,omitempty"`        // the caller's env, with update_env
	// Instances is the target of "scale": "4", "+2" or "-1".
	Instances string `json:"instances,omitempty"`
}

// App is one app as `ls --json` and `describe --json` show it.
type App struct {
	ID        int        `json:"id"`
	Name      string     `json:"name"`
	Namespace string     `json:"namespace"`
	Status    string     `json:"status"`
	Mode      string     `json:"mode"` // "fork", "proxy" or "socket"
	Port      int        `json:"port,omitempty"`
	Reason    string     `json:"reason,omitempty"` // why it is errored or stopped on its own
	CreatedAt time.Time  `json:"created_at"`
	Instances []Instance `json:"instances"`
	// Spec is the app's settings; set by describe, omitted by ls.
	Spec *spec.App `json:"spec,omitempty"`
	// Events are what tend did to the app on its own (watch and cron
	// reloads, autoscale steps), oldest first; set by describe.
	Events []Event `json:"events,omitempty"`
	// Crashes are the instances' unexpected exits of the last 24 hours,
	// oldest first (at most 200); set by describe. LastExit holds only
	// the latest of each instance.
	Crashes []Crash `json:"crashes,omitempty"`
}

// Crash is one unexpected exit of an instance.
type Crash struct {
	At       time.Time `json:"at"`
	Instance int       `json:"instance"`
	Code     int       `json:"code"`             // -1 when killed by a signal
	Signal   string    `json:"signal,omitempty"` // e.g. "SIGSEGV"
	// Error is the line of the process's last stderr output that names
	// the error ("TypeError: ..."), or its last meaningful line.
	Error string `json:"error,omitempty"`
}

// What says what ended the process: its error line, else the signal or
// the exit code.
func (c Crash) What() string {
	switch {
	case c.Error != "":
		return c.Error
	case c.Signal != "":
		return "killed by " + c.Signal
	default:
		return fmt.Sprintf("exit code %d, nothing on stderr", c.Code)
	}
}

// Event is one thing tend did to an app on its own, with why.
type Event struct {
	At      time.Time `json:"at"`
	Message string    `json:"message"`
}

// Instance is one process slot of an app.
type Instance struct {
	Index       int       `json:"index"`
	PID         int       `json:"pid"` // 0 when not running
	Status      string    `json:"status"`
	Restarts    int       `json:"restarts"`
	Unstable    int       `json:"unstable_restarts"`
	UptimeMS    int64     `json:"uptime_ms"`
	StartedAt   time.Time `json:"started_at,omitzero"`
	CPUPercent  float64   `json:"cpu_percent"`
	MemoryBytes uint64    `json:"memory_bytes"`
	LastExit    *Exit     `json:"last_exit"`
	// NextRestartAt is set while the instance is waiting to restart.
	NextRestartAt time.Time `json:"next_restart_at,omitzero"`
	// RestartReason says why tend last replaced the instance on its own
	// (e.g. max_memory_restart); crashes are in LastExit.
	RestartReason string `json:"restart_reason,omitempty"`
	// Processes counts the instance's process tree.
	Processes int `json:"processes,omitempty"`
	// Metrics are the app's own figures (process.send({type: 'tend:metric',
	// name, value}) or TEND_METRIC name=value on NOTIFY_SOCKET).
	Metrics map[string]float64 `json:"metrics,omitempty"`
	// Actions are the actions the instance offers (@pm2/io's io.action,
	// tx2.action), which `tend trigger` calls.
	Actions []string `json:"actions,omitempty"`
	// Node are a Node instance's runtime figures, from tend's preload:
	// eventloop_delay_{p50,p99,max}_seconds, eventloop_utilization,
	// heap_{used,total,limit}_bytes, external_bytes, array_buffers_bytes,
	// gc_<kind>_total, gc_<kind>_pause_seconds_total, active_resources,
	// unhandled_rejections_total.
	Node map[string]float64 `json:"node,omitempty"`
	// HTTP is the instance's traffic through the edge (proxy mode).
	HTTP *HTTPStats `json:"http,omitempty"`
	// Reason says why an unready instance is not ready, from what tend can
	// see ("listening on 3000, not on PORT=41234"); RecentStderr holds its
	// last stderr lines (at most 10). Both are set only while unready.
	Reason       string   `json:"reason,omitempty"`
	RecentStderr []string `json:"recent_stderr,omitempty"`
}

// HTTPStats counts requests through the edge to one instance since it
// started.
type HTTPStats struct {
	Requests       map[string]uint64 `json:"requests"` // by status class: "2xx", "5xx", ...
	InFlight       int64             `json:"in_flight"`
	BytesIn        uint64            `json:"bytes_in"`
	BytesOut       uint64            `json:"bytes_out"`
	UpstreamErrors uint64            `json:"upstream_errors"`
	Retries        uint64            `json:"retries"`
	// Latency histogram: Count requests took SumSeconds in all; Buckets are
	// cumulative (Prometheus style).
	Count      uint64   `json:"count"`
	SumSeconds float64  `json:"sum_seconds"`
	Buckets    []Bucket `json:"buckets,omitempty"`
	// Percentiles over the last minute, in milliseconds.
	P50MS float64 `json:"p50_ms"`
	P95MS float64 `json:"p95_ms"`
	P99MS float64 `json:"p99_ms"`
	// RPS is requests per second over the last 5 complete seconds;
	// RPSMinute over the last minute.
	RPS       float64 `json:"rps"`
	RPSMinute float64 `json:"rps_1m"`
}

// Bucket is one cumulative histogram bucket: Count requests took at most LE seconds.
type Bucket struct {
	LE    float64 `json:"le"`
	Count uint64  `json:"count"`
}

// Metric is one series of GET /v1/metrics: the Prometheus exposition as JSON.
type Metric struct {
	Name   string            `json:"name"`
	Type   string            `json:"type"`
	Labels map[string]string `json:"labels"`
	Value  float64           `json:"value"` // a histogram's or summary's count
	Sum    float64           `json:"sum,omitempty"`
	// Buckets are a histogram's, cumulative, by upper bound; the +Inf
	// bucket is left out (its count is Value).
	Buckets []Bucket `json:"buckets,omitempty"`
	// Quantiles are a summary's, as its source computed them.
	Quantiles []Quantile `json:"quantiles,omitempty"`
}

// Quantile is one quantile of a summary: Q of the observations were at most Value.
type Quantile struct {
	Q     float64 `json:"quantile"`
	Value float64 `json:"value"`
}

// Exit is how an instance's process last ended.
type Exit struct {
	Code     int       `json:"code"`             // -1 when killed by a signal
	Signal   string    `json:"signal,omitempty"` // e.g. "SIGKILL"
	At       time.Time `json:"at"`
	UptimeMS int64     `json:"uptime_ms"`
	// Expected is true when tend asked for the exit (stop, restart).
	Expected bool   `json:"expected"`
	Reason   string `json:"reason,omitempty"` // the restart decision
	// Unstable is how many unstable restarts in a row (each up less than
	// min_uptime) the restart policy counted after this exit.
	Unstable int `json:"unstable,omitempty"`
	// Error is the line of Stderr that names the error, as Crash.Error.
	Error string `json:"error,omitempty"`
	// Stderr is the last lines the process wrote to stderr before an
	// unexpected exit (at most 50): the stack trace of an uncaught error.
	Stderr []string `json:"stderr,omitempty"`
}

// Env answers GET /v1/apps/{target}/env: the environment each instance
// was started with.
type Env struct {
	App       string            `json:"app"`
	Instances []InstanceEnv     `json:"instances"`
	Spec      map[string]string `json:"spec_env,omitempty"`
}

// InstanceEnv is one instance's environment.
type InstanceEnv struct {
	Index int               `json:"index"`
	Env   map[string]string `json:"env"`
}

// Saved answers POST /v1/save and POST /v1/resurrect.
type Saved struct {
	File string   `json:"file"`
	Apps []string `json:"apps"` // namespace/name of each app saved or resurrected
}

// Error is the body of every non-2xx answer.
type Error struct {
	Error string `json:"error"`
}

// ApplyRequest is the body of POST /v1/apply: the apps of an ecosystem
// file, validated whole before anything changes.
type ApplyRequest struct {
	Apps   []json.RawMessage `json:"apps"`
	Env    map[string]string `json:"env"` // the caller's, for apps that start
	Prune  bool              `json:"prune,omitempty"`
	DryRun bool              `json:"dry_run,omitempty"`
}

// SetRequest is the body of POST /v1/apps/{target}/set.
type SetRequest struct {
	Set    map[string]string `json:"set,omitempty"`   // dotted key → value, read as YAML
	Unset  []string          `json:"unset,omitempty"` // dotted keys back to their defaults
	DryRun bool              `json:"dry_run,omitempty"`
}

// ApplyResult is the plan of apply or set, and how far it went.
type ApplyResult struct {
	Steps   []PlanStep `json:"steps"`
	Text    string     `json:"text"`    // the plan as --dry-run prints it
	Done    int        `json:"done"`    // steps carried out
	Applied bool       `json:"applied"` // every step was carried out
}

// PlanStep is one step of a plan.
type PlanStep struct {
	Kind   string   `json:"kind"` // start, delete, keep-removed, replace, scale, reload, update, unchanged
	App    string   `json:"app"`  // namespace/name
	From   int      `json:"from,omitempty"`
	To     int      `json:"to,omitempty"`
	Keys   []string `json:"keys,omitempty"`
	Effect string   `json:"effect,omitempty"` // how Keys take effect: in place, reload, restart, scale
	Reason string   `json:"reason,omitempty"`
}

// LogLine is one line of an app's output, as GET /v1/logs streams it (as
// server-sent events, one JSON object per "data:" line).
type LogLine struct {
	Time     time.Time `json:"timestamp,omitzero"` // zero for lines read back from files
	App      string    `json:"app"`
	Instance int       `json:"instance"` // -1 for a line read back from a file the instances share (merge_logs)
	Stream   string    `json:"stream"`   // out, err, or tend (tend's own notes, such as dropped lines)
	Message  string    `json:"message"`
}

// Types of the events GET /v1/events streams.
const (
	EventAppState      = "app.state"      // an app's summary status changed: Status, Reason
	EventInstanceState = "instance.state" // an instance's status or pid changed: Instance, Status, PID
	EventInstanceExit  = "instance.exit"  // an instance's process ended: Instance, Exit
	EventReloadStep    = "reload.step"    // a step of a rolling reload: Instance, Message
	EventAppNote       = "app.note"       // tend acted on its own (watch, cron, autoscale): Message
	EventCommand       = "command"        // a user command on an app ended: Action, Error
	EventScale         = "scale"          // a scale ended: To, Error
	EventSet           = "set"            // tend set ended: Steps, Error
	EventApply         = "apply"          // tend apply ended: Steps, Error
	EventSample        = "sample"         // the periodic CPU and memory reading of an app's instances: Samples
	// EventIncident is something tend could not fix on its own, which
	// the alerts of daemon.yaml tell a person about: Kind (an Alert*
	// kind), Message, Host (for host_lost); Resolved when it is over.
	EventIncident = "incident"
	// EventAlert is an alert the daemon raised (GET /v1/alerts): Alert,
	// with its deliveries as they were when it was raised.
	EventAlert      = "alert"
	EventAppMessage = "app.message" // an instance sent process:msg or human:event (PM2's bus): Instance, PID, Action (the type), Message (its data as JSON)
	EventProfile    = "profile"     // tend profiled an instance by itself, or chose not to: Instance, Action (a ProfileTrigger), Message (the file), Error (why not)
	// EventGap is the first event of a stream whose resume id is no longer
	// kept (or unknown to this daemon): Gap says what was missed.
	EventGap = "gap"
	// EventDropped is the last event of a stream whose reader fell so far
	// behind that the events it had not read yet were overwritten; Gap
	// says what was missed. Reconnect with since=Gap.After to go on.
	EventDropped = "dropped"
)

// StreamEvent is one event of GET /v1/events, sent as server-sent events:
// an "id:" line with ID, an "event:" line with Type and a "data:" line
// with this object as JSON. IDs increase by one per event the daemon
// publishes (a filtered stream skips some); they restart with the daemon.
type StreamEvent struct {
	ID   uint64    `json:"id"`
	Time time.Time `json:"time"`
	Type string    `json:"type"`
	// The app the event is about; no name and an AppID of -1 for events
	// about no single app (apply, gap, dropped).
	App       string `json:"app,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	AppID     int    `json:"app_id"`
	// Instance is the instance index; -1 when the event is about the
	// whole app.
	Instance int `json:"instance"`

	Status  string         `json:"status,omitempty"`
	Reason  string         `json:"reason,omitempty"`
	PID     int            `json:"pid,omitempty"`
	Exit    *Exit          `json:"exit,omitempty"`
	Message string         `json:"message,omitempty"`
	Action  string         `json:"action,omitempty"`
	To      int            `json:"to,omitempty"`
	Steps   []PlanStep     `json:"steps,omitempty"`
	Error   string         `json:"error,omitempty"`
	Samples []SampleFigure `json:"samples,omitempty"`
	Gap     *Gap           `json:"gap,omitempty"`
	// Kind, Host and Resolved are an incident's (EventIncident).
	Kind     string `json:"kind,omitempty"`
	Host     string `json:"host,omitempty"`
	Resolved bool   `json:"resolved,omitempty"`
	Alert    *Alert `json:"alert,omitempty"`
}

// SampleFigure is one instance's reading in a sample event.
type SampleFigure struct {
	Instance    int     `json:"instance"`
	PID         int     `json:"pid"`
	CPUPercent  float64 `json:"cpu_percent"`
	MemoryBytes uint64  `json:"memory_bytes"`
	Processes   int     `json:"processes,omitempty"`
}

// Gap says which events a stream did not deliver: those after After up
// to (not including) Oldest, Missed of them. Oldest is the oldest event
// the daemon still keeps.
type Gap struct {
	After  uint64 `json:"after"`
	Oldest uint64 `json:"oldest"`
	Missed uint64 `json:"missed"`
	Reason string `json:"reason"`
}

// ProfileRequest is the body of POST /v1/apps/{target}/profile: profile
// one instance of one app. The answer is the profile file itself, streamed
// as application/octet-stream once recording has begun; an error after
// that arrives in the ProfileErrorTrailer trailer (the body is then
// incomplete), and one that leaves the body whole (the inspector could not
// be closed) in ProfileWarningTrailer.
type ProfileRequest struct {
	Kind     string `json:"kind"` // ProfileCPU, ProfileHeap or ProfileHeapSampling
	Instance int    `json:"instance"`
	// DurationMS is how long a cpu or heap-sampling profile records.
	DurationMS int64 `json:"duration_ms,omitempty"`
	// IntervalUS is the sampling interval of a cpu profile.
	IntervalUS int64 `json:"interval_us,omitempty"`
}

// Kinds of profile.
const (
	ProfileCPU          = "cpu"
	ProfileHeap         = "heap"
	ProfileHeapSampling = "heap-sampling"
)

// ProfileExt is the file extension of a profile of kind.
func ProfileExt(kind string) string {
	switch kind {
	case ProfileCPU:
		return ".cpuprofile"
	case ProfileHeap:
		return ".heapsnapshot"
	}
	return ".heapprofile"
}

// ProfileStopRequest is the body of POST /v1/apps/{target}/profile/stop:
// it ends the recording of the instance's profile early, and the profile
// request answers with what was recorded.
type ProfileStopRequest struct {
	Instance int `json:"instance"`
}

// StoredProfile is a profile tend took by itself, in $TEND_HOME/profiles
// (GET /v1/profiles?app=NAME answers []StoredProfile, oldest first).
type StoredProfile struct {
	File     string    `json:"file"` // its full path
	App      string    `json:"app"`
	Instance int       `json:"instance"`
	Trigger  string    `json:"trigger"` // ProfileTriggerStall or ProfileTriggerMemory
	Size     int64     `json:"size"`
	Time     time.Time `json:"time"`
}

// Why tend took a profile by itself.
const (
	ProfileTriggerStall  = "stall"  // profile_on_stall: a CPU profile
	ProfileTriggerMemory = "memory" // heap_snapshot_on_memory_limit: a heap snapshot
)

// Headers and trailers of a profile's answer.
const (
	ProfilePIDHeader      = "Tend-Profile-Pid"
	ProfileErrorTrailer   = "Tend-Profile-Error"
	ProfileWarningTrailer = "Tend-Profile-Warning"
)

// Release is one release of an app on a host, as GET /v1/releases/{app}
// lists them (tend releases).
type Release struct {
	Seq        int       `json:"seq"`
	App        string    `json:"app"`
	Name       string    `json:"name"` // package.json's
	Version    string    `json:"version"`
	Commit     string    `json:"commit,omitempty"`
	Dir        string    `json:"dir"`
	SHA256     string    `json:"sha256"` // of the archive
	Files      int       `json:"files"`
	DeployedAt time.Time `json:"deployed_at"`
	// By is who deployed it: the client's user, or over a remote door the
	// token's name.
	By     string `json:"by"`
	Active bool   `json:"active"`
}

// Deploy headers of POST /v1/releases: the body is the archive itself
// (application/gzip), made by tend pack.
const (
	// DeployAppHeader names the app (--app); else the archive's manifest does.
	DeployAppHeader = "Tend-App"
	// DeployByHeader is the client's user name. A door that knows better
	// (a remote token's name) replaces it.
	DeployByHeader = "Tend-Deployed-By"
	// DeploySHA256Header is the archive's sha256 as the client computed
	// it: the daemon compares it with what it received.
	DeploySHA256Header = "Tend-Archive-Sha256"
	// DeployPostHeader, when set, is the post_deploy command of this
	// deploy, in place of the app's (PM2's deploy section).
	DeployPostHeader = "Tend-Post-Deploy"
)

// RollbackRequest is the body of POST /v1/releases/{app}/rollback: go
// back to release Seq, or Back releases before the active one (PM2's
// revert N); neither is the one before the active one.
type RollbackRequest struct {
	Seq  int `json:"seq,omitempty"`
	Back int `json:"back,omitempty"`
}

// DeployEvent is one line of a deploy's or rollback's answer, streamed as
// server-sent events ("data:" lines of JSON): progress, the post_deploy
// command's output, and at the end either Release (done) or Error.
type DeployEvent struct {
	Kind    string   `json:"kind"` // "progress", "output", "done", "error"
	Text    string   `json:"text,omitempty"`
	Release *Release `json:"release,omitempty"`
}

// Kinds of DeployEvent.
const (
	DeployProgress = "progress"
	DeployOutput   = "output"
	DeployDone     = "done"
	DeployError    = "error"
)

// Kinds of alert (and of EventIncident). The daemon finds errored and
// crash_loop in what its apps do; the others are incidents published on
// the event bus by whoever sees them (app, deploy, fleet).
const (
	AlertErrored      = "errored"       // an app went errored: its restart policy gave up
	AlertCrashLoop    = "crash_loop"    // an instance restarted unstably AlertCrashLoopRestarts times in a row
	AlertMemoryLimit  = "memory_limit"  // an instance was replaced for max_memory_restart
	AlertReloadFailed = "reload_failed" // a reload's new instances did not take over
	AlertDeployFailed = "deploy_failed" // a deploy did not switch to its release
	AlertHostLost     = "host_lost"     // a fleet host stopped heartbeating (Host)
	// AlertTest is the sample of tend alerts test.
	AlertTest = "test"
)

// AlertKinds are the kinds a target of daemon.yaml may ask for.
var AlertKinds = []string{AlertErrored, AlertCrashLoop, AlertMemoryLimit, AlertReloadFailed, AlertDeployFailed, AlertHostLost}

// AlertCrashLoopRestarts is how many unstable restarts in a row (each
// process up less than the app's min_uptime) make a crash loop.
const AlertCrashLoopRestarts = 3

// Alerts answers GET /v1/alerts: the alert targets of daemon.yaml and the
// recent alerts, oldest first.
type Alerts struct {
	Targets []AlertTarget `json:"targets"`
	Alerts  []Alert       `json:"alerts"`
}

// AlertTarget is one webhook of daemon.yaml and what it was sent.
type AlertTarget struct {
	URL    string   `json:"url"` // without its path and query, which may hold a secret
	Format string   `json:"format"`
	Events []string `json:"events"`
	Queued int      `json:"queued"`
	// Counts since the daemon started: Dropped were pushed out of a full
	// queue; Suppressed fell within min_interval of the same incident's
	// last alert.
	Delivered  uint64 `json:"delivered"`
	Failed     uint64 `json:"failed"`
	Dropped    uint64 `json:"dropped"`
	Suppressed uint64 `json:"suppressed"`
}

// Alert is one alert the daemon raised: an incident begun or over
// (Recovered).
type Alert struct {
	ID        uint64    `json:"id"`
	Time      time.Time `json:"time"`
	Host      string    `json:"host"` // the daemon's host name
	App       string    `json:"app,omitempty"`
	Kind      string    `json:"kind"`
	Message   string    `json:"message"`
	Recovered bool      `json:"recovered,omitempty"`
	// Text is the one line a chat webhook shows.
	Text string `json:"text"`
	// Deliveries are one per target, in the order of daemon.yaml.
	Deliveries []Delivery `json:"deliveries"`
}

// Delivery states.
const (
	DeliveryPending    = "pending"
	DeliveryDelivered  = "delivered"
	DeliveryFailed     = "failed"
	DeliveryDropped    = "dropped"    // pushed out of a full queue
	DeliverySuppressed = "suppressed" // rate-limited (min_interval)
	DeliverySkipped    = "skipped"    // the target does not want this kind
)

// Delivery is how one alert went to one target.
type Delivery struct {
	Target   string `json:"target"` // as in AlertTarget.URL
	Status   string `json:"status"`
	Code     int    `json:"code,omitempty"` // the last HTTP status
	Attempts int    `json:"attempts,omitempty"`
	Error    string `json:"error,omitempty"`
}

// AlertTestResult answers POST /v1/alerts/test, one per target: the HTTP
// status the target answered the sample with, or why it did not.
type AlertTestResult struct {
	Target string `json:"target"`
	Format string `json:"format"`
	Code   int    `json:"code,omitempty"`
	Error  string `json:"error,omitempty"`
}

// TriggerRequest is the body of POST /v1/apps/{target}/trigger: call an
// action the app's instances offer (@pm2/io, tx2), as `pm2 trigger` does.
type TriggerRequest struct {
	Action string `json:"action"`
	// Param, when set, is passed to the action (PM2 sends {msg, opts}).
	Param *string `json:"param,omitempty"`
	// Instance, when set, is the one instance to call; else all.
	Instance *int `json:"instance,omitempty"`
	// TimeoutMS bounds the wait for the replies (default 10 s, at most
	// 5 min).
	TimeoutMS int64 `json:"timeout_ms,omitempty"`
}

// TriggerReply is one instance's answer to a trigger: its reply as JSON, or
// why there is none.
type TriggerReply struct {
	App      string          `json:"app"`
	Instance int             `json:"instance"`
	PID      int             `json:"pid,omitempty"`
	Reply    json.RawMessage `json:"reply,omitempty"`
	Error    string          `json:"error,omitempty"`
}

// Dashboard is the answer of POST /v1/dashboard: where the daemon serves
// the web dashboard (started on loopback when daemon.yaml sets no
// dashboard_addr) and a login link that works once, within a minute.
type Dashboard struct {
	URL   string `json:"url"`
	Login string `json:"login"`
}
