package edge

import (
	"fmt"
	"net/http"
	"slices"
	"sync/atomic"
)

// Balance names how the front chooses an instance for a request.
type Balance string

// The balancing policies of an app (spec.Balance* spell the same strings).
const (
	// LeastConn sends each request to the instance with the fewest in
	// flight, so a slow request does not queue others behind it.
	LeastConn Balance = "least_conn"
	// RoundRobin takes the instances in turn.
	RoundRobin Balance = "round_robin"
	// Sticky keeps a client on one instance by cookie (socket.io's long
	// polling needs it) and picks a new one by least connections.
	Sticky Balance = "sticky"
)

// selector chooses a backend for r among up, skipping those already tried
// for it; nil when none is left. It must be safe for concurrent use.
type selector interface {
	pick(up []*backend, r *http.Request, tried []*backend) *backend
}

// balancer is a policy with its selector, swapped whole by SetBalance.
type balancer struct {
	name   Balance
	cookie string // sticky cookie name, "" unless name is Sticky
	sel    selector
}

func newBalancer(b Balance, cookie string) (*balancer, error) {
	switch b {
	case LeastConn, "":
		return &balancer{name: LeastConn, sel: &leastConn{}}, nil
	case RoundRobin:
		return &balancer{name: b, sel: &roundRobin{}}, nil
	case Sticky:
		return &balancer{name: b, cookie: cookie, sel: &sticky{cookie: cookie}}, nil
	}
	return nil, fmt.Errorf("balance %q: want %s, %s or %s", b, LeastConn, RoundRobin, Sticky)
}

// leastConn picks the backend with the fewest requests in flight. It
// starts its scan one further each time, so ties (an idle pool) rotate
// rather than piling on the first backend.
type leastConn struct{ next atomic.Uint64 }

func (s *leastConn) pick(up []*backend, _ *http.Request, tried []*backend) *backend {
	n := uint64(len(up))
	start := s.next.Add(1)
	var best *backend
	var bestN int64
	for i := range n {
		b := up[(start+i)%n]
		if slices.Contains(tried, b) {
			continue
		}
		if c := b.inflight.Load(); best == nil || c < bestN {
			best, bestN = b, c
		}
	}
	return best
}

// roundRobin takes the backends in turn.
type roundRobin struct{ next atomic.Uint64 }

func (s *roundRobin) pick(up []*backend, _ *http.Request, tried []*backend) *backend {
	n := uint64(len(up))
	start := s.next.Add(1)
	for i := range n {
		if b := up[(start+i)%n]; !slices.Contains(tried, b) {
			return b
		}
	}
	return nil
}

// sticky sends a request carrying a cookie of an up backend to it, and
// any other by least connections; the proxy then sets the cookie.
type sticky struct {
	cookie string
	lc     leastConn
}

func (s *sticky) pick(up []*backend, r *http.Request, tried []*backend) *backend {
	if c, err := r.Cookie(s.cookie); err == nil {
		for _, b := range up {
			if b.cookie == c.Value && !slices.Contains(tried, b) {
				return b
			}
		}
	}
	return s.lc.pick(up, r, tried)
}
