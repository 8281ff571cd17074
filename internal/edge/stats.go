package edge

import (
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// latencyBuckets are the upper bounds, in seconds, of the latency
// histogram: Prometheus's defaults, which suit web requests.
var latencyBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// window is how far back percentiles and the minute's request rate look.
const window = 60

// rateSeconds is how far back the current request rate looks: the last
// complete seconds, so that the rate follows load within a few seconds
// (a minute's average shows 3/s a while after 20/s began).
const rateSeconds = 5

// reqStats counts the requests one backend answered. Totals are atomics,
// touched by every request; the last minute's histogram, for percentiles,
// is kept per second under a mutex held for a few instructions.
type reqStats struct {
	classes  [6]atomic.Uint64 // by status/100; 0 for anything else
	bytesIn  atomic.Uint64
	bytesOut atomic.Uint64
	retries  atomic.Uint64
	count    atomic.Uint64
	sumNanos atomic.Int64
	buckets  [12]atomic.Uint64 // per bucket, not cumulative; the last is +Inf

	mu    sync.Mutex
	slots [window]slot // guarded by mu; slot i holds second sec%window
}

type slot struct {
	sec    int64
	counts [12]uint32
}

func bucketOf(d time.Duration) int {
	s := d.Seconds()
	for i, le := range latencyBuckets {
		if s <= le {
			return i
		}
	}
	return len(latencyBuckets)
}

// observe counts one finished request.
func (s *reqStats) observe(status int, in, out int64, d time.Duration, retries int, now time.Time) {
	c := status / 100
	if c < 1 || c > 5 {
		c = 0
	}
	s.classes[c].Add(1)
	if in > 0 {
		s.bytesIn.Add(uint64(in))
	}
	if out > 0 {
		s.bytesOut.Add(uint64(out))
	}
	if retries > 0 {
		s.retries.Add(uint64(retries))
	}
	s.count.Add(1)
	s.sumNanos.Add(int64(d))
	b := bucketOf(d)
	s.buckets[b].Add(1)
	sec := now.Unix()
	s.mu.Lock()
	sl := &s.slots[sec%window]
	if sl.sec != sec {
		*sl = slot{sec: sec}
	}
	sl.counts[b]++
	s.mu.Unlock()
}

// RequestStats is a backend's traffic since it joined.
type RequestStats struct {
	Requests       map[string]uint64 // by status class: "2xx", ...
	InFlight       int64
	BytesIn        uint64
	BytesOut       uint64
	UpstreamErrors uint64
	Retries        uint64
	Count          uint64
	SumSeconds     float64
	Buckets        []Bucket // cumulative
	// Over the last minute:
	P50, P95, P99 time.Duration
	RPSMinute     float64
	// RPS is the rate over the last rateSeconds complete seconds.
	RPS float64
}

// Bucket is one cumulative latency bucket.
type Bucket struct {
	LE    float64
	Count uint64
}

func (s *reqStats) snapshot(now time.Time) RequestStats {
	r := RequestStats{
		Requests:   map[string]uint64{},
		BytesIn:    s.bytesIn.Load(),
		BytesOut:   s.bytesOut.Load(),
		Retries:    s.retries.Load(),
		Count:      s.count.Load(),
		SumSeconds: float64(s.sumNanos.Load()) / 1e9,
	}
	for i := range s.classes {
		if n := s.classes[i].Load(); n > 0 {
			name := "other"
			if i > 0 {
				name = string(rune('0'+i)) + "xx"
			}
			r.Requests[name] = n
		}
	}
	var cum uint64
	for i, le := range latencyBuckets {
		cum += s.buckets[i].Load()
		r.Buckets = append(r.Buckets, Bucket{LE: le, Count: cum})
	}
	var recent [12]uint64
	var total, current uint64
	nowSec := now.Unix()
	cutoff := nowSec - window
	s.mu.Lock()
	for i := range s.slots {
		sec := s.slots[i].sec
		if sec <= cutoff {
			continue
		}
		for b, n := range s.slots[i].counts {
			recent[b] += uint64(n)
			total += uint64(n)
			if sec < nowSec && sec >= nowSec-rateSeconds {
				current += uint64(n)
			}
		}
	}
	s.mu.Unlock()
	r.RPSMinute = float64(total) / window
	r.RPS = float64(current) / rateSeconds
	r.P50, r.P95, r.P99 = quantile(recent, total, .5), quantile(recent, total, .95), quantile(recent, total, .99)
	return r
}

// quantile estimates the q-quantile from bucket counts, interpolating
// linearly within the bucket, as Prometheus's histogram_quantile does.
func quantile(counts [12]uint64, total uint64, q float64) time.Duration {
	if total == 0 {
		return 0
	}
	rank := q * float64(total)
	var cum float64
	for i, n := range counts {
		prev := cum
		cum += float64(n)
		if cum < rank || n == 0 {
			continue
		}
		lo := 0.0
		if i > 0 {
			lo = latencyBuckets[i-1]
		}
		if i == len(latencyBuckets) {
			return time.Duration(lo * 1e9) // +Inf bucket: its lower bound
		}
		hi := latencyBuckets[i]
		frac := (rank - prev) / float64(n)
		return time.Duration(math.Round((lo + (hi-lo)*frac) * 1e9))
	}
	return time.Duration(latencyBuckets[len(latencyBuckets)-1] * 1e9)
}

// Stats returns the traffic of one backend; ok is false when the front
// does not know it.
func (f *Front) Stats(id string) (RequestStats, bool) {
	b := f.pool.member(id)
	if b == nil {
		return RequestStats{}, false
	}
	r := b.traffic.snapshot(f.now())
	r.InFlight = b.inflight.Load()
	r.UpstreamErrors = b.failures.Load()
	return r, true
}
