package spec

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/tendhq/tend/internal/conf"
)

// An app started as `npm start` or `npm run <x>` (PM2 users write
// `script: npm, args: start`) runs whatever package.json's script says.
// When that is a Node file ("node ./bin/www", or "./bin/www" whose #! line
// runs node), tend runs the file under node itself, so that every Node-only
// feature applies to the process that serves: NODE_ENV's default, the IPC
// channel (wait_ready), socket mode's preload. Under npm these reach npm,
// not its child. Any other script (a shell line, another program) runs
// under npm as a plain process.

// maxPackageJSON bounds the package.json read: far above any real one.
const maxPackageJSON = 1 << 20

// npmScript is what an npm command line resolved to.
type npmScript struct {
	command        string            // "npm start", "npm run serve"
	line           string            // the package.json script, as written
	file           string            // the Node file, absolute
	nodeArgs, args []string          // node's options, then the file's arguments
	env            map[string]string // VAR=value assignments leading the line
}

// isNpm says the script is npm itself.
func isNpm(script string) bool { return filepath.Base(script) == "npm" }

// resolveNpm resolves `npm start`/`npm run <x>` in cwd to the Node file the
// package.json script runs; ok is false when it runs something else, which
// npm must then run. Arguments after "--" go to the script, as npm passes
// them; any other npm option leaves the command to npm.
func resolveNpm(cwd string, args []string) (s npmScript, ok bool) {
	var name string
	switch {
	case len(args) >= 1 && args[0] == "start":
		name, args = "start", args[1:]
	case len(args) >= 2 && (args[0] == "run" || args[0] == "run-script"):
		name, args = args[1], args[2:]
	default:
		return s, false
	}
	s.command = "npm run " + name
	if name == "start" {
		s.command = "npm start"
	}
	var extra []string
	if len(args) > 0 {
		if args[0] != "--" {
			return s, false
		}
		extra = args[1:]
	}
	line, ok := packageScript(cwd, name)
	if !ok {
		return s, false
	}
	s.line = line
	words, ok := plainWords(line)
	if !ok {
		return s, false
	}
	for len(words) > 0 && envAssignment().MatchString(words[0]) {
		k, v, _ := strings.Cut(words[0], "=")
		if s.env == nil {
			s.env = map[string]string{}
		}
		s.env[k] = v
		words = words[1:]
	}
	if len(words) == 0 {
		return s, false
	}
	if cmd := words[0]; cmd == "node" || cmd == "nodejs" {
		words = words[1:]
	opts:
		for len(words) > 0 && strings.HasPrefix(words[0], "-") {
			opt := words[0]
			words = words[1:]
			switch {
			case opt == "--":
				break opts
			case nodeCodeOpts[opt]:
				return s, false // code from the command line, not a file
			case nodeValueOpts[opt]:
				if len(words) == 0 {
					return s, false
				}
				s.nodeArgs = append(s.nodeArgs, opt, words[0])
				words = words[1:]
			default:
				s.nodeArgs = append(s.nodeArgs, opt)
			}
		}
		if len(words) == 0 {
			return s, false // the REPL
		}
		s.file = inDir(cwd, words[0])
		if !isFile(s.file) {
			return s, false
		}
	} else {
		s.file = inDir(cwd, cmd)
		if !strings.Contains(cmd, "/") || !isFile(s.file) || !shebangIsNode(s.file) {
			return s, false
		}
	}
	if args := append(words[1:], extra...); len(args) > 0 {
		s.args = args
	}
	return s, true
}

// envAssignment is a shell's VAR=value prefix of a command.
var envAssignment = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`) })

// Node's options that take the next word as their value, and those that
// run code given on the command line (or no code at all).
var (
	nodeValueOpts = keySet(`-r --require --import --loader --experimental-loader -C --conditions
		--env-file --title --input-type --inspect-port --stack-trace-limit`)
	nodeCodeOpts = keySet(`-e --eval -p --print -i --interactive -c --check --test --run -v --version -h --help`)
)

// plainWords splits a package.json script into words when it is one simple
// command: no shell operators, expansions, globs or quotes, whose meaning
// only a shell has.
func plainWords(line string) ([]string, bool) {
	if strings.ContainsAny(line, "&|;<>()$`\\\"'*?[]{}~#!\n") {
		return nil, false
	}
	w := strings.Fields(line)
	return w, len(w) > 0
}

// packageScript returns scripts.<name> of cwd/package.json. A start script
// npm does not find defaults to "node server.js" when server.js exists, as
// npm does.
func packageScript(cwd, name string) (string, bool) {
	pkg, ok := ReadPackageJSON(cwd)
	if !ok {
		return "", false
	}
	if line, ok := pkg.Scripts[name].(string); ok {
		return line, true
	}
	if _, ok := pkg.Scripts[name]; !ok && name == "start" && isFile(filepath.Join(cwd, "server.js")) {
		return "node server.js", true
	}
	return "", false
}

// PackageJSON is what tend reads of a package.json.
type PackageJSON struct {
	Main    string         `json:"main"`
	Scripts map[string]any `json:"scripts"`
}

// ReadPackageJSON reads dir's package.json, at most maxPackageJSON bytes of
// it; false when there is none, or none tend can read.
func ReadPackageJSON(dir string) (PackageJSON, bool) {
	var pkg PackageJSON
	f, err := os.Open(filepath.Join(dir, "package.json"))
	if err != nil {
		return pkg, false
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxPackageJSON+1))
	if err != nil || len(b) > maxPackageJSON || json.Unmarshal(b, &pkg) != nil {
		return PackageJSON{}, false
	}
	return pkg, true
}

func inDir(dir, p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(dir, p)
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// applyNpm makes the app run what `npm start`/`npm run <x>` resolved to,
// and says so: a warning, since npm's pre and post scripts and its npm_*
// variables are then left out.
func applyNpm(d *conf.Decoder, t *target, s npmScript) {
	rel, err := filepath.Rel(t.Cwd, s.file)
	if err != nil || strings.HasPrefix(rel, "..") {
		rel = s.file
	}
	t.Script, t.Args, t.Interpreter = s.file, s.args, "node"
	t.InterpreterArgs = slices.Clone(s.nodeArgs)
	t.scriptEnv = s.env
	t.ResolvedFrom = fmt.Sprintf("%s: %s", s.command, s.line)
	d.Warnf("script", "%s runs %q (package.json): tend runs %s under node itself, so Node's defaults, IPC and preload apply; npm's pre and post scripts do not run", s.command, s.line, rel)
}
