package remote

import (
	"net/http"
	"sync"

	"github.com/tendhq/tend/internal/api"
)

// Access is what a request beyond the unix socket needs.
type Access int

const (
	// Operate needs an operator token: the request changes what runs, or
	// reads what may be secret. Every route the table does not name is
	// this, so a route added later is never open by default.
	Operate Access = iota
	// Read is served to read-only tokens too: it changes nothing and
	// shows nothing secret.
	Read
	// Never is not served beyond the unix socket at all: what a remote
	// caller must not do even with an operator token.
	Never
)

func (a Access) String() string {
	switch a {
	case Read:
		return "read"
	case Never:
		return "local only"
	}
	return "operator"
}

// routes classifies the control API's routes for callers beyond the unix
// socket. The patterns are the daemon's mux patterns (internal/daemon,
// routes), matched the same way; what matches none of them is Operate.
//
// Never:
//   - update replaces the daemon's program with a file of the host named
//     by the caller, and kill stops the daemon, which a remote caller
//     cannot start again (stop all is the remote way to stop every app);
//   - tokens and remote: token management is local only, whatever route
//     may ever serve it (tend remote token writes the store on the host).
//
// Operator, not Read: env (an app's environment holds its secrets),
// alerts (their webhook URLs are secrets too), and
// every route that starts, stops or changes an app. A remote start or
// apply names paths on the daemon's host: the daemon checks them there
// (the caller's environment is not sent; apps inherit the daemon's).
var routes = []struct {
	pattern string
	access  Access
}{
	{"GET /ping", Read},
	{"GET /apps", Read},
	{"GET /apps/{target}", Read},
	{"GET /metrics", Read},
	{"GET /logs", Read},
	{"GET /events", Read},
	{"POST /apps/{target}/profile", Read},
	{"POST /apps/{target}/profile/stop", Read},

	{"GET /apps/{target}/env", Operate},
	{"POST /apps", Operate},
	{"DELETE /apps/{target}", Operate},
	{"POST /apps/{target}/{action}", Operate},
	{"POST /apps/{target}/set", Operate},
	{"POST /apply", Operate},
	{"POST /save", Operate},
	{"POST /resurrect", Operate},
	{"POST /logs/flush", Operate},
	{"POST /logs/reopen", Operate},
	// Alert targets are webhook URLs, often secrets themselves (a chat's
	// incoming webhook); a test sends to all of them.
	{"GET /alerts", Operate},
	{"POST /alerts/test", Operate},
	// Releases: a deploy or rollback changes what runs; the list is
	// what tend releases shows.
	{"GET /releases/{app}", Read},
	{"POST /releases", Operate},
	{"POST /releases/{app}/rollback", Operate},

	{"/update", Never},
	{"/kill", Never},
	{"/tokens", Never},
	{"/tokens/", Never},
	{"/remote", Never},
	{"/remote/", Never},
}

// table is routes as a mux whose handlers are their Access, made at its
// first use: every tend command would pay for it at start-up.
var table = sync.OnceValue(func() *http.ServeMux {
	mux := http.NewServeMux()
	for _, r := range routes {
		method, path, ok := cut(r.pattern)
		if !ok {
			path, method = r.pattern, ""
		}
		pattern := api.Prefix + path
		if method != "" {
			pattern = method + " " + pattern
		}
		mux.Handle(pattern, accessHandler(r.access))
	}
	return mux
})

func cut(pattern string) (method, path string, ok bool) {
	for i := 0; i < len(pattern); i++ {
		if pattern[i] == ' ' {
			return pattern[:i], pattern[i+1:], true
		}
	}
	return "", pattern, false
}

type accessHandler Access

func (accessHandler) ServeHTTP(http.ResponseWriter, *http.Request) {}

// Classify says what r needs beyond the unix socket: the Access of the
// route it matches, Operate for any other.
func Classify(r *http.Request) Access {
	h, pattern := table().Handler(r)
	if a, ok := h.(accessHandler); ok && pattern != "" {
		return Access(a)
	}
	return Operate
}
