package cli

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/spf13/cobra"
)

func newDashboard(e *env) *cobra.Command {
	var noOpen bool
	cmd := &cobra.Command{
		Use:   "dashboard",
		Short: "Open the web dashboard: every app, instance, chart and log line, live",
		Long: `Have the daemon serve the web dashboard and open it. Without dashboard_addr in
daemon.yaml the daemon serves it on 127.0.0.1 on a free port, for as long as it runs.
Prints the URL and a login link that works once, within a minute; with a display
(DISPLAY or WAYLAND_DISPLAY) and xdg-open, opens the link instead (--no-open prints it).
From another machine, log in with a token of tend remote token create (a read-only
token sees everything and changes nothing).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := e.connect(cmd.Context())
			if err != nil {
				return err
			}
			d, err := c.Dashboard(cmd.Context())
			if err != nil {
				return friendly(err)
			}
			fmt.Fprintf(e.stdout, "dashboard: %s\n", d.URL)
			if !noOpen && openBrowser(cmd.Context(), d.Login) {
				fmt.Fprintln(e.stdout, "opened the login link in the browser")
				return nil
			}
			fmt.Fprintf(e.stdout, "login link (works once, within a minute): %s\n", d.Login)
			return nil
		},
	}
	cmd.Flags().BoolVar(&noOpen, "no-open", false, "print the login link rather than open a browser")
	return cmd
}

// openBrowser opens link with xdg-open when there is a display; false
// when it cannot.
func openBrowser(ctx context.Context, link string) bool {
	if os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "" {
		return false
	}
	bin, err := exec.LookPath("xdg-open")
	if err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return exec.CommandContext(ctx, bin, link).Run() == nil
}
