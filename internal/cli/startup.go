package cli

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/tendhq/tend/internal/startup"
)

func startupUnit(e *env, userName string) (startup.Unit, error) {
	exe, err := os.Executable()
	if err != nil {
		return startup.Unit{}, err
	}
	if exe, err = filepath.EvalSymlinks(exe); err != nil {
		return startup.Unit{}, err
	}
	home := e.home
	if userName == "" {
		u, err := user.Current()
		if err != nil {
			return startup.Unit{}, fmt.Errorf("who am I: %w (pass --user)", err)
		}
		userName = u.Username
	} else if u, err := user.Lookup(userName); err != nil {
		return startup.Unit{}, fmt.Errorf("--user %s: %w", userName, err)
	} else if cur, err := user.Current(); err != nil || cur.Uid != u.Uid {
		// Another user's daemon keeps its state in that user's home.
		home = filepath.Join(u.HomeDir, ".tend")
	}
	return startup.Unit{User: userName, Home: home, Exe: exe, Path: os.Getenv("PATH")}, nil
}

func newStartup(e *env) *cobra.Command {
	var userName, dir string
	var print, enable, force bool
	cmd := &cobra.Command{
		Use:   "startup [systemd]",
		Short: "Start tend on boot: write a systemd unit for the daemon",
		Long: `Write a systemd unit that runs the tend daemon on boot (Type=notify: the daemon says
READY=1 once it has restored its apps; KillMode=mixed: stopping the service lets tend
stop its apps gracefully). --print writes it to stdout and nothing to disk; --enable also
runs systemctl daemon-reload and enable --now. A unit tend did not write is never
replaced without --force.`,
		Args:      cobra.MaximumNArgs(1),
		ValidArgs: []string{"systemd"},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 && args[0] != "systemd" {
				return fmt.Errorf("startup %s: only systemd is supported", args[0])
			}
			u, err := startupUnit(e, userName)
			if err != nil {
				return err
			}
			if print {
				text, err := u.Render()
				if err != nil {
					return err
				}
				_, err = e.stdout.Write(text)
				return err
			}
			path, err := startup.Write(dir, u, force)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "wrote %s\n", path)
			name := u.Name()
			if !startup.SystemdRunning() {
				return fmt.Errorf("systemd is not running on this machine, so this unit starts nothing here; in a container, make `tend run` the entrypoint instead (the unit is kept for a machine where systemd runs)")
			}
			if !enable {
				fmt.Fprintf(e.stdout, "to start tend on boot, run:\n  systemctl daemon-reload && systemctl enable --now %s\n", name)
				return nil
			}
			for _, args := range [][]string{{"daemon-reload"}, {"enable", "--now", name}} {
				out, err := exec.CommandContext(cmd.Context(), "systemctl", args...).CombinedOutput()
				if err != nil {
					return fmt.Errorf("systemctl %v: %v\n%s", args, err, out)
				}
			}
			fmt.Fprintf(e.stdout, "enabled and started %s\n", name)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&userName, "user", "", "user the daemon runs as (default: you)")
	f.StringVar(&dir, "unit-dir", "/etc/systemd/system", "where the unit goes")
	f.BoolVar(&print, "print", false, "print the unit and write nothing")
	f.BoolVar(&enable, "enable", false, "also enable and start it with systemctl")
	f.BoolVar(&force, "force", false, "replace a unit that tend did not write")
	return cmd
}

func newUnstartup(e *env) *cobra.Command {
	var userName, dir string
	cmd := &cobra.Command{
		Use:   "unstartup [systemd]",
		Short: "Remove the boot unit written by tend startup",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, _ []string) error {
			u, err := startupUnit(e, userName)
			if err != nil {
				return err
			}
			if _, err := os.Stat("/run/systemd/system"); err == nil {
				// Best effort: the unit may never have been enabled.
				_ = exec.CommandContext(cmd.Context(), "systemctl", "disable", u.Name()).Run()
			}
			path, err := startup.Remove(dir, u)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "removed %s\n", path)
			return nil
		},
	}
	cmd.Flags().StringVar(&userName, "user", "", "user the unit was written for (default: you)")
	cmd.Flags().StringVar(&dir, "unit-dir", "/etc/systemd/system", "where the unit is")
	return cmd
}
