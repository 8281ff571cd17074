package edge

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/tendhq/tend/internal/edge/edgeconf"
	"github.com/tendhq/tend/internal/edge/h1"
)

// Limits: the header read timeout, idle timeout and header size are the
// servers' (h1 answers 431 past max_header_bytes; for HTTP/2 the front
// does, see h2HeaderBytes); the body limit is checked here per request,
// the body timeout by h1 for HTTP/1 and here for HTTP/2; the timeouts
// to the instances are the edge client's (proxy.go, internal/edge/upstream).
//
// Requests that carry both Content-Length and Transfer-Encoding are how
// request smuggling starts. Go's server keeps Transfer-Encoding, drops
// Content-Length, and tells its handler nothing, so the check happens on
// the connection, in h1.Conn, before the server parses the head.

// h2HeaderBytes is the http.Server.MaxHeaderBytes of the HTTP/2 server:
// four times the limit. net/http advertises it in SETTINGS, and answers a
// block past it 431 only when it is a little past: a block that overruns
// it by a frame closes the whole connection (GOAWAY), which clients
// report as a refused stream. So the server takes blocks up to four times
// the limit, and the front answers those over the limit 431 itself
// (h2HeadersTooLarge), as HTTP/1 does. Past four times, a client that
// heeds SETTINGS refuses to send the request; one that does not loses
// the connection.
func h2HeaderBytes(limit edgeconf.Size) int {
	return int(min(4*int64(limit), 1<<30))
}

// h2HeaderSize is the size of r's header block as HTTP/2 counts it (RFC
// 9113, section 6.5.2): each field's name and value, and 32 bytes, with
// the pseudo-header fields.
func h2HeaderSize(r *http.Request) int64 {
	const perField = 32
	n := int64(len(":method")+len(r.Method)+len(":path")+len(r.RequestURI)+len(":scheme")+len("https")+len(":authority")+len(r.Host)) + 4*perField
	for k, vv := range r.Header {
		for _, v := range vv {
			n += int64(len(k)+len(v)) + perField
		}
	}
	return n
}

// h2HeadersTooLarge answers 431 to an HTTP/2 request whose header block
// is over limit, as the HTTP/1 server answers one whose head is.
func h2HeadersTooLarge(w http.ResponseWriter, r *http.Request, limit int64) bool {
	if r.ProtoMajor != 2 || h2HeaderSize(r) <= limit {
		return false
	}
	http.Error(w, fmt.Sprintf("431 Request Header Fields Too Large: the headers are over the limit of %s bytes (max_header_bytes)", edgeconf.Size(limit)), http.StatusRequestHeaderFieldsTooLarge)
	return true
}

// timeBody bounds the waits of an HTTP/2 request body as the HTTP/1
// server bounds those of its bodies (h1.Settings.Body): reads may wait
// timeout in all for each h1.BodyWindow bytes, then fail with
// h1.ErrBodyTimeout. w is the server's own writer, whose read deadline
// is the stream's.
func timeBody(w http.ResponseWriter, r *http.Request, timeout time.Duration) {
	if r.ProtoMajor != 2 || timeout <= 0 || r.Body == nil || r.Body == http.NoBody {
		return
	}
	r.Body = &timedBody{ReadCloser: r.Body, rc: http.NewResponseController(w), timeout: timeout}
}

type timedBody struct {
	io.ReadCloser
	rc      *http.ResponseController
	timeout time.Duration
	budget  time.Duration // left to wait for the rest of window
	window  int
	failed  error
}

func (b *timedBody) Read(p []byte) (int, error) {
	if b.failed != nil {
		return 0, b.failed
	}
	if b.window <= 0 {
		b.window, b.budget = h1.BodyWindow, b.timeout
	}
	start := time.Now()
	if err := b.rc.SetReadDeadline(start.Add(b.budget)); err != nil {
		return b.ReadCloser.Read(p)
	}
	n, err := b.ReadCloser.Read(p)
	b.budget -= time.Since(start)
	b.window -= n
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		b.failed = h1.ErrBodyTimeout
		return n, b.failed
	case err == io.EOF:
		b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

// limitBody refuses a body larger than max at once when its length is
// announced, and stops reading one that grows past it otherwise (the
// proxy then answers 413). w is the server's own writer, which closes the
// connection after such a response.
func limitBody(w, rw http.ResponseWriter, r *http.Request, limit int64) bool {
	if limit <= 0 || r.Body == nil || r.Body == http.NoBody {
		return true
	}
	if r.ContentLength > limit {
		if r.ProtoMajor < 2 {
			// Over HTTP/2 it would end every stream of the connection
			// (GOAWAY), where this one stream is refused.
			rw.Header().Set("Connection", "close")
		}
		tooLarge(rw, limit)
		return false
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	return true
}

func tooLarge(w http.ResponseWriter, limit int64) {
	http.Error(w, fmt.Sprintf("413 Content Too Large: the body is over the limit of %s bytes (max_body)", edgeconf.Size(limit)), http.StatusRequestEntityTooLarge)
}
