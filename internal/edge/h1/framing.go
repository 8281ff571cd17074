package h1

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"slices"
	"sync/atomic"

	"github.com/tendhq/tend/internal/edge/httpsyntax"
	"github.com/tendhq/tend/internal/edge/upstream"
)

// framing states of the request stream of one connection.
const (
	stHead        = iota // before or inside a request head
	stBody               // n bytes of body to go
	stChunkSize          // a chunk-size line; n accumulates the size
	stChunkExt           // the rest of a chunk-size line
	stChunkData          // n bytes of chunk data to go
	stChunkEnd           // n bytes of the CRLF after chunk data to go
	stTrailer            // at the start of a trailer line
	stTrailerCR          // after a CR at the start of a trailer line
	stTrailerLine        // inside a trailer line
	stPass               // not looked at any more: an upgrade, or framing Go refuses anyway
)

// Conn is a client connection speaking HTTP/1 (plain, or inside
// TLS when ALPN did not choose h2). It follows the framing of the
// requests the client sends, holding back each request head until it is
// whole. A head with both Content-Length and Transfer-Encoding is altered
// before the server sees it (the colon of its Transfer-Encoding line
// becomes a space), so that the server refuses it as malformed: 400 and
// the connection closes, in order after the responses to earlier
// pipelined requests. Bodies pass through as they come.
type Conn struct {
	net.Conn
	tls     *tls.ConnectionState // of the TLS connection underneath, if any
	maxHead int                  // past this the head is the server's problem (431)
	onBad   func(net.Conn)

	buf  []byte // from the client; buf[r:v] are checked, buf[v:] a head in progress
	r, v int
	st   int
	n    int64
	err  error // a read error to return once buf[r:v] is handed out

	// The server reads on between requests, and under a handler that
	// has run for a while and whose request has no more body (its
	// watch), so a failed read means the client has left: it closes the
	// connection to the instance of the request in flight, as a
	// context.AfterFunc on the request's context would, at no cost per
	// request. upstream is that connection, or nil.
	upstream atomic.Pointer[upstream.Conn]
	gone     atomic.Bool // a read failed for good
}

// watch has the client's leaving close c; false if it has left already.
func (c *Conn) Watch(u *upstream.Conn) bool {
	c.upstream.Store(u)
	if c.gone.Load() {
		c.upstream.CompareAndSwap(u, nil)
		return false
	}
	return true
}

// unwatch ends watch; false if the client's leaving closed u.
func (c *Conn) Unwatch(u *upstream.Conn) bool {
	return c.upstream.CompareAndSwap(u, nil)
}

// readFailed notes a failed read: unless it is a timeout (the server
// interrupting a read it no longer needs), the client is gone.
func (c *Conn) readFailed(err error) {
	if isTimeout(err) {
		return
	}
	c.gone.Store(true)
	if u := c.upstream.Swap(nil); u != nil {
		u.Close()
	}
}

func NewConn(c net.Conn, state *tls.ConnectionState, maxHead int, onBad func(net.Conn)) *Conn {
	return &Conn{Conn: c, tls: state, maxHead: maxHead, onBad: onBad}
}

