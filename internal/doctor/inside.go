package doctor

import (
	"fmt"
	"strings"
)

// The checks that need a look inside the running app: what its stderr
// said since its instances started, what tend's runtime preload counted,
// and (tend doctor --deep) what --trace-sync-io reported over a probe
// window.

// MemoryStoreWarning is the start of what express-session writes to
// stderr when it runs with its default MemoryStore and NODE_ENV=production.
const MemoryStoreWarning = "connect.session() MemoryStore is not"

// SyncIOWarning starts each report of --trace-sync-io.
const SyncIOWarning = "WARNING: Detected use of sync API"

// SyncIOProbe is what tend doctor --deep saw: Requests sent through the
// edge while the app ran with --trace-sync-io, and the Warnings its stderr
// had meanwhile, with the first stack frame of the app's code of the first
// one (Where).
type SyncIOProbe struct {
	Requests int
	Warnings int
	Where    string
	// Err says why the probe could not be made.
	Err error
}

// sessionStore checks for express-session's MemoryStore, from the warning
// express-session writes at startup in production.
func (c *checker) sessionStore(starts []string) {
	_, installed := installed(starts, "express-session")
	seen := false
	for _, l := range c.in.RecentStderr {
		if strings.Contains(l, MemoryStoreWarning) {
			seen = true
			break
		}
	}
	switch {
	case seen:
		c.add("session_store", Fail, "express-session runs with its default MemoryStore (its warning is in the instances' stderr): sessions leak memory, are lost at every restart and are not shared between instances.",
			fmt.Sprintf("Give session() a shared store (connect-redis, connect-pg-simple, ...) as `store`, then `tend reload %s`.", c.name))
	case installed:
		c.add("session_store", Pass, fmt.Sprintf("No MemoryStore warning among the %d stderr lines of the running instances.", len(c.in.RecentStderr)), "")
	}
}

// unhandledRejections checks the count of unhandled promise rejections the
// runtime preload reports.
func (c *checker) unhandledRejections() {
	n, seen := 0.0, false
	for _, in := range c.in.App.Instances {
		if v, ok := in.Node["unhandled_rejections_total"]; ok {
			n += v
			seen = true
		}
	}
	switch {
	case !seen:
		return
	case n > 0:
		c.add("unhandled_rejections", Warn, fmt.Sprintf("%.0f unhandled promise rejections since the instances started (a rejected promise nobody awaited or .catch()ed: the request it served may never have been answered).", n),
			fmt.Sprintf("Find them in `tend logs %s --err` and await or .catch() those promises; an Express 4 async handler needs a try/catch that calls next(err).", c.name))
	default:
		c.add("unhandled_rejections", Pass, "No unhandled promise rejection since the instances started.", "")
	}
}

// syncIO checks what tend doctor --deep saw with --trace-sync-io.
func (c *checker) syncIO() {
	p := c.in.SyncIO
	switch {
	case p == nil:
		return
	case p.Err != nil:
		c.add("sync_io", Warn, fmt.Sprintf("The synchronous I/O probe failed: %v.", p.Err),
			fmt.Sprintf("Check that %s is online and answers, then run `tend doctor %s --deep` again.", c.name, c.name))
	case p.Warnings > 0:
		where := ""
		if p.Where != "" {
			where = ", first " + p.Where
		}
		c.add("sync_io", Warn, fmt.Sprintf("%d synchronous I/O calls during %d requests (--trace-sync-io%s): each blocks every request of the instance while it waits.", p.Warnings, p.Requests, where),
			"Use the asynchronous APIs on the request path (fs.promises, crypto and zlib's callback forms), or read what is needed once at startup.")
	default:
		c.add("sync_io", Pass, fmt.Sprintf("No synchronous I/O during %d requests (--trace-sync-io).", p.Requests), "")
	}
}
