package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/api"
)

// Apps instrumented for PM2 with the real @pm2/io and tx2 (testdata/node),
// and PM2's flags and ecosystem keys.

// hasMetrics says every instance of a has the metrics want.
func hasMetrics(want map[string]float64) func(api.App) bool {
	return func(a api.App) bool {
		if !allOnline(a) {
			return false
		}
		for _, in := range a.Instances {
			for k, v := range want {
				if got, ok := in.Metrics[k]; !ok || got != v {
					return false
				}
			}
		}
		return true
	}
}

func TestPM2IOAndTx2MetricsShowLikeTendsOwn(t *testing.T) {
	needNode(t)
	h := newHome(t)
	h.ok("start", "pm2io.js", "-i", "2")
	h.ok("start", "tx2app.js", "--env", "PORT=4100")
	// @pm2/io's counter "jobs done" (a name with a space) and tx2's "queue".
	h.waitApp("pm2io", "reporting jobs_done=3", hasMetrics(map[string]float64{"jobs_done": 3}))
	tx := h.waitApp("tx2app", "reporting queue=7", hasMetrics(map[string]float64{"queue": 7}))
	if !slices.Contains(tx.Instances[0].Actions, "hello") {
		t.Errorf("ls --json: tx2app offers %v, want hello", tx.Instances[0].Actions)
	}
	desc := h.ok("describe", "pm2io")
	for _, want := range []string{"instance 0 metrics: ", "instance 1 metrics: ", "jobs_done=3", "instance 0 actions: ", "ping, echo, silent, first (tend trigger)", "instance 1 actions: "} {
		if !strings.Contains(desc, want) {
			t.Errorf("describe pm2io lacks %q:\n%s", want, desc)
		}
	}
	m := h.ok("metrics")
	for _, want := range []string{
		`tend_app_metric{app="pm2io",instance="0",name="jobs_done",namespace="default"} 3`,
		`tend_app_metric{app="pm2io",instance="1",name="jobs_done",namespace="default"} 3`,
		`tend_app_metric{app="tx2app",instance="0",name="queue",namespace="default"} 7`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("tend metrics lacks %s", want)
		}
	}
}

