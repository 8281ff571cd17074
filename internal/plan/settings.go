package plan

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Setting says how a change of one top-level setting takes effect: the
// step it calls for, and what in tend applies it. Settings holds one for
// every key of an app (TestEveryKeyHasASetting derives the keys from the
// spec's key table, so a new key without an entry fails); the plan's
// steps, their printed lines and the README's table all come from it.
type Setting struct {
	Kind Kind
	Area *Area
}

// Area is what applies the changes of a group of settings.
type Area struct {
	// Name is how a plan line names it: "in place: log files".
	Name string
	// When says when a change takes effect, for the README's table.
	When string
}

// The areas, in the order of the README's table.
var (
	areaLogs = &Area{"log files",
		"at once: the log files of the running instances are reconfigured, or reopened at their new path; the next line is written the new way"}
	areaEdge = &Area{"edge",
		"at once: the edge serves the next request with them"}
	areaRestart = &Area{"restart policy",
		"at the next exit of each instance, which keeps its restart history (a max_restarts lowered below the unstable restarts counted errors it at its next crash)"}
	areaStop = &Area{"stop settings",
		"at the next stop of an instance (stop, restart, reload, scale down)"}
	areaReady = &Area{"readiness",
		"at the next start of an instance (start, restart, reload, scale up, crash restart); reload_batch at the next reload"}
	areaMemory = &Area{"memory limit",
		"at the next usage sample"}
	areaProfile = &Area{"smart profiling",
		"at the next runtime report of each instance"}
	areaRuntime = &Area{"watch, cron and autoscale",
		"at once: the watcher, cron schedule and autoscaler are re-armed"}
	areaDeploy = &Area{"releases",
		"at the next deploy (tend deploy): post_deploy runs in the new release, retain_releases prunes after it"}
	areaProcess = &Area{"process",
		"every instance is replaced by one started with the new settings, with zero downtime (reload_batch at a time)"}
	areaCount = &Area{"instances",
		"instances are started or stopped; the others are left alone"}
	areaSocket = &Area{"public socket",
		"the app is stopped and started again to rebind its public port; connections are refused meanwhile"}
)

// Settings is the table of every app setting (by its key in the ecosystem
// file's form) and how its change takes effect. A member of an object
// setting (env.LOG_LEVEL, edge.max_body, autoscale.max) takes the entry of
// its top-level key.
var Settings = map[string]Setting{
	"out_file":        {Update, areaLogs},
	"error_file":      {Update, areaLogs},
	"log_file":        {Update, areaLogs},
	"merge_logs":      {Update, areaLogs},
	"time":            {Update, areaLogs},
	"log_date_format": {Update, areaLogs},
	"log_type":        {Update, areaLogs},
	"max_size":        {Update, areaLogs},
	"rotate_interval": {Update, areaLogs},
	"retain":          {Update, areaLogs},
	"compress":        {Update, areaLogs},

	"balance":       {Update, areaEdge},
	"sticky_cookie": {Update, areaEdge},
	"edge":          {Update, areaEdge},

	"autorestart":               {Update, areaRestart},
	"max_restarts":              {Update, areaRestart},
	"min_uptime":                {Update, areaRestart},
	"restart_delay":             {Update, areaRestart},
	"exp_backoff_restart_delay": {Update, areaRestart},
	"stop_exit_codes":           {Update, areaRestart},

	"kill_timeout":          {Update, areaStop},
	"kill_signal":           {Update, areaStop},
	"shutdown_with_message": {Update, areaStop},

	"wait_ready":     {Update, areaReady},
	"health_path":    {Update, areaReady},
	"listen_timeout": {Update, areaReady},
	"reload_batch":   {Update, areaReady},

	"max_memory_restart":            {Update, areaMemory},
	"heap_snapshot_on_memory_limit": {Update, areaMemory},
	"profile_on_stall":              {Update, areaProfile},

	"watch":        {Update, areaRuntime},
	"ignore_watch": {Update, areaRuntime},
	"watch_delay":  {Update, areaRuntime},
	"cron_restart": {Update, areaRuntime},
	"autoscale":    {Update, areaRuntime},

	"post_deploy":     {Update, areaDeploy},
	"retain_releases": {Update, areaDeploy},

	"script":           {Reload, areaProcess},
	"args":             {Reload, areaProcess},
	"interpreter":      {Reload, areaProcess},
	"interpreter_args": {Reload, areaProcess},
	"cwd":              {Reload, areaProcess},
	"env":              {Reload, areaProcess},
	// What each instance's environment and command line get.
	"instance_var":       {Reload, areaProcess},
	"increment_var":      {Reload, areaProcess},
	"source_map_support": {Reload, areaProcess},
	// What `npm start` resolved to: it changes with script and args.
	"resolved_from": {Reload, areaProcess},

	"instances": {Scale, areaCount},

	"port": {Replace, areaSocket},
	"mode": {Replace, areaSocket},
}

// Identity are the keys that name an app rather than set it: a file with
// another name holds another app (apply starts it), and set refuses them.
var Identity = []string{"name", "namespace"}

// Effect is how the settings of a step of this kind take effect, as the
// API's plan steps say it: in place, reload, restart or scale; "" for the
// other kinds.
func (k Kind) Effect() string {
	switch k {
	case Update:
		return "in place"
	case Reload:
		return "reload"
	case Replace:
		return "restart"
	case Scale:
		return "scale"
	}
	return ""
}

// Classify returns the kind of step a changed setting calls for. A member
// key (env.LOG_LEVEL) is classified by its top-level key. A key missing
// from Settings calls for a reload: the safe side, since a reload makes any
// setting take effect (the tests keep every key of the spec in Settings).
func Classify(key string) Kind {
	top, _, _ := strings.Cut(key, ".")
	if s, ok := Settings[top]; ok {
		return s.Kind
	}
	return Reload
}

// areas names what applies changes of keys, in the order of the table.
func areas(keys []string) []string {
	var seen []*Area
	for _, k := range keys {
		top, _, _ := strings.Cut(k, ".")
		if s, ok := Settings[top]; ok && !slices.Contains(seen, s.Area) {
			seen = append(seen, s.Area)
		}
	}
	slices.SortFunc(seen, func(a, b *Area) int { return cmp.Compare(areaOrder(a), areaOrder(b)) })
	names := make([]string, len(seen))
	for i, a := range seen {
		names[i] = a.Name
	}
	return names
}

var allAreas = []*Area{areaLogs, areaEdge, areaRestart, areaStop, areaReady, areaMemory, areaProfile, areaRuntime, areaDeploy, areaProcess, areaCount, areaSocket}

func areaOrder(a *Area) int { return slices.Index(allAreas, a) }

// Markdown is the README's table of the settings and how their changes
// take effect, one row per area.
func Markdown() string {
	var b strings.Builder
	b.WriteString("| settings | a change takes effect | when |\n| --- | --- | --- |\n")
	for _, a := range allAreas {
		var keys []string
		kind := Kind("")
		for k, s := range Settings {
			if s.Area == a {
				keys = append(keys, k)
				kind = s.Kind
			}
		}
		slices.Sort(keys)
		for i, k := range keys {
			keys[i] = "`" + k + "`"
			if k == "env" || k == "edge" || k == "autoscale" || k == "profile_on_stall" {
				keys[i] = "`" + k + ".*`"
			}
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", strings.Join(keys, ", "), kind.Effect(), a.When)
	}
	return b.String()
}
