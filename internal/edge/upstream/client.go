// Package upstream is the edge's HTTP/1.1 client to an app's instances:
// connections dialled to one instance, kept idle between requests and
// pruned before the instance closes them, request bodies written as
// their head announced, and response heads read without allocating in
// the common case. It knows nothing of balancing or retries, which are
// the front's (internal/edge, proxy.go): a caller takes a Conn, uses it
// for one request at a time, and puts it back or closes it.
package upstream

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"

	"github.com/tendhq/tend/internal/edge/httpsyntax"
	"github.com/tendhq/tend/internal/edge/rawconn"
)

// The hop to an instance is HTTP/1.1 over loopback, with keep-alive. It
// is the edge's own client rather than http.Transport: the Transport gives
// every connection a read goroutine and a write goroutine and hands each
// request and response between them and the caller over channels, which
// on a busy front costs more CPU than the proxying itself (the instances
// share the cores with the edge). Here the handler's goroutine writes the
// request and reads the response on a connection it holds alone; only a
// request body is written from a goroutine of its own, so that an
// instance may answer before it has read the whole body, as it may with
// the Transport.

// maxIdlePerBackend bounds the idle connections kept to one instance:
// enough that a busy app does not churn through ephemeral ports.
const maxIdlePerBackend = 256

// maxResponseHead bounds the head of a response (1xx ones included), as
// http.Transport's MaxResponseHeaderBytes does by default.
const maxResponseHead = 10 << 20

var errHeadTooLarge = errors.New("edge: response head from the instance is over 10 MiB")

// Conn is a connection to an instance. One request at a time has it;
// between requests it waits in its backend's idle list.
type Conn struct {
	conn      net.Conn
	rd        connReader
	br        *bufio.Reader
	bw        *bufio.Writer   // for request bodies; made on first use
	raw       syscall.RawConn // for the liveness check; nil when not available
	fixed     fixedBody       // the body of the response being read, when readHead read it
	idleSince time.Time
}

// connReader reads the connection for br, bounding the bytes of a
// response head: left is reset before each head and lifted after it.
type connReader struct {
	c    net.Conn
	left int64
}

func (r *connReader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, errHeadTooLarge
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n, err := r.c.Read(p)
	r.left -= int64(n)
	return n, err
}

const unbounded = 1<<63 - 1

func Dial(ctx context.Context, addr string, timeout time.Duration) (*Conn, error) {
	d := net.Dialer{Timeout: timeout}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, &DialError{err}
	}
	c = rawconn.Fast(c)
	uc := &Conn{conn: c}
	uc.rd = connReader{c: c, left: unbounded}
	uc.br = bufio.NewReaderSize(&uc.rd, 4<<10)
	if sc, ok := c.(syscall.Conn); ok {
		uc.raw, _ = sc.SyscallConn()
	}
	return uc, nil
}

func (c *Conn) Close() { c.conn.Close() }

// writer is the buffered writer of the request body.
func (c *Conn) Writer() *bufio.Writer {
	if c.bw == nil {
		c.bw = bufio.NewWriterSize(c.conn, 4<<10)
	}
	return c.bw
}

// IdleConns are the idle connections to one backend, the most recently
// used last. A timer closes those idle longer than the idle timeout, as
// the instance may be about to (Node closes them after 5s).
type IdleConns struct {
	mu      sync.Mutex
	conns   []*Conn     // guarded by mu
	timer   *time.Timer // armed while conns is not empty; guarded by mu
	maxIdle time.Duration
	closed  bool // the backend left the pool: nothing is kept; guarded by mu
}

