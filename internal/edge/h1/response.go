package h1

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tendhq/tend/internal/edge/httpsyntax"
)

// Response is the http.ResponseWriter of Server, reused by the
// requests of one connection. It writes the head into the connection's
// buffered writer as the headers are, with no sorting: at WriteHeader when
// the length is known, else once the body passes holdLimit, at a flush,
// or when the handler returns (then with the length, as net/http does).
type Response struct {
	c      *serverConn
	req    *http.Request
	header http.Header

	status     int
	wroteFinal bool   // the final status is set
	wroteHead  bool   // the head is in the writer
	hijacked   bool   // the handler took the connection
	closeAfter bool   // the connection closes after this response
	chunked    bool   // the body goes in chunks
	noBody     bool   // HEAD, 1xx, 204 or 304: no body goes out
	length     int64  // the declared Content-Length, or -1
	written    int64  // body bytes written
	hold       []byte // body held back (holdLimit)
	lines      []byte // header lines to write after the header's (transform.HeaderPolicy.applyLines)
}

// holdLimit is how much body is held back, before the head goes, to
// answer with a length rather than chunks.
const holdLimit = 2048

func (w *Response) reset(c *serverConn, req *http.Request) {
	h := w.header
	if h == nil {
		h = make(http.Header, 16)
	} else {
		clear(h)
	}
	*w = Response{c: c, req: req, header: h, length: -1, hold: w.hold[:0], closeAfter: req.Close}
}

func (w *Response) Header() http.Header { return w.header }

func (w *Response) WriteHeader(code int) {
	if w.hijacked || w.wroteFinal {
		return
	}
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	if code < 200 && code != http.StatusSwitchingProtocols {
		// Interim: it goes now, with the headers set so far (103's Link).
		w.writeStatusLine(code)
		w.writeFields(false)
		w.c.bw.WriteString("\r\n")
		w.c.bw.Flush()
		return
	}
	w.wroteFinal = true
	w.status = code
	w.noBody = w.req.Method == http.MethodHead || code == http.StatusNoContent || code == http.StatusNotModified || code < 200
	if cl := w.header.Get("Content-Length"); cl != "" {
		if n, err := strconv.ParseInt(cl, 10, 64); err == nil && n >= 0 {
			w.length = n
			w.writeHead(nil)
		} else {
			w.header.Del("Content-Length")
		}
	} else if w.noBody {
		w.writeHead(nil)
	}
}

// writeHead puts the head in the writer, with the framing of the body:
// the length when it is known, else chunks (HTTP/1.1) or the end of the
// connection (HTTP/1.0). first is the start of the body, for sniffing a
// missing Content-Type.
func (w *Response) writeHead(first []byte) {
	w.wroteHead = true
	h := w.header
	if httpsyntax.ConnectionLists(h["Connection"], "close") {
		w.closeAfter = true
	}
	h.Del("Transfer-Encoding")
	if w.length < 0 && !w.noBody {
		if w.req.ProtoAtLeast(1, 1) {
			w.chunked = true
		} else {
			w.closeAfter = true
		}
	}
	if w.status == http.StatusNoContent || w.status == http.StatusNotModified {
		h.Del("Content-Length")
	}
	if _, ok := h["Content-Type"]; !ok && len(first) > 0 && !w.noBody && h.Get("Content-Encoding") == "" {
		h["Content-Type"] = []string{http.DetectContentType(first)}
	}
	if w.c.srv.draining.Load() {
		w.closeAfter = true
	}
	w.writeStatusLine(w.status)
	w.writeFields(true)
	bw := w.c.bw
	bw.Write(w.lines)
	if _, ok := h["Date"]; !ok {
		bw.WriteString("Date: ")
		bw.Write(httpDate())
		bw.WriteString("\r\n")
	}
	switch {
	case w.closeAfter:
		if !httpsyntax.ConnectionLists(h["Connection"], "close") {
			bw.WriteString("Connection: close\r\n")
		}
	case !w.req.ProtoAtLeast(1, 1):
		bw.WriteString("Connection: keep-alive\r\n")
	}
	if w.chunked {
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	}
	bw.WriteString("\r\n")
}

