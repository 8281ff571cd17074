package cli

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/client"
)

const (
	// watchEvery is the shortest time between two prints of ls --watch:
	// a burst of events (a reload of many instances) prints once or twice,
	// not once each.
	watchEvery = 250 * time.Millisecond
	// watchRetry is how long ls --watch waits before it follows the
	// daemon's events again after the stream broke.
	watchRetry = time.Second
)

// watchList prints the apps, then again after each change the daemon
// reports (samples included, so CPU and memory move), at most every
// watchEvery, until ctx ends. On a terminal each print replaces the last.
// sortBy is ls's --sort, checked by the caller.
func (e *env) watchList(ctx context.Context, c *client.Client, asJSON bool, sortBy string) error {
	ctx, cancel := context.WithCancel(ctx)
	changed := make(chan struct{}, 1)
	poke := func() {
		select {
		case changed <- struct{}{}:
		default: // a print is already due
		}
	}
	// The follower goroutine ends with ctx; watchList waits for it.
	var wg sync.WaitGroup
	wg.Go(func() {
		_ = c.FollowEvents(ctx, client.EventsRequest{}, watchRetry, func(error) { poke() }, func(api.StreamEvent) error {
			poke()
			return nil
		})
	})
	defer func() { cancel(); wg.Wait() }()

	f, _ := e.stdout.(*os.File)
	clear := f != nil && isTerminal(f) && !asJSON
	for {
		apps, err := c.List(ctx)
		_ = sortApps(apps, sortBy)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			fmt.Fprintf(e.stderr, "tend: %v (retrying)\n", friendly(err))
		case asJSON:
			if err := e.printJSONLine(appsOrEmpty(apps)); err != nil {
				return err
			}
		default:
			if clear {
				fmt.Fprint(e.stdout, "\x1b[H\x1b[2J")
			} else {
				fmt.Fprintf(e.stdout, "\n%s\n", time.Now().Format("15:04:05"))
			}
			printTable(e.stdout, apps)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		}
		t := time.NewTimer(watchEvery)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}