// get takes the most recently used connection that has not been idle too
// long; nil when there is none.
func (p *IdleConns) Get(now time.Time) *Conn {
	p.mu.Lock()
	for n := len(p.conns); n > 0; n = len(p.conns) {
		c := p.conns[n-1]
		p.conns[n-1] = nil
		p.conns = p.conns[:n-1]
		if now.Sub(c.idleSince) < p.maxIdle {
			p.mu.Unlock()
			return c
		}
		// The rest are older still.
		old := p.conns
		p.conns = p.conns[:0]
		p.mu.Unlock()
		c.Close()
		for i, o := range old {
			o.Close()
			old[i] = nil
		}
		return nil
	}
	p.mu.Unlock()
	return nil
}

// put keeps c for the next request, or closes it when there are enough.
func (p *IdleConns) Put(c *Conn, now time.Time, maxIdle time.Duration) {
	c.idleSince = now
	p.mu.Lock()
	if p.closed || len(p.conns) >= maxIdlePerBackend || maxIdle <= 0 {
		p.mu.Unlock()
		c.Close()
		return
	}
	p.maxIdle = maxIdle
	p.conns = append(p.conns, c)
	if p.timer == nil {
		p.timer = time.AfterFunc(maxIdle, p.prune)
	}
	p.mu.Unlock()
}

// prune closes the connections idle for longer than maxIdle, and rearms
// the timer for the oldest of the others. It runs on the timer.
func (p *IdleConns) prune() {
	p.mu.Lock()
	now := time.Now()
	var old []*Conn
	i := 0
	for i < len(p.conns) && now.Sub(p.conns[i].idleSince) >= p.maxIdle {
		i++
	}
	if i > 0 {
		old = append(old, p.conns[:i]...)
		n := copy(p.conns, p.conns[i:])
		clear(p.conns[n:])
		p.conns = p.conns[:n]
	}
	p.timer = nil
	if len(p.conns) > 0 && !p.closed {
		p.timer = time.AfterFunc(p.maxIdle-now.Sub(p.conns[0].idleSince), p.prune)
	}
	p.mu.Unlock()
	for _, c := range old {
		c.Close()
	}
}

// drop closes the idle connections; forever stops keeping any.
func (p *IdleConns) Drop(forever bool) {
	p.mu.Lock()
	old := p.conns
	p.conns = nil
	if p.timer != nil {
		p.timer.Stop()
		p.timer = nil
	}
	if forever {
		p.closed = true
	}
	p.mu.Unlock()
	for _, c := range old {
		c.Close()
	}
}

// WriteBody sends the request body on c, framed as its head announced:
// n bytes, or chunks when n is -1. A failure to read the body is a
// *bodyError, so that the caller can tell it from a failed connection.
func WriteBody(c *Conn, body io.Reader, n int64) error {
	bw := c.Writer()
	bufp := Buffers.Get().(*[32 << 10]byte)
	defer Buffers.Put(bufp)
	buf := bufp[:]
	var sent int64
	for n < 0 || sent < n {
		p := buf
		if n >= 0 && int64(len(p)) > n-sent {
			p = p[:n-sent]
		}
		k, rerr := body.Read(p)
		if k > 0 {
			var werr error
			if n < 0 {
				werr = writeChunk(bw, p[:k])
			} else {
				_, werr = bw.Write(p[:k])
			}
			if werr != nil {
				return werr
			}
			sent += int64(k)
		}
		if rerr == io.EOF {
			if n >= 0 && sent < n {
				return &BodyError{io.ErrUnexpectedEOF}
			}
			break
		}
		if rerr != nil {
			return &BodyError{rerr}
		}
	}
	if n < 0 {
		if _, err := bw.WriteString("0\r\n\r\n"); err != nil {
			return err
		}
	}
	return bw.Flush()
}

func writeChunk(bw *bufio.Writer, p []byte) error {
	var hex [16]byte
	i := len(hex)
	for v := len(p); ; v >>= 4 {
		i--
		hex[i] = "0123456789abcdef"[v&0xf]
		if v < 16 {
			break
		}
	}
	bw.Write(hex[i:])
	bw.WriteString("\r\n")
	bw.Write(p)
	_, err := bw.WriteString("\r\n")
	return err
}

