package cli

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/tendhq/tend/internal/release"
	"github.com/tendhq/tend/internal/spec"
)

// pm2Deploy runs `tend deploy FILE ENV [setup|update|revert N|list]`:
// PM2's deploy section, over the system's ssh, one host after another.
func pm2Deploy(cmd *cobra.Command, e *env, file, envName string, args []string, appName string) error {
	action, n := release.ActionUpdate, 0
	if len(args) > 0 {
		action = args[0]
	}
	switch {
	case action == release.ActionRevert && len(args) == 2:
		v, err := strconv.Atoi(args[1])
		if err != nil || v < 1 {
			return fmt.Errorf("revert %q: want how many releases to go back (1 or more)", args[1])
		}
		n = v
	case action == release.ActionRevert:
		return fmt.Errorf("revert needs how many releases to go back: tend deploy %s %s revert 1", file, envName)
	case len(args) > 1:
		return fmt.Errorf("%s takes no argument after it, got %q", action, strings.Join(args[1:], " "))
	}
	d, warns, err := spec.LoadDeploy(file, envName)
	printWarnings(e, warns)
	if err != nil {
		return err
	}
	if appName == "" && action != release.ActionSetup {
		apps, _, err := spec.LoadFile(file, spec.LoadOptions{})
		if err != nil {
			return err
		}
		if len(apps) != 1 {
			var names []string
			for _, a := range apps {
				names = append(names, a.Name)
			}
			return fmt.Errorf("%s has %d apps (%s): name the one to deploy with --app", file, len(apps), strings.Join(names, ", "))
		}
		appName = apps[0].Name
	}
	script, err := release.RemoteScript(d, action, n, appName)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	if action == release.ActionUpdate && d.PreDeployLocal != "" {
		fmt.Fprintf(e.stderr, "pre-deploy-local: %s\n", d.PreDeployLocal)
		local := exec.CommandContext(cmd.Context(), "/bin/sh", "-c", d.PreDeployLocal)
		local.Stdout, local.Stderr = e.stdout, e.stderr
		if err := local.Run(); err != nil {
			return fmt.Errorf("pre-deploy-local %q: %w; nothing was deployed", d.PreDeployLocal, err)
		}
	}
	for i, host := range d.Hosts {
		fmt.Fprintf(e.stderr, "--> %s %s on %s (%d of %d)\n", envName, action, host, i+1, len(d.Hosts))
		ssh := exec.CommandContext(cmd.Context(), "ssh", release.SSHArgs(d, host, script)...)
		ssh.Stdin, ssh.Stdout, ssh.Stderr = os.Stdin, e.stdout, e.stderr
		if err := ssh.Run(); err != nil {
			done := ""
			if i > 0 {
				done = fmt.Sprintf(" (done on %s)", strings.Join(d.Hosts[:i], ", "))
			}
			return fmt.Errorf("%s %s on %s: %w; the hosts after it were left alone%s", envName, action, host, err, done)
		}
	}
	return nil
}
