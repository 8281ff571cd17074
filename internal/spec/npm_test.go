package spec

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// `npm start` and `npm run <x>` become the Node file package.json's script
// runs, with node's options, the file's arguments and the variables the
// line sets; anything a shell or another program must run stays npm's.
func TestNpmScript(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "package.json", `{"scripts": {
		"start": "node ./bin/www",
		"opts": "NODE_OPTIONS=--enable-source-maps PORT_NAME=web node --max-old-space-size=512 -r dotenv/config bin/www --flag",
		"shebang": "./bin/www serve",
		"noshebang": "./bin/plain",
		"chain": "node bin/www && echo done",
		"quoted": "node 'bin/www'",
		"eval": "node -e 'x'",
		"tool": "nodemon bin/www",
		"missing": "node bin/none.js",
		"repl": "node --inspect"
	}}`)
	if err := os.Mkdir(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	www := write(t, dir, "bin/www", "#!/usr/bin/env node\n")
	write(t, dir, "bin/plain", "#!/bin/sh\n")
	for _, c := range []struct {
		args               []string
		file               string // "" when npm keeps the command
		nodeArgs, fileArgs []string
		env                map[string]string
		from               string
	}{
		{args: []string{"start"}, file: www, from: "npm start: node ./bin/www"},
		{args: []string{"start", "--", "-x", "y"}, file: www, fileArgs: []string{"-x", "y"}},
		{args: []string{"run", "opts"}, file: www, nodeArgs: []string{"--max-old-space-size=512", "-r", "dotenv/config"},
			fileArgs: []string{"--flag"}, env: map[string]string{"NODE_OPTIONS": "--enable-source-maps", "PORT_NAME": "web"}},
		{args: []string{"run-script", "shebang"}, file: www, fileArgs: []string{"serve"}, from: "npm run shebang: ./bin/www serve"},
		{args: []string{"run", "noshebang"}},
		{args: []string{"run", "chain"}},
		{args: []string{"run", "quoted"}},
		{args: []string{"run", "eval"}},
		{args: []string{"run", "tool"}},
		{args: []string{"run", "missing"}},
		{args: []string{"run", "repl"}},
		{args: []string{"run", "nosuch"}},
		{args: []string{"start", "--silent"}}, // an npm option: npm's to honour
		{args: []string{"install"}},
		{args: []string{"run"}},
	} {
		s, ok := resolveNpm(dir, c.args)
		name := strings.Join(c.args, " ")
		if ok != (c.file != "") {
			t.Errorf("npm %s: resolved %v (%+v), want %v", name, ok, s, c.file != "")
			continue
		}
		if !ok {
			continue
		}
		if s.file != c.file || !slices.Equal(s.nodeArgs, c.nodeArgs) || !slices.Equal(s.args, c.fileArgs) || len(s.env) != len(c.env) {
			t.Errorf("npm %s: %+v", name, s)
		}
		for k, v := range c.env {
			if s.env[k] != v {
				t.Errorf("npm %s: env %s = %q, want %q", name, k, s.env[k], v)
			}
		}
		if c.from != "" && s.command+": "+s.line != c.from {
			t.Errorf("npm %s: from %q, want %q", name, s.command+": "+s.line, c.from)
		}
	}

	// Without a start script, npm start runs server.js when there is one.
	bare := t.TempDir()
	write(t, bare, "package.json", `{"name": "x"}`)
	if _, ok := resolveNpm(bare, []string{"start"}); ok {
		t.Error("npm start without a start script or server.js resolved")
	}
	server := write(t, bare, "server.js", "")
	if s, ok := resolveNpm(bare, []string{"start"}); !ok || s.file != server {
		t.Errorf("npm start with server.js: %+v, %v", s, ok)
	}
	// A package.json beyond the ceiling is not read.
	big := t.TempDir()
	write(t, big, "package.json", `{"scripts": {"start": "node app.js"}, "pad": "`+strings.Repeat("x", maxPackageJSON)+`"}`)
	write(t, big, "app.js", "")
	if _, ok := resolveNpm(big, []string{"start"}); ok {
		t.Error("a package.json over the ceiling was read")
	}
}

// Decoding `script: npm` applies the resolution: node, the file, the
// app's own interpreter_args and env after and over the script's, and a
// warning that says what ran; npm with a script it must run stays plain.
func TestDecodeNpm(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "package.json", `{"scripts": {"start": "NODE_ENV=staging LEVEL=1 node --trace-warnings app.js", "lint": "eslint ."}}`)
	app := write(t, dir, "app.js", "")
	bin := t.TempDir()
	npm := write(t, bin, "npm", "#!/usr/bin/env node\n")
	if err := os.Chmod(npm, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin)
	a, warns, err := Decode(map[string]any{"script": "npm", "args": "start", "interpreter_args": "--inspect", "env": map[string]any{"LEVEL": "2"}},
		DecodeOptions{BaseDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if a.Script != app || a.Interpreter != "node" || a.Args != nil || !slices.Equal(a.InterpreterArgs, []string{"--trace-warnings", "--inspect"}) ||
		a.Env["NODE_ENV"] != "staging" || a.Env["LEVEL"] != "2" || a.ResolvedFrom != "npm start: NODE_ENV=staging LEVEL=1 node --trace-warnings app.js" || a.Name != "npm" {
		t.Errorf("npm start: %+v", a)
	}
	if len(warns) != 1 || !strings.HasPrefix(warns[0].String(), `script: npm start runs "NODE_ENV=staging LEVEL=1 node --trace-warnings app.js" (package.json): tend runs app.js under node itself`) {
		t.Errorf("warnings %v", warns)
	}
	// What the CLI sends the daemon decodes to the same app, with no warning.
	b, err := json.Marshal([]App{a})
	if err != nil {
		t.Fatal(err)
	}
	again, warns, err := DecodeJSON(b, DecodeOptions{SkipFileChecks: true})
	if err != nil || len(warns) != 0 || len(again) != 1 || again[0].ResolvedFrom != a.ResolvedFrom || again[0].Script != app {
		t.Errorf("round trip: %+v, %v, %v", again, warns, err)
	}

	a, warns, err = Decode(map[string]any{"script": "npm", "args": "run lint"}, DecodeOptions{BaseDir: dir})
	if err != nil || a.Script != npm || a.Interpreter != InterpreterNone || len(warns) != 0 {
		t.Errorf("npm run lint: %+v, %v, %v", a, warns, err)
	}
	// interpreter: none keeps npm even where the script would resolve.
	a, _, err = Decode(map[string]any{"script": "npm", "args": "start", "interpreter": "none"}, DecodeOptions{BaseDir: dir})
	if err != nil || a.Script != npm || a.Interpreter != InterpreterNone || a.ResolvedFrom != "" {
		t.Errorf("npm start with interpreter none: %+v, %v", a, err)
	}
}
