package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/client"
	"github.com/tendhq/tend/internal/daemon"
	"github.com/tendhq/tend/internal/version"
)

func newUpdate(e *env) *cobra.Command {
	var binary string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "update",
		Short: "Replace the daemon by the tend binary on disk, without restarting an app",
		Long: `Replace the running daemon by the tend binary now on disk (or --binary), in place:
the daemon re-executes itself with the same pid and hands the new program its app
processes, their output pipes, the edge's listening sockets and its state. No app
restarts, no log line is lost, no connection is refused. A new binary that does not
run leaves the old daemon serving and the command fails, saying why. SIGHUP to the
daemon (systemctl reload tend) does the same with the binary on disk.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if binary != "" {
				abs, err := filepath.Abs(binary)
				if err != nil {
					return err
				}
				binary = abs
			}
			c := client.New(e.home)
			before, err := c.Ping(cmd.Context())
			if errors.Is(err, client.ErrNoDaemon) {
				return fmt.Errorf("no daemon is running in %s: nothing to update (the next tend command starts one from the binary on disk)", e.home)
			}
			if err != nil {
				return friendly(err)
			}
			start := time.Now()
			r, err := c.Update(cmd.Context(), binary)
			var ce *client.Error
			if errors.As(err, &ce) && ce.Status == http.StatusNotFound {
				return fmt.Errorf("the daemon runs %s, which cannot update in place: run `tend kill` and any tend command to start this build (the apps restart once)", before.Version)
			}
			if err != nil {
				return friendly(err)
			}
			after, err := waitUpdated(cmd.Context(), c, r.Updates, e.home)
			if err != nil {
				return err
			}
			took := time.Since(start)
			if after.UpdateError != "" {
				return fmt.Errorf("update failed, the daemon (pid %d) keeps running %s with every app: %s", after.PID, after.Version, after.UpdateError)
			}
			if asJSON {
				return e.printJSON(struct {
					api.Ping
					From   string  `json:"from"`
					TookMS float64 `json:"took_ms"`
				}{after, before.Version, float64(took.Microseconds()) / 1000})
			}
			fmt.Fprintf(e.stdout, "daemon updated in place in %s: pid %d, %s -> %s; every app kept running\n", took.Round(time.Millisecond), after.PID, before.Version, after.Version)
			return nil
		},
	}
	cmd.Flags().StringVar(&binary, "binary", "", "the tend binary to run (default: the one the daemon was started from, as it is on disk now)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the updated daemon's ping and the time it took as JSON")
	return cmd
}

// waitUpdated waits until the daemon answers as the program after update
// number n+1, with its apps adopted. The socket stays open throughout, so
// a request waits rather than fails; a failure to talk is retried until
// the deadline all the same.
func waitUpdated(ctx context.Context, c *client.Client, n int, home string) (api.Ping, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var last error
	var gone time.Time // since when nothing answers
	for {
		p, err := c.Ping(ctx)
		if err == nil && p.Updates > n && !p.Restoring {
			return p, nil
		}
		if err != nil {
			last = err
		}
		// The socket stays open through a hand-over: a daemon that does
		// not answer for long has died.
		switch {
		case !errors.Is(err, client.ErrNoDaemon):
			gone = time.Time{}
		case gone.IsZero():
			gone = time.Now()
		case time.Since(gone) > 3*time.Second:
			return api.Ping{}, fmt.Errorf("the daemon exited during the update (see %s); the next tend command starts one from the binary on disk and restores the apps", filepath.Join(home, "tend.log"))
		}
		select {
		case <-ctx.Done():
			return api.Ping{}, fmt.Errorf("the daemon did not come back from the update within 60s (last: %v); see %s", last, filepath.Join(home, "tend.log"))
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// updateCheck is `tend __update-check [HOME]`: a daemon asks a new binary
// this before it hands over to it. With HOME, the binary must also read
// its daemon.yaml and state.json, which the new daemon starts from.
func updateCheck(args []string) int {
	if len(args) > 0 {
		if _, err := loadDaemonConfig(args[0]); err != nil {
			fmt.Fprintf(os.Stderr, "tend: %v\n", err)
			return 1
		}
		if err := daemon.CheckState(args[0]); err != nil {
			fmt.Fprintf(os.Stderr, "tend: %v\n", err)
			return 1
		}
	}
	b, _ := json.Marshal(daemon.UpdateCheck{Version: version.String(), Handover: daemon.HandoverFormat})
	fmt.Println(string(b))
	return 0
}
