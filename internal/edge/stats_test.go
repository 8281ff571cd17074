package edge

import (
	"testing"
	"time"
)

func TestRequestStats(t *testing.T) {
	var s reqStats
	now := time.Unix(1_000_000, 0)
	// 90 fast requests and 10 slow ones: p50 is fast, p99 slow.
	for range 90 {
		s.observe(200, 10, 100, 3*time.Millisecond, 0, now)
	}
	for range 9 {
		s.observe(503, 0, 20, 700*time.Millisecond, 1, now)
	}
	s.observe(404, 0, 20, 20*time.Second, 0, now)
	r := s.snapshot(now)
	if r.Requests["2xx"] != 90 || r.Requests["5xx"] != 9 || r.Requests["4xx"] != 1 {
		t.Errorf("classes %v", r.Requests)
	}
	if r.Count != 100 || r.BytesIn != 900 || r.BytesOut != 9200 || r.Retries != 9 {
		t.Errorf("totals: %+v", r)
	}
	if last := r.Buckets[len(r.Buckets)-1]; last.LE != 10 || last.Count != 99 {
		t.Errorf("cumulative buckets end at %+v, want 99 requests within 10s", last)
	}
	if r.P50 > 5*time.Millisecond || r.P50 <= 0 {
		t.Errorf("p50 = %v, want within the 5ms bucket", r.P50)
	}
	if r.P95 < 500*time.Millisecond || r.P95 > time.Second {
		t.Errorf("p95 = %v, want in the 0.5–1s bucket", r.P95)
	}
	// The current second is not complete: it counts in the minute only.
	if r.RPSMinute != 100.0/window || r.RPS != 0 {
		t.Errorf("in the same second: rps %v, minute %v", r.RPS, r.RPSMinute)
	}
	next := s.snapshot(now.Add(time.Second))
	if next.RPS != 100.0/rateSeconds || next.RPSMinute != 100.0/window {
		t.Errorf("a second later: rps %v, minute %v; want %v, %v", next.RPS, next.RPSMinute, 100.0/rateSeconds, 100.0/window)
	}
	if gone := s.snapshot(now.Add((rateSeconds + 1) * time.Second)); gone.RPS != 0 || gone.RPSMinute != 100.0/window {
		t.Errorf("%d s later: rps %v, minute %v", rateSeconds+1, gone.RPS, gone.RPSMinute)
	}
	// A minute later the window is empty; the totals stay.
	later := s.snapshot(now.Add(window * time.Second))
	if later.RPS != 0 || later.RPSMinute != 0 || later.P99 != 0 || later.Count != 100 {
		t.Errorf("after a minute: rps %v p99 %v count %d", later.RPS, later.P99, later.Count)
	}
}
