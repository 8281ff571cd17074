package edge

import (
	"log/slog"
	"strings"
	"sync"
	"time"
)

// logEvery is the shortest time between two log lines of one kind that
// any client can cause (a malformed body, a smuggling attempt): without
// it a client could grow the daemon's log at will.
const logEvery = 10 * time.Second

// logLimiter lets one line of a kind through per logEvery, and counts
// the ones it held back for the next line to say. The zero value is
// ready.
type logLimiter struct {
	mu         sync.Mutex
	last       time.Time // of the last line let through; guarded by mu
	suppressed int       // lines held back since; guarded by mu
}

// allow says whether a line may go out now, and how many were held back
// before it.
func (l *logLimiter) allow(now time.Time) (ok bool, suppressed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last.IsZero() && now.Sub(l.last) < logEvery {
		l.suppressed++
		return false, 0
	}
	l.last = now
	suppressed, l.suppressed = l.suppressed, 0
	return true, suppressed
}

// limitedLog is the writer of the HTTP/2 server's ErrorLog. What it logs
// is mostly a client's doing (a bad preface, a protocol error, the
// GOAWAY of a client that leaves), so it goes through a logLimiter.
type limitedLog struct {
	log *slog.Logger
	now func() time.Time
	lim *logLimiter
}

func (l limitedLog) Write(p []byte) (int, error) {
	if ok, suppressed := l.lim.allow(l.now()); ok {
		l.log.Warn(strings.TrimRight(string(p), "\n"), "suppressed", suppressed)
	}
	return len(p), nil
}
