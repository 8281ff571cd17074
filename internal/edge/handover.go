package edge

import (
	"context"
	"fmt"
	"os"
	"time"
)

// Handover stops the front without closing its listening socket, for a
// daemon that hands it to the next one (tend update): it returns a
// duplicate of the socket, which keeps the kernel queueing connections in
// the socket's backlog, so that none is refused until the next daemon
// accepts them (Config.Listener).
//
// The front stops accepting at once. Its connections are told to close
// after their next response (Connection: close, GOAWAY in HTTP/2), so that
// a client's next request goes to a new connection, which waits in the
// backlog; the requests in flight finish. Once no connection is left, or
// when ctx ends, the front closes as Close does, cutting off what is
// left. Every goroutine of the front has returned when it returns.
func (f *Front) Handover(ctx context.Context) (*os.File, error) {
	fl, ok := f.acc.ln.(interface{ File() (*os.File, error) })
	if !ok {
		return nil, fmt.Errorf("edge of %s: its listener %T has no descriptor to hand over", f.app, f.acc.ln)
	}
	file, err := fl.File()
	if err != nil {
		return nil, fmt.Errorf("edge of %s: %w", f.app, err)
	}
	f.mu.Lock()
	g := f.gen
	f.mu.Unlock()
	g.retired.Store(true)
	// Closing the front's descriptor ends the accept loop; the duplicate
	// keeps the socket listening.
	f.acc.Close()
	wait := time.Millisecond
	for g.h1.Open() > 0 {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			wait = 0
		case <-t.C:
		}
		if wait == 0 {
			break
		}
		wait = min(2*wait, 20*time.Millisecond)
	}
	if err := f.Close(ctx); err != nil {
		f.log.Warn("edge handed over with requests cut off", "err", err)
	}
	return file, nil
}
