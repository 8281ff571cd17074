package upstream

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/edge/httpsyntax"
)

// byteConn is an instance's connection that sends in, in reads of at
// most cut bytes, then ends.
type byteConn struct {
	net.Conn // nil: only Read is called
	in       []byte
	cut      int
}

func (c *byteConn) Read(p []byte) (int, error) {
	if len(c.in) == 0 {
		return 0, io.EOF
	}
	n := len(p)
	if c.cut > 0 {
		n = min(n, c.cut)
	}
	n = copy(p[:n], c.in)
	c.in = c.in[n:]
	return n, nil
}

func (c *byteConn) SetReadDeadline(time.Time) error { return nil }

// interim is the client's ResponseWriter as ReadResponse sees it: it
// keeps the 1xx responses passed on.
type interim struct {
	h     http.Header
	codes []int
}

func (w *interim) Header() http.Header         { return w.h }
func (w *interim) Write(p []byte) (int, error) { return len(p), nil }
func (w *interim) WriteHeader(code int)        { w.codes = append(w.codes, code) }

// read is one response as a reader made of it, and the bytes of the
// connection after it: where the next response would start.
type read struct {
	Status  int
	Header  http.Header
	Body    string
	BodyErr bool
	Close   bool
	Interim []int
	Rest    string
}

// readEdge reads a response as the proxy does (call.exchange): the fast
// path, ReadHead, and ReadResponse when it declines.
func readEdge(in []byte, cut int, method string) (read, error) {
	bc := &byteConn{in: in, cut: cut}
	c := &Conn{conn: bc}
	c.rd = connReader{c: bc, left: unbounded}
	c.br = bufio.NewReaderSize(&c.rd, 4<<10)
	req := &http.Request{Method: method}
	w := &interim{h: http.Header{}}
	var up Response
	if !c.ReadHead(req, w.h, &up) {
		res, err := ReadResponse(c, req, w)
		if err != nil {
			return read{}, err
		}
		httpsyntax.RemoveHopByHop(res.Header) // as the proxy does
		for k, vv := range res.Header {
			w.h[k] = append(w.h[k], vv...)
		}
		up = Response{Status: res.StatusCode, Close: res.Close, Body: res.Body}
	}
	body, err := io.ReadAll(up.Body)
	rest, _ := io.ReadAll(c.br)
	return read{Status: up.Status, Header: w.h, Body: string(body), BodyErr: err != nil, Close: up.Close, Interim: w.codes, Rest: string(rest)}, nil
}

// readStd reads a response with net/http alone.
func readStd(in []byte, method string) (read, error) {
	br := bufio.NewReader(bytes.NewReader(in))
	req := &http.Request{Method: method}
	var codes []int
	for {
		res, err := http.ReadResponse(br, req)
		if err != nil {
			return read{}, err
		}
		if res.StatusCode >= 100 && res.StatusCode <= 199 && res.StatusCode != http.StatusSwitchingProtocols {
			codes = append(codes, res.StatusCode)
			continue
		}
		h := res.Header.Clone()
		httpsyntax.RemoveHopByHop(h)
		body, err := io.ReadAll(res.Body)
		rest, _ := io.ReadAll(br)
		return read{Status: res.StatusCode, Header: h, Body: string(body), BodyErr: err != nil, Close: res.Close, Interim: codes, Rest: string(rest)}, nil
	}
}

// FuzzReadResponse: whatever an instance sends, the edge's client reads
// the same response as net/http's would (status, end-to-end headers,
// body, whether the connection closes), and leaves the connection at the
// same byte, where the next response starts: a response the edge framed
// differently would be answered to the next client of the connection.
// Its fast path (ReadHead) must decline what it does not read exactly as
// http.ReadResponse does.
func FuzzReadResponse(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhelloX",
		"HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nContent-Length: 05\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\nX",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: T\r\n\r\n5;x=y\r\nhello\r\n0\r\nT: v\r\n\r\nHTTP/1.1 200 OK\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, identity\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Drop\r\nX-Drop: 1\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\n\r\nuntil the end",
		"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\nHTTP/1.1 200 OK\r\n\r\n",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x00",
		"HTTP/1.1 200 OK\nContent-Length: 5\n\nhello",
		"HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nX : a\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nX: a\x00b\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nPragma: no-cache\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 099 Low\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\n0\n\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
	} {
		f.Add([]byte(s), uint8(0), false)
	}
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"), uint8(3), true)
	f.Fuzz(func(t *testing.T, in []byte, cut uint8, head bool) {
		method := http.MethodGet
		if head {
			method = http.MethodHead
		}
		edge, eerr := readEdge(in, int(cut), method)
		std, serr := readStd(in, method)
		if (eerr == nil) != (serr == nil) {
			t.Fatalf("edge: %v; net/http: %v", eerr, serr)
		}
		if eerr != nil {
			return
		}
		if len(edge.Header) == 0 {
			edge.Header = nil
		}
		if len(std.Header) == 0 {
			std.Header = nil
		}
		if !reflect.DeepEqual(edge, std) {
			t.Fatalf("the edge read\n%+v\nnet/http read\n%+v", edge, std)
		}
	})
}
