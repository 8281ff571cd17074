package spec

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in      any
		want    time.Duration
		wantErr string
	}{
		{float64(1600), 1600 * time.Millisecond, ""},
		{0.5, 500 * time.Microsecond, ""},
		{int(250), 250 * time.Millisecond, ""},
		{int64(2000), 2 * time.Second, ""},
		{uint64(10), 10 * time.Millisecond, ""},
		{json.Number("1500"), 1500 * time.Millisecond, ""},
		{"2s", 2 * time.Second, ""},
		{"1.5s", 1500 * time.Millisecond, ""},
		{"500ms", 500 * time.Millisecond, ""},
		{" 750 ", 750 * time.Millisecond, ""},
		{"1h2m", time.Hour + 2*time.Minute, ""},
		{"0", 0, ""},
		{"-1s", 0, "duration must not be negative"},
		{-5, 0, "duration must not be negative"},
		{"soon", 0, `"soon" is not a duration (use milliseconds, or a unit: 500ms, 2s, 1m)`},
		{json.Number("x"), 0, `want a duration (milliseconds, or a string such as "2s"), got number x`},
		{true, 0, `want a duration (milliseconds, or a string such as "2s"), got boolean true`},
		{[]any{}, 0, `want a duration (milliseconds, or a string such as "2s"), got a list`},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if msg := errString(err); msg != tt.wantErr || got != tt.want {
			t.Errorf("ParseDuration(%#v) = %v, %q; want %v, %q", tt.in, got, msg, tt.want, tt.wantErr)
		}
	}
}

// ParseDuration refuses what would overflow a time.Duration, whose
// conversion from float64 would give an arbitrary value.
func TestParseDurationOverflow(t *testing.T) {
	for _, in := range []any{1e300, json.Number("1e20"), "1e20", "NaN", "inf", int64(1) << 62, uint64(1) << 63} {
		if d, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%#v) = %v, want an error", in, d)
		}
	}
	if d, err := ParseDuration(9223372036854.0); err != nil || d <= 0 {
		t.Errorf("ParseDuration(longest) = %v, %v; want a long duration", d, err)
	}
}

