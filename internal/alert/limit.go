package alert

import "time"

// maxLimited is how many incident keys a limiter remembers; past it,
// those whose interval is over are forgotten.
const maxLimited = 2 * MaxIncidents

// limiter is one target's rate limit: at most one alert of an incident
// key per interval. A recovery follows its alert: it is sent when the
// alert was, and suppressed when it was. Pure, like the detector; its
// owner (the alerter) guards it.
type limiter struct {
	every time.Duration
	last  map[string]time.Time // key → when its last alert was let through
	muted map[string]bool      // key → its last alert was suppressed
}

func newLimiter(every time.Duration) *limiter {
	return &limiter{every: every, last: map[string]time.Time{}, muted: map[string]bool{}}
}

// allow reports whether r may be sent at now.
func (l *limiter) allow(r Raised, now time.Time) bool {
	if r.Recovered {
		if l.muted[r.Key] {
			delete(l.muted, r.Key)
			return false
		}
		return true
	}
	if t, ok := l.last[r.Key]; ok && now.Sub(t) < l.every {
		if len(l.muted) >= maxLimited {
			clear(l.muted) // a recovery or two told that need not be
		}
		l.muted[r.Key] = true
		return false
	}
	if len(l.last) >= maxLimited {
		for k, t := range l.last {
			if now.Sub(t) >= l.every {
				delete(l.last, k)
			}
		}
	}
	if len(l.last) < maxLimited {
		l.last[r.Key] = now
	}
	delete(l.muted, r.Key)
	return true
}
