// Package loglimit keeps what clients can make a server log from growing
// the log at will: one line of a kind per interval, with the count of the
// lines held back said by the next one. The edge's fronts and the remote
// control API use it.
package loglimit

import (
	"log/slog"
	"strings"
	"sync"
	"time"
)

// Every is the shortest time between two log lines of one kind that any
// client can cause (a malformed body, a smuggling attempt, a wrong token).
const Every = 10 * time.Second

// Limiter lets one line of a kind through per Every, and counts the ones
// it held back for the next line to say. The zero value is ready.
type Limiter struct {
	mu         sync.Mutex
	last       time.Time // of the last line let through; guarded by mu
	suppressed int       // lines held back since; guarded by mu
}

// Allow says whether a line may go out now, and how many were held back
// before it.
func (l *Limiter) Allow(now time.Time) (ok bool, suppressed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last.IsZero() && now.Sub(l.last) < Every {
		l.suppressed++
		return false, 0
	}
	l.last = now
	suppressed, l.suppressed = l.suppressed, 0
	return true, suppressed
}

// Writer is the writer of an http.Server's ErrorLog. What such a server
// logs is mostly a client's doing (a bad TLS handshake, a bad HTTP/2
// preface, the GOAWAY of a client that leaves), so it goes through Lim.
type Writer struct {
	Log *slog.Logger
	Now func() time.Time
	Lim *Limiter
}

func (w Writer) Write(p []byte) (int, error) {
	if ok, suppressed := w.Lim.Allow(w.Now()); ok {
		w.Log.Warn(strings.TrimRight(string(p), "\n"), "suppressed", suppressed)
	}
	return len(p), nil
}
