// Package doctor checks a running app against the production checklist
// (Express's "production best practices: performance and reliability" and
// "security" pages, and the process-management half that tend owns) and says
// how to fix each finding. `tend doctor` prints its results.
//
// Check runs every check that needs nothing beyond the app itself: its
// settings, environment, installed packages, and one GET through the edge.
// Audit runs `npm audit`, which needs the npm registry.
//
// The checks, by Result.Check:
//
//	node_env       NODE_ENV=production (FAIL)
//	node_version   Node.js line not end-of-life (FAIL), not close to it or pre-LTS (WARN)
//	express        no end-of-life major or known advisory (FAIL); Express 4 is in maintenance (WARN)
//	body-parser    no known advisory (FAIL)
//	tls            HTTPS, or a loopback-only port (FAIL)
//	probe          the GET through the edge failed, so the next three were not run (WARN)
//	headers        security headers present, X-Powered-By absent (WARN)
//	compression    text responses compressed (WARN)
//	cookies        Secure (on HTTPS), HttpOnly, SameSite (WARN)
//	session_cookie not a framework's default session name: connect.sid FAIL, others WARN
//	session_store  express-session's MemoryStore not in use, from its warning in stderr (FAIL)
//	unhandled_rejections none counted by tend's runtime preload (WARN)
//	sync_io        no synchronous I/O on the request path, with --deep only (WARN)
//	autorestart    on (FAIL)
//	instances      at least 2 (WARN)
//	memory_limit   max_memory_restart set (WARN)
//	log_rotation   max_size or rotate_interval, or a daemon default (WARN)
//	startup        tend starts on boot (WARN)
//	crashes        no unexpected exit in the last 24 hours (WARN)
//	npm_audit      from Audit: high and critical FAIL, the rest WARN
//
// Checks that do not apply are left out: the Node.js ones for apps that are
// not Node.js, the HTTP ones for apps without a port, Express's when it is
// not installed.
package doctor

import (
	"context"
	"net/http"
	"time"

	"github.com/tendhq/tend/internal/startup"

	"github.com/tendhq/tend/internal/api"
)

// Level is how a check came out.
type Level string

// Levels, from fine to must-fix.
const (
	Pass Level = "PASS"
	Warn Level = "WARN"
	Fail Level = "FAIL"
)

// Result is one check of one app.
type Result struct {
	App    string `json:"app"`
	Check  string `json:"check"`
	Level  Level  `json:"level"`
	Detail string `json:"detail"`        // what was found
	Fix    string `json:"fix,omitempty"` // how to fix it: one concrete sentence; empty on PASS
}

// Input is what Check knows about one app. The daemon gathers it.
type Input struct {
	App api.App // with Spec set, as describe returns it
	// Env is instance 0's environment; nil when no instance runs, and the
	// spec's env is read instead.
	Env map[string]string
	// NodeVersion is `node --version` of the app's interpreter, such as
	// "v20.20.2"; "" when the app does not run under Node.js.
	NodeVersion string
	// URL is where the edge serves the app, such as https://example.com:443
	// or http://127.0.0.1:3000; "" when the app has no port.
	URL string
	// Loopback says the public port listens on loopback addresses only.
	Loopback bool
	// Startup is the state of the boot unit `tend startup` writes.
	Startup startup.State
	// LogRotationDefault says the daemon rotates logs by default
	// (daemon.yaml), so an app without rotation settings is rotated too.
	LogRotationDefault bool
	Now                time.Time // zero: time.Now()
	// RecentStderr are the stderr lines of the app's running instances
	// (since the oldest of them started), as far as the daemon keeps them.
	RecentStderr []string
	// SyncIO is the --trace-sync-io probe of tend doctor --deep; nil when
	// none was made.
	SyncIO *SyncIOProbe
	// HTTPClient makes the probe; nil: a client with a 10s timeout. It must
	// trust the edge's certificate for the URL's host.
	HTTPClient *http.Client
}

// checker accumulates one app's results.
type checker struct {
	in   Input
	name string // the app as the CLI names it, for fixes
	now  time.Time
	rs   []Result
}

func (c *checker) add(check string, level Level, detail, fix string) {
	if level == Pass {
		fix = ""
	}
	c.rs = append(c.rs, Result{App: c.name, Check: check, Level: level, Detail: detail, Fix: fix})
}

// Check runs every check that applies to in.App, in the order of the
// package documentation. It does not fail: what it cannot determine is a
// WARN that says so.
func Check(ctx context.Context, in Input) []Result {
	c := &checker{in: in, name: in.App.Name, now: in.Now}
	if c.now.IsZero() {
		c.now = time.Now()
	}
	sp := in.App.Spec
	starts := searchDirs(sp)
	if in.NodeVersion != "" || sp != nil && sp.IsNode() || ProjectDir(sp) != "" {
		c.nodeEnv()
		c.nodeVersion()
		c.packages(starts)
		c.sessionStore(starts)
		c.unhandledRejections()
	}
	if in.URL != "" {
		c.tls()
		c.probe(ctx)
		c.syncIO()
	}
	if sp != nil {
		c.settings()
	}
	c.startup()
	c.crashes()
	return c.rs
}

// Summary counts results by level.
func Summary(rs []Result) (pass, warn, fail int) {
	for _, r := range rs {
		switch r.Level {
		case Pass:
			pass++
		case Warn:
			warn++
		case Fail:
			fail++
		}
	}
	return pass, warn, fail
}
