package edge

import (
	"fmt"
	"net/http"

	"github.com/tendhq/tend/internal/edge/edgeconf"
)

// Limits: the header read timeout, idle timeout and header size are the
// servers' (h1 answers 431 past max_header_bytes, as net/http does
// for HTTP/2); the body limit is checked here per request; the timeouts
// to the instances are the edge client's (proxy.go, internal/edge/upstream).
//
// Requests that carry both Content-Length and Transfer-Encoding are how
// request smuggling starts. Go's server keeps Transfer-Encoding, drops
// Content-Length, and tells its handler nothing, so the check happens on
// the connection, in h1.Conn, before the server parses the head.

// serverHeaderBytes is the http.Server.MaxHeaderBytes (HTTP/2) that
// makes the limit max: net/http allows 4 KiB more than it is told.
func serverHeaderBytes(limit edgeconf.Size) int {
	return int(max(int64(limit)-4096, 1024))
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
		rw.Header().Set("Connection", "close")
		tooLarge(rw, limit)
		return false
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	return true
}

func tooLarge(w http.ResponseWriter, limit int64) {
	http.Error(w, fmt.Sprintf("413 Content Too Large: the body is over the limit of %s bytes (max_body)", edgeconf.Size(limit)), http.StatusRequestEntityTooLarge)
}
