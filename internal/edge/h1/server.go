// Package h1 is the edge's own HTTP/1 server: the codec that reads
// requests and writes responses on a client's connection (server.go,
// response.go), and the framing guard every HTTP/1 connection goes
// through before the server parses a head (framing.go: request
// smuggling, head size, the watch on a client that leaves). HTTP/2 stays
// with net/http. It knows nothing of the front's settings, instances or
// transforms: the front hands it connections and a handler.
//
// It imports internal/edge/upstream for one thing, the watch: a client
// that leaves closes the connection to the instance serving it
// (Conn.Watch).
package h1

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tendhq/tend/internal/edge/httpsyntax"
)

// Server serves the HTTP/1 connections of one generation of the
// front (HTTP/2 stays with net/http). It exists for what a proxy pays per
// request in net/http's server, measured under load: the per-request
// background read of the client's connection and the deadline that ends
// it, a cancelable context, and headers sorted on the way out. Here a
// connection is one goroutine and one buffered reader and writer, the
// request is parsed by http.ReadRequest, and the client's connection is
// read during a handler only once the handler has run for watchAfter
// (watch), which is when noticing a client that left starts to matter.
//
// A request's context is the front's: it ends when the front is closed,
// not when the client leaves. The proxy learns that from the watch
// (Conn.Watch); Layers get the same context.
type Server struct {
	handler    http.HandlerFunc
	ctx        context.Context // every request's, with the connection's Conn
	readHeader time.Duration
	idle       time.Duration
	body       time.Duration
	maxHeader  int64
	log        *slog.Logger

	shutting atomic.Bool // Shutdown or Close began
	// draining is set by Drain (and Shutdown): every response from then
	// on ends its connection, but connections still get served.
	draining atomic.Bool
	mu       sync.Mutex
	conns    map[*serverConn]struct{} // guarded by mu
	wg       sync.WaitGroup           // connection goroutines
}

// unbounded lifts the bound of a reader between heads.
const unbounded = 1<<63 - 1

// watchAfter is how long a handler runs before its client's connection is
// read, so that a client that leaves closes the connection to the
// instance (Conn.Watch). A request shorter than that costs nothing.
const watchAfter = 50 * time.Millisecond

// drainLimit is how much of an unread request body is read and discarded
// to keep the connection, as net/http does.
const drainLimit = 256 << 10

// Connection states, for Shutdown.
const (
	connIdle   int32 = iota // waiting for a request
	connActive              // reading, handling or answering a request
)

// Settings are what a Server holds: changing them takes a new server.
type Settings struct {
	ReadHeader time.Duration // for a request head, from its first byte
	Idle       time.Duration // between requests on a connection
	MaxHeader  int64         // bytes of a request head: 431 past it
	// Body is how long, in all, a request body's reads may wait for each
	// BodyWindow bytes of it (or its end); past it they fail with
	// ErrBodyTimeout. 0: no limit.
	Body time.Duration
}

// BodyWindow is the amount of body that Settings.Body is the time for:
// a body must come at BodyWindow bytes per Settings.Body at least. Each
// read counts only the time it waited on the client, so an instance
// slow to take the body costs the client nothing.
const BodyWindow = 8 << 10

// ErrBodyTimeout fails the read of a request body that did not come
// within the body timeout (Settings.Body). The front's HTTP/2 bodies fail
// with it too.
var ErrBodyTimeout = errors.New("the request body did not come within body_timeout")

// NewServer serves connections handed to Serve with handler; base is
// every request's context.
func NewServer(base context.Context, s Settings, handler http.HandlerFunc, log *slog.Logger) *Server {
	return &Server{
		handler: handler, ctx: base, readHeader: s.ReadHeader, idle: s.Idle,
		body: s.Body, maxHeader: s.MaxHeader, log: log,
		conns: map[*serverConn]struct{}{},
	}
}

// serverConn is one client connection of an Server.
type serverConn struct {
	srv    *Server
	fc     *Conn
	ctx    context.Context
	remote string
	post   bool // the last request was a POST: CRLFs may trail its body
	linger bool // the client may still be sending a body nobody read
	rd     connInput
	br     *bufio.Reader
	bw     *bufio.Writer
	state  atomic.Int32
	res    Response

	// The watch: a read of the client's connection while a handler runs
	// (see watchAfter). mu guards the fields below it.
	timer    *time.Timer
	mu       sync.Mutex
	cond     sync.Cond
	watching bool // a handler runs and wants the watch
	reading  bool // the watch's read is in progress
}

