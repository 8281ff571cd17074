package metrics

import (
	"github.com/tendhq/tend/internal/api"
)

// Quantile estimates the q-quantile (0 ≤ q ≤ 1) of count observations from
// cumulative buckets sorted by upper bound (the +Inf bucket left out), as
// Prometheus's histogram_quantile does: it finds the bucket the rank falls
// in and interpolates linearly within it, the first bucket starting at 0.
// When the rank falls beyond the last finite bound, the estimate is that
// bound and above is true: the histogram only says "more than this". With
// no observations ok is false.
func Quantile(q float64, buckets []api.Bucket, count uint64) (v float64, above, ok bool) {
	if count == 0 || q < 0 || q > 1 {
		return 0, false, false
	}
	rank := q * float64(count)
	var lo float64
	var below uint64
	for _, b := range buckets {
		if float64(b.Count) >= rank && b.Count > below {
			frac := (rank - float64(below)) / float64(b.Count-below)
			return lo + (b.LE-lo)*frac, false, true
		}
		lo, below = b.LE, b.Count
	}
	return lo, true, true
}
