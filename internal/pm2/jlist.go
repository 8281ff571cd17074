package pm2

import (
	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/spec"
)

// JProcess is one entry of `pm2 jlist`: one process (a tend instance).
type JProcess struct {
	PID   int    `json:"pid"`
	Name  string `json:"name"`
	PMID  int    `json:"pm_id"`
	Monit Monit  `json:"monit"`
	Env   JEnv   `json:"pm2_env"`
}

// Monit is a process's last CPU and memory reading.
type Monit struct {
	Memory uint64  `json:"memory"` // bytes of RSS
	CPU    float64 `json:"cpu"`    // percent of one CPU
}

// JEnv is the part of pm2_env that scripts and exporters read.
type JEnv struct {
	Name             string            `json:"name"`
	Namespace        string            `json:"namespace"`
	PMID             int               `json:"pm_id"`
	Status           string            `json:"status"`
	RestartTime      int               `json:"restart_time"`
	UnstableRestarts int               `json:"unstable_restarts"`
	PMUptime         int64             `json:"pm_uptime"`  // ms since the epoch when the process started
	CreatedAt        int64             `json:"created_at"` // ms since the epoch when the app was registered
	ExecMode         string            `json:"exec_mode"`  // fork_mode or cluster_mode
	Instances        int               `json:"instances"`
	ExecPath         string            `json:"pm_exec_path"`
	Cwd              string            `json:"pm_cwd"`
	Interpreter      string            `json:"exec_interpreter"`
	Args             []string          `json:"args"`
	NodeArgs         []string          `json:"node_args"`
	Env              map[string]string `json:"env"`
	Autorestart      bool              `json:"autorestart"`
	MaxRestarts      int               `json:"max_restarts"`
	MinUptime        int64             `json:"min_uptime"`   // ms
	KillTimeout      int64             `json:"kill_timeout"` // ms
	Watch            bool              `json:"watch"`
	Instance         int               `json:"NODE_APP_INSTANCE"`
	OutLog           string            `json:"pm_out_log_path"`
	ErrLog           string            `json:"pm_err_log_path"`
	Version          string            `json:"version"`
	AxmMonitor       map[string]Metric `json:"axm_monitor"`
}

// Metric is one figure of axm_monitor.
type Metric struct {
	Value float64 `json:"value"`
}

// JList returns apps as `pm2 jlist` would list them: one entry per
// instance. pm_id is the app's id, which is what tend's commands take, so
// that `tend restart <pm_id>` does what `pm2 restart <pm_id>` did; the
// instances of an app are told apart by pm2_env.NODE_APP_INSTANCE. Apps
// need their Spec (as describe returns them). logPath says where an
// instance's stream ("out" or "error") is written; nil leaves the paths
// empty.
func JList(apps []api.App, logPath func(a *spec.App, stream string, index int) string) []JProcess {
	if logPath == nil {
		logPath = func(*spec.App, string, int) string { return "" }
	}
	out := []JProcess{}
	for _, a := range apps {
		s := a.Spec
		if s == nil {
			s = &spec.App{}
		}
		mode := "fork_mode"
		if a.Mode == spec.ModeProxy || a.Mode == spec.ModeSocket || s.Instances > 1 && s.Mode != spec.ModeFork || s.SharesPorts() {
			mode = "cluster_mode"
		}
		for _, in := range a.Instances {
			up := a.CreatedAt
			if !in.StartedAt.IsZero() {
				up = in.StartedAt
			}
			metrics := map[string]Metric{}
			for k, v := range in.Metrics {
				metrics[k] = Metric{Value: v}
			}
			out = append(out, JProcess{
				PID:   in.PID,
				Name:  a.Name,
				PMID:  a.ID,
				Monit: Monit{Memory: in.MemoryBytes, CPU: in.CPUPercent},
				Env: JEnv{
					Name:             a.Name,
					Namespace:        a.Namespace,
					PMID:             a.ID,
					Status:           status(in.Status),
					RestartTime:      in.Restarts,
					UnstableRestarts: in.Unstable,
					PMUptime:         up.UnixMilli(),
					CreatedAt:        a.CreatedAt.UnixMilli(),
					ExecMode:         mode,
					Instances:        len(a.Instances),
					ExecPath:         s.Script,
					Cwd:              s.Cwd,
					Interpreter:      s.Interpreter,
					Args:             orEmpty(s.Args),
					NodeArgs:         orEmpty(s.InterpreterArgs),
					Env:              envOrEmpty(s.Env),
					Autorestart:      s.Autorestart,
					MaxRestarts:      s.MaxRestarts,
					MinUptime:        s.MinUptime.D().Milliseconds(),
					KillTimeout:      s.KillTimeout.D().Milliseconds(),
					Watch:            len(s.Watch) > 0,
					Instance:         in.Index,
					OutLog:           logPath(s, "out", in.Index),
					ErrLog:           logPath(s, "error", in.Index),
					Version:          "N/A",
					AxmMonitor:       metrics,
				},
			})
		}
	}
	return out
}

// status maps tend's instance statuses to PM2's words.
func status(s string) string {
	switch s {
	case api.StatusWaiting:
		return "waiting restart"
	default: // launching, online, stopping, stopped, errored: the same words
		return s
	}
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func envOrEmpty(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}
