package spec

import (
	"maps"
	"path/filepath"
	"runtime"

	"github.com/tendhq/tend/internal/conf"
)

// DecodeOptions says where an app definition came from.
type DecodeOptions struct {
	File    string // file name for messages ("" for flags/API: then messages have no file prefix)
	Path    string // key path prefix, e.g. "apps[1]"
	BaseDir string // absolute dir that relative script/cwd are resolved against; "" means paths must be absolute (API)
	EnvName string // selects an `env_<EnvName>` block, merged over `env` (PM2's --env production)
	NumCPU  int    // for instances "max"; 0 means runtime.NumCPU()
	// MaxInstances is the most instances an app may have (autoscale.max
	// included); 0 means DefaultMaxInstances.
	MaxInstances int
	// SkipFileChecks leaves out the checks that touch the file system
	// (cwd is a directory, script a file, the interpreter exists; see
	// files.go). The CLI makes them where it resolves the paths, so the
	// daemon, which gets absolute paths from it, does not make them again.
	SkipFileChecks bool
	// Elsewhere says the paths name files of another host (tend --host):
	// nothing is resolved against or checked on this one. cwd must be
	// absolute; a relative script stays as given, for that host's daemon
	// to find from cwd; the interpreter follows the script's extension
	// only. It implies SkipFileChecks.
	Elsewhere bool
	// PortsPlaced lets two apps name one port: a fleet file's apps run
	// on the hosts it places them on, and the fleet checks the ports of
	// each host.
	PortsPlaced bool
}

// DefaultMaxInstances is the ceiling on an app's instances unless
// daemon.yaml's max_instances says otherwise: far above what one machine
// runs, far below what would exhaust the daemon's memory.
const DefaultMaxInstances = 4096

func (o DecodeOptions) maxInstances() int {
	if o.MaxInstances > 0 {
		return o.MaxInstances
	}
	return DefaultMaxInstances
}

// The problems of a definition, by file and key path (see package conf).
type (
	FieldError = conf.FieldError
	Errors     = conf.Errors
	Warning    = conf.Warning
)

// Decode turns one app object into an App: it applies defaults, resolves
// paths against the file system and PATH, and validates every key. The
// returned error is an Errors naming every problem of the object; the App is
// only meaningful when the error is nil.
func Decode(raw map[string]any, o DecodeOptions) (App, []Warning, error) {
	a, warns, errs := decode(raw, o)
	if len(errs) > 0 {
		return App{}, warns, errs
	}
	return a, warns, nil
}

// target is what the key table decodes into: the App, and what its
// setters need to know beyond it.
type target struct {
	*App
	o DecodeOptions
	// cwdOK says Cwd names an existing directory, without which relative
	// paths cannot be checked.
	cwdOK bool
	// given is the script as written, from which the default name comes.
	given string
	// scriptEnv is what a resolved npm script's VAR=value prefix sets;
	// the app's own env wins over it.
	scriptEnv map[string]string
}

// withScriptEnv is env over the npm script's variables.
func withScriptEnv(t *target, env map[string]string) map[string]string {
	if len(t.scriptEnv) == 0 {
		return env
	}
	out := maps.Clone(t.scriptEnv)
	maps.Copy(out, env)
	return out
}

// decode is Decode without discarding the partial App on error: loaders need
// its name to select and compare apps even when it has problems.
func decode(raw map[string]any, o DecodeOptions) (App, []Warning, Errors) {
	if o.NumCPU <= 0 {
		o.NumCPU = runtime.NumCPU()
	}
	if o.Elsewhere {
		o.SkipFileChecks, o.BaseDir = true, ""
	}
	if o.BaseDir != "" {
		if abs, err := filepath.Abs(o.BaseDir); err == nil {
			o.BaseDir = abs
		}
	}
	a := App{
		Namespace:   DefaultNamespace,
		Instances:   1,
		Autorestart: true,
		MaxRestarts: DefaultMaxRestarts,
		MinUptime:   Duration(DefaultMinUptime),
		KillTimeout: Duration(DefaultKillTimeout),
		KillSignal:  DefaultKillSignal,
		ReloadBatch: DefaultReloadBatch,
	}
	d := conf.NewDecoder(o.File, o.Path, raw)
	appKeys.Decode(d, &target{App: &a, o: o})
	return a, d.Warns(), d.Errs()
}
