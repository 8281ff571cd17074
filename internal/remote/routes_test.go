package remote

import (
	"net/http/httptest"
	"testing"
)

func TestRoutesAreClassifiedWithDefaultDeny(t *testing.T) {
	for _, c := range []struct {
		method, path string
		want         Access
	}{
		{"GET", "/v1/ping", Read},
		{"GET", "/v1/apps", Read},
		{"HEAD", "/v1/apps", Read},
		{"GET", "/v1/apps/api", Read},
		{"GET", "/v1/logs?app=api&follow=1", Read},
		{"GET", "/v1/events", Read},
		{"GET", "/v1/metrics", Read},
		{"POST", "/v1/apps/api/profile", Read},
		{"POST", "/v1/apps/api/profile/stop", Read},

		// Secrets and changes need an operator.
		{"GET", "/v1/apps/api/env", Operate},
		{"POST", "/v1/apps", Operate},
		{"DELETE", "/v1/apps/api", Operate},
		{"POST", "/v1/apps/api/restart", Operate},
		{"POST", "/v1/apps/api/reload", Operate},
		{"POST", "/v1/apps/api/scale", Operate},
		{"POST", "/v1/apps/api/set", Operate},
		{"POST", "/v1/apply", Operate},
		{"POST", "/v1/save", Operate},
		{"POST", "/v1/logs/flush", Operate},
		{"GET", "/v1/alerts", Operate},
		{"POST", "/v1/alerts/test", Operate},
		// Releases: listing is a read, deploy and rollback operate.
		{"GET", "/v1/releases/api", Read},
		{"POST", "/v1/releases", Operate},
		{"POST", "/v1/releases/api/rollback", Operate},

		// Never beyond the socket, whatever the method.
		{"POST", "/v1/update", Never},
		{"GET", "/v1/update", Never},
		{"POST", "/v1/kill", Never},
		{"POST", "/v1/tokens", Never},
		{"DELETE", "/v1/tokens/ci", Never},
		{"GET", "/v1/remote/tokens", Never},

		// Unknown routes, today's and tomorrow's, need an operator: a
		// GET is not a read because of its method.
		{"GET", "/v1/fleet/hosts", Operate},
		{"POST", "/v1/releases/api", Operate},
		{"PUT", "/v1/apps/api", Operate},
		{"GET", "/v1/apps/api/something", Operate},
		{"GET", "/v2/apps", Operate},
		{"GET", "/", Operate},
		{"GET", "/v1/apps/x/../../kill", Operate}, // redirected by the mux, served by nobody
	} {
		r := httptest.NewRequest(c.method, c.path, nil)
		if got := Classify(r); got != c.want {
			t.Errorf("%s %s: %s, want %s", c.method, c.path, got, c.want)
		}
	}
}