// connInput is what the buffered reader of a connection reads: the
// client's bytes, after a byte the watch read, within a limit while a
// head is read.
type connInput struct {
	c      net.Conn
	stash  []byte // 0 or 1 byte read by the watch
	err    error  // a read error of the watch, for the next read
	left   int64  // bytes allowed before a head ends
	hitMax bool
}

func (in *connInput) Read(p []byte) (int, error) {
	if len(in.stash) > 0 && len(p) > 0 {
		p[0] = in.stash[0]
		in.stash = in.stash[:0]
		in.left--
		return 1, nil
	}
	if in.err != nil {
		err := in.err
		in.err = nil
		return 0, err
	}
	if in.left <= 0 {
		in.hitMax = true
		return 0, io.EOF
	}
	if int64(len(p)) > in.left {
		p = p[:in.left]
	}
	n, err := in.c.Read(p)
	in.left -= int64(n)
	return n, err
}

// connBufs are a connection's buffered reader and writer, pooled.
type connBufs struct {
	r *bufio.Reader
	w *bufio.Writer
}

var bufsPool = sync.Pool{New: func() any {
	return &connBufs{bufio.NewReaderSize(nil, 4<<10), bufio.NewWriterSize(nil, 4<<10)}
}}

// serve runs the connection fc in a goroutine of its own, unless the
// server is shutting down.
func (s *Server) Serve(fc *Conn) {
	c := &serverConn{srv: s, fc: fc, remote: fc.RemoteAddr().String()}
	c.ctx = context.WithValue(s.ctx, connKey{}, fc)
	c.rd.c = fc
	c.cond.L = &c.mu
	c.state.Store(connActive)
	s.mu.Lock()
	if s.shutting.Load() {
		s.mu.Unlock()
		fc.Close()
		return
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	go c.serve()
}

func (c *serverConn) serve() {
	s := c.srv
	bufs := bufsPool.Get().(*connBufs)
	bufs.r.Reset(&c.rd)
	bufs.w.Reset(c.fc)
	c.br, c.bw = bufs.r, bufs.w
	hijacked := false
	defer func() {
		c.stopWatch()
		if !hijacked {
			if c.linger {
				c.lingerClose()
			}
			c.fc.Close()
			bufs.r.Reset(nil)
			bufs.w.Reset(nil)
			bufsPool.Put(bufs)
		}
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		s.wg.Done()
	}()
	c.timer = time.AfterFunc(time.Hour, c.watch)
	c.timer.Stop()

	for first := true; ; first = false {
		// A deadline is set only while a read may wait: for the next
		// request (idle), and for the rest of a head that is not all
		// in yet (read_header_timeout).
		deadline := false
		if !first {
			c.state.Store(connIdle)
			if s.shutting.Load() {
				return
			}
			if c.br.Buffered() == 0 {
				c.fc.SetReadDeadline(time.Now().Add(s.idle))
				deadline = true
				if _, err := c.br.Peek(1); err != nil {
					return
				}
			}
			c.state.Store(connActive)
			if c.post {
				// Old clients end a POST with a CRLF the body did not
				// count (RFC 9112, section 2.2), which net/http skips too.
				peek, _ := c.br.Peek(4)
				c.br.Discard(leadingCRLF(peek))
			}
		}
		if !headBuffered(c.br) {
			c.fc.SetReadDeadline(time.Now().Add(s.readHeader))
			deadline = true
		}
		c.rd.left, c.rd.hitMax = s.maxHeader, false
		req, err := http.ReadRequest(c.br)
		if err != nil {
			c.refuse(err)
			return
		}
		if deadline {
			c.fc.SetReadDeadline(time.Time{})
		}
		c.rd.left = unbounded
		c.post = req.Method == http.MethodPost
		if code, why := checkRequest(req); code != 0 {
			c.fail(code, why)
			return
		}
		var done bool
		if done, hijacked = c.exchange(req); done {
			return
		}
	}
}

// refuse answers a head that did not parse, as net/http does; a client
// that left or went quiet gets nothing.
func (c *serverConn) refuse(err error) {
	switch {
	case c.rd.hitMax:
		c.fail(http.StatusRequestHeaderFieldsTooLarge, "")
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), isTimeout(err), errors.Is(err, net.ErrClosed):
	case strings.Contains(err.Error(), "unsupported transfer encoding"):
		c.fail(http.StatusNotImplemented, "unsupported transfer encoding")
	default:
		var ne net.Error
		if errors.As(err, &ne) {
			return // the connection failed
		}
		// Not err's text: it quotes what the client sent.
		c.fail(http.StatusBadRequest, "malformed request")
	}
}

