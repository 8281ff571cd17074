package app

import (
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tendhq/tend/internal/api"
)

// An app remembers its instances' unexpected exits of the last day, so that
// describe and doctor can tell a crash loop from a one-off: an instance's
// LastExit is only its latest.
const (
	crashWindow = 24 * time.Hour
	maxCrashes  = 200
)

// recordCrash adds an unexpected exit of instance index to the crash log,
// with the error line found in detail (its stderr, or why it could not
// start), and forgets those older than crashWindow, or beyond maxCrashes.
// A clean exit (code 0, no signal) is not a crash, even when tend did not
// ask for it. Owner goroutine.
func (a *App) recordCrash(index int, e *api.Exit, detail []string, now time.Time) {
	if e.Code == 0 && e.Signal == "" {
		return
	}
	a.crashes = append(a.crashes, api.Crash{At: e.At, Instance: index, Code: e.Code, Signal: e.Signal, Error: errorLineOf(detail)})
	a.crashes = slices.Delete(a.crashes, 0, max(a.firstRecent(now), len(a.crashes)-maxCrashes))
}

// recentCrashes returns the crash log of the last crashWindow. Owner goroutine.
func (a *App) recentCrashes(now time.Time) []api.Crash {
	return slices.Clone(a.crashes[a.firstRecent(now):])
}

// firstRecent is the index of the first crash within crashWindow of now.
func (a *App) firstRecent(now time.Time) int {
	i := 0
	for i < len(a.crashes) && now.Sub(a.crashes[i].At) > crashWindow {
		i++
	}
	return i
}

// errorLine finds the line that names an uncaught error: "TypeError: ...",
// "Error [ERR_X]: ...", Python's "KeyError: ...", V8's "FATAL ERROR: ...".
var errorLine = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`(?:^|\s)((?:Uncaught\s+)?[A-Za-z_$.]*(?:Error|Exception)(?:\s*\[[A-Z0-9_]+\])?:\s.*|FATAL ERROR:.*)$`)
})

// errorLineOf is the error line of a crash's stderr: the first line that
// names an error, else the last line that is neither a stack frame nor
// Node's version trailer.
func errorLineOf(stderr []string) string {
	for _, l := range stderr {
		if m := errorLine().FindStringSubmatch(l); m != nil {
			return strings.TrimSpace(m[1])
		}
	}
	for _, l := range slices.Backward(stderr) {
		t := strings.TrimSpace(l)
		if t != "" && !strings.HasPrefix(t, "at ") && !strings.HasPrefix(t, "Node.js v") {
			return t
		}
	}
	return ""
}
