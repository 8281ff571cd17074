package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/tendhq/tend/internal/api"
)

// stderrShown is how many of an instance's last stderr lines a failed
// command prints.
const stderrShown = 10

// notReady returns an error naming every instance of apps that a command
// asked to run and that is not serving: unready (running, not ready within
// listen_timeout), errored, waiting to restart after crashes, or launching
// again after one; with why
// and its last stderr lines. The daemon reports the statuses once the
// instances' readiness is decided; nil when every instance is ready.
func notReady(apps []api.App) error {
	var b strings.Builder
	n := 0
	for _, a := range apps {
		for _, in := range a.Instances {
			var why string
			var lines []string
			switch in.Status {
			case api.StatusUnready:
				why, lines = in.Reason, in.RecentStderr
			case api.StatusErrored, api.StatusWaiting:
				if x := in.LastExit; x != nil {
					why, lines = x.Reason, x.Stderr
				}
			case api.StatusLaunching:
				// Starting again after a crash since its readiness was
				// decided: not serving either.
				x := in.LastExit
				if x == nil || x.Expected {
					continue
				}
				why, lines = x.Reason, x.Stderr
			default:
				continue
			}
			n++
			fmt.Fprintf(&b, "\n  %s:%d is %s", a.Name, in.Index, in.Status)
			if why != "" {
				fmt.Fprintf(&b, ": %s", why)
			}
			lines = trimTrailer(lines)
			if len(lines) > stderrShown {
				lines = lines[len(lines)-stderrShown:]
			}
			if len(lines) > 0 {
				b.WriteString("\n    last stderr lines:")
				for _, l := range lines {
					fmt.Fprintf(&b, "\n      %s", l)
				}
			}
		}
	}
	if n == 0 {
		return nil
	}
	what := "1 instance is not ready"
	if n > 1 {
		what = fmt.Sprintf("%d instances are not ready", n)
	}
	return fmt.Errorf("%s:%s\nsee `tend logs <app>` and `tend describe <app>`; an unready instance keeps running and goes online once it answers", what, b.String())
}

// trimTrailer drops the blank lines and Node's version trailer at the end
// of a stderr tail, which would take the place of the error's own lines.
func trimTrailer(lines []string) []string {
	for len(lines) > 0 {
		l := strings.TrimSpace(lines[len(lines)-1])
		if l != "" && !strings.HasPrefix(l, "Node.js v") {
			break
		}
		lines = lines[:len(lines)-1]
	}
	return lines
}

// answers reports whether a GET through the app's public port is answered
// (any status below 500: the app answered, not the edge for lack of one),
// trying for a few seconds, and says what happened otherwise.
func answers(ctx context.Context, url string) (bool, string) {
	tr := &http.Transport{
		// A probe of whether the port serves, not of its certificate: a
		// self-signed one is as good here.
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true},
		DisableKeepAlives: true,
	}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 3 * time.Second}
	last := "no answer"
	for try := 0; try < 5; try++ {
		if try > 0 {
			select {
			case <-ctx.Done():
				return false, last
			case <-time.After(200 * time.Millisecond):
			}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return false, err.Error()
		}
		resp, err := c.Do(req)
		if err != nil {
			last = err.Error()
			var ue interface{ Timeout() bool }
			if errors.As(err, &ue) && ue.Timeout() {
				return false, last
			}
			continue
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if resp.StatusCode < 500 {
			return true, ""
		}
		last = "answered " + resp.Status
	}
	return false, last
}

// printServed prints "<app> is served on http(s)://localhost:P" for each
// app with a port whose instances are all ready and that answers a GET
// there; tlsApps says which apps serve TLS, by namespace/name.
func (e *env) printServed(ctx context.Context, apps []api.App, tlsApps map[string]bool) {
	if e.host != "" {
		return // the ports are the daemon's host's, not this one's
	}
	for _, a := range apps {
		if a.Port <= 0 || a.Status != api.StatusOnline {
			continue
		}
		scheme := "http"
		if tlsApps[a.Namespace+"/"+a.Name] {
			scheme = "https"
		}
		url := fmt.Sprintf("%s://localhost:%d/", scheme, a.Port)
		if ok, why := answers(ctx, url); ok {
			fmt.Fprintf(e.stdout, "%s is served on %s\n", a.Name, strings.TrimSuffix(url, "/"))
		} else {
			fmt.Fprintf(e.stderr, "warning: %s is online, but GET %s did not get an answer from it (%s): see `tend logs %s`\n", a.Name, url, why, a.Name)
		}
	}
}