// fail answers a request the server refuses, and the connection closes.
func (c *serverConn) fail(code int, why string) {
	text := http.StatusText(code)
	body := strconv.Itoa(code) + " " + text
	if why != "" {
		body += ": " + why
	}
	body += "\n"
	c.fc.SetWriteDeadline(time.Now().Add(time.Second))
	fmt.Fprintf(c.bw, "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s", code, text, len(body), body)
	c.bw.Flush()
}

// checkRequest applies the checks of net/http's server that
// http.ReadRequest leaves to it: 0 when r may be served. (A second Host
// line never gets here: Conn spoils the head.) ReadRequest drops
// the Host header for r.Host, so an empty Host reads as a missing one.
func checkRequest(r *http.Request) (int, string) {
	switch {
	case r.ProtoMajor != 1: // HTTP/2 comes over TLS, by ALPN, to net/http
		return http.StatusHTTPVersionNotSupported, "unsupported protocol version"
	case r.ProtoAtLeast(1, 1) && r.Host == "" && r.Method != http.MethodConnect:
		return http.StatusBadRequest, "missing required Host header"
	case !validHost(r.Host):
		return http.StatusBadRequest, "malformed Host header"
	}
	for k, vv := range r.Header {
		if !httpsyntax.IsToken(k) {
			return http.StatusBadRequest, "invalid header name"
		}
		for _, v := range vv {
			if !httpsyntax.ValidFieldValue(v) {
				return http.StatusBadRequest, "invalid header value"
			}
		}
	}
	// As net/http: the first Expect line decides, and an empty one is no
	// expectation (the differential fuzz target found the empty one).
	if e := r.Header["Expect"]; len(e) > 0 && e[0] != "" && !strings.EqualFold(e[0], "100-continue") {
		return http.StatusExpectationFailed, ""
	}
	return 0, ""
}

// validHost is httpguts.ValidHostHeader's test: the bytes a Host may hold,
// those of a uri-host and port (RFC 3986, 3.2.2), and no others: not the
// '/', '?', '#' and '@' that would make it another URL's part where the
// Host is used to build one.
func validHost(h string) bool {
	for i := 0; i < len(h); i++ {
		if !hostBytes[h[i]] {
			return false
		}
	}
	return true
}

var hostBytes = func() (t [256]bool) {
	for c := range 256 {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
			t[c] = true
		default:
			t[c] = strings.IndexByte("!$%&'()*+,-.:;=[]_~", byte(c)) >= 0
		}
	}
	return t
}()

