package h1

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/edge/internal/edgetest"
)

// frontWith is a server, with the front's default settings, whose
// requests are served by h.
func frontWith(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	return serveWith(t, Settings{ReadHeader: 10 * time.Second, Idle: 60 * time.Second, MaxHeader: 32 << 10}, h)
}

// serveWith serves a loopback listener with a Server of settings s, as
// the front does: each connection is a Conn handed to Serve. Cleanup
// stops accepting and closes the server.
func serveWith(t *testing.T, s Settings, h http.HandlerFunc) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(context.Background(), s, h, edgetest.Discard())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			srv.Serve(NewConn(c, nil, int(s.MaxHeader)+8192, func(net.Conn) {}))
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		srv.Close()
	})
	return ln.Addr().String()
}

// The checks net/http's server makes and http.ReadRequest does not: each
// head is refused with its status, reaches no handler, and the
// connection closes.
func TestHTTP1RefusesBadHeads(t *testing.T) {
	var reached atomic.Int32
	addr := frontWith(t, func(w http.ResponseWriter, r *http.Request) { reached.Add(1) })
	for _, tc := range []struct {
		name, head string
		status     int
	}{
		{"no Host in HTTP/1.1", "GET / HTTP/1.1\r\n\r\n", 400},
		{"two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
		{"bad Host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400},
		{"Host with userinfo", "GET / HTTP/1.1\r\nHost: a@evil.example\r\n\r\n", 400},
		{"Host with a path", "GET / HTTP/1.1\r\nHost: evil.example/a\r\n\r\n", 400},
		{"unknown expectation", "POST / HTTP/1.1\r\nHost: a\r\nExpect: magic\r\nContent-Length: 1\r\n\r\nx", 417},
		{"unknown transfer coding", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
		{"h2 without TLS", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505},
		{"not HTTP", "hello\r\n\r\n", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := edgetest.ReadResponses(t, edgetest.RawExchange(t, addr, tc.head), 1)[0]
			if res.StatusCode != tc.status || !res.Close {
				t.Fatalf("status %d, close %v; want %d and the connection closed", res.StatusCode, res.Close, tc.status)
			}
		})
	}
	if n := reached.Load(); n != 0 {
		t.Fatalf("%d refused requests reached the handler", n)
	}
}

// A client that waits for "100 Continue" gets it when the body is read,
// not before, and then its answer.
func TestHTTP1ExpectContinue(t *testing.T) {
	read := make(chan struct{})
	addr := frontWith(t, func(w http.ResponseWriter, r *http.Request) {
		<-read
		b, _ := io.ReadAll(r.Body)
		io.WriteString(w, "got "+string(b))
	})
	c := edgetest.DialBounded(t, addr)
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
	close(read)
	br := bufio.NewReader(c)
	line, err := br.ReadString('\n')
	if err != nil || line != "HTTP/1.1 100 Continue\r\n" {
		t.Fatalf("first line %q, %v; want 100 Continue", line, err)
	}
	if blank, _ := br.ReadString('\n'); blank != "\r\n" {
		t.Fatalf("after 100 Continue: %q", blank)
	}
	io.WriteString(c, "hello")
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 || string(b) != "got hello" {
		t.Fatalf("%d %q", res.StatusCode, b)
	}
}

// How a body goes out: with its length when the handler ends within
// holdLimit, in chunks past it or at a flush, until the connection closes
// for an HTTP/1.0 client; Date always; 204 without a body.
func TestHTTP1ResponseFraming(t *testing.T) {
	addr := frontWith(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/small":
			io.WriteString(w, "small")
		case "/large":
			io.WriteString(w, strings.Repeat("x", holdLimit+1))
		case "/flushed":
			io.WriteString(w, "a")
			w.(http.Flusher).Flush()
			io.WriteString(w, "b")
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		}
	})
	for _, tc := range []struct {
		path, proto    string
		length         int64
		chunked, close bool
		body           string
	}{
		{"/small", "HTTP/1.1", 5, false, false, "small"},
		{"/large", "HTTP/1.1", -1, true, false, strings.Repeat("x", holdLimit+1)},
		{"/flushed", "HTTP/1.1", -1, true, false, "ab"},
		{"/flushed", "HTTP/1.0", -1, false, true, "ab"},
		{"/small", "HTTP/1.0", 5, false, true, "small"},
		{"/empty", "HTTP/1.1", 0, false, false, ""},
	} {
		head := "GET " + tc.path + " " + tc.proto + "\r\nHost: a\r\n\r\n"
		if tc.proto == "HTTP/1.1" {
			// The second request shows the connection was kept.
			head += "GET /small HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
		}
		raw := edgetest.RawExchange(t, addr, head)
		n := 1
		if tc.proto == "HTTP/1.1" {
			n = 2
		}
		res := edgetest.ReadResponses(t, raw, n)
		r := res[0]
		b, _ := io.ReadAll(r.Body)
		chunked := len(r.TransferEncoding) > 0 && r.TransferEncoding[0] == "chunked"
		if string(b) != tc.body || r.ContentLength != tc.length || chunked != tc.chunked || r.Close != tc.close || r.Header.Get("Date") == "" {
			t.Errorf("%s %s: body %q, length %d, chunked %v, close %v, date %q; want %q, %d, %v, %v\n%s",
				tc.proto, tc.path, b, r.ContentLength, chunked, r.Close, r.Header.Get("Date"), tc.body, tc.length, tc.chunked, tc.close, raw)
		}
	}
}