func (w *Response) writeStatusLine(code int) {
	bw := w.c.bw
	if code == http.StatusOK {
		bw.WriteString("HTTP/1.1 200 OK\r\n")
		return
	}
	var b [3]byte
	bw.WriteString("HTTP/1.1 ")
	bw.Write(strconv.AppendInt(b[:0], int64(code), 10))
	bw.WriteByte(' ')
	if text := http.StatusText(code); text != "" {
		bw.WriteString(text)
	} else {
		bw.WriteString("status code ")
		bw.Write(strconv.AppendInt(b[:0], int64(code), 10))
	}
	bw.WriteString("\r\n")
}

// writeFields writes the header fields, as net/http does: names that are
// not tokens are left out, line breaks in values become spaces, and
// trailer keys (http.TrailerPrefix) wait for the end.
func (w *Response) writeFields(final bool) {
	for k, vv := range w.header {
		if final && (k == "Connection" && w.closeAfter && !httpsyntax.ConnectionLists(vv, "close")) {
			continue // a keep-alive the connection will not keep
		}
		if strings.HasPrefix(k, http.TrailerPrefix) || !httpsyntax.IsToken(k) {
			continue
		}
		for _, v := range vv {
			if httpsyntax.HasLineBreak(v) {
				v = newlineToSpace.Replace(v)
			}
			w.writeField(k, v)
		}
	}
}

var newlineToSpace = strings.NewReplacer("\n", " ", "\r", " ")

// writeField writes one header or trailer line, its value trimmed.
func (w *Response) writeField(k, v string) {
	bw := w.c.bw
	bw.WriteString(k)
	bw.WriteString(": ")
	bw.WriteString(textproto.TrimString(v))
	bw.WriteString("\r\n")
}

