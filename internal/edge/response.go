package edge

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/tendhq/tend/internal/edge/h1"
	"github.com/tendhq/tend/internal/edge/transform"
)

// exchange is the edge's record of one request, from the moment the
// server hands it over until its access log line. It travels with the
// edge's response writer, and in the request's context when the front
// has Layers.
type exchange struct {
	start    time.Time
	s        *settings  // the settings the request started with
	client   netip.Addr // the client: the peer, or from X-Forwarded-For behind a trusted proxy
	trusted  bool       // the peer is a trusted proxy
	secure   bool       // the client's connection is HTTPS
	instance string     // the backend that answered, or "static"
	answered *backend   // the backend that answered, kept for its metrics
	retries  int        // other backends tried first
	fc       *h1.Conn   // the client's HTTP/1 connection, watched while an instance answers; nil: none or not to be used
}

type exchangeKey struct{}

func exchangeOf(r *http.Request) *exchange {
	ex, _ := r.Context().Value(exchangeKey{}).(*exchange)
	return ex
}

// exchangeFor finds the exchange of r: on w when it is the edge's own
// writer, else (behind a Layer that wrapped it) in r's context.
func exchangeFor(w http.ResponseWriter, r *http.Request) *exchange {
	if rw, ok := w.(*response); ok {
		return rw.ex
	}
	return exchangeOf(r)
}

// response is the ResponseWriter every handler of the front writes to.
// When the final status comes it edits the headers (security headers,
// cookie flags, Vary) and decides on compression: at once when the length
// is known, else once 1 KiB of body has come (or a flush, or the end). It
// counts the bytes that reach the client, for the access log.
type response struct {
	w  http.ResponseWriter
	r  *http.Request
	ex *exchange

	status   int   // the final status; 0 until the handler gives one
	bytes    int64 // body bytes sent to the client
	hijacked bool
	coding   transform.Coding // what the client accepts; Identity when compression is off
	mode     uint8
	hold     []byte            // the body so far, while mode is waiting
	enc      transform.Encoder // while mode is compressing
}

// Modes of a response.
const (
	unsent      uint8 = iota // no final status yet
	plain                    // headers sent; body passes through
	waiting                  // status known, headers held until compression is decided
	compressing              // headers sent; body goes through enc
)

var responses = sync.Pool{New: func() any { return new(response) }}

func newResponse(w http.ResponseWriter, r *http.Request, ex *exchange) *response {
	rw := responses.Get().(*response)
	*rw = response{w: w, r: r, ex: ex, hold: rw.hold[:0]}
	if ex.s.compress {
		rw.coding = transform.Negotiate(r.Header["Accept-Encoding"])
	}
	return rw
}

// release returns rw to the pool once the handler is done with it.
func (rw *response) release() {
	if cap(rw.hold) > 4*transform.MinCompressSize {
		rw.hold = nil
	}
	*rw = response{hold: rw.hold[:0]}
	responses.Put(rw)
}

func (rw *response) Header() http.Header { return rw.w.Header() }

// Unwrap lets http.ResponseController reach the server's writer for
// deadlines and full duplex.
func (rw *response) Unwrap() http.ResponseWriter { return rw.w }

func (rw *response) WriteHeader(code int) {
	if rw.mode != unsent {
		return
	}
	// 1xx (other than 101) are interim: they pass as they are and the
	// final status is still to come.
	if code >= 100 && code <= 199 && code != http.StatusSwitchingProtocols {
		rw.w.WriteHeader(code)
		return
	}
	rw.status = code
	h := rw.w.Header()
	switch {
	case rw.coding == transform.Identity || !transform.Compressible(rw.r, h, code):
		rw.commit(plain)
	case transform.IsEventStream(h):
		rw.compress()
	default:
		if cl := h.Get("Content-Length"); cl != "" {
			if n, err := strconv.ParseInt(cl, 10, 64); err == nil {
				if n >= transform.MinCompressSize {
					rw.compress()
				} else {
					rw.commit(plain)
				}
				return
			}
		}
		rw.mode = waiting
	}
}