// exchange serves one request: done when the connection is to close (or
// was hijacked) after it.
func (c *serverConn) exchange(req *http.Request) (done, hijacked bool) {
	s := c.srv
	if req.Trailer == nil && len(req.TransferEncoding) > 0 {
		// The body reader puts the trailers it reads in the Request
		// ReadRequest made, which WithContext copies: a map made here
		// is shared by both, so the handler sees them (net/http's
		// server sets the context without a copy).
		req.Trailer = http.Header{}
	}
	req = req.WithContext(c.ctx)
	req.RemoteAddr = c.remote
	req.TLS = c.fc.tls
	body := req.Body
	w := &c.res
	w.reset(c, req)
	// The client's connection is read during the handler only once the
	// request's body is all read: before that the bytes are the body's.
	var br *bodyReader
	if body == http.NoBody {
		c.startWatch()
	} else {
		br = &bodyReader{c: c, body: body, expect: waitsForContinue(req), timeout: s.body}
		req.Body = br
	}
	ok := c.run(w, req)
	c.stopWatch()
	if br != nil && br.timed {
		c.fc.SetReadDeadline(time.Time{})
	}
	if !ok {
		return true, false
	}
	if w.hijacked {
		return true, true
	}
	if err := w.finish(); err != nil {
		return true, false
	}
	// Whether the connection goes on is what the response said: a Drain
	// that began after its head was written does not end a connection
	// its client was told to keep, and may be sending on already; its
	// next request is answered with Connection: close.
	keep := !w.closeAfter && !req.Close
	if br != nil && !br.ended {
		// What the handler left of the body is read and dropped, up to
		// a limit, for the next request's sake.
		if !keep || br.unasked() {
			c.linger = true
			return true, false
		}
		// A client that stops sending has the header timeout to go on.
		c.fc.SetReadDeadline(time.Now().Add(s.readHeader))
		n, err := io.CopyN(io.Discard, body, drainLimit+1)
		c.fc.SetReadDeadline(time.Time{})
		if n > drainLimit || err != io.EOF {
			c.linger = true
			return true, false
		}
	}
	return !keep, false
}

// lingerTime bounds lingerClose.
const lingerTime = time.Second

// lingerClose ends a connection whose client may still be sending a body
// the server did not read: closing at once would answer the data that
// comes with a reset, which can destroy the response before the client
// reads it. So the server shuts its side, and reads and drops what comes
// until the client closes, for lingerTime at most (nginx's lingering
// close; net/http waits 500 ms).
func (c *serverConn) lingerClose() {
	if c.fc.CloseWrite() != nil {
		return
	}
	c.fc.SetReadDeadline(time.Now().Add(lingerTime))
	io.Copy(io.Discard, c.fc)
}

// headBuffered says whether a whole request head is in br's buffer, so
// that reading it cannot wait on the client.
func headBuffered(br *bufio.Reader) bool {
	b, _ := br.Peek(br.Buffered())
	return bytes.Contains(b, []byte("\r\n\r\n"))
}

// leadingCRLF counts the CR and LF bytes at the start of b.
func leadingCRLF(b []byte) int {
	n := 0
	for n < len(b) && (b[n] == '\r' || b[n] == '\n') {
		n++
	}
	return n
}

// run calls the handler; false if it panicked, which ends the
// connection, as net/http does.
func (c *serverConn) run(w *Response, req *http.Request) (ok bool) {
	defer func() {
		if v := recover(); v != nil {
			if v != http.ErrAbortHandler {
				c.srv.log.Error("edge handler panicked", "client", c.remote, "method", req.Method, "path", req.URL.Path, "panic", v, "stack", string(debug.Stack()))
			}
			// Whatever went out is a broken response: stop here.
			c.bw.Flush()
			ok = false
		}
	}()
	c.srv.handler(w, req)
	return true
}

// startWatch arms the watch of the client's connection for the handler
// that starts.
func (c *serverConn) startWatch() {
	c.mu.Lock()
	c.watching = true
	c.mu.Unlock()
	c.timer.Reset(watchAfter)
}

// watch reads the client's connection while a handler runs: a failed read
// means the client left, and Conn.Read closes the connection to
// the instance it watches. A byte that comes (the next request,
// pipelined) waits in the stash for the next read.
func (c *serverConn) watch() {
	c.mu.Lock()
	if !c.watching || c.reading {
		c.mu.Unlock()
		return
	}
	c.reading = true
	c.mu.Unlock()
	var b [1]byte
	n, err := c.fc.Read(b[:])
	c.mu.Lock()
	if n == 1 {
		c.rd.stash = append(c.rd.stash[:0], b[0])
	}
	if err != nil && !isTimeout(err) {
		c.rd.err = err
	}
	c.reading = false
	c.cond.Broadcast()
	c.mu.Unlock()
}

// stopWatch ends the watch, interrupting its read, so that the
// connection's reader is the serving goroutine's alone again.
func (c *serverConn) stopWatch() {
	if c.timer == nil {
		return
	}
	c.timer.Stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.watching {
		return
	}
	c.watching = false
	if c.reading {
		c.fc.SetReadDeadline(aLongTimeAgo)
		for c.reading {
			c.cond.Wait()
		}
		c.fc.SetReadDeadline(time.Time{})
	}
}

