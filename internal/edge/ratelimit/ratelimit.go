// Package ratelimit enforces the edge's rate_limits: a token bucket per
// rule and client address, with memory bounded against clients with many
// addresses. It starts no goroutine: idle buckets are swept as new
// clients come.
package ratelimit

import (
	"math"
	"net/http"
	"net/netip"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tendhq/tend/internal/edge/edgeconf"
)

// maxBuckets bounds the clients one rule remembers. Past it, buckets
// that have refilled (which say nothing a new one would not) go first,
// then any: an attacker with many addresses resets others' buckets rather
// than growing memory without end.
const maxBuckets = 100_000

// Limiter applies the rate_limits rules: a token bucket per rule and
// client address. No goroutine: idle buckets are swept as new clients come.
type Limiter struct {
	rules []*rateRule
}

type rateRule struct {
	edgeconf.RateLimit
	prefix  string  // cleaned, lower case, without a trailing slash
	rate    float64 // tokens a second
	burst   float64
	methods []string // upper case; empty: all

	mu      sync.Mutex
	buckets map[netip.Addr]bucket // guarded by mu
	sweepAt int                   // len(buckets) that triggers a sweep; guarded by mu
}

type bucket struct {
	tokens float64
	at     time.Time
}

// New compiles limits; nil for none.
func New(limits []edgeconf.RateLimit) *Limiter {
	if len(limits) == 0 {
		return nil
	}
	l := &Limiter{}
	for _, rl := range limits {
		r := &rateRule{
			RateLimit: rl,
			prefix:    strings.TrimSuffix(strings.ToLower(path.Clean(rl.Path)), "/"),
			rate:      rl.PerMinute / 60,
			burst:     float64(rl.Burst),
			buckets:   map[netip.Addr]bucket{},
			sweepAt:   1024,
		}
		if rl.Burst == 0 {
			r.burst = math.Max(1, math.Floor(rl.PerMinute))
		}
		for _, m := range rl.Methods {
			r.methods = append(r.methods, strings.ToUpper(m))
		}
		l.rules = append(l.rules, r)
	}
	return l
}

// SameRules says whether the limiter already enforces limits, so that an
// Update that leaves them alone keeps the buckets.
func (l *Limiter) SameRules(limits []edgeconf.RateLimit) bool {
	if l == nil {
		return len(limits) == 0
	}
	return slices.EqualFunc(l.rules, limits, func(r *rateRule, rl edgeconf.RateLimit) bool {
		return r.Path == rl.Path && r.PerMinute == rl.PerMinute && r.Burst == rl.Burst && slices.Equal(r.Methods, rl.Methods)
	})
}

// Allow takes a token for r from client's bucket of every rule that
// matches; when one is empty it says how long until the next token.
func (l *Limiter) Allow(r *http.Request, client netip.Addr, now time.Time) (bool, time.Duration) {
	if l == nil || !client.IsValid() {
		return true, 0
	}
	var p string // computed once, for the first rule that looks at a path
	for _, rule := range l.rules {
		if len(rule.methods) > 0 && !slices.Contains(rule.methods, r.Method) {
			continue
		}
		if p == "" {
			p = strings.ToLower(path.Clean("/" + r.URL.Path))
		}
		if !underPrefix(p, rule.prefix) {
			continue
		}
		if ok, wait := rule.take(clientKey(client), now); !ok {
			return false, wait
		}
	}
	return true, 0
}

// underPrefix matches whole segments: /login matches /login and
// /login/x, not /loginx.
func underPrefix(p, prefix string) bool {
	return prefix == "" || p == prefix || strings.HasPrefix(p, prefix) && p[len(prefix)] == '/'
}

// clientKey is what a bucket belongs to: an IPv4 address, or an IPv6 /64,
// since one host commonly has a whole /64 to pick addresses from.
func clientKey(a netip.Addr) netip.Addr {
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.Addr()
	}
	return a
}

func (r *rateRule) take(key netip.Addr, now time.Time) (bool, time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, ok := r.buckets[key]
	if !ok {
		r.makeRoom(now)
		b = bucket{tokens: r.burst, at: now}
	} else if dt := now.Sub(b.at).Seconds(); dt > 0 {
		b.tokens = math.Min(r.burst, b.tokens+dt*r.rate)
		b.at = now
	}
	if b.tokens < 1 {
		r.buckets[key] = b
		return false, time.Duration((1 - b.tokens) / r.rate * float64(time.Second))
	}
	b.tokens--
	r.buckets[key] = b
	return true, 0
}

// makeRoom sweeps refilled buckets once the map has grown, and past
// maxBuckets drops buckets at random. Called with mu held.
func (r *rateRule) makeRoom(now time.Time) {
	if len(r.buckets) < r.sweepAt {
		return
	}
	full := time.Duration(r.burst / r.rate * float64(time.Second))
	for k, b := range r.buckets {
		if now.Sub(b.at) >= full {
			delete(r.buckets, k)
		}
	}
	for k := range r.buckets {
		if len(r.buckets) < maxBuckets {
			break
		}
		delete(r.buckets, k)
	}
	r.sweepAt = min(max(1024, 2*len(r.buckets)), maxBuckets)
}

// RetryAfter is the Retry-After value for a wait: whole seconds, at
// least 1.
func RetryAfter(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}