func TestTriggerCallsAnActionOnEveryInstance(t *testing.T) {
	needNode(t)
	h := newHome(t)
	h.ok("start", "pm2io.js", "-i", "2")
	h.ok("start", "tx2app.js", "--env", "PORT=4100")
	h.ok("start", "sleep", "--name", "plain", "--", "1000")
	actions := func(want string) func(api.App) bool {
		return func(a api.App) bool {
			for _, in := range a.Instances {
				if !slices.Contains(in.Actions, want) {
					return false
				}
			}
			return allOnline(a)
		}
	}
	h.waitApp("pm2io", "offering its actions", func(a api.App) bool {
		// Registered in this order: first (instance 0 only) comes last.
		return actions("silent")(a) && slices.Contains(a.Instances[0].Actions, "first")
	})
	h.waitApp("tx2app", "offering hello", actions("hello"))

	out := h.ok("trigger", "pm2io", "ping")
	for _, want := range []string{`pm2io[0] {"instance":"0","pong":true}`, `pm2io[1] {"instance":"1","pong":true}`} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("trigger pm2io ping: want %s in\n%s", want, out)
		}
	}
	// A parameter goes as PM2 sends it, {msg, opts}; --instance picks one.
	if out := h.ok("trigger", "pm2io", "echo", "hello world", "--instance", "1"); out != `pm2io[1] {"got":"hello world"}`+"\n" {
		t.Errorf("trigger pm2io echo --instance 1: %q", out)
	}
	if out := h.ok("trigger", "tx2app", "hello", "x"); out != `tx2app[0] {"hi":true,"param":"x","port":"4100"}`+"\n" {
		t.Errorf("trigger tx2app hello x: %q", out)
	}
	var replies []api.TriggerReply
	mustJSON(t, h.ok("trigger", "tx2app", "hello", "--json"), &replies)
	var reply bytes.Buffer
	if len(replies) == 1 {
		_ = json.Compact(&reply, replies[0].Reply)
	}
	if len(replies) != 1 || reply.String() != `{"hi":true,"param":{},"port":"4100"}` || replies[0].PID == 0 {
		t.Errorf("trigger --json: %+v", replies)
	}

	// An action no instance offers: the error names the ones they do.
	r := h.run("trigger", "pm2io", "pong")
	if r.code == 0 || !strings.Contains(r.stderr, `no such action "pong"`) || !strings.Contains(r.stderr, "ping, echo, silent") {
		t.Errorf("trigger of an unknown action: exit %d, %s", r.code, r.stderr)
	}
	// An instance without the action is named, with the actions it has;
	// the others reply.
	r = h.run("trigger", "pm2io", "first")
	if r.code == 0 || r.stdout != `pm2io[0] "only instance 0 has me"`+"\n" ||
		!strings.Contains(r.stderr, `pm2io[1] instance 1 has no action "first" (it offers km:heapdump`) || !strings.Contains(r.stderr, "ping, echo, silent)") {
		t.Errorf("trigger of an action instance 1 lacks: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// An app with no IPC channel says so per instance.
	r = h.run("trigger", "plain", "ping")
	if r.code == 0 || !strings.Contains(r.stderr, "plain[0] instance 0 has no IPC channel") {
		t.Errorf("trigger of a non-Node app: exit %d, %s", r.code, r.stderr)
	}
	// An action that never replies times out, naming each instance.
	r = h.run("trigger", "pm2io", "silent", "--timeout", "300ms")
	if r.code == 0 || !strings.Contains(r.stderr, "pm2io[0] instance 0 did not reply within 300ms") ||
		!strings.Contains(r.stderr, "pm2io[1] instance 1 did not reply within 300ms") || !strings.Contains(r.stderr, "no reply from pm2io[0], pm2io[1]") {
		t.Errorf("trigger of a silent action: exit %d, %s", r.code, r.stderr)
	}
	// The timed-out triggers do not take the next replies.
	if out := h.ok("trigger", "pm2io", "ping", "--instance", "0"); out != `pm2io[0] {"instance":"0","pong":true}`+"\n" {
		t.Errorf("trigger after a timeout: %q", out)
	}
	for _, bad := range [][]string{
		{"trigger", "pm2io", "ping", "--instance", "5"},
		{"trigger", "pm2io", "ping", "--instance", "-1"},
		{"trigger", "pm2io", "ping", "--timeout", "0s"},
		{"trigger", "nope", "ping"},
	} {
		if e := h.fails(bad...); e == "" {
			t.Errorf("%v: no error", bad)
		}
	}
}

func TestProcessMsgGoesOnTheEventStream(t *testing.T) {
	needNode(t)
	h := newHome(t)
	h.ok("ls") // starts the daemon
	sc := h.events(t, "?types=app.message")
	h.ok("start", "pm2io.js")
	e := waitEvent(t, sc, "process:msg", func(e api.StreamEvent) bool { return e.Type == api.EventAppMessage })
	if e.App != "pm2io" || e.Action != "process:msg" || e.Message != `{"hello":"bus"}` || e.PID == 0 {
		t.Errorf("app.message event: %+v", e)
	}
}

func TestShutdownWithMessageStopsOverIPC(t *testing.T) {
	needNode(t)
	h := newHome(t)
	logs := t.TempDir()
	out := filepath.Join(logs, "out.log")
	h.ok("start", "pm2io.js", "--shutdown-with-message", "--kill-timeout", "20s", "-o", out)
	a := h.waitApp("pm2io", "online with its actions", func(a api.App) bool { return allOnline(a) && len(a.Instances[0].Actions) > 0 })
	pid := a.Instances[0].PID
	h.ok("stop", "pm2io")
	waitGone(t, pid)
	b, _ := os.ReadFile(out)
	// The fixture ignores SIGINT: only the message can have stopped it
	// before the 20 s kill_timeout, and it exits 0.
	if !strings.Contains(string(b), "got shutdown message") || strings.Contains(string(b), "ignored SIGINT") {
		t.Errorf("out.log:\n%s", b)
	}
	if x := h.app("pm2io").Instances[0].LastExit; x == nil || x.Code != 0 || x.Signal != "" {
		t.Errorf("last exit %+v, want code 0", x)
	}
}

func TestSourceMapSupportAndInstanceVar(t *testing.T) {
	needNode(t)
	h := newHome(t)
	h.ok("start", "idle.js", "--source-map-support", "--instance-var", "WORKER", "-i", "2", "--name", "maps")
	a := h.pidsOf("maps")
	for _, pid := range a {
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if !slices.Contains(strings.Split(string(cmdline), "\x00"), "--enable-source-maps") {
			t.Errorf("pid %d runs %q, want --enable-source-maps", pid, cmdline)
		}
	}
	var envs []api.Env
	mustJSON(t, h.ok("env", "maps", "--json"), &envs)
	for i, in := range envs[0].Instances {
		if in.Env["WORKER"] != strconv.Itoa(i) {
			t.Errorf("instance %d: WORKER=%q", i, in.Env["WORKER"])
		}
		if _, ok := in.Env["NODE_APP_INSTANCE"]; ok {
			t.Errorf("instance %d has NODE_APP_INSTANCE besides instance_var", i)
		}
	}
}

func TestStartNoDaemonRunsInTheForeground(t *testing.T) {
	needNode(t)
	h := newHome(t)
	cmd, out, exited := runTendVerb(t, h, "start", "goodbye.js", "--no-daemon")
	for out.Scan() {
		if out.Text() == "goodbye[0] | up" {
			break
		}
	}
	go func() {
		for out.Scan() {
		}
	}()
	pid := h.pidsOf("goodbye")
	sigtermExits0(t, cmd, exited, "tend start --no-daemon")
	waitGone(t, pid...)
	if _, err := os.Stat(filepath.Join(h.dir, "tend.sock")); err == nil {
		t.Errorf("a daemon is left after start --no-daemon ended")
	}
}

// A PM2 ecosystem.config.js, as PM2 runs it: env_production over env,
// node_args, merge_logs, time, cron_restart and increment_var.
func TestPM2EcosystemJSRunsAsPM2Would(t *testing.T) {
	needNode(t)
	h := newHome(t)
	dir := t.TempDir()
	eco := filepath.Join(dir, "ecosystem.config.js")
	writeEco(t, eco, fmt.Sprintf(`module.exports = {
  apps: [{
    name: 'shop',
    script: %q,
    instances: 2,
    node_args: '--max-old-space-size=96',
    merge_logs: true,
    time: true,
    out_file: './out.log',
    error_file: './err.log',
    cron_restart: '0 3 * * *',
    increment_var: 'PORT',
    env: { PORT: 5100, GREETING: 'dev' },
    env_production: { NODE_ENV: 'production', GREETING: 'prod' },
  }],
};
`, filepath.Join(fixtures, "tx2app.js")))
	h.runIn(dir, "start", "ecosystem.config.js", "--env-name", "production")
	a := h.waitApp("shop", "online with its actions", func(a api.App) bool {
		return allOnline(a) && len(a.Instances) == 2 && len(a.Instances[0].Actions) > 0 && len(a.Instances[1].Actions) > 0
	})
	var envs []api.Env
	mustJSON(t, h.ok("env", "shop", "--json"), &envs)
	for i, in := range envs[0].Instances {
		want := map[string]string{"PORT": strconv.Itoa(5100 + i), "GREETING": "prod", "NODE_ENV": "production", "NODE_APP_INSTANCE": strconv.Itoa(i)}
		for k, v := range want {
			if in.Env[k] != v {
				t.Errorf("instance %d: %s=%q, want %q", i, k, in.Env[k], v)
			}
		}
	}
	// The processes have what the env says, and node_args.
	out := h.ok("trigger", "shop", "hello")
	for i := range 2 {
		if want := fmt.Sprintf(`shop[%d] {"hi":true,"param":{},"port":"%d"}`, i, 5100+i); !strings.Contains(out, want) {
			t.Errorf("trigger shop hello: want %s in\n%s", want, out)
		}
	}
	for _, in := range a.Instances {
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", in.PID))
		if !slices.Contains(strings.Split(string(cmdline), "\x00"), "--max-old-space-size=96") {
			t.Errorf("instance %d runs %q, want node_args", in.Index, cmdline)
		}
	}
	// merge_logs: one file for both instances, lines timestamped (time).
	line := regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\S*: tx2 app up on (5100|5101)$`)
	deadline := time.Now().Add(15 * time.Second)
	for {
		b, _ := os.ReadFile(filepath.Join(dir, "out.log"))
		if m := line.FindAllStringSubmatch(string(b), -1); len(m) == 2 && m[0][1] != m[1][1] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("out.log does not have both instances' lines, timestamped:\n%s", b)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, f := range []string{"out-0.log", "out-1.log"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			t.Errorf("%s exists: merge_logs should write one file", f)
		}
	}
	var described []api.App
	mustJSON(t, h.ok("describe", "shop", "--json"), &described)
	if s := described[0].Spec; s == nil || s.CronRestart != "0 3 * * *" || s.IncrementVar != "PORT" {
		t.Errorf("spec: %+v", s)
	}
}
