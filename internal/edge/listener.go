package edge

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tendhq/tend/internal/edge/h1"
	"github.com/tendhq/tend/internal/edge/rawconn"
)

// acceptor owns the front's public listener for the front's whole life.
// It accepts connections, does the TLS handshake when TLS is on, and
// hands them to whichever http.Server serves now, through views: an
// Update that changes server settings starts a new server on a new view
// and shuts the old one down, and not one connection is refused.
//
// A connection whose ALPN chose h2 goes to the server as the *tls.Conn
// it is, so that net/http's HTTP/2 takes it. Every HTTP/1 connection,
// plain or inside TLS, goes as an h1.Conn; the TLS state of those
// travels in the request context (see h1.ConnOf), since the server does
// not know it.
//
// Listen starts the accept goroutine; Close stops it and every handshake
// goroutine, and waits for them.
type acceptor struct {
	ln  net.Listener
	log *slog.Logger

	tls       atomic.Pointer[tls.Config] // nil: plain HTTP
	maxHead   atomic.Int64               // head bytes a h1.Conn holds back at most
	handshake atomic.Int64               // TLS handshake timeout, in nanoseconds
	onBad     func(net.Conn)

	conns chan net.Conn // ready connections, to a view's Accept
	done  chan struct{} // closed by Close
	once  sync.Once
	wg    sync.WaitGroup // the accept loop and the handshakes

	mu      sync.Mutex
	pending map[net.Conn]struct{} // connections in their handshake; guarded by mu

	// quit is set by stopAccepting: the listener's end is not an error.
	quit atomic.Bool
	// looped is closed when the accept loop returns.
	looped chan struct{}
	// transit counts the connections accepted and not yet taken by a
	// server (in their TLS handshake, or on their way to a view): a
	// front handing over waits for them as for its open connections.
	transit atomic.Int64
}

// stopAccepting closes the listener and ends the accept loop, but lets
// the handshakes in progress finish and reach a view (Front.Handover).
func (a *acceptor) stopAccepting() {
	a.quit.Store(true)
	a.ln.Close()
}

// accepting waits until the accept loop has returned (after
// stopAccepting), or ctx ends: from then on, transit counts every
// connection taken from the listener that no server counts yet.
func (a *acceptor) accepting(ctx context.Context) {
	select {
	case <-a.looped:
	case <-ctx.Done():
	}
}

// taken is called once a server counts a connection a view returned.
func (a *acceptor) taken() { a.transit.Add(-1) }

func newAcceptor(ln net.Listener, log *slog.Logger, onBad func(net.Conn)) *acceptor {
	a := &acceptor{
		ln: ln, log: log, onBad: onBad,
		conns:   make(chan net.Conn),
		done:    make(chan struct{}),
		looped:  make(chan struct{}),
		pending: map[net.Conn]struct{}{},
	}
	a.wg.Add(1)
	go a.loop()
	return a
}

// configure sets what connections accepted from now on get.
func (a *acceptor) configure(s *settings) {
	a.tls.Store(s.tls)
	a.maxHead.Store(int64(s.o.MaxHeaderBytes) + 8192)
	a.handshake.Store(int64(s.o.ReadHeaderTimeout))
}

func (a *acceptor) loop() {
	defer a.wg.Done()
	defer close(a.looped)
	var delay time.Duration
	for {
		c, err := a.ln.Accept()
		if err != nil {
			select {
			case <-a.done:
				return
			default:
			}
			if a.quit.Load() {
				return
			}
			if retryable(err) {
				// Out of file descriptors, say: wait as net/http does.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				a.log.Warn("accept failed; retrying", "err", err, "in", delay)
				select {
				case <-time.After(delay):
				case <-a.done:
					return
				}
				continue
			}
			a.log.Error("edge stopped accepting", "addr", a.ln.Addr(), "err", err)
			return
		}
		delay = 0
		a.transit.Add(1)
		c = rawconn.Fast(c)
		cfg := a.tls.Load()
		if cfg == nil {
			a.deliver(h1.NewConn(c, nil, int(a.maxHead.Load()), a.onBad))
			continue
		}
		if !a.track(c) {
			c.Close()
			a.transit.Add(-1)
			return
		}
		a.wg.Add(1)
		go a.shake(c, cfg)
	}
}