// commit edits the headers and sends them.
func (rw *response) commit(mode uint8) {
	rw.mode = mode
	h := rw.w.Header()
	s := rw.ex.s
	if s.compress {
		transform.AddVary(h)
	}
	if w, ok := rw.w.(*h1.Response); ok {
		w.SetLines(s.headers.ApplyLines(h, rw.ex.secure))
	} else {
		s.headers.Apply(h, rw.ex.secure)
	}
	s.cookies.Apply(h, rw.ex.secure)
	rw.w.WriteHeader(rw.status)
}

// compress sends the headers of a compressed response, and the body held
// so far through the encoder.
func (rw *response) compress() error {
	transform.StartCompressing(rw.w.Header(), rw.coding)
	rw.commit(compressing)
	rw.enc = transform.NewEncoder(rw.coding, rawWriter{rw})
	if len(rw.hold) > 0 {
		_, err := rw.enc.Write(rw.hold)
		rw.hold = rw.hold[:0]
		return err
	}
	return nil
}

func (rw *response) Write(b []byte) (int, error) {
	if rw.mode == unsent {
		rw.WriteHeader(http.StatusOK)
	}
	switch rw.mode {
	case compressing:
		return rw.enc.Write(b)
	case waiting:
		if len(rw.hold)+len(b) < transform.MinCompressSize {
			rw.hold = append(rw.hold, b...)
			return len(b), nil
		}
		if err := rw.compress(); err != nil {
			return 0, err
		}
		return rw.enc.Write(b)
	}
	n, err := rw.w.Write(b)
	rw.bytes += int64(n)
	return n, err
}

// rawWriter is where the encoder's output goes: the client, counted.
type rawWriter struct{ rw *response }

func (w rawWriter) Write(b []byte) (int, error) {
	n, err := w.rw.w.Write(b)
	w.rw.bytes += int64(n)
	return n, err
}

// FlushError sends what the handler wrote so far. A stream that flushes
// is compressed whatever its size so far: more is coming.
func (rw *response) FlushError() error {
	if rw.mode == unsent {
		rw.WriteHeader(http.StatusOK)
	}
	if rw.mode == waiting {
		if err := rw.compress(); err != nil {
			return err
		}
	}
	if rw.enc != nil {
		if err := rw.enc.Flush(); err != nil {
			return err
		}
	}
	return http.NewResponseController(rw.w).Flush()
}

func (rw *response) Flush() { rw.FlushError() }

// Hijack hands the connection over, for upgrades such as WebSocket.
func (rw *response) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(rw.w).Hijack()
	if err == nil {
		rw.hijacked = true
		if rw.status == 0 {
			rw.status = http.StatusSwitchingProtocols
		}
	}
	return c, brw, err
}

// ReadFrom keeps sendfile for static files that are not compressed.
func (rw *response) ReadFrom(src io.Reader) (int64, error) {
	if rw.mode == unsent {
		rw.WriteHeader(http.StatusOK)
	}
	if rf, ok := rw.w.(io.ReaderFrom); ok && rw.mode == plain {
		n, err := rf.ReadFrom(src)
		rw.bytes += n
		return n, err
	}
	return io.Copy(writerOnly{rw}, src)
}

// writerOnly hides ReadFrom, so that io.Copy does not call it again.
type writerOnly struct{ io.Writer }

// finish completes the response once the handler has returned: a short
// body held for compression goes out as it is, an encoder is closed.
func (rw *response) finish() {
	if rw.hijacked {
		return
	}
	if rw.mode == unsent {
		rw.WriteHeader(http.StatusOK)
	}
	switch rw.mode {
	case waiting:
		// The whole body is known now: send its length rather than chunks.
		rw.w.Header().Set("Content-Length", strconv.Itoa(len(rw.hold)))
		rw.commit(plain)
		if len(rw.hold) > 0 {
			n, _ := rw.w.Write(rw.hold)
			rw.bytes += int64(n)
		}
	case compressing:
		rw.enc.Close()
		rw.enc = nil
	}
}
