package ratelimit

import (
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/edge/edgeconf"
)

func TestRateLimiterBoundsMemory(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	l := New([]edgeconf.RateLimit{{Path: "/", PerMinute: 60}})
	r, _ := http.NewRequest("GET", "/", nil)
	rule := l.rules[0]
	for i := range 5000 {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		l.Allow(r, a, now)
		now = now.Add(100 * time.Millisecond)
	}
	// A bucket refills in 60s, i.e. 600 clients of this loop: older ones
	// are swept as new ones come.
	rule.mu.Lock()
	n := len(rule.buckets)
	rule.mu.Unlock()
	if n > 2048 {
		t.Fatalf("%d buckets kept for 600 active clients", n)
	}
}