// retryable says whether an Accept error passes: out of descriptors or
// memory, or a connection reset before it was accepted.
func retryable(err error) bool {
	for _, e := range []error{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// track adds c to the pending connections, unless Close has begun.
func (a *acceptor) track(c net.Conn) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.pending == nil {
		return false
	}
	a.pending[c] = struct{}{}
	return true
}

func (a *acceptor) untrack(c net.Conn) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.pending, c)
}

// shake does the TLS handshake of c, within the header read timeout.
func (a *acceptor) shake(c net.Conn, cfg *tls.Config) {
	defer a.wg.Done()
	defer a.untrack(c)
	tc := tls.Server(c, cfg)
	c.SetDeadline(time.Now().Add(time.Duration(a.handshake.Load())))
	err := tc.HandshakeContext(context.Background())
	c.SetDeadline(time.Time{})
	if err != nil {
		var re tls.RecordHeaderError
		if errors.As(err, &re) && re.Conn != nil && looksLikeHTTP(re.RecordHeader) {
			io.WriteString(re.Conn, "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n")
		}
		a.log.Debug("tls handshake failed", "client", c.RemoteAddr(), "err", err)
		c.Close()
		a.transit.Add(-1)
		return
	}
	state := tc.ConnectionState()
	if state.NegotiatedProtocol == "h2" {
		a.deliver(tc)
		return
	}
	a.deliver(h1.NewConn(tc, &state, int(a.maxHead.Load()), a.onBad))
}

// looksLikeHTTP says whether the first bytes of a TLS record are a plain
// HTTP request, as net/http checks.
func looksLikeHTTP(hdr [5]byte) bool {
	switch string(hdr[:]) {
	case "GET /", "HEAD ", "POST ", "PUT /", "OPTIO":
		return true
	}
	return false
}

// deliver hands c to a view, or closes it when the acceptor closes first.
func (a *acceptor) deliver(c net.Conn) {
	select {
	case a.conns <- c:
	case <-a.done:
		c.Close()
		a.transit.Add(-1)
	}
}

// Close stops accepting, cuts the handshakes in progress, and waits for
// every goroutine of the acceptor.
func (a *acceptor) Close() {
	a.once.Do(func() {
		close(a.done)
		a.ln.Close()
		a.mu.Lock()
		for c := range a.pending {
			c.Close()
		}
		a.pending = nil
		a.mu.Unlock()
	})
	a.wg.Wait()
}

// view is the net.Listener one http.Server serves: Accept takes the
// acceptor's connections, Close ends this server's share of them only.
type view struct {
	a    *acceptor
	done chan struct{}
	once sync.Once
}

func (a *acceptor) view() *view { return &view{a: a, done: make(chan struct{})} }

func (v *view) Accept() (net.Conn, error) {
	select {
	case c := <-v.a.conns:
		return c, nil
	case <-v.done:
		return nil, net.ErrClosed
	case <-v.a.done:
		return nil, net.ErrClosed
	}
}

func (v *view) Close() error {
	v.once.Do(func() { close(v.done) })
	return nil
}

func (v *view) Addr() net.Addr { return v.a.ln.Addr() }

// connListener is the net.Listener of a generation's HTTP/2 server: the
// connections that chose h2, handed over by the generation.
type connListener struct {
	addr  net.Addr
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newConnListener(addr net.Addr) *connListener {
	return &connListener{addr: addr, conns: make(chan net.Conn), done: make(chan struct{})}
}

// deliver hands c to the server, or closes it once the listener is closed.
func (l *connListener) deliver(c net.Conn) {
	select {
	case l.conns <- c:
	case <-l.done:
		c.Close()
	}
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *connListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *connListener) Addr() net.Addr { return l.addr }
