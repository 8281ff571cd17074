package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/tendhq/tend/internal/api"
)

func newTrigger(e *env) *cobra.Command {
	var asJSON bool
	var instance int
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "trigger <app> <action> [param]",
		Short: "Call an action an app offers with @pm2/io or tx2, and print each instance's reply",
		Long: `Call an action that an app instrumented for PM2 offers (@pm2/io's io.action, tx2.action),
on every instance (or --instance N), as 'pm2 trigger' does, and print each instance's reply
as JSON: "app[instance] reply". A param is passed to the action as PM2 passes it
({msg, opts}). 'tend describe <app>' lists the actions each instance offers. Exits 1 when
an instance did not reply (not online, no such action, or --timeout passed).`,
		Args: cobra.RangeArgs(2, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := api.TriggerRequest{Action: args[1], TimeoutMS: timeout.Milliseconds()}
			if timeout <= 0 || timeout > 5*time.Minute {
				return fmt.Errorf("--timeout %s: want more than 0 and at most 5m", timeout)
			}
			if len(args) == 3 {
				req.Param = &args[2]
			}
			if cmd.Flags().Changed("instance") {
				if instance < 0 {
					return fmt.Errorf("--instance %d: want 0 or more", instance)
				}
				req.Instance = &instance
			}
			c, err := e.connect(cmd.Context())
			if err != nil {
				return err
			}
			replies, err := c.Trigger(cmd.Context(), args[0], req)
			if err != nil {
				return friendly(err)
			}
			if asJSON {
				if err := e.printJSON(replies); err != nil {
					return err
				}
			}
			var failed []string
			for _, r := range replies {
				if r.Error != "" {
					failed = append(failed, fmt.Sprintf("%s[%d]", r.App, r.Instance))
					if !asJSON {
						fmt.Fprintf(e.stderr, "%s[%d] %s\n", r.App, r.Instance, r.Error)
					}
					continue
				}
				if !asJSON {
					fmt.Fprintf(e.stdout, "%s[%d] %s\n", r.App, r.Instance, r.Reply)
				}
			}
			if len(failed) > 0 {
				return fmt.Errorf("no reply from %s", strings.Join(failed, ", "))
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&instance, "instance", 0, "call only this instance")
	cmd.Flags().DurationVar(&timeout, "timeout", 10*time.Second, "how long to wait for the replies")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the replies as JSON")
	return cmd
}
