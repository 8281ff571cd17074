// Package startup installs tend as a boot service: a systemd unit that runs
// the daemon, which restores every app from its state file.
package startup

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"text/template"
)

// Marker is the first line of every unit tend writes; a unit without it is
// someone else's and is never overwritten without --force.
const Marker = "# Written by `tend startup`; `tend unstartup` removes it."

// Unit describes the service to generate.
type Unit struct {
	User string // the user the daemon runs as
	Home string // TEND_HOME
	Exe  string // absolute path of the tend binary
	Path string // PATH for the daemon, so interpreters such as node are found
}

// Name is the unit's file name, as PM2 names its own (pm2-<user>.service).
func (u Unit) Name() string { return "tend-" + u.User + ".service" }

var unitTmpl = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("unit").Parse(Marker + `
[Unit]
Description=tend process manager ({{.User}})
After=network-online.target
Wants=network-online.target

[Service]
# The daemon says READY=1 once it has restored its apps.
Type=notify
NotifyAccess=main
User={{.User}}
Environment={{.Quote (print "TEND_HOME=" .Home)}}
Environment={{.Quote (print "PATH=" .Path)}}
ExecStart={{.Exe}} daemon
# systemctl reload: the daemon replaces itself in place by the binary on
# disk (tend update), keeping its pid and every app running.
ExecReload=/bin/kill -HUP $MAINPID
# SIGTERM goes to the daemon alone, which stops every app within its
# kill_timeout; whatever is left after TimeoutStopSec is killed.
KillMode=mixed
KillSignal=SIGTERM
TimeoutStopSec=60
Restart=always
RestartSec=1
LimitNOFILE=1048576

[Install]
WantedBy=multi-user.target
`))
})

// Quote quotes a value for an Environment= line.
func (Unit) Quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "%", "%%").Replace(s) + `"`
}

// Render returns the unit file's text.
func (u Unit) Render() ([]byte, error) {
	for name, v := range map[string]string{"user": u.User, "home": u.Home, "binary": u.Exe} {
		if v == "" || strings.ContainsAny(v, "\n") {
			return nil, fmt.Errorf("startup: %s %q is not usable in a unit", name, v)
		}
	}
	if !filepath.IsAbs(u.Exe) || !filepath.IsAbs(u.Home) {
		return nil, fmt.Errorf("startup: binary and TEND_HOME must be absolute paths")
	}
	var b bytes.Buffer
	if err := unitTmpl().Execute(&b, u); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// ErrNotOurs means a unit exists at the path that tend did not write.
var ErrNotOurs = errors.New("a unit that tend did not write is there")

// Write installs the unit in dir (e.g. /etc/systemd/system). It refuses to
// replace a unit tend did not write unless force is set.
func Write(dir string, u Unit, force bool) (string, error) {
	text, err := u.Render()
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, u.Name())
	if old, err := os.ReadFile(path); err == nil && !bytes.HasPrefix(old, []byte(Marker)) && !force {
		return path, fmt.Errorf("%s: %w (use --force to replace it)", path, ErrNotOurs)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return path, err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, text, 0o644); err != nil {
		return path, err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return path, err
	}
	return path, nil
}

// Remove deletes the unit if tend wrote it.
func Remove(dir string, u Unit) (string, error) {
	path := filepath.Join(dir, u.Name())
	old, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return path, fmt.Errorf("%s: no such unit (nothing to remove)", path)
	}
	if err != nil {
		return path, err
	}
	if !bytes.HasPrefix(old, []byte(Marker)) {
		return path, fmt.Errorf("%s: %w; not removing it", path, ErrNotOurs)
	}
	return path, os.Remove(path)
}

// State is what a machine says of a unit: written by tend, enabled for
// boot, and whether systemd runs at all (in a container it usually does
// not, and a unit there starts nothing).
type State struct {
	Written, Enabled, SystemdRunning bool
}

// Check reads the state of u's unit under dir (normally /etc/systemd/system).
func Check(dir string, u Unit) State {
	var st State
	b, err := os.ReadFile(filepath.Join(dir, u.Name()))
	st.Written = err == nil && bytes.HasPrefix(b, []byte(Marker))
	_, err = os.Stat(filepath.Join(dir, "multi-user.target.wants", u.Name()))
	st.Enabled = err == nil
	st.SystemdRunning = SystemdRunning()
	return st
}

// SystemdRunning says systemd is the machine's init: it creates
// /run/systemd/system at boot (sd_booted(3)).
func SystemdRunning() bool {
	_, err := os.Stat("/run/systemd/system")
	return err == nil
}
