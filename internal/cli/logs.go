package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/client"
)

func newLogs(e *env) *cobra.Command {
	var lines int
	var noStream, errOnly, outOnly, asJSON, stamps bool
	cmd := &cobra.Command{
		Use:   "logs [name|id|namespace|all]",
		Short: "Show the last lines of apps' output, then follow it",
		Long: `Show the last --lines lines of the apps' stdout and stderr, interleaved in time order
with the app and instance named, then follow new lines until interrupted (--nostream
stops after the backlog). A reader that falls behind (say, a stalled pipe) loses lines
and is told how many; it never slows the app.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if errOnly && outOnly {
				return errors.New("--err and --out together are the default: give one or none")
			}
			c, err := e.connect(cmd.Context())
			if err != nil {
				return err
			}
			req := client.LogsRequest{Lines: lines, Follow: !noStream}
			if len(args) == 1 {
				req.App = args[0]
			}
			switch {
			case errOnly:
				req.Stream = "err"
			case outOnly:
				req.Stream = "out"
			}
			print := func(l api.LogLine) error {
				if asJSON {
					return e.printJSONLine(l)
				}
				prefix := l.App // a shared file's line written before this daemon: no instance known
				if l.Instance >= 0 {
					prefix = fmt.Sprintf("%s[%d]", l.App, l.Instance)
				}
				if l.Stream == "err" {
					prefix += " err"
				} else if l.Stream == "tend" {
					prefix += " tend"
				}
				if stamps && !l.Time.IsZero() {
					prefix = l.Time.Local().Format("2006-01-02T15:04:05.000") + " " + prefix
				}
				_, err := fmt.Fprintf(e.stdout, "%s | %s\n", prefix, l.Message)
				return err
			}
			err = c.Logs(cmd.Context(), req, print)
			// A daemon updated in place (tend update) ends the stream and
			// answers again as the new program: follow on.
			for err == nil && req.Follow && cmd.Context().Err() == nil {
				before, perr := c.Ping(cmd.Context())
				if perr != nil {
					break
				}
				fmt.Fprintf(e.stderr, "tend: the daemon (%s) ended the stream, following again; lines written meanwhile are in the log files\n", before.Version)
				req.Lines = 0
				err = c.Logs(cmd.Context(), req, print)
			}
			if errors.Is(err, context.Canceled) || cmd.Context().Err() != nil {
				return nil
			}
			return friendly(err)
		},
	}
	f := cmd.Flags()
	f.IntVar(&lines, "lines", 15, "lines of backlog")
	f.BoolVar(&noStream, "nostream", false, "print the backlog and stop")
	f.BoolVar(&errOnly, "err", false, "stderr only")
	f.BoolVar(&outOnly, "out", false, "stdout only")
	f.BoolVar(&asJSON, "json", false, "one JSON object per line: timestamp, app, instance, stream, message")
	f.BoolVar(&stamps, "timestamp", false, "prefix each line with the time tend read it")
	return cmd
}

func (e *env) printJSONLine(v any) error {
	b, err := jsonMarshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(e.stdout, "%s\n", b)
	return err
}

func newFlush(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "flush [name|id|namespace|all]",
		Short: "Empty apps' log files",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.connect(cmd.Context())
			if err != nil {
				return err
			}
			target := ""
			if len(args) == 1 {
				target = args[0]
			}
			if err := c.FlushLogs(cmd.Context(), target); err != nil {
				return friendly(err)
			}
			fmt.Fprintln(e.stdout, "log files emptied")
			return nil
		},
	}
}

func newReloadLogs(e *env) *cobra.Command {
	return &cobra.Command{
		Use:     "reload-logs",
		Aliases: []string{"reloadLogs"},
		Short:   "Reopen every log file (after an external logrotate moved them)",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := e.connect(cmd.Context())
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			if err := c.ReopenLogs(ctx); err != nil {
				return friendly(err)
			}
			fmt.Fprintln(e.stdout, "log files reopened")
			return nil
		},
	}
}