// BodyError is a failure to read the client's request body (the client
// left, or it was over max_body): not the instance's fault.
type BodyError struct{ err error }

func (e *BodyError) Error() string { return "read request body: " + e.err.Error() }
func (e *BodyError) Unwrap() error { return e.err }

// ReadResponse reads the response to r from c, passing 1xx responses
// other than 101 to w as they come. The heads of those and of the final
// response share one bound, maxResponseHead.
func ReadResponse(c *Conn, r *http.Request, w http.ResponseWriter) (*http.Response, error) {
	c.rd.left = maxResponseHead
	defer func() { c.rd.left = unbounded }()
	for {
		res, err := http.ReadResponse(c.br, r)
		if err != nil {
			return nil, err
		}
		if res.StatusCode < 100 || res.StatusCode > 199 || res.StatusCode == http.StatusSwitchingProtocols {
			return res, nil
		}
		// As ReverseProxy: the interim response goes out with its own
		// headers, which are then cleared.
		h := w.Header()
		for k, vv := range res.Header {
			h[k] = append(h[k], vv...)
		}
		w.WriteHeader(res.StatusCode)
		clear(h)
	}
}

// Response is a response from an instance, on its way to the client.
type Response struct {
	Status int
	Length int64 // of the body; -1 until its end
	Close  bool  // the connection ends with this response
	Body   io.Reader
	Res    *http.Response // when http.ReadResponse read it: its Header and Trailer
}

// fixedBody reads a body of known length from the connection.
type fixedBody struct {
	br *bufio.Reader
	n  int64 // bytes to go
}

func (b *fixedBody) Read(p []byte) (int, error) {
	if b.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.n {
		p = p[:b.n]
	}
	k, err := b.br.Read(p)
	b.n -= int64(k)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return k, err
}

// field is one header line of a head, as offsets in it.
type field struct{ k0, k1, v0, v1 int }

// maxFastFields bounds the header lines readHead takes on itself.
const maxFastFields = 64

// readHead reads the head of a response of the plain kind nearly every
// response is: HTTP/1.1, a final status, CRLF line ends, a body of known
// length (Content-Length, or none by status or method), no trailers, and
// a Connection header of keep-alive or close at most. Its end-to-end
// headers go straight into h, the client's response headers, its
// hop-by-hop ones are dropped. Any other head is left unread (ok false)
// for http.ReadResponse, which knows every case: nothing of it is
// consumed, and h is untouched, until all of it was found plain.
func (c *Conn) ReadHead(r *http.Request, h http.Header, out *Response) (ok bool) {
	var fields [maxFastFields]field
	var buf []byte
	var end, nf int
	for {
		buf, _ = c.br.Peek(c.br.Buffered())
		end, nf = scanHead(buf, &fields)
		if end > 0 {
			break
		}
		if end < 0 || len(buf) == c.br.Size() {
			return false
		}
		if _, err := c.br.Peek(len(buf) + 1); err != nil {
			return false // http.ReadResponse gets the error
		}
	}
	status := int(buf[9]-'0')*100 + int(buf[10]-'0')*10 + int(buf[11]-'0')
	if status < 200 {
		return false // interim, or a protocol switch
	}
	length := int64(-1)
	closing := false
	for _, f := range fields[:nf] {
		k, v := buf[f.k0:f.k1], buf[f.v0:f.v1]
		switch {
		case bytes.EqualFold(k, []byte("Content-Length")):
			n, ok := httpsyntax.ParseLength(v)
			if !ok || length >= 0 {
				return false
			}
			length = n
		case bytes.EqualFold(k, []byte("Connection")):
			for t := range bytes.SplitSeq(v, []byte(",")) {
				t = bytes.Trim(t, " \t")
				switch {
				case bytes.EqualFold(t, []byte("close")):
					closing = true
				case !bytes.EqualFold(t, []byte("keep-alive")):
					return false // it may name headers to drop
				}
			}
		case bytes.EqualFold(k, []byte("Transfer-Encoding")), bytes.EqualFold(k, []byte("Trailer")):
			return false
		}
	}
	if r.Method == "HEAD" || status == 204 || status == 304 {
		length = 0 // whatever Content-Length says
	} else if length < 0 {
		return false // until the connection closes
	}

	// Plain: take it. One string holds every name and value.
	head := string(buf[:end])
	vals := make([]string, nf)
	for i, f := range fields[:nf] {
		k := http.CanonicalHeaderKey(head[f.k0:f.k1])
		if httpsyntax.IsHop(k) {
			continue
		}
		vals[i] = head[f.v0:f.v1]
		if prev, ok := h[k]; ok {
			h[k] = append(prev, vals[i])
		} else {
			h[k] = vals[i : i+1 : i+1]
		}
	}
	// As http.ReadResponse does.
	if p := h["Pragma"]; len(p) > 0 && p[0] == "no-cache" {
		if _, ok := h["Cache-Control"]; !ok {
			h["Cache-Control"] = []string{"no-cache"}
		}
	}
	c.br.Discard(end)
	c.fixed = fixedBody{br: c.br, n: length}
	*out = Response{Status: status, Length: length, Close: closing, Body: &c.fixed}
	return true
}

