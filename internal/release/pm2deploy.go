package release

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/tendhq/tend/internal/spec"
)

// Actions of PM2's deploy (tend deploy FILE ENV ACTION).
const (
	ActionSetup  = "setup"
	ActionUpdate = "update"
	ActionRevert = "revert"
	ActionList   = "list"
)

// callsPM2 finds a pm2 command in a shell line.
var callsPM2 = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(^|[\s;&|(])pm2\s`) })

// RemoteScript is the sh script that carries out action on a host of d for
// app: setup clones the repo into path/source; update fetches and checks
// out ref there, then runs `tend deploy` on it (the release steps of tend
// deploy DIR, with post-deploy as the release's post_deploy); revert goes
// back n releases; list lists them. tend must be on the host's PATH (or
// given by a PATH in the section's env).
func RemoteScript(d spec.Deploy, action string, n int, app string) (string, error) {
	var b strings.Builder
	b.WriteString("set -e\n")
	keys := make([]string, 0, len(d.Vars))
	for k := range d.Vars {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "export %s=%s\n", k, Quote(d.Vars[k]))
	}
	line := func(s string) {
		if s != "" {
			b.WriteString(s + "\n")
		}
	}
	source := hostPath(d.Path) + "/source"
	switch action {
	case ActionSetup:
		line(d.PreSetup)
		fmt.Fprintf(&b, "mkdir -p %s\n", hostPath(d.Path))
		fmt.Fprintf(&b, "if [ -d %s/.git ]; then echo \"%s is set up already\"; else git clone %s %s; fi\n", source, strings.ReplaceAll(d.Path, `"`, ""), Quote(d.Repo), source)
		line(d.PostSetup)
	case ActionUpdate:
		if callsPM2().MatchString(d.PostDeploy) {
			return "", fmt.Errorf("deploy.%s.post-deploy %q calls pm2: tend reloads the app itself after post-deploy; keep only the other commands (npm install is done by tend pack)", d.Env, d.PostDeploy)
		}
		fmt.Fprintf(&b, "cd %s\n", source)
		b.WriteString("git fetch --prune --tags origin\n")
		fmt.Fprintf(&b, "ref=%s\n", Quote(d.Ref))
		b.WriteString("if git rev-parse -q --verify \"origin/$ref^{commit}\" >/dev/null; then ref=\"origin/$ref\"; fi\n")
		b.WriteString("git checkout --quiet --force --detach \"$ref\"\n")
		b.WriteString("echo \"checked out $(git rev-parse --short HEAD) ($ref)\"\n")
		line(d.PreDeploy)
		fmt.Fprintf(&b, "exec tend deploy %s --app %s", source, Quote(app))
		if d.PostDeploy != "" {
			fmt.Fprintf(&b, " --post-deploy %s", Quote(d.PostDeploy))
		}
		b.WriteString("\n")
	case ActionRevert:
		if n < 1 {
			return "", fmt.Errorf("revert %d: want how many releases to go back (1 or more)", n)
		}
		fmt.Fprintf(&b, "exec tend rollback %s --back %d\n", Quote(app), n)
	case ActionList:
		fmt.Fprintf(&b, "exec tend releases %s\n", Quote(app))
	default:
		return "", fmt.Errorf("unknown deploy action %q: want setup, update, revert N or list", action)
	}
	return b.String(), nil
}

// hostPath quotes a path on the host, leaving a leading ~ to the host's
// shell.
func hostPath(p string) string {
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		return `"$HOME"/` + Quote(rest)
	}
	if p == "~" {
		return `"$HOME"`
	}
	return Quote(p)
}

// Quote quotes s for sh.
func Quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

var hostPort = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^(.+):([0-9]{1,5})$`) })

// SSHArgs are the arguments of ssh that run script on host.
func SSHArgs(d spec.Deploy, host, script string) []string {
	var args []string
	if d.Key != "" {
		key := d.Key
		if rest, ok := strings.CutPrefix(key, "~/"); ok {
			if h, err := os.UserHomeDir(); err == nil {
				key = filepath.Join(h, rest)
			}
		}
		args = append(args, "-i", key)
	}
	port := d.Port
	if m := hostPort().FindStringSubmatch(host); m != nil && !strings.Contains(m[1], ":") {
		host = m[1]
		port, _ = strconv.Atoi(m[2])
	}
	if port != 0 {
		args = append(args, "-p", strconv.Itoa(port))
	}
	for _, o := range d.SSHOptions {
		args = append(args, "-o", o)
	}
	if d.User != "" {
		host = d.User + "@" + host
	}
	return append(args, host, "sh -c "+Quote(script))
}