// An HTTP/1.0 client that asks to keep the connection gets it kept.
func TestHTTP1KeepAliveForHTTP10(t *testing.T) {
	addr := frontWith(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.URL.Path) })
	raw := edgetest.RawExchange(t, addr, "GET /1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /2 HTTP/1.0\r\n\r\n")
	res := edgetest.ReadResponses(t, raw, 2)
	if res[0].Close || res[0].Header.Get("Connection") != "keep-alive" || !res[1].Close {
		t.Fatalf("close %v (Connection %q), then %v; want kept, then closed\n%s", res[0].Close, res[0].Header.Get("Connection"), res[1].Close, raw)
	}
}

// Header values cannot split the response: line breaks become spaces, and
// a name that is not a token is left out.
func TestHTTP1HeaderInjection(t *testing.T) {
	addr := frontWith(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header()["X-Evil"] = []string{"a\r\nSet-Cookie: stolen=1"}
		w.Header()["Bad Name"] = []string{"x"}
		io.WriteString(w, "ok")
	})
	raw := edgetest.RawExchange(t, addr, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
	res := edgetest.ReadResponses(t, raw, 1)[0]
	if res.Header.Get("Set-Cookie") != "" || res.Header.Get("X-Evil") != "a  Set-Cookie: stolen=1" || strings.Contains(raw, "Bad Name") {
		t.Fatalf("%q", raw)
	}
}

// A handler that panics loses its connection, not the server.
func TestHTTP1HandlerPanic(t *testing.T) {
	addr := frontWith(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/panic" {
			panic("boom")
		}
		io.WriteString(w, "fine")
	})
	if raw := edgetest.RawExchange(t, addr, "GET /panic HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"); raw != "" {
		t.Fatalf("after a panic the connection sent %q, want it closed with nothing", raw)
	}
	res := edgetest.ReadResponses(t, edgetest.RawExchange(t, addr, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"), 1)[0]
	if b, _ := io.ReadAll(res.Body); string(b) != "fine" {
		t.Fatalf("the next connection got %q", b)
	}
}

// A body the handler did not read is read past, and the connection kept
// for the next request.
func TestHTTP1UnreadBodyKeepsConnection(t *testing.T) {
	addr := frontWith(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.URL.Path) })
	raw := edgetest.RawExchange(t, addr, "POST /1 HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n0123456789"+
		"POST /2 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"+
		"GET /3 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
	res := edgetest.ReadResponses(t, raw, 3)
	for i, r := range res {
		if b, _ := io.ReadAll(r.Body); string(b) != "/"+strconv.Itoa(i+1) {
			t.Fatalf("response %d: %q\n%s", i+1, b, raw)
		}
	}
}

// A keep-alive connection left idle is closed at idle_timeout, and one
// that is used is not.
func TestHTTP1IdleTimeout(t *testing.T) {
	addr := serveWith(t, Settings{ReadHeader: 10 * time.Second, Idle: 150 * time.Millisecond, MaxHeader: 32 << 10}, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	c := edgetest.DialBounded(t, addr)
	br := bufio.NewReader(c)
	start := time.Now()
	for range 3 {
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.ReadAll(res.Body)
	}
	// Now idle: the server closes, the read ends.
	if n, err := br.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("idle connection: read %d, %v; want EOF", n, err)
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Fatalf("closed after %v, before the idle timeout", d)
	}
}

// A handler that runs long enough for the watch to read the client's
// connection does not lose the first byte of a request the client sent
// meanwhile (pipelined).
func TestHTTP1WatchKeepsPipelinedBytes(t *testing.T) {
	entered := make(chan struct{}, 1)
	addr := frontWith(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			entered <- struct{}{}
			time.Sleep(3 * watchAfter) // a handler that takes long: the watch reads meanwhile
		}
		io.WriteString(w, r.Method+" "+r.URL.Path)
	})
	c := edgetest.DialBounded(t, addr)
	io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
	<-entered
	// Sent while the first is handled: in the socket, not the server's buffer.
	io.WriteString(c, "PUT /next HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
	raw, _ := io.ReadAll(c)
	res := edgetest.ReadResponses(t, string(raw), 2)
	for i, want := range []string{"GET /slow", "PUT /next"} {
		if b, _ := io.ReadAll(res[i].Body); string(b) != want {
			t.Fatalf("response %d: %q, want %q\n%s", i+1, b, want, raw)
		}
	}
}

// A body that stalls fails the handler's read with ErrBodyTimeout once
// the body timeout has been spent waiting; a body sent in full is read
// whole, and the connection goes on to the next request.
func TestBodyTimeout(t *testing.T) {
	errs := make(chan error, 10)
	addr := serveWith(t, Settings{ReadHeader: 10 * time.Second, Idle: 60 * time.Second, MaxHeader: 32 << 10, Body: 200 * time.Millisecond},
		func(w http.ResponseWriter, r *http.Request) {
			b, err := io.ReadAll(r.Body)
			errs <- err
			if err != nil {
				w.Header().Set("Connection", "close")
				http.Error(w, err.Error(), http.StatusRequestTimeout)
				return
			}
			io.WriteString(w, strconv.Itoa(len(b)))
		})

	c := edgetest.DialBounded(t, addr)
	br := bufio.NewReader(c)
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
	res, err := http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != 200 || <-errs != nil {
		t.Fatalf("a whole body: %v %v", res, err)
	}
	io.Copy(io.Discard, res.Body)
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhe")
	res, err = http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != 408 {
		t.Fatalf("a stalled body: %v %v", res, err)
	}
	if err := <-errs; err != ErrBodyTimeout {
		t.Fatalf("the handler read %v, want ErrBodyTimeout", err)
	}
}
