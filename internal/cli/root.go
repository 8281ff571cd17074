// Package cli is tend's command line: one file per group of commands. It
// builds requests, sends them through internal/client and prints the
// answers as tables or JSON; it never touches processes itself.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/app"
	"github.com/tendhq/tend/internal/client"
	"github.com/tendhq/tend/internal/daemon"
	"github.com/tendhq/tend/internal/home"
	"github.com/tendhq/tend/internal/spec"
	"github.com/tendhq/tend/internal/version"
)

// env is what every command needs: where to talk and where to print.
type env struct {
	stdout, stderr io.Writer
	home           string
	// host is the remote daemon's URL (--host, TEND_HOST; see remote.go),
	// "" for this host's daemon or a fleet host's (fleet.host).
	host     string
	hostFlag string
	fleet    fleetFlags // --hub and its flags; a --host that names a fleet host (fleet.go)
}

// Main runs the CLI with args and returns the process exit code.
func Main(args []string) int {
	if len(args) > 0 && args[0] == app.ListenExecArg {
		return listenExec(args[1:])
	}
	if len(args) > 0 && args[0] == daemon.UpdateCheckArg {
		return updateCheck(args[1:])
	}
	if len(args) > 0 && args[0] == serveArg {
		return serveFiles(args[1:])
	}
	e := &env{stdout: os.Stdout, stderr: os.Stderr}
	root := newRoot(e)
	root.SetArgs(bareLog(args))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintf(e.stderr, "tend: %v\n", err)
		return 1
	}
	return 0
}

// listenExec is the exec wrapper of socket mode: it runs as the app's
// process (same pid), so it can set LISTEN_PID to that pid as systemd's
// socket activation requires, then replaces itself with the app.
func listenExec(args []string) int {
	if len(args) < 2 {
		fmt.Fprintln(os.Stderr, "tend: usage: tend "+app.ListenExecArg+" PATH ARGV...")
		return 2
	}
	env := append(os.Environ(), "LISTEN_PID="+strconv.Itoa(os.Getpid()))
	err := syscall.Exec(args[0], args[1:], env)
	fmt.Fprintf(os.Stderr, "tend: exec %s: %v\n", args[0], err)
	return 127
}

func newRoot(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:           "tend",
		Short:         "tend keeps your apps running",
		Long:          "tend is a production process manager: it keeps apps up, restarts them when they crash,\nand remembers them across daemon restarts. Its verbs and options follow PM2's.",
		Version:       version.String(),
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			h, err := home.Default()
			e.home = h
			if err != nil {
				return err
			}
			return e.chooseHost(cmd)
		},
	}
	root.PersistentFlags().StringVar(&e.hostFlag, "host", "", "talk to the daemon at https://HOST:PORT (its remote_addr) instead of this host's (env TEND_HOST); with --hub, a fleet host's name")
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	group(root)
	root.SetFlagErrorFunc(unknownFlag)
	addFleetFlags(root, e)
	root.AddCommand(newStartOrVerbs(e)...)
	root.AddCommand(localOnly(group(newImport(e)), "it reads PM2's files of this host"), newEcosystem(e), localOnly(newReport(e), "it reports on this host"))
	root.AddCommand(
		newStart(e),
		newStop(e), newRestart(e), newReload(e), newScale(e), newDelete(e), newReset(e), newSignal(e),
		newList(e), newDescribe(e), newEnv(e),
		newSave(e), newResurrect(e),
		localOnly(newDaemon(e), "it runs this host's daemon"),
		localOnly(newKill(e), "a remote daemon, once stopped, could not be started again from afar: use stop all"),
		newPing(e), newVersion(e),
		localOnly(newUpdate(e), "the binary is a file of the daemon's host"),
		localOnly(newStartup(e), "it installs a service on this host"), localOnly(newUnstartup(e), "it removes a service of this host"),
		newMetrics(e),
		newApply(e), newSet(e), newUnset(e),
		newLogs(e), newFlush(e), newReloadLogs(e),
		localOnly(newRun(e), "it runs a daemon in the foreground here"),
		localOnly(newServe(e), "it serves a directory of this host"),
		localOnly(newDoctor(e), "it checks this host"), newMonit(e), newDashboard(e),
	)
	root.AddCommand(newAlerts(e), newPack(e), newDeploy(e), newReleases(e), newRollback(e))
	root.AddCommand(newProfile(e), newTrigger(e), localOnly(newHub(e), "it runs or administers the hub of this host"), newHosts(e))
	root.AddCommand(newProfileAliases(e)...)
	root.AddCommand(newRemote(e))
	return root
}

// connect returns a client whose daemon answers, starting one if needed
// (never a remote one: with --host it only asks; a fleet host's daemon is
// reached through the hub).
func (e *env) connect(ctx context.Context) (*client.Client, error) {
	if e.fleet.host != "" {
		return e.remote(e.fleet.host)
	}
	if e.host != "" {
		c, err := e.client()
		if err != nil {
			return nil, err
		}
		if _, err := c.Ping(ctx); err != nil {
			return nil, friendly(err)
		}
		return c, nil
	}
	c := client.New(e.home)
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find the tend binary to start the daemon: %w", err)
	}
	if _, err := c.Ensure(ctx, exe); err != nil {
		return nil, err
	}
	return c, nil
}

var jsonMarshal = json.Marshal

func (e *env) printJSON(v any) error {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// printList prints list as a JSON array: [] when it is empty, never null.
func printList[T any](e *env, list []T) error {
	if list == nil {
		list = []T{}
	}
	return e.printJSON(list)
}

// showApps prints the apps a command acted on as JSON, or else the whole
// table, as PM2 does after every command.
func (e *env) showApps(ctx context.Context, c *client.Client, acted []api.App, asJSON bool) error {
	if asJSON {
		return e.printJSON(appsOrEmpty(acted))
	}
	all, err := c.List(ctx)
	if err != nil {
		return friendly(err)
	}
	printTable(e.stdout, all)
	return nil
}

// rawApps marshals validated apps for a request body.
func rawApps(apps []spec.App) ([]json.RawMessage, error) {
	out := make([]json.RawMessage, 0, len(apps))
	for _, a := range apps {
		b, err := json.Marshal(a)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// appsOrEmpty keeps --json output an array even when there is nothing.
func appsOrEmpty(a []api.App) []api.App {
	if a == nil {
		return []api.App{}
	}
	return a
}

// friendly rewrites daemon errors into what a user should read.
func friendly(err error) error {
	var ce *client.Error
	if errors.As(err, &ce) {
		return errors.New(ce.Message)
	}
	return err
}
