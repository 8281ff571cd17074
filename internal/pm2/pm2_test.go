package pm2

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/spec"
)

// readDump reads testdata/dump.pm2, a dump written by PM2 7.0.4 (`pm2
// start` of a 2-instance cluster app and a fork app, `pm2 save`) with most
// of the shell's environment cut and the repository's path as @REPO@.
func readDump(t *testing.T) []Process {
	t.Helper()
	b, err := os.ReadFile("testdata/dump.pm2")
	if err != nil {
		t.Fatal(err)
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	procs, err := Read(strings.NewReader(strings.ReplaceAll(string(b), "@REPO@", root)))
	if err != nil {
		t.Fatal(err)
	}
	return procs
}

func TestConvertCarriesSettingsOfARealDump(t *testing.T) {
	procs := readDump(t)
	if len(procs) != 3 {
		t.Fatalf("read %d processes, want 3", len(procs))
	}
	base := map[string]string{"HOME": "/root", "LANG": "C.UTF-8", "SHELL": "/bin/bash", "TERM": "xterm"}
	// PM2 copies every variable to the top level of pm2_env, lower-case
	// ones too: a copy is not a setting.
	for _, p := range procs[:2] {
		p["http_proxy"] = "http://proxy:3128"
		p["env"].(map[string]any)["http_proxy"] = "http://proxy:3128"
	}
	apps, err := Convert(procs, Options{File: "dump.pm2", BaseEnv: base, NumCPU: 4})
	if err != nil {
		t.Fatal(err)
	}
	if len(apps) != 2 {
		t.Fatalf("got %d apps, want 2 (the cluster's 2 processes are one app)", len(apps))
	}
	web, worker := apps[0], apps[1]
	t.Logf("lost: web %q, worker %q", web.Lost, worker.Lost)

	w := web.Spec
	if w.Name != "web" || w.Namespace != "shop" || w.Instances != 2 {
		t.Errorf("web: name %q namespace %q instances %d, want web, shop, 2", w.Name, w.Namespace, w.Instances)
	}
	if !strings.HasSuffix(w.Script, "/testdata/node/idle.js") || !strings.HasSuffix(w.Cwd, "/testdata/node") || w.Interpreter != "node" {
		t.Errorf("web: script %q cwd %q interpreter %q", w.Script, w.Cwd, w.Interpreter)
	}
	if !reflect.DeepEqual(w.Args, []string{"--foo", "bar"}) {
		t.Errorf("web args = %q", w.Args)
	}
	if w.MaxMemoryRestart != 200<<20 || w.KillTimeout.D() != 3*time.Second || w.CronRestart != "0 3 * * *" || !w.Autorestart {
		t.Errorf("web: max_memory_restart %d kill_timeout %v cron %q autorestart %v", w.MaxMemoryRestart, w.KillTimeout.D(), w.CronRestart, w.Autorestart)
	}
	// The app's own variables are kept; the shell's and PM2's are not, and
	// those equal in the importing shell are left to inheritance.
	wantEnv := map[string]string{"API_KEY": "from-pm2", "NODE_ENV": "production", "PATH": "/usr/local/bin:/usr/bin:/bin", "http_proxy": "http://proxy:3128"}
	if !reflect.DeepEqual(w.Env, wantEnv) {
		t.Errorf("web env = %v, want %v", w.Env, wantEnv)
	}
	if web.Status != "online" {
		t.Errorf("web status %q", web.Status)
	}
	// PM2's defaults (vizion, pmx, treekill...) are not reported as lost.
	for _, l := range web.Lost {
		if !strings.HasPrefix(l, "exec_mode:") {
			t.Errorf("web: unexpected loss %q", l)
		}
	}

	k := worker.Spec
	if k.Instances != 1 || k.Autorestart || k.MaxRestarts != 5 || k.MinUptime.D() != 2*time.Second {
		t.Errorf("worker: instances %d autorestart %v max_restarts %d min_uptime %v", k.Instances, k.Autorestart, k.MaxRestarts, k.MinUptime.D())
	}
	if !reflect.DeepEqual(k.InterpreterArgs, []string{"--max-old-space-size=128"}) {
		t.Errorf("worker interpreter_args = %q", k.InterpreterArgs)
	}
	if k.OutFile != "/var/log/worker.log" || k.ErrorFile != "" || k.MergeLogs {
		t.Errorf("worker: out_file %q (a path of the user's is kept) error_file %q (PM2's default place is not) merge_logs %v", k.OutFile, k.ErrorFile, k.MergeLogs)
	}
	if worker.Status != "stopped" {
		t.Errorf("worker status %q", worker.Status)
	}
	if !slices.ContainsFunc(worker.Lost, func(l string) bool { return strings.HasPrefix(l, "treekill: ") }) {
		t.Errorf("worker: treekill not listed as lost: %q", worker.Lost)
	}
	// Carried over since tend has it.
	if !k.ShutdownWithMessage || slices.ContainsFunc(worker.Lost, func(l string) bool { return strings.HasPrefix(l, "shutdown_with_message") }) {
		t.Errorf("worker: shutdown_with_message %v, lost %q", k.ShutdownWithMessage, worker.Lost)
	}
}

func TestConvertOnlyKeepsTheNamedApps(t *testing.T) {
	apps, err := Convert(readDump(t), Options{Only: []string{"worker"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(apps) != 1 || apps[0].Spec.Name != "worker" {
		t.Fatalf("got %d apps, want worker only", len(apps))
	}
	_, err = Convert(readDump(t), Options{File: "dump.pm2", Only: []string{"nope"}})
	if err == nil || !strings.Contains(err.Error(), `no app is named "nope"`) {
		t.Fatalf("err = %v", err)
	}
}

func TestConvertNamesTheAppAndKeyOfABadSetting(t *testing.T) {
	procs := readDump(t)
	procs[2]["pm_exec_path"] = "/nonexistent/worker.js"
	procs[0]["kill_timeout"] = "soon"
	_, err := Convert(procs, Options{File: "dump.pm2"})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"dump.pm2: shop/web.kill_timeout:", "dump.pm2: default/worker.script:"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
}

func TestReadRefusesWhatIsNotADump(t *testing.T) {
	for in, want := range map[string]string{
		"":                           "empty",
		"{}":                         "want a JSON array",
		"[1]":                        "[0]: want an object",
		`[{"name":"a"}]`:             "no pm_exec_path",
		`[{"pm_exec_path":"/a.js"}]`: "no name",
		"[":                          "not JSON",
		"[]":                         "no process",
	} {
		_, err := Read(strings.NewReader(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Read(%q) = %v, want an error with %q", in, err, want)
		}
	}
	// A sparse file: refused by its size, unread.
	big := filepath.Join(t.TempDir(), "dump.pm2")
	if err := os.WriteFile(big, []byte("["), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(big, MaxFileBytes+1); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(big); err == nil || !strings.Contains(err.Error(), big+": larger than") {
		t.Errorf("a file above the ceiling: %v", err)
	}
	many := "[" + strings.Repeat(`{"name":"a","pm_exec_path":"/a.js"},`, MaxProcesses) + `{"name":"a","pm_exec_path":"/a.js"}]`
	if _, err := Read(strings.NewReader(many)); err == nil || !strings.Contains(err.Error(), "processes: more than") {
		t.Errorf("too many processes: %v", err)
	}
	// A stream is cut at the ceiling (a lower one: 32 MiB is slow under -race).
	defer func(n int64) { readLimit = n }(readLimit)
	readLimit = 1 << 10
	if _, err := Read(io.LimitReader(spaces{}, readLimit+1)); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("a stream above the ceiling: %v", err)
	}
	if _, err := Read(io.MultiReader(strings.NewReader(`[{"name":"a","pm_exec_path":"/a.js"}`), io.LimitReader(spaces{}, readLimit-100), strings.NewReader("]"))); err != nil {
		t.Errorf("a stream just below the ceiling: %v", err)
	}
}

// spaces reads as endless blanks.
type spaces struct{}

func (spaces) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	return len(p), nil
}

func TestReadTakesJlistOutput(t *testing.T) {
	in := `[{"pid":12,"name":"api","pm_id":0,"monit":{"memory":1,"cpu":0},
	  "pm2_env":{"name":"api","pm_exec_path":"/srv/api.js","status":"online","instances":1}}]`
	procs, err := Read(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if procs[0]["pm_exec_path"] != "/srv/api.js" {
		t.Fatalf("got %v", procs[0])
	}
}

func TestJListHasPM2sShape(t *testing.T) {
	started := time.UnixMilli(1_700_000_000_000)
	apps := []api.App{{
		ID: 3, Name: "api", Namespace: "default", Mode: spec.ModeProxy, CreatedAt: started.Add(-time.Hour),
		Instances: []api.Instance{
			{Index: 0, PID: 100, Status: api.StatusOnline, Restarts: 2, StartedAt: started, CPUPercent: 1.5, MemoryBytes: 4096, Metrics: map[string]float64{"queue": 7}},
			{Index: 1, Status: api.StatusWaiting},
		},
		Spec: &spec.App{Script: "/srv/api.js", Instances: 2, Autorestart: true, KillTimeout: spec.Duration(1600 * time.Millisecond)},
	}}
	b, err := json.Marshal(JList(apps, func(a *spec.App, stream string, i int) string {
		return fmt.Sprintf("/logs/%s-%s-%d.log", a.Script, stream, i)
	}))
	if err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("%d entries, want one per instance", len(got))
	}
	p := got[0]
	env := p["pm2_env"].(map[string]any)
	checks := map[string][2]any{
		"pid":                     {p["pid"], 100.0},
		"pm_id":                   {p["pm_id"], 3.0},
		"monit.cpu":               {p["monit"].(map[string]any)["cpu"], 1.5},
		"monit.memory":            {p["monit"].(map[string]any)["memory"], 4096.0},
		"pm2_env.status":          {env["status"], "online"},
		"pm2_env.restart_time":    {env["restart_time"], 2.0},
		"pm2_env.pm_uptime":       {env["pm_uptime"], float64(started.UnixMilli())},
		"pm2_env.exec_mode":       {env["exec_mode"], "cluster_mode"},
		"pm2_env.instances":       {env["instances"], 2.0},
		"pm2_env.kill_timeout":    {env["kill_timeout"], 1600.0},
		"pm2_env.pm_exec_path":    {env["pm_exec_path"], "/srv/api.js"},
		"pm2_env.pm_out_log_path": {env["pm_out_log_path"], "/logs//srv/api.js-out-0.log"},
		"pm2_env.pm_err_log_path": {env["pm_err_log_path"], "/logs//srv/api.js-error-0.log"},
	}
	for k, c := range checks {
		if !reflect.DeepEqual(c[0], c[1]) {
			t.Errorf("%s = %#v, want %#v", k, c[0], c[1])
		}
	}
	if m := env["axm_monitor"].(map[string]any)["queue"].(map[string]any)["value"]; m != 7.0 {
		t.Errorf("axm_monitor.queue.value = %v", m)
	}
	if s := got[1]["pm2_env"].(map[string]any)["status"]; s != "waiting restart" {
		t.Errorf("a waiting instance's status = %v, want PM2's \"waiting restart\"", s)
	}
}

func TestConvertLeavesPM2ModulesOut(t *testing.T) {
	procs := readDump(t)
	procs = append(procs, Process{"name": "pm2-logrotate", "pm_exec_path": "/root/.pm2/modules/pm2-logrotate/app.js", "pmx_module": true})
	apps, err := Convert(procs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(apps) != 2 {
		t.Errorf("%d apps, want the 2 that are not modules", len(apps))
	}
	if m := Modules(procs); !slices.Equal(m, []string{"pm2-logrotate"}) {
		t.Errorf("Modules = %q", m)
	}
}
