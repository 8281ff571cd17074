package spec

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/tendhq/tend/internal/conf"
)

// The keys that name files and directories: cwd, script, interpreter.
// Resolving them may touch the file system (a bare script name is a file
// next to the app or a command on PATH); checking that what they name
// exists always does, and is left out with SkipFileChecks.

// setCwd sets Cwd from the cwd key, relative to BaseDir.
func setCwd(d *conf.Decoder, key string, v any, t *target) {
	s, err := conf.String(v)
	switch {
	case err != nil:
		d.Errorf(key, "%v", err)
		return
	case s == "":
		d.Errorf(key, "must not be empty")
		return
	case filepath.IsAbs(s):
		t.Cwd = filepath.Clean(s)
	case t.o.Elsewhere:
		d.Errorf(key, "%q is relative; give an absolute path on the daemon's host", s)
		return
	case t.o.BaseDir == "":
		d.Errorf(key, "%q is relative; give an absolute path", s)
		return
	default:
		t.Cwd = filepath.Join(t.o.BaseDir, s)
	}
	checkCwd(d, t)
}

// defaultCwd is BaseDir: the directory of the file, or the caller's.
func defaultCwd(d *conf.Decoder, t *target) {
	if t.o.Elsewhere {
		d.Errorf("cwd", "required: the absolute directory on the daemon's host to run the app in")
		return
	}
	if t.o.BaseDir == "" {
		d.Errorf("cwd", "required: the absolute directory to run the app in")
		return
	}
	t.Cwd = t.o.BaseDir
	checkCwd(d, t)
}

func checkCwd(d *conf.Decoder, t *target) {
	if t.o.SkipFileChecks {
		t.cwdOK = true
		return
	}
	fi, err := os.Stat(t.Cwd)
	switch {
	case err != nil:
		d.Errorf("cwd", "directory %s does not exist", t.Cwd)
	case !fi.IsDir():
		d.Errorf("cwd", "%s is not a directory", t.Cwd)
	default:
		t.cwdOK = true
	}
}

// setScript sets Script: a file (a name with a slash, or a file next to
// the app) made absolute, or a command found on PATH, as a shell would.
func setScript(d *conf.Decoder, key string, v any, t *target) {
	s, err := conf.String(v)
	if err != nil {
		d.Errorf(key, "%v", err)
		return
	}
	if s == "" {
		d.Errorf(key, "must not be empty")
		return
	}
	t.Script, t.given = s, s
	if !t.cwdOK && !filepath.IsAbs(s) {
		return
	}
	local := filepath.Join(t.Cwd, s)
	if filepath.IsAbs(s) {
		local = filepath.Clean(s)
	}
	if t.o.SkipFileChecks && filepath.IsAbs(s) {
		t.Script = local
		return
	}
	if t.o.Elsewhere {
		return // found from cwd by the daemon of that host
	}
	fi, err := os.Stat(local)
	if strings.Contains(s, "/") || (err == nil && !fi.IsDir()) {
		t.Script = local
		switch {
		case t.o.SkipFileChecks:
		case errors.Is(err, fs.ErrNotExist):
			d.Errorf(key, "file %s does not exist", local)
		case err != nil:
			d.Errorf(key, "%v", err)
		case !fi.Mode().IsRegular():
			d.Errorf(key, "%s is not a regular file", local)
		}
		return
	}
	p, err := exec.LookPath(s)
	if err == nil {
		p, err = filepath.Abs(p)
	}
	if err != nil {
		d.Errorf(key, "%q not found (looked in %s and PATH)", s, t.Cwd)
		return
	}
	t.Script = p
}

// defaultInterpreter picks the interpreter by the script's extension or,
// for a file without one, by its #! line: Express's generator lays an app
// out as bin/www, "#!/usr/bin/env node", and it must get what Node apps get
// (NODE_ENV, the IPC channel, socket mode's preload). So must `npm start`
// when package.json's script runs a Node file (see npm.go).
func defaultInterpreter(d *conf.Decoder, t *target) {
	switch strings.ToLower(filepath.Ext(t.Script)) {
	case ".js", ".mjs", ".cjs":
		t.Interpreter = "node"
	case ".py":
		t.Interpreter = "python3"
	case ".sh":
		t.Interpreter = "bash"
	default:
		t.Interpreter = InterpreterNone
		switch {
		case t.o.SkipFileChecks:
		case isNpm(t.Script):
			// npm is a Node program, but not the one that serves: it runs
			// plainly unless its script resolves to a Node file (npm.go).
			if s, ok := resolveNpm(t.Cwd, t.Args); ok && t.cwdOK {
				applyNpm(d, t, s)
			}
		case shebangIsNode(t.Script):
			t.Interpreter = "node"
		}
	}
}

// shebangIsNode says the file at path starts with a #! line that runs node
// ("#!/usr/bin/env node", "#!/usr/bin/env -S node --flag",
// "#!/usr/local/bin/node", "#!/usr/bin/nodejs").
func shebangIsNode(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var buf [256]byte
	n, _ := io.ReadFull(f, buf[:])
	line, _, _ := strings.Cut(string(buf[:n]), "\n")
	rest, ok := strings.CutPrefix(line, "#!")
	if !ok {
		return false
	}
	words := strings.Fields(rest)
	if len(words) > 0 && filepath.Base(words[0]) == "env" {
		words = words[1:]
		for len(words) > 0 && strings.HasPrefix(words[0], "-") {
			words = words[1:] // env's own options, such as -S
		}
	}
	if len(words) == 0 {
		return false
	}
	base := filepath.Base(words[0])
	return base == "node" || base == "nodejs"
}

// setInterpreter sets Interpreter: a command looked up on PATH when the
// app starts, or a path, relative to the app's cwd.
func setInterpreter(d *conf.Decoder, key string, v any, t *target) {
	s, err := conf.String(v)
	if err != nil {
		d.Errorf(key, "%v", err)
		return
	}
	t.Interpreter = s
	switch {
	case s == "":
		d.Errorf(key, "must not be empty (use %q to run the script directly)", InterpreterNone)
	case !strings.Contains(s, "/"):
		// A command name, looked up on PATH when the app starts.
	case !filepath.IsAbs(s) && !t.cwdOK:
		// Relative to a cwd that is already reported as wrong.
	default:
		if !filepath.IsAbs(s) {
			s = filepath.Join(t.Cwd, s)
		}
		t.Interpreter = filepath.Clean(s)
		if t.o.SkipFileChecks {
			return
		}
		if fi, err := os.Stat(t.Interpreter); err != nil || fi.IsDir() {
			d.Errorf(key, "file %s does not exist", t.Interpreter)
		}
	}
}
