package cli

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/tendhq/tend/internal/spec"
)

// startApp builds the app `tend start <script> args...` would send, as
// start does: flags parsed by cobra, the app decoded by spec.
func startApp(t *testing.T, script string, args ...string) (spec.App, error) {
	t.Helper()
	cmd := &cobra.Command{Use: "start"}
	o := addStartFlags(cmd)
	if err := cmd.ParseFlags(bareLog(append([]string{"start"}, args...))[1:]); err != nil {
		return spec.App{}, err
	}
	apps, _, err := o.apps(cmd, []string{script})
	if err != nil {
		return spec.App{}, err
	}
	return apps[0], nil
}

func fixtureScript(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// The flags PM2 users type: each sets its ecosystem key.
func TestStartTakesPM2Flags(t *testing.T) {
	js := fixtureScript(t, "app.js", "setInterval(() => {}, 1000)\n")
	dir := filepath.Dir(js)
	for _, tc := range []struct {
		args  []string
		check func(a spec.App) bool
	}{
		{[]string{"--cron", "0 3 * * *"}, func(a spec.App) bool { return a.CronRestart == "0 3 * * *" }},
		{[]string{"--cron-restart", "*/5 * * * *"}, func(a spec.App) bool { return a.CronRestart == "*/5 * * * *" }},
		{[]string{"--time"}, func(a spec.App) bool { return a.Time && a.LogDateFormat == "" }},
		{[]string{"--log-date-format", "YYYY-MM-DD HH:mm Z"}, func(a spec.App) bool { return a.Time && a.LogDateFormat == "YYYY-MM-DD HH:mm Z" }},
		{[]string{"--merge-logs", "-i", "2"}, func(a spec.App) bool { return a.MergeLogs && a.Instances == 2 }},
		{[]string{"--node-args", "--max-old-space-size=128 --trace-warnings"}, func(a spec.App) bool {
			return slices.Equal(a.InterpreterArgs, []string{"--max-old-space-size=128", "--trace-warnings"})
		}},
		{[]string{"-o", "out.log", "-e", "/tmp/err.log", "-l", "all.log"}, func(a spec.App) bool {
			return a.OutFile == filepath.Join(dir, "out.log") && a.ErrorFile == "/tmp/err.log" && a.LogFile == filepath.Join(dir, "all.log")
		}},
		{[]string{"--output", "/dev/null", "--error", "/dev/null", "--log", "/tmp/both.log"}, func(a spec.App) bool {
			return a.OutFile == os.DevNull && a.ErrorFile == os.DevNull && a.LogFile == "/tmp/both.log"
		}},
		// PM2's bare -l: the combined log under the logs directory.
		{[]string{"-l"}, func(a spec.App) bool { return a.LogFile == spec.LogFileDefault }},
		{[]string{"--log", "--time"}, func(a spec.App) bool { return a.LogFile == spec.LogFileDefault && a.Time }},
		{[]string{"--instance-var", "INSTANCE_ID"}, func(a spec.App) bool { return a.InstanceVar == "INSTANCE_ID" }},
		{[]string{"--instance-var", "NODE_APP_INSTANCE"}, func(a spec.App) bool { return a.InstanceVar == "" }},
		{[]string{"--shutdown-with-message"}, func(a spec.App) bool { return a.ShutdownWithMessage }},
		{[]string{"--source-map-support"}, func(a spec.App) bool { return a.SourceMapSupport }},
		{[]string{}, func(a spec.App) bool {
			return !a.ShutdownWithMessage && !a.SourceMapSupport && !a.Time && !a.MergeLogs && a.InstanceVar == ""
		}},
	} {
		// Relative log paths are the app's cwd's, as in a file.
		t.Chdir(dir)
		a, err := startApp(t, js, tc.args...)
		if err != nil {
			t.Errorf("start %v: %v", tc.args, err)
			continue
		}
		if !tc.check(a) {
			t.Errorf("start %v: got %+v", tc.args, a)
		}
	}
}

// PM2's bare -l gets its value; -l PATH, and a -l among the app's own
// arguments, stay as they are.
func TestBareLog(t *testing.T) {
	for _, tc := range []struct{ in, want []string }{
		{[]string{"start", "app.js", "-l"}, []string{"start", "app.js", "--log=true"}},
		{[]string{"--home", "/h", "run", "-l", "--time", "app.js"}, []string{"--home", "/h", "run", "--log=true", "--time", "app.js"}},
		{[]string{"start", "app.js", "-l", "all.log"}, []string{"start", "app.js", "-l", "all.log"}},
		{[]string{"start", "app.js", "--", "-l"}, []string{"start", "app.js", "--", "-l"}},
		{[]string{"logs", "-l"}, []string{"logs", "-l"}},
	} {
		if got := bareLog(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("bareLog(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// Bad values are refused with the flag named and the reason; nothing is
// started.
func TestStartRefusesBadPM2Flags(t *testing.T) {
	js := fixtureScript(t, "app.js", "setInterval(() => {}, 1000)\n")
	sh := fixtureScript(t, "job.sh", "#!/bin/sh\nsleep 1000\n")
	eco := fixtureScript(t, "ecosystem.config.js", "module.exports = {apps: [{name: 'a', script: 'app.js'}]}\n")
	for _, tc := range []struct {
		script string
		args   []string
		want   []string
	}{
		{js, []string{"--cron", "0 3 * *"}, []string{"--cron:", "want 5 fields"}},
		{js, []string{"--cron", "0 3 * * *", "--cron-restart", "0 4 * * *"}, []string{"--cron-restart and --cron are the same setting (cron_restart): give one"}},
		{js, []string{"--node-args", "--a", "--interpreter-args", "--b"}, []string{"the same setting (interpreter_args)"}},
		{js, []string{"--log-date-format", "YYYY-MM-DD [unclosed"}, []string{"--log-date-format:"}},
		{js, []string{"--instance-var", "1ID"}, []string{"--instance-var:", "not a variable name"}},
		{js, []string{"--instance-var", "PORT"}, []string{"--instance-var:", "set by tend"}},
		{js, []string{"--instance-var", strings.Repeat("X", 129)}, []string{"--instance-var:", "1 to 128"}},
		{js, []string{"-o", ""}, []string{"--output:", "must not be empty"}},
		{sh, []string{"--shutdown-with-message"}, []string{"--shutdown-with-message:", "needs a Node.js app"}},
		{sh, []string{"--source-map-support"}, []string{"--source-map-support:", "needs a Node.js app"}},
		{eco, []string{"--merge-logs"}, []string{"--merge-logs cannot be combined with an ecosystem file: set merge_logs"}},
		{eco, []string{"--node-args", "--x"}, []string{"--node-args cannot be combined with an ecosystem file: set interpreter_args"}},
	} {
		t.Chdir(filepath.Dir(tc.script))
		_, err := startApp(t, tc.script, tc.args...)
		if err == nil {
			t.Errorf("start %s %v: no error", filepath.Base(tc.script), tc.args)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("start %s %v: %v, want it to say %q", filepath.Base(tc.script), tc.args, err, w)
			}
		}
	}
}