// scanHead finds the end of the response head at the start of b and its
// header lines. end is 0 when the head is not all in b, -1 when it is not
// plain (see readHead).
func scanHead(b []byte, fields *[maxFastFields]field) (end, n int) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return 0, 0
	}
	// "HTTP/1.1 200" and an optional reason: after the code, a space or
	// the line's end (a CR elsewhere is a code of "200\r" to
	// http.ReadResponse, which refuses it).
	if i < 13 || b[i-1] != '\r' || string(b[:9]) != "HTTP/1.1 " ||
		!isDigit(b[9]) || !isDigit(b[10]) || !isDigit(b[11]) || b[12] != ' ' && i != 13 || b[9] == '0' {
		return -1, 0
	}
	for pos := i + 1; ; {
		j := bytes.IndexByte(b[pos:], '\n')
		if j < 0 {
			return 0, 0
		}
		if j == 0 || b[pos+j-1] != '\r' {
			return -1, 0 // a bare LF
		}
		line := b[pos : pos+j-1]
		if len(line) == 0 {
			return pos + j + 1, n
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || n == maxFastFields {
			return -1, 0 // obs-fold, no name, or too many
		}
		for _, ch := range line[:colon] {
			if !httpsyntax.IsTokenByte(ch) {
				return -1, 0
			}
		}
		v0, v1 := colon+1, len(line)
		for v0 < v1 && (line[v0] == ' ' || line[v0] == '\t') {
			v0++
		}
		for v1 > v0 && (line[v1-1] == ' ' || line[v1-1] == '\t') {
			v1--
		}
		for _, ch := range line[v0:v1] {
			if ch < ' ' && ch != '\t' || ch == 0x7f {
				return -1, 0
			}
		}
		fields[n] = field{pos, pos + colon, pos + v0, pos + v1}
		n++
		pos += j + 1
	}
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// DialError is a failed connection to an instance. Nothing of the request
// reached it, so the request may go to another instance whatever its method.
type DialError struct{ err error }

func (e *DialError) Error() string { return e.err.Error() }
func (e *DialError) Unwrap() error { return e.err }

var Buffers = sync.Pool{New: func() any { return new([32 << 10]byte) }}

// NetConn is the connection underneath, for an upgraded exchange that
// copies bytes both ways, and for deadlines.
func (c *Conn) NetConn() net.Conn { return c.conn }

// Reader is the buffered reader of the responses, which may hold bytes
// an upgraded connection must pass on first.
func (c *Conn) Reader() *bufio.Reader { return c.br }