func (c *Conn) Read(p []byte) (int, error) {
	for c.r == c.v {
		if c.err != nil {
			err := c.err
			c.err = nil
			return 0, err
		}
		if c.st == stPass && c.v == len(c.buf) {
			n, err := c.Conn.Read(p)
			if err != nil {
				c.readFailed(err)
			}
			return n, err
		}
		if c.r > 0 { // keep only the head in progress
			c.buf = c.buf[:copy(c.buf, c.buf[c.r:])]
			c.v -= c.r
			c.r = 0
		}
		if len(c.buf) == cap(c.buf) {
			c.buf = slices.Grow(c.buf, max(4096, cap(c.buf)))
		}
		n, err := c.Conn.Read(c.buf[len(c.buf):cap(c.buf)])
		c.buf = c.buf[:len(c.buf)+n]
		c.scan()
		if err != nil {
			c.readFailed(err)
		}
		if err != nil && (c.r == c.v || !isTimeout(err)) {
			// A timeout with data in hand is dropped: the server sets a
			// past deadline to interrupt a read it no longer needs, then
			// reads on. Other errors come after the data.
			c.err = err
		}
	}
	n := copy(p, c.buf[c.r:c.v])
	c.r += n
	if c.r == len(c.buf) {
		if cap(c.buf) > 16<<10 {
			c.buf = nil // a large head is rare: do not keep its buffer
		}
		c.buf, c.r, c.v = c.buf[:0], 0, 0
	}
	return n, nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// scan checks the bytes after v and moves v past those that may go to
// the server.
func (c *Conn) scan() {
	for c.v < len(c.buf) {
		b := c.buf[c.v:]
		switch c.st {
		case stPass:
			c.v = len(c.buf)
		case stHead:
			// The server skips empty lines before a request line.
			i := 0
			for i < len(b) && (b[i] == '\r' || b[i] == '\n') {
				i++
			}
			if i == len(b) {
				c.v = len(c.buf)
				return
			}
			end := headEnd(b[i:])
			if end < 0 {
				if len(b) > c.maxHead {
					c.st = stPass
					continue
				}
				return // wait for the rest of the head
			}
			c.checkHead(b[i : i+end])
			c.v += i + end
		case stBody, stChunkData, stChunkEnd:
			k := int(min(c.n, int64(len(b))))
			c.v += k
			if c.n -= int64(k); c.n == 0 {
				switch c.st {
				case stBody:
					c.st = stHead
				case stChunkData:
					c.st, c.n = stChunkEnd, 2
				case stChunkEnd:
					c.st = stChunkSize
				}
			}
		default:
			c.chunkByte(b[0])
			c.v++
		}
	}
}

// chunkByte follows the chunked coding outside chunk data, a byte at a time.
func (c *Conn) chunkByte(ch byte) {
	switch c.st {
	case stChunkSize:
		switch {
		case '0' <= ch && ch <= '9':
			c.n = c.n<<4 | int64(ch-'0')
		case 'a' <= ch && ch <= 'f', 'A' <= ch && ch <= 'F':
			c.n = c.n<<4 | int64(ch|0x20-'a'+10)
		case ch == ';':
			c.st = stChunkExt
		case ch == '\n':
			c.endChunkLine()
		}
		if c.n > 1<<40 {
			c.st = stPass // the server refuses it
		}
	case stChunkExt:
		if ch == '\n' {
			c.endChunkLine()
		}
	case stTrailer:
		switch ch {
		case '\n':
			c.st = stHead
		case '\r':
			c.st = stTrailerCR
		default:
			c.st = stTrailerLine
		}
	case stTrailerCR:
		if ch == '\n' {
			c.st = stHead
		} else {
			c.st = stTrailerLine
		}
	case stTrailerLine:
		if ch == '\n' {
			c.st = stTrailer
		}
	}
}

func (c *Conn) endChunkLine() {
	if c.n == 0 {
		c.st = stTrailer
	} else {
		c.st = stChunkData
	}
}

// headEnd is the length of the head at the start of b, up to and with
// the empty line that ends it, or -1 when it is not all there.
func headEnd(b []byte) int {
	for off := 0; ; {
		i := bytes.IndexByte(b[off:], '\n')
		if i < 0 {
			return -1
		}
		off += i + 1
		switch {
		case off < len(b) && b[off] == '\n':
			return off + 1
		case off+1 < len(b) && b[off] == '\r' && b[off+1] == '\n':
			return off + 2
		case off >= len(b)-1:
			return -1
		}
	}
}

// checkHead looks at one whole request head and sets the framing of what
// follows it.
func (c *Conn) checkHead(h []byte) {
	first, rest, _ := bytes.Cut(h, []byte("\n"))
	line := bytes.TrimRight(first, "\r")
	http10 := bytes.HasSuffix(line, []byte("HTTP/1.0"))
	connect := bytes.HasPrefix(line, []byte("CONNECT "))
	var cl, te, upgrade bool
	var clValue, teValue []byte
	teAt := -1   // offset in h of the colon of the Transfer-Encoding line
	hostAt := -1 // offset in h of the colon of a second Host line
	hosts := 0
	// Offsets count the request line as it came, with its CR: they
	// point at the colons to spoil.
	for off := len(first) + 1; len(rest) > 0; {
		line, rest, _ = bytes.Cut(rest, []byte("\n"))
		name, value, ok := bytes.Cut(line, []byte(":"))
		if ok {
			switch {
			case bytes.EqualFold(name, []byte("Content-Length")):
				cl, clValue = true, bytes.TrimSpace(value)
			case bytes.EqualFold(name, []byte("Transfer-Encoding")):
				te, teValue = true, bytes.TrimSpace(value)
				if teAt < 0 {
					teAt = off + len(name)
				}
			case bytes.EqualFold(name, []byte("Upgrade")):
				upgrade = true
			case bytes.EqualFold(name, []byte("Host")):
				if hosts++; hosts == 2 {
					hostAt = off + len(name)
				}
			}
		}
		off += len(line) + 1
	}
	if hostAt >= 0 {
		// Two Hosts: which one names the site? A head that does not
		// parse gets 400 from the server, and the connection closes.
		// (http.ReadRequest keeps only the first, and tells nobody.)
		h[hostAt] = ' '
		c.st = stPass
		return
	}
	switch {
	case cl && te:
		h[teAt] = ' '
		c.st = stPass // the server closes the connection after its 400
		if c.onBad != nil {
			c.onBad(c)
		}
	case upgrade || connect:
		c.st = stPass // what follows may not be HTTP at all
	case te && !http10:
		if bytes.EqualFold(teValue, []byte("chunked")) {
			c.st, c.n = stChunkSize, 0
		} else {
			c.st = stPass // 501 from the server
		}
	case cl:
		n, ok := httpsyntax.ParseLength(clValue)
		switch {
		case !ok:
			c.st = stPass // 400 from the server
		case n > 0:
			c.st, c.n = stBody, n
		}
	}
}

// CloseWrite and ReadFrom reach the connection underneath, for the
// server's graceful close and for sendfile.
func (c *Conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func (c *Conn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}

// connKey carries the Conn of an HTTP/1 connection into its requests'
// context (Server): its TLS state and its watch on the client
// (Conn.Watch).
type connKey struct{}

// ConnOf is the Conn a request came on, or nil (HTTP/2).
func ConnOf(ctx context.Context) *Conn {
	fc, _ := ctx.Value(connKey{}).(*Conn)
	return fc
}

// TLS is the state of the TLS connection underneath, or nil: the server
// thinks the connection plain.
func (c *Conn) TLS() *tls.ConnectionState { return c.tls }

// Gone says whether a read of the client's connection failed for good:
// the client left.
func (c *Conn) Gone() bool { return c.gone.Load() }