var aLongTimeAgo = time.Unix(1, 0)

// bodyReader is a request body as the handler reads it: it sends
// "100 Continue" before the first read when the client waits for it,
// bounds the time its reads wait on the client (Settings.Body), and
// starts the watch once the body has been read to its end.
type bodyReader struct {
	c      *serverConn
	body   io.ReadCloser
	expect bool  // the client waits for "100 Continue"
	asked  bool  // "100 Continue" went out
	ended  bool  // the body was read to its end
	failed error // ErrBodyTimeout once the body timed out, for every read after

	// The body timeout: reads may wait budget in all for the window
	// bytes still to come before both start again.
	timeout time.Duration // 0: none
	budget  time.Duration
	window  int
	timed   bool // a read deadline was set on the connection
}

// unasked says whether the client waits for a "100 Continue" it was not
// sent: its body may never come, and waiting for it to drop it would
// hang.
func (b *bodyReader) unasked() bool { return b.expect && !b.asked }

func (b *bodyReader) Read(p []byte) (int, error) {
	if b.expect && !b.asked {
		b.asked = true
		if !b.c.res.wroteHead {
			b.c.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
			if err := b.c.bw.Flush(); err != nil {
				return 0, err
			}
		}
	}
	if b.failed != nil {
		return 0, b.failed
	}
	if b.timeout <= 0 || b.ended {
		return b.read(p)
	}
	if b.window <= 0 {
		b.window, b.budget = BodyWindow, b.timeout
	}
	start := time.Now()
	b.c.fc.SetReadDeadline(start.Add(b.budget))
	b.timed = true
	n, err := b.read(p)
	b.budget -= time.Since(start)
	b.window -= n
	if err != nil && isTimeout(err) {
		// The server sets no other deadline while a handler reads the
		// body: this one is the body timeout's.
		b.failed = ErrBodyTimeout
		return n, b.failed
	}
	return n, err
}

// read reads the body, and at its end clears the body timeout's deadline
// and starts the watch.
func (b *bodyReader) read(p []byte) (int, error) {
	n, err := b.body.Read(p)
	if err == io.EOF && !b.ended {
		b.ended = true
		if b.timed {
			b.c.fc.SetReadDeadline(time.Time{})
		}
		b.c.startWatch()
	}
	return n, err
}

func (b *bodyReader) Close() error { return b.body.Close() }

// Shutdown stops the server's connections taking new requests: idle ones
// close now, busy ones after their response. It returns when all are
// closed, or with ctx's error when ctx ends first.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.draining.Store(true)
	s.shutting.Store(true)
	s.mu.Unlock()
	wait := time.Millisecond
	for {
		s.mu.Lock()
		n := len(s.conns)
		for c := range s.conns {
			if c.state.Load() == connIdle {
				c.fc.Close()
			}
		}
		s.mu.Unlock()
		if n == 0 {
			return nil
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, 100*time.Millisecond)
	}
}

// Close closes every connection at once and waits for their goroutines;
// handlers still running end with their writes failing.
func (s *Server) Close() {
	s.mu.Lock()
	s.draining.Store(true)
	s.shutting.Store(true)
	for c := range s.conns {
		c.fc.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// Open is how many connections the server has open.
func (s *Server) Open() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Drain makes every connection close after its next response, without
// closing the idle ones as Shutdown does: one may be crossing a request
// its client is sending, and a client that sent a request on a keep-alive
// connection the server then closes gets a reset, which it cannot retry
// unless the request was idempotent. So responses not yet begun say
// Connection: close; an idle connection still reads and answers its next
// request; and a connection handed to Serve after Drain (accepted just
// before the listener closed, its request sent) is served too.
func (s *Server) Drain() {
	s.draining.Store(true)
}

// waitsForContinue says whether the client waits for "100 Continue" before
// it sends the body. An HTTP/1.0 client never gets a 1xx (RFC 9110, 15.2),
// so it waits for none.
func waitsForContinue(r *http.Request) bool {
	return r.ProtoAtLeast(1, 1) && strings.EqualFold(r.Header.Get("Expect"), "100-continue")
}