func (w *Response) Write(p []byte) (int, error) {
	if w.hijacked {
		return 0, http.ErrHijacked
	}
	if !w.wroteFinal {
		w.WriteHeader(http.StatusOK)
	}
	if w.noBody {
		if w.req.Method == http.MethodHead {
			return len(p), nil
		}
		return 0, http.ErrBodyNotAllowed
	}
	if !w.wroteHead {
		if len(w.hold)+len(p) <= holdLimit {
			w.hold = append(w.hold, p...)
			return len(p), nil
		}
		if err := w.release(p); err != nil {
			return 0, err
		}
	}
	if w.length >= 0 && w.written+int64(len(p)) > w.length {
		return 0, http.ErrContentLength
	}
	if err := w.body(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// release writes the head, framed for a body of unknown length, and the
// body held so far; first is what comes after it, for sniffing.
func (w *Response) release(first []byte) error {
	sniff := w.hold
	if len(sniff) == 0 {
		sniff = first
	}
	w.writeHead(sniff)
	if len(w.hold) > 0 {
		hold := w.hold
		w.hold = w.hold[:0]
		return w.body(hold)
	}
	return nil
}

// body writes p, in a chunk when the body is chunked.
func (w *Response) body(p []byte) error {
	if len(p) == 0 {
		return nil
	}
	bw := w.c.bw
	if w.chunked {
		var b [16]byte
		bw.Write(strconv.AppendInt(b[:0], int64(len(p)), 16))
		bw.WriteString("\r\n")
	}
	_, err := bw.Write(p)
	if w.chunked {
		bw.WriteString("\r\n")
	}
	w.written += int64(len(p))
	return err
}

// ReadFrom sends src as the body; when the length is known the head goes
// first and src goes to the connection itself, which uses sendfile for a
// file over plain TCP (static files).
func (w *Response) ReadFrom(src io.Reader) (int64, error) {
	if !w.wroteFinal {
		w.WriteHeader(http.StatusOK)
	}
	if w.hijacked || w.noBody || w.length < 0 || !w.wroteHead {
		return io.Copy(writerOnly{w}, src)
	}
	if err := w.c.bw.Flush(); err != nil {
		return 0, err
	}
	n, err := w.c.fc.ReadFrom(src)
	w.written += n
	return n, err
}

func (w *Response) FlushError() error {
	if w.hijacked {
		return http.ErrHijacked
	}
	if !w.wroteFinal {
		w.WriteHeader(http.StatusOK)
	}
	if !w.wroteHead {
		if err := w.release(nil); err != nil {
			return err
		}
	}
	return w.c.bw.Flush()
}

func (w *Response) Flush() { w.FlushError() }

// EnableFullDuplex lets a handler write while it still reads the body;
// this server always does.
func (w *Response) EnableFullDuplex() error { return nil }

// Hijack hands the connection over (for an upgrade): the server forgets
// it and leaves it open.
func (w *Response) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.hijacked {
		return nil, nil, http.ErrHijacked
	}
	c := w.c
	if w.wroteHead {
		if err := c.bw.Flush(); err != nil {
			return nil, nil, err
		}
	}
	c.stopWatch()
	w.hijacked = true
	c.srv.forget(c)
	return c.fc, bufio.NewReadWriter(c.br, c.bw), nil
}

// finish completes the response once the handler has returned.
func (w *Response) finish() error {
	if !w.wroteFinal {
		w.WriteHeader(http.StatusOK)
	}
	bw := w.c.bw
	if !w.wroteHead {
		if !w.noBody {
			w.length = int64(len(w.hold))
			w.header["Content-Length"] = []string{strconv.Itoa(len(w.hold))}
		}
		if err := w.release(nil); err != nil {
			return err
		}
	}
	if w.chunked {
		bw.WriteString("0\r\n")
		w.writeTrailers()
		bw.WriteString("\r\n")
	}
	if w.length >= 0 && !w.noBody && w.written < w.length {
		// Short of its announced length: the client learns it from the
		// connection closing.
		w.closeAfter = true
	}
	return bw.Flush()
}

// writeTrailers writes the trailers: the keys the Trailer header announced
// and those set with http.TrailerPrefix.
func (w *Response) writeTrailers() {
	field := func(k string, vv []string) {
		if !httpsyntax.IsToken(k) {
			return
		}
		for _, v := range vv {
			if !httpsyntax.HasLineBreak(v) {
				w.writeField(k, v)
			}
		}
	}
	for _, list := range w.header["Trailer"] {
		for k := range strings.SplitSeq(list, ",") {
			k = http.CanonicalHeaderKey(strings.TrimSpace(k))
			field(k, w.header[k])
		}
	}
	for k, vv := range w.header {
		if name, ok := strings.CutPrefix(k, http.TrailerPrefix); ok {
			field(name, vv)
		}
	}
}

// forget takes a hijacked connection out of the server's count.
func (s *Server) forget(c *serverConn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// httpDate is the Date header's value now, made once a second.
func httpDate() []byte {
	now := time.Now()
	sec := now.Unix()
	if d := dateNow.Load(); d != nil && d.sec == sec {
		return d.text
	}
	d := &date{sec: sec, text: now.UTC().AppendFormat(make([]byte, 0, len(http.TimeFormat)), http.TimeFormat)}
	dateNow.Store(d)
	return d.text
}

type date struct {
	sec  int64
	text []byte
}

var dateNow atomic.Pointer[date]

// SetLines has the head written with lines, header lines of the edge's
// own (transform.HeaderPolicy.ApplyLines), after the handler's headers.
func (w *Response) SetLines(lines []byte) { w.lines = lines }

// writerOnly hides ReadFrom, so that io.Copy does not call it again.
type writerOnly struct{ io.Writer }
