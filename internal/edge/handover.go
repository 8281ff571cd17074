package edge

import (
	"context"
	"fmt"
	"net"
	"os"
	"sync"
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
	g.h1.Drain()
	// Closing the front's descriptor ends the accept loop; the duplicate
	// keeps the socket listening. A connection accepted before that has
	// sent its request, or is about to: it is still served, by the
	// retired generation, after its TLS handshake if any, and its answer
	// closes it. Once the loop has returned, every connection taken from
	// the socket is either in transit or open in the server.
	f.acc.stopAccepting()
	f.acc.accepting(ctx)
	for wait := time.Millisecond; ; wait = min(2*wait, 20*time.Millisecond) {
		if ctx.Err() != nil || g.h1.Open() == 0 && f.acc.transit.Load() == 0 {
			break
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
	if err := f.Close(ctx); err != nil {
		f.log.Warn("edge handed over with requests cut off", "err", err)
	}
	return file, nil
}

// Gate wraps a listener handed over by a previous front so that a new
// front takes no connection from it before open is called: the
// connections waiting in its backlog have sent their requests already,
// and must not find a pool with no instance in it yet. Closing the
// listener ends a waiting Accept.
func Gate(ln net.Listener) (gated net.Listener, open func()) {
	g := &gate{Listener: ln, open: make(chan struct{}), closed: make(chan struct{})}
	return g, func() { g.openOnce.Do(func() { close(g.open) }) }
}

type gate struct {
	net.Listener
	open, closed        chan struct{}
	openOnce, closeOnce sync.Once
}

func (g *gate) Accept() (net.Conn, error) {
	select {
	case <-g.open:
	case <-g.closed:
		return nil, net.ErrClosed
	}
	return g.Listener.Accept()
}

func (g *gate) Close() error {
	g.closeOnce.Do(func() { close(g.closed) })
	return g.Listener.Close()
}

// File is the listener's, for the next hand-over.
func (g *gate) File() (*os.File, error) {
	fl, ok := g.Listener.(interface{ File() (*os.File, error) })
	if !ok {
		return nil, fmt.Errorf("listener %T has no descriptor", g.Listener)
	}
	return fl.File()
}
