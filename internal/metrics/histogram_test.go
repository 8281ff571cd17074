package metrics

import (
	"math"
	"testing"

	"github.com/tendhq/tend/internal/api"
)

func TestQuantile(t *testing.T) {
	// 100 observations: 50 up to 0.1, 40 in (0.1, 0.5], 8 in (0.5, 1], 2 above 1.
	bs := []api.Bucket{{LE: 0.1, Count: 50}, {LE: 0.5, Count: 90}, {LE: 1, Count: 98}}
	for _, c := range []struct {
		q     float64
		count uint64
		want  float64
		above bool
		ok    bool
	}{
		{q: 0.5, count: 100, want: 0.1, ok: true},   // the rank is the first bucket's last observation
		{q: 0.25, count: 100, want: 0.05, ok: true}, // halfway through the first bucket, from 0
		{q: 0.7, count: 100, want: 0.3, ok: true},   // halfway through (0.1, 0.5]
		{q: 0.94, count: 100, want: 0.75, ok: true}, // halfway through (0.5, 1]
		{q: 0.99, count: 100, want: 1, above: true, ok: true},
		{q: 0.5, count: 0},
		{q: 1.5, count: 100},
	} {
		v, above, ok := Quantile(c.q, bs, c.count)
		if math.Abs(v-c.want) > 1e-9 || above != c.above || ok != c.ok {
			t.Errorf("Quantile(%g) of %d = %g, above %v, ok %v; want %g, %v, %v", c.q, c.count, v, above, ok, c.want, c.above, c.ok)
		}
	}
	// Empty buckets before the rank are skipped, not divided by.
	if v, _, _ := Quantile(0.5, []api.Bucket{{LE: 0.1, Count: 0}, {LE: 0.2, Count: 0}, {LE: 0.4, Count: 4}}, 4); math.Abs(v-0.3) > 1e-9 {
		t.Errorf("after empty buckets: %g, want 0.3", v)
	}
}
