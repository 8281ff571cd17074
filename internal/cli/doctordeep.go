package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/client"
	"github.com/tendhq/tend/internal/doctor"
)

const (
	// doctorLogLines is how many of an app's last output lines doctor
	// reads for the warnings of its running instances.
	doctorLogLines = 2000
	// syncIORequests is how many requests the --deep probe sends.
	syncIORequests = 5
)

// instancesSince is when the oldest running instance of a started.
func instancesSince(a api.App, now time.Time) time.Time {
	since := now
	for _, in := range a.Instances {
		if in.PID > 0 {
			if st := now.Add(-time.Duration(in.UptimeMS) * time.Millisecond); st.Before(since) {
				since = st
			}
		}
	}
	return since
}

// stderrSince returns the app's stderr lines the daemon keeps in memory
// from since on (lines read back from files have no time: they may be of
// processes long gone, and are left out).
func stderrSince(ctx context.Context, c *client.Client, a api.App, since time.Time) []string {
	var out []string
	_ = c.Logs(ctx, client.LogsRequest{App: strconv.Itoa(a.ID), Lines: doctorLogLines, Stream: "err"}, func(l api.LogLine) error {
		// A second of slack: the uptime is rounded to the millisecond and
		// the clocks are the same host's.
		if l.Stream == "err" && !l.Time.IsZero() && !l.Time.Before(since.Add(-time.Second)) {
			out = append(out, l.Message)
		}
		return nil
	})
	return out
}

// syncIOProbe is tend doctor --deep on one app: it reloads the app with
// --trace-sync-io added to its NODE_OPTIONS, sends syncIORequests GETs to
// url, counts the warnings Node wrote to stderr meanwhile, and reloads the
// app back to its own NODE_OPTIONS, whatever happened. Both reloads are
// rolling ones (zero downtime with two instances or more behind the edge).
func syncIOProbe(ctx context.Context, c *client.Client, w io.Writer, a api.App, url string, hc *http.Client) *doctor.SyncIOProbe {
	p := &doctor.SyncIOProbe{}
	target := strconv.Itoa(a.ID)
	orig, had := a.Spec.Env["NODE_OPTIONS"]
	fmt.Fprintf(w, "doctor --deep: reloading %s with --trace-sync-io in NODE_OPTIONS for %d requests, then reloading it back\n", a.Name, syncIORequests)
	if _, err := c.Set(ctx, target, api.SetRequest{Set: map[string]string{"env.NODE_OPTIONS": strings.TrimSpace(orig + " --trace-sync-io")}}); err != nil {
		p.Err = fmt.Errorf("reload with --trace-sync-io: %w", err)
		return p
	}
	defer func() {
		back := api.SetRequest{Unset: []string{"env.NODE_OPTIONS"}}
		if had {
			back = api.SetRequest{Set: map[string]string{"env.NODE_OPTIONS": orig}}
		}
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
		defer cancel()
		if _, err := c.Set(rctx, target, back); err != nil {
			fmt.Fprintf(w, "doctor --deep: %s still runs with --trace-sync-io: %v; run `%s`\n", a.Name, err, restoreCommand(a.Name, had, orig))
			return
		}
		fmt.Fprintf(w, "doctor --deep: %s reloaded back to its own NODE_OPTIONS\n", a.Name)
	}()
	start := time.Now()
	for range syncIORequests {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			p.Err = err
			return p
		}
		req.Header.Set("User-Agent", "tend-doctor")
		res, err := hc.Do(req)
		if err != nil {
			p.Err = fmt.Errorf("GET %s: %w", url, err)
			return p
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 1<<20))
		res.Body.Close()
		p.Requests++
	}
	// The warnings reach the daemon through the app's stderr pipe a moment
	// after the answers: read until two reads agree, a few times at most.
	count := func() (int, string) {
		n, where, in := 0, "", false
		for _, l := range stderrSince(ctx, c, a, start) {
			switch {
			case strings.Contains(l, doctor.SyncIOWarning):
				n++
				in = true
			case in && where == "" && strings.HasPrefix(strings.TrimSpace(l), "at ") && !strings.Contains(l, "(node:") && !strings.Contains(l, " node:"):
				where = strings.TrimSpace(l)
			case !strings.HasPrefix(strings.TrimSpace(l), "at "):
				in = false
			}
		}
		return n, where
	}
	last := -1
	for range 10 {
		n, where := count()
		if n == last {
			break
		}
		last, p.Warnings, p.Where = n, n, where
		select {
		case <-ctx.Done():
			p.Err = errors.New("interrupted")
			return p
		case <-time.After(200 * time.Millisecond):
		}
	}
	return p
}

// restoreCommand is how the user puts the app's NODE_OPTIONS back.
func restoreCommand(app string, had bool, orig string) string {
	if had {
		return fmt.Sprintf("tend set %s %s", app, strconv.Quote("env.NODE_OPTIONS="+orig))
	}
	return fmt.Sprintf("tend unset %s env.NODE_OPTIONS", app)
}
