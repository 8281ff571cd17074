package edge

import (
	"context"
	"fmt"
	"hash/fnv"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/tendhq/tend/internal/edge/upstream"
)

// Backend is one instance the front can send requests to.
type Backend struct {
	ID   string // unique in the pool, e.g. "api#1.g4" (instance 1, generation 4)
	Addr string // where the instance listens, e.g. "127.0.0.1:41234"
}

// BackendStats is a snapshot of one backend, for `tend ls`, monit and metrics.
type BackendStats struct {
	ID, Addr string
	Up       bool   // in selection
	Draining bool   // removed, with requests still in flight
	InFlight int64  // requests (and upgraded connections) being served now
	Requests uint64 // requests sent to it, retried ones included
	Failures uint64 // requests that failed on it: refused connections and 502s
}

// backend is a Backend with its live state. The counters are atomics
// because every request touches them; down and removed change only under
// pool.mu but are read lock-free by acquire.
type backend struct {
	Backend
	cookie   string // the sticky cookie value: a hash, so instance names stay private
	inflight atomic.Int64
	requests atomic.Uint64
	failures atomic.Uint64
	traffic  reqStats // what it answered, for metrics
	down     atomic.Bool
	removed  atomic.Bool

	drained   chan struct{} // closed once removed and idle
	drainOnce sync.Once

	idle upstream.IdleConns // keep-alive connections to it, waiting for a request
}

func newBackend(b Backend) *backend {
	h := fnv.New64a()
	h.Write([]byte(b.ID))
	return &backend{Backend: b, cookie: strconv.FormatUint(h.Sum64(), 36), drained: make(chan struct{})}
}

// release ends one request on b. The last one out of a removed backend
// wakes its Drain.
func (b *backend) release() {
	if b.inflight.Add(-1) == 0 && b.removed.Load() {
		b.drainOnce.Do(func() { close(b.drained) })
	}
}

func (b *backend) stats() BackendStats {
	return BackendStats{
		ID: b.ID, Addr: b.Addr,
		Up:       !b.down.Load() && !b.removed.Load(),
		Draining: b.removed.Load() && b.inflight.Load() > 0,
		InFlight: b.inflight.Load(),
		Requests: b.requests.Load(),
		Failures: b.failures.Load(),
	}
}

// pool is the set of backends of one front. Requests read an immutable
// snapshot of the selectable backends without locking; changes, which are
// rare, rebuild it under mu.
type pool struct {
	up atomic.Pointer[[]*backend]

	mu      sync.Mutex
	members []*backend // in the pool, up or down, in the order they were added; guarded by mu
	leaving []*backend // removed while requests were in flight, until drained; guarded by mu
}

func newPool() *pool {
	p := &pool{}
	p.up.Store(&[]*backend{})
	return p
}

// rebuild publishes the selectable backends. Called with mu held.
func (p *pool) rebuild() {
	up := make([]*backend, 0, len(p.members))
	for _, b := range p.members {
		if !b.down.Load() {
			up = append(up, b)
		}
	}
	p.up.Store(&up)
}

func (p *pool) find(id string) int {
	return slices.IndexFunc(p.members, func(b *backend) bool { return b.ID == id })
}

// acquire picks a backend for r among those not tried yet and counts the
// request in flight on it; nil when none is left.
func (p *pool) acquire(sel selector, r *http.Request, tried []*backend) *backend {
	for {
		b := sel.pick(*p.up.Load(), r, tried)
		if b == nil {
			return nil
		}
		// Count first, then check: remove sets removed before it looks at
		// inflight, so either it sees this request or this request sees it
		// was removed. Drain can never miss a request.
		b.inflight.Add(1)
		if !b.removed.Load() && !b.down.Load() {
			b.requests.Add(1)
			return b
		}
		// It went down or away under us: look again without it. Appending
		// to a full slice copies, so the caller's tried list is untouched.
		b.release()
		tried = append(tried[:len(tried):len(tried)], b)
	}
}

func (p *pool) add(nb Backend) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if i := p.find(nb.ID); i >= 0 {
		if b := p.members[i]; b.Addr == nb.Addr {
			b.down.Store(false)
			p.rebuild()
			return
		}
		p.removeAt(i)
	}
	p.members = append(p.members, newBackend(nb))
	p.rebuild()
}

func (p *pool) remove(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if i := p.find(id); i >= 0 {
		p.removeAt(i)
	}
}

// removeAt takes members[i] out of selection. Called with mu held.
func (p *pool) removeAt(i int) {
	b := p.members[i]
	p.members = slices.Delete(p.members, i, i+1)
	p.rebuild()
	b.removed.Store(true)
	b.idle.Drop(true)
	if b.inflight.Load() == 0 {
		b.drainOnce.Do(func() { close(b.drained) })
	}
	p.leaving = slices.DeleteFunc(p.leaving, isDrained)
	if !isDrained(b) {
		p.leaving = append(p.leaving, b)
	}
}

func isDrained(b *backend) bool {
	select {
	case <-b.drained:
		return true
	default:
		return false
	}
}

// setDown marks b down or up and reports whether that changed anything.
func (p *pool) setDown(b *backend, down bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if b.removed.Load() || b.down.Load() == down {
		return false
	}
	b.down.Store(down)
	if down {
		b.idle.Drop(false) // a failed dial says they are dead too
	}
	p.rebuild()
	return true
}

// all is every backend, in the pool or still draining.
func (p *pool) all() []*backend {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append(slices.Clone(p.members), p.leaving...)
}

func (p *pool) member(id string) *backend {
	p.mu.Lock()
	defer p.mu.Unlock()
	if i := p.find(id); i >= 0 {
		return p.members[i]
	}
	return nil
}

func (p *pool) drain(ctx context.Context, id string) error {
	p.mu.Lock()
	if p.find(id) >= 0 {
		p.mu.Unlock()
		return fmt.Errorf("drain %s: it is still in the pool; Remove it first", id)
	}
	var waits []*backend
	for _, b := range p.leaving {
		if b.ID == id {
			waits = append(waits, b)
		}
	}
	p.mu.Unlock()
	for _, b := range waits {
		select {
		case <-b.drained:
		case <-ctx.Done():
			return fmt.Errorf("drain %s: %d requests still in flight: %w", id, b.inflight.Load(), ctx.Err())
		}
	}
	p.mu.Lock()
	p.leaving = slices.DeleteFunc(p.leaving, isDrained)
	p.mu.Unlock()
	return nil
}

func (p *pool) stats() []BackendStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.leaving = slices.DeleteFunc(p.leaving, isDrained)
	out := make([]BackendStats, 0, len(p.members)+len(p.leaving))
	for _, b := range p.members {
		out = append(out, b.stats())
	}
	for _, b := range p.leaving {
		out = append(out, b.stats())
	}
	return out
}
