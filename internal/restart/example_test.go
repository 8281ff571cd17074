package restart_test

import (
	"fmt"
	"time"

	"github.com/tendhq/tend/internal/restart"
)

// A crash loop under PM2's defaults with backoff on: each crash within a
// second of starting is unstable, the delay grows, and after max_restarts
// unstable restarts in a row the app is errored.
func ExampleTracker() {
	tr := restart.NewTracker(restart.Policy{
		Autorestart: true,
		MaxRestarts: 3,
		MinUptime:   time.Second,
		ExpBackoff:  100 * time.Millisecond,
	})
	start := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	for range 4 {
		end := start.Add(120 * time.Millisecond)
		d := tr.Decide(restart.Exit{Code: 1, Started: start, Ended: end})
		fmt.Printf("%s: %s\n", d.Action, d.Reason)
		start = end.Add(d.Delay)
	}
	// Output:
	// restart: exited with code 1 after 120ms (unstable 1/3); restarting in 100ms
	// restart: exited with code 1 after 120ms (unstable 2/3); restarting in 150ms
	// restart: exited with code 1 after 120ms (unstable 3/3); restarting in 225ms
	// errored: exited with code 1 after 120ms; 3 unstable restarts in a row (each up less than 1s); not restarting
}