func TestSplitArgs(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr string
	}{
		{"", nil, ""},
		{"   ", nil, ""},
		{"--port 3000", []string{"--port", "3000"}, ""},
		{"  a \t b\nc  ", []string{"a", "b", "c"}, ""},
		{`--greeting "hello world"`, []string{"--greeting", "hello world"}, ""},
		{`'a b' 'it''s'`, []string{"a b", "its"}, ""},
		{`"it's" 'say "hi"'`, []string{"it's", `say "hi"`}, ""},
		{`a\ b c\\d`, []string{"a b", `c\d`}, ""},
		{`"a\"b" "c\d" "\\" '\n'`, []string{`a"b`, `c\d`, `\`, `\n`}, ""},
		{`--x="a b"c`, []string{"--x=a bc"}, ""},
		{`'' ""`, []string{"", ""}, ""},
		{`$HOME *.js`, []string{"$HOME", "*.js"}, ""},
		{"héllo wörld", []string{"héllo", "wörld"}, ""},
		{`"open`, nil, `unterminated " quote; close it or use a list`},
		{`'open`, nil, `unterminated ' quote; close it or use a list`},
		{`trailing\`, nil, "ends with a lone backslash"},
	}
	for _, tt := range tests {
		got, err := splitArgs(tt.in)
		if msg := errString(err); msg != tt.wantErr || !slices.Equal(got, tt.want) {
			t.Errorf("splitArgs(%q) = %q, %q; want %q, %q", tt.in, got, msg, tt.want, tt.wantErr)
		}
	}
}

// kill_signal takes conf's one signal grammar: names in any case, with or
// without SIG, and numbers.
func TestKillSignal(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "app.js", "")
	tests := []struct{ in, want, wantErr string }{
		{"SIGTERM", "SIGTERM", ""},
		{"TERM", "SIGTERM", ""},
		{"sigterm", "SIGTERM", ""},
		{" int ", "SIGINT", ""},
		{"hup", "SIGHUP", ""},
		{"SIGUSR2", "SIGUSR2", ""},
		{"15", "SIGTERM", ""},
		{"SIGFOO", "", `kill_signal: unknown signal "SIGFOO"; use a name such as SIGINT or SIGTERM`},
		{"", "", `kill_signal: unknown signal ""; use a name such as SIGINT or SIGTERM`},
	}
	for _, tt := range tests {
		a, _, err := Decode(map[string]any{"script": "app.js", "kill_signal": tt.in}, DecodeOptions{BaseDir: dir})
		if msg := errString(err); a.KillSignal != tt.want || msg != tt.wantErr {
			t.Errorf("kill_signal %q = %q, %q; want %q, %q", tt.in, a.KillSignal, msg, tt.want, tt.wantErr)
		}
	}
}

// log_file takes a path, or PM2's true (the combined log under the logs
// directory) and false (none).
func TestLogFile(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "app.js", "")
	tests := []struct {
		in            any
		want, wantErr string
	}{
		{true, LogFileDefault, ""},
		{"true", LogFileDefault, ""},
		{false, "", ""},
		{"all.log", filepath.Join(dir, "all.log"), ""},
		{"", "", "log_file: must not be empty (use /dev/null to discard)"},
	}
	for _, tt := range tests {
		a, _, err := Decode(map[string]any{"script": "app.js", "log_file": tt.in}, DecodeOptions{BaseDir: dir})
		if msg := errString(err); a.LogFile != tt.want || msg != tt.wantErr {
			t.Errorf("log_file %#v = %q, %q; want %q, %q", tt.in, a.LogFile, msg, tt.want, tt.wantErr)
		}
	}
}

func TestInstances(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "app.js", "")
	tests := []struct {
		in      any
		want    int
		wantErr string
	}{
		{nil, 1, ""},
		{3, 3, ""},
		{int64(2), 2, ""},
		{2.0, 2, ""},
		{json.Number("5"), 5, ""},
		{"3", 3, ""},
		{"max", 4, ""},
		{0, 4, ""},
		{"0", 4, ""},
		{-2, 0, `instances: must be at least 1, or "max" or 0 (one per CPU), or -1 (one per CPU but one), got -2`},
		{"-1", 3, ""},
		{-1, 3, ""},
		{1_000_000_000, 0, `instances: 1000000000 is more than the 4096 instances an app may have (max_instances in daemon.yaml)`},
		{4096, 4096, ""},
		{4097, 0, `instances: 4097 is more than the 4096 instances an app may have (max_instances in daemon.yaml)`},
		{1.5, 0, `instances: want a number or "max", got number 1.5`},
		{"many", 0, `instances: want a number or "max", got string "many"`},
		{"MAX", 0, `instances: want a number or "max", got string "MAX"`},
		{true, 0, `instances: want a number or "max", got boolean true`},
		{uint64(1) << 63, 0, `instances: want a number or "max", got number 9223372036854775808`},
		{1e300, 0, `instances: want a number or "max", got number 1e+300`},
	}
	for _, tt := range tests {
		a, _, err := Decode(map[string]any{"script": "app.js", "instances": tt.in}, DecodeOptions{BaseDir: dir, NumCPU: 4})
		if msg := errString(err); a.Instances != tt.want || msg != tt.wantErr {
			t.Errorf("instances %#v: got %d, %q; want %d, %q", tt.in, a.Instances, msg, tt.want, tt.wantErr)
		}
	}
}

func TestDecode(t *testing.T) {
	dir := t.TempDir()
	script := write(t, dir, "app.js", "")
	write(t, dir, "my.worker.js", "")
	write(t, dir, "local-tool", "")
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	tool := write(t, bin, "mytool", "#!/bin/sh\n")
	write(t, bin, "local-tool", "#!/bin/sh\n")
	for _, p := range []string{tool, filepath.Join(bin, "local-tool")} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", bin)

	defaults := App{
		Name: "app", Namespace: "default", Script: script, Interpreter: "node", Cwd: dir,
		Instances: 1, Autorestart: true, MaxRestarts: 16,
		MinUptime: Duration(time.Second), KillTimeout: Duration(1600 * time.Millisecond), KillSignal: "SIGINT",
		Mode: ModeFork, ListenTimeout: Duration(DefaultListenTimeout), ReloadBatch: 1,
	}
	with := func(f func(a *App)) App {
		a := defaults
		f(&a)
		return a
	}
	inFile := DecodeOptions{File: "tend.yaml", Path: "apps[1]", BaseDir: dir, NumCPU: 4}
	api := DecodeOptions{NumCPU: 4}

	tests := []struct {
		name     string
		raw      map[string]any
		o        DecodeOptions
		want     App    // checked when wantErr is ""
		wantErr  string // the whole error text
		wantWarn []string
	}{
		{name: "defaults", raw: map[string]any{"script": "app.js"}, want: defaults},
		{name: "null is unset", raw: map[string]any{"script": "app.js", "port": nil, "env": nil, "name": nil}, want: defaults},
		{name: "name from script", raw: map[string]any{"script": "./my.worker.js"},
			want: with(func(a *App) { a.Name, a.Script = "my.worker", filepath.Join(dir, "my.worker.js") })},
		{name: "command on PATH", raw: map[string]any{"script": "mytool", "args": "serve --fast"},
			want: with(func(a *App) {
				a.Name, a.Script, a.Interpreter, a.Args = "mytool", tool, "none", []string{"serve", "--fast"}
			})},
		{name: "file next to the app wins over PATH", raw: map[string]any{"script": "local-tool"},
			want: with(func(a *App) { a.Name, a.Script, a.Interpreter = "local-tool", filepath.Join(dir, "local-tool"), "none" })},
		{name: "absolute script", raw: map[string]any{"script": dir + "//app.js", "interpreter": "none"},
			want: with(func(a *App) { a.Interpreter = "none" })},
		{name: "aliases", raw: map[string]any{"script": "app.js", "exec_interpreter": "/usr/bin/env", "node_args": []any{"node", 1}},
			want: with(func(a *App) { a.Interpreter, a.InterpreterArgs = "/usr/bin/env", []string{"node", "1"} })},
		{name: "env merged with the selected block",
			raw: map[string]any{"script": "app.js",
				"env":            map[string]any{"A": "1", "B": 2.0, "C": true, "D": json.Number("1.50")},
				"env_production": map[string]any{"A": "prod"},
				"env_staging":    "not even a mapping"},
			o:    DecodeOptions{BaseDir: dir, EnvName: "production"},
			want: with(func(a *App) { a.Env = map[string]string{"A": "prod", "B": "2", "C": "true", "D": "1.5"} })},
		{name: "empty lists are nil", raw: map[string]any{"script": "app.js", "args": "", "env": map[string]any{}, "stop_exit_codes": []any{}},
			want: defaults},
		{name: "single exit code", raw: map[string]any{"script": "app.js", "stop_exit_codes": 3, "port": "80"},
			want: with(func(a *App) { a.StopExitCodes, a.Port, a.Mode = []int{3}, 80, ModeProxy })},
		{name: "API with absolute paths", raw: map[string]any{"script": "app.js", "cwd": dir}, o: api, want: defaults},

		{name: "API needs a cwd", raw: map[string]any{"script": script}, o: api,
			wantErr: "cwd: required: the absolute directory to run the app in"},
		{name: "API refuses relative cwd", raw: map[string]any{"script": script, "cwd": "sub"}, o: api,
			wantErr: `cwd: "sub" is relative; give an absolute path`},
		{name: "messages name file and path", raw: map[string]any{"script": "app.js", "port": 0}, o: inFile,
			wantErr: "tend.yaml: apps[1].port: must be between 1 and 65535, got 0"},
		{name: "missing script", raw: map[string]any{"name": "x"},
			wantErr: "script: required: the file or command to run"},
		{name: "command not found", raw: map[string]any{"script": "nope"},
			wantErr: `script: "nope" not found (looked in ` + dir + ` and PATH)`},
		{name: "script is a directory", raw: map[string]any{"script": "./sub"},
			wantErr: "script: " + filepath.Join(dir, "sub") + " is not a regular file"},
		{name: "cwd is a file", raw: map[string]any{"script": "app.js", "cwd": "app.js"},
			wantErr: "cwd: " + script + " is not a directory"},
		{name: "bad names", raw: map[string]any{"script": "app.js", "name": "a b", "namespace": "x/y"},
			wantErr: "name: \"a b\" contains ' '; use letters, digits, '-', '_' or '.'\n" +
				"namespace: \"x/y\" contains '/'; use letters, digits, '-', '_' or '.'"},
		{name: "reserved name", raw: map[string]any{"script": "app.js", "name": "all"},
			wantErr: `name: "all" is reserved: it selects every app in commands`},
		{name: "digits name from script", raw: map[string]any{"script": "./42.js"},
			wantErr: "script: file " + filepath.Join(dir, "42.js") + " does not exist\n" +
				`name: "42" is all digits, which commands read as an app id; add a letter (taken from script "./42.js"); set name`},
		{name: "dot name", raw: map[string]any{"script": "app.js", "name": ".."},
			wantErr: `name: ".." cannot be used as a name`},
		{name: "both aliases", raw: map[string]any{"script": "app.js", "interpreter": "node", "exec_interpreter": "node"},
			wantErr: "exec_interpreter: exec_interpreter is another name for interpreter; set only one of them"},
		{name: "missing interpreter file", raw: map[string]any{"script": "app.js", "interpreter": "./venv/bin/python"},
			wantErr: "interpreter: file " + filepath.Join(dir, "venv/bin/python") + " does not exist"},
		{name: "bad env", raw: map[string]any{"script": "app.js", "env": map[string]any{"A=B": "1", "N": nil, "Z": "a\x00b"}},
			wantErr: "env.A=B: \"A=B\" cannot name an environment variable\n" +
				"env.N: want a string, number or boolean, got null\n" +
				"env.Z: value cannot contain NUL bytes"},
		{name: "env must be a mapping", raw: map[string]any{"script": "app.js", "env": []any{"A=1"}},
			wantErr: "env: want a mapping of variable names to values, got a list"},
		{name: "bad args", raw: map[string]any{"script": "app.js", "args": []any{"a", []any{}}, "interpreter_args": 3},
			wantErr: "args[1]: want a string, got a list\n" +
				"interpreter_args: want a list of strings or a string, got number 3"},
		{name: "negative numbers", raw: map[string]any{"script": "app.js", "max_restarts": -1, "restart_delay": "-1s"},
			wantErr: "max_restarts: must not be negative, got -1\nrestart_delay: duration must not be negative"},
		{name: "overflowing duration", raw: map[string]any{"script": "app.js", "kill_timeout": 1e300},
			wantErr: "kill_timeout: 1e+300 milliseconds is out of range"},

		{name: "warnings", raw: map[string]any{"script": "app.js", "watch_options": map[string]any{}, "exec_mode": "cluster", "vizion": []any{}, "scirpt": "x", "env_dev": map[string]any{}},
			o: inFile, want: defaults,
			wantWarn: []string{
				"tend.yaml: apps[1].scirpt: unknown key (did you mean script?); ignored",
				"tend.yaml: apps[1].vizion: not supported by this version of tend; ignored",
				"tend.yaml: apps[1].watch_options: not supported by this version of tend; ignored",
			}},
		{name: "cluster without a port, not Node", raw: map[string]any{"script": "app.js", "interpreter": "python3", "exec_mode": "cluster"},
			o: inFile, want: with(func(a *App) { a.Interpreter = "python3" }),
			wantWarn: []string{
				"tend.yaml: apps[1].exec_mode: cluster mode without a port shares the ports a Node app listens on, and this app is not one: " +
					"set port (the edge balances over the instances) and mode: socket if they must share one socket; running in fork mode",
			}},
		{name: "PM2 defaults are silent", raw: map[string]any{"script": "app.js", "watch": false, "exec_mode": "fork_mode", "autostart": true},
			want: defaults},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.o
			if o == (DecodeOptions{}) {
				o = DecodeOptions{BaseDir: dir, NumCPU: 4}
			}
			a, warns, err := Decode(tt.raw, o)
			if got := errString(err); got != tt.wantErr {
				t.Fatalf("error:\n%s\nwant:\n%s", got, tt.wantErr)
			}
			if err == nil && !reflect.DeepEqual(a, tt.want) {
				t.Errorf("got  %+v\nwant %+v", a, tt.want)
			}
			var got []string
			for _, w := range warns {
				got = append(got, w.String())
			}
			if !slices.Equal(got, tt.wantWarn) {
				t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.wantWarn, "\n"))
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// The checks that touch the file system run where paths are resolved (the
// CLI); the daemon decodes the absolute paths it gets without them.
func TestSkipFileChecks(t *testing.T) {
	dir := t.TempDir()
	gone := filepath.Join(dir, "gone")
	raw := map[string]any{"script": filepath.Join(gone, "app.js"), "cwd": gone, "interpreter": filepath.Join(gone, "node")}
	_, _, err := Decode(raw, DecodeOptions{})
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("with checks: %v, want the missing files named", err)
	}
	a, _, err := Decode(raw, DecodeOptions{SkipFileChecks: true})
	if err != nil {
		t.Fatalf("without checks: %v", err)
	}
	if a.Script != filepath.Join(gone, "app.js") || a.Cwd != gone || a.Interpreter != filepath.Join(gone, "node") {
		t.Errorf("paths: script %s, cwd %s, interpreter %s", a.Script, a.Cwd, a.Interpreter)
	}
}

// Elsewhere: the paths are another host's. Nothing here is looked at: a
// relative script stays as given (that host's daemon finds it from cwd),
// even one that exists here or is a command on this PATH; cwd must be
// absolute, whatever the base directory.
func TestElsewhereResolvesNothingHere(t *testing.T) {
	here := t.TempDir()
	if err := os.WriteFile(filepath.Join(here, "server.js"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, script := range []string{"server.js", "sh", "bin/www"} {
		a, _, err := Decode(map[string]any{"script": script, "cwd": "/srv/nowhere"}, DecodeOptions{BaseDir: here, Elsewhere: true})
		if err != nil {
			t.Errorf("%s: %v", script, err)
			continue
		}
		if a.Script != script || a.Cwd != "/srv/nowhere" {
			t.Errorf("%s: script %q, cwd %q; want them as given", script, a.Script, a.Cwd)
		}
	}
	for raw, want := range map[string]map[string]any{
		"cwd: \"app\" is relative; give an absolute path on the daemon's host": {"script": "server.js", "cwd": "app"},
		"cwd: required: the absolute directory on the daemon's host":           {"script": "server.js"},
	} {
		if _, _, err := Decode(want, DecodeOptions{BaseDir: here, Elsewhere: true}); err == nil || !strings.Contains(err.Error(), raw) {
			t.Errorf("%v: %v, want %q", want, err, raw)
		}
	}
	// Without it, the same relative script is this directory's file.
	a, _, err := Decode(map[string]any{"script": "server.js"}, DecodeOptions{BaseDir: here})
	if err != nil || a.Script != filepath.Join(here, "server.js") {
		t.Errorf("here: %q, %v", a.Script, err)
	}
}

// Far more instances than CPUs is allowed, with a warning; the ceiling
// follows the daemon's max_instances, autoscale.max included.
func TestInstancesWarningAndCeiling(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "app.js", "")
	_, warns, err := Decode(map[string]any{"script": "app.js", "instances": 9}, DecodeOptions{BaseDir: dir, NumCPU: 2})
	if err != nil || len(warns) != 1 || warns[0].String() != "instances: 9 instances on 2 CPUs: more than 4 per CPU mostly adds memory and context switches" {
		t.Errorf("9 instances on 2 CPUs: %v, %v", warns, err)
	}
	o := DecodeOptions{BaseDir: dir, NumCPU: 2, MaxInstances: 8}
	_, _, err = Decode(map[string]any{"script": "app.js", "instances": 9}, o)
	if msg := errString(err); msg != "instances: 9 is more than the 8 instances an app may have (max_instances in daemon.yaml)" {
		t.Errorf("9 instances, ceiling 8: %q", msg)
	}
	_, _, err = Decode(map[string]any{"script": "app.js", "autoscale": map[string]any{"min": 1, "max": 9, "target_cpu": 50}}, o)
	if msg := errString(err); msg != "autoscale.max: 9 is more than the 8 instances an app may have (max_instances in daemon.yaml)" {
		t.Errorf("autoscale.max 9, ceiling 8: %q", msg)
	}
}

// A script without an extension whose #! line runs node is a Node app
// (Express's bin/www); other #! lines and plain binaries run as they are.
func TestInterpreterFromShebang(t *testing.T) {
	dir := t.TempDir()
	for name, first := range map[string]string{
		"www":     "#!/usr/bin/env node\n",
		"www-s":   "#!/usr/bin/env -S node --max-old-space-size=512\n",
		"www-abs": "#!/usr/local/bin/node\n",
		"www-js":  "#!/usr/bin/nodejs\n",
		"tool":    "#!/usr/bin/env python3\n",
		"binary":  "\x7fELF\x02\x01",
		"empty":   "",
	} {
		write(t, dir, name, first+"console.log(1)\n")
	}
	for name, want := range map[string]string{
		"www": "node", "www-s": "node", "www-abs": "node", "www-js": "node",
		"tool": InterpreterNone, "binary": InterpreterNone, "empty": InterpreterNone,
	} {
		a, _, err := Decode(map[string]any{"script": "./" + name}, DecodeOptions{BaseDir: dir})
		if err != nil || a.Interpreter != want {
			t.Errorf("%s: interpreter %q, %v; want %q", name, a.Interpreter, err, want)
		}
	}
}

func TestProfileOnStall(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "app.js", "")
	o := DecodeOptions{BaseDir: dir, NumCPU: 2}
	decode := func(v any) (App, string) {
		a, _, err := Decode(map[string]any{"script": "app.js", "profile_on_stall": v, "heap_snapshot_on_memory_limit": true}, o)
		return a, errString(err)
	}
	a, msg := decode(true)
	if msg != "" || a.ProfileOnStall == nil || a.ProfileOnStall.Threshold.D() != DefaultStallThreshold || a.ProfileOnStall.Duration.D() != DefaultStallDuration || a.ProfileOnStall.MaxPerHour != DefaultStallMaxPerHour || !a.HeapSnapshotOnMemoryLimit {
		t.Errorf("profile_on_stall: true: %+v %q", a.ProfileOnStall, msg)
	}
	a, msg = decode(map[string]any{"threshold": "300ms", "max_per_hour": 1})
	if msg != "" || a.ProfileOnStall.Threshold.D() != 300*time.Millisecond || a.ProfileOnStall.MaxPerHour != 1 || a.ProfileOnStall.Duration.D() != DefaultStallDuration {
		t.Errorf("a block: %+v %q", a.ProfileOnStall, msg)
	}
	if a, msg = decode(false); msg != "" || a.ProfileOnStall != nil {
		t.Errorf("false: %+v %q", a.ProfileOnStall, msg)
	}
	for v, want := range map[string]string{
		"1ms":  "profile_on_stall.threshold: 1ms is below 10ms: a loop that late is not a stall",
		"dur":  "profile_on_stall.duration: 11m0s: want more than 0 and at most 10m0s",
		"max":  "profile_on_stall.max_per_hour: must be between 1 and 60, got 61",
		"list": "profile_on_stall: want a mapping such as {threshold: 200ms, duration: 5s, max_per_hour: 3}, got a list",
	} {
		in := map[string]any{"1ms": map[string]any{"threshold": "1ms"}, "dur": map[string]any{"duration": "11m"}, "max": map[string]any{"max_per_hour": 61}, "list": []any{1}}[v]
		if _, msg := decode(in); msg != want {
			t.Errorf("%v: %q, want %q", in, msg, want)
		}
	}
}
