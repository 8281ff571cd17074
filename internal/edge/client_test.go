package edge

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/edge/edgeconf"
	"github.com/tendhq/tend/internal/edge/internal/edgetest"
)

// oneShotApp answers each connection's first request and closes it without
// saying so (no Connection: close), as an instance does when its
// keep-alive timeout strikes just as the edge reuses the connection. Each
// request is recorded; closed receives once the connection is closed.
type oneShotApp struct {
	ln     net.Listener
	closed chan struct{}
	mu     sync.Mutex
	seen   []string // method and body of each request; guarded by mu
	wg     sync.WaitGroup
}

func startOneShot(t *testing.T) *oneShotApp {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := &oneShotApp{ln: ln, closed: make(chan struct{}, 100)}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			req, err := http.ReadRequest(bufio.NewReader(c))
			if err == nil {
				body, _ := io.ReadAll(req.Body)
				a.mu.Lock()
				a.seen = append(a.seen, req.Method+" "+string(body))
				a.mu.Unlock()
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			}
			c.Close()
			a.closed <- struct{}{}
		}
	}()
	t.Cleanup(func() { ln.Close(); a.wg.Wait() })
	return a
}

func (a *oneShotApp) requests() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.seen...)
}

// A pooled connection the instance has closed costs no request: a GET is
// resent on a fresh connection, and a POST gets a fresh one at once.
func TestDeadPooledConnection(t *testing.T) {
	app := startOneShot(t)
	f, url := startFront(t, Config{})
	f.Add(Backend{ID: "a", Addr: app.ln.Addr().String()})
	c := edgetest.NewClient(t)
	for i := range 6 {
		var r reply
		if i%2 == 0 {
			r = get(t, c, url)
		} else {
			req, _ := http.NewRequest("POST", url, strings.NewReader(fmt.Sprint("p", i)))
			r = do(t, c, req)
		}
		if r.status != 200 || r.body != "ok" {
			t.Fatalf("request %d: %d %q", i, r.status, r.body)
		}
		<-app.closed // the edge holds a dead connection from here on
	}
	if s := stat(f, "a"); !s.Up || s.Failures != 0 || s.Requests != 6 {
		t.Fatalf("backend: %+v", s)
	}
	want := []string{"GET ", "POST p1", "GET ", "POST p3", "GET ", "POST p5"}
	if got := app.requests(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("the app saw %q, want %q", got, want)
	}
}

// A POST that reached an instance over a pooled connection, which then
// died without answering, is not sent again: not on a fresh connection,
// not to another instance.
func TestPostNotResentOnPooledConnection(t *testing.T) {
	var posts atomic.Int32
	crash, _ := startApp(t, "crash", func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "POST" {
			posts.Add(1)
			io.Copy(io.Discard, r.Body)
			if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
				conn.Close()
			}
			return
		}
		io.WriteString(w, "ok")
	})
	f, url := startFront(t, Config{})
	f.Add(crash)
	c := edgetest.NewClient(t)
	if r := get(t, c, url); r.status != 200 {
		t.Fatalf("GET: %d", r.status)
	}
	good, _ := startApp(t, "good", nil)
	f.Add(good)
	f.MarkDown("good") // so that the POST goes to crash, on the pooled connection
	req, _ := http.NewRequest("POST", url, strings.NewReader("charge card"))
	if r := do(t, c, req); r.status != 502 {
		t.Fatalf("POST: %d %q", r.status, r.body)
	}
	if n := posts.Load(); n != 1 {
		t.Fatalf("the POST reached the app %d times", n)
	}
	if s := stat(f, "good"); s.Requests != 0 {
		t.Fatalf("good: %+v", s)
	}
}

// connCounter counts the connections an httptest server accepted and
// those it saw closed.
type connCounter struct {
	opened, closed atomic.Int32
	closedCh       chan struct{}
}

func countConns(srv *httptest.Server) *connCounter {
	cc := &connCounter{closedCh: make(chan struct{}, 100)}
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			cc.opened.Add(1)
		case http.StateClosed, http.StateHijacked:
			cc.closed.Add(1)
			cc.closedCh <- struct{}{}
		}
	}
	return cc
}

func startCounted(t *testing.T, h http.HandlerFunc) (Backend, *connCounter) {
	if h == nil {
		h = func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }
	}
	srv := httptest.NewUnstartedServer(h)
	cc := countConns(srv)
	srv.Start()
	t.Cleanup(srv.Close)
	return Backend{ID: "a", Addr: srv.Listener.Addr().String()}, cc
}

// Responses without a body, of whatever kind, leave the connection to the
// instance ready for the next request.
func TestConnectionReusedAcrossBodylessResponses(t *testing.T) {
	b, cc := startCounted(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/204":
			w.WriteHeader(204)
		case "/304":
			w.WriteHeader(304)
		case "/chunked":
			io.WriteString(w, "a")
			http.NewResponseController(w).Flush()
			io.WriteString(w, "b")
		default:
			w.Header().Set("Content-Length", "2")
			io.WriteString(w, "ok")
		}
	})
	f, url := startFront(t, Config{})
	f.Add(b)
	c := edgetest.NewClient(t)
	for _, p := range []string{"/", "/204", "/304", "/chunked", "/"} {
		if r := get(t, c, url+p); r.status >= 400 {
			t.Fatalf("%s: %d", p, r.status)
		}
	}
	req, _ := http.NewRequest("HEAD", url, nil)
	if r := do(t, c, req); r.status != 200 || r.header.Get("Content-Length") != "2" {
		t.Fatalf("HEAD: %d %v", r.status, r.header)
	}
	if r := get(t, c, url); r.body != "ok" {
		t.Fatalf("after HEAD: %q", r.body)
	}
	if n := cc.opened.Load(); n != 1 {
		t.Fatalf("%d connections to the instance, want 1", n)
	}
}

// A response the client stops reading halfway closes the connection to
// the instance, whose rest would otherwise be taken for the next response.
func TestUnfinishedBodyClosesConnection(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 8<<20)
	b, cc := startCounted(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big" {
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Write(big)
			return
		}
		io.WriteString(w, "ok")
	})
	f, url := startFront(t, Config{})
	f.Add(b)
	conn, err := net.Dial("tcp", f.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadFull(res.Body, make([]byte, 1000))
	conn.Close()
	select {
	case <-cc.closedCh:
	case <-time.After(10 * time.Second):
		t.Fatal("the connection to the instance stayed open")
	}
	c := edgetest.NewClient(t)
	if r := get(t, c, url); r.status != 200 || r.body != "ok" {
		t.Fatalf("next request: %d %q", r.status, r.body)
	}
	if n := cc.opened.Load(); n != 2 {
		t.Fatalf("%d connections to the instance, want 2", n)
	}
	// The aborted handler lets go of the backend just after it closed
	// the connection.
	for deadline := time.Now().Add(10 * time.Second); stat(f, "a").InFlight != 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("backend: %+v", stat(f, "a"))
		}
	}
	if s := stat(f, "a"); !s.Up {
		t.Fatalf("backend: %+v", s)
	}
}

// Removing an instance closes its idle connections: they would keep a
// stopped instance's sockets open.
func TestRemoveClosesIdleConnections(t *testing.T) {
	b, cc := startCounted(t, nil)
	f, url := startFront(t, Config{})
	f.Add(b)
	get(t, edgetest.NewClient(t), url)
	f.Remove("a")
	select {
	case <-cc.closedCh:
	case <-time.After(10 * time.Second):
		t.Fatal("the idle connection stayed open")
	}
}

func TestIdleConnectionsTimeOut(t *testing.T) {
	b, cc := startCounted(t, nil)
	f, url := startFront(t, Config{Options: edgeconf.Options{UpstreamIdleTimeout: edgeconf.Duration(50 * time.Millisecond)}})
	f.Add(b)
	get(t, edgetest.NewClient(t), url)
	select {
	case <-cc.closedCh:
	case <-time.After(10 * time.Second):
		t.Fatal("the idle connection outlived upstream_idle_timeout")
	}
}

// Hop-by-hop headers stay on their hop, both ways; TE: trailers passes.
func TestHopByHopHeaders(t *testing.T) {
	b, _ := startApp(t, "a", func(w http.ResponseWriter, r *http.Request) {
		var got []string
		for _, k := range []string{"Connection", "Keep-Alive", "X-Private", "Proxy-Authorization", "Te", "Upgrade", "X-Kept"} {
			got = append(got, k+"="+strings.Join(r.Header.Values(k), ","))
		}
		w.Header().Set("Connection", "X-Secret")
		w.Header().Set("X-Secret", "1")
		w.Header().Set("Keep-Alive", "timeout=5")
		w.Header().Set("Proxy-Authenticate", "Basic")
		io.WriteString(w, strings.Join(got, " "))
	})
	f, _ := startFront(t, Config{})
	f.Add(b)
	raw := edgetest.RawExchange(t, f.Addr().String(), "GET / HTTP/1.1\r\nHost: x\r\nConnection: close, X-Private\r\n"+
		"Keep-Alive: 300\r\nX-Private: secret\r\nProxy-Authorization: Basic eA==\r\nTE: trailers, deflate\r\nX-Kept: yes\r\n\r\n")
	res := edgetest.ReadResponses(t, raw, 1)[0]
	body, _ := io.ReadAll(res.Body)
	want := "Connection= Keep-Alive= X-Private= Proxy-Authorization= Te=trailers Upgrade= X-Kept=yes"
	if string(body) != want {
		t.Fatalf("the app saw %q, want %q", body, want)
	}
	for _, k := range []string{"X-Secret", "Keep-Alive", "Proxy-Authenticate"} {
		if v := res.Header.Get(k); v != "" {
			t.Errorf("response header %s: %q reached the client", k, v)
		}
	}
}

// Interim responses pass through ahead of the final one, and trailers
// after the body.
func TestInterimResponsesAndTrailers(t *testing.T) {
	b, _ := startApp(t, "a", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		w.Header().Set("Trailer", "X-Sum")
		io.WriteString(w, "body")
		w.Header().Set("X-Sum", "42")
	})
	f, url := startFront(t, Config{})
	f.Add(b)
	var hints []string
	trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
		hints = append(hints, fmt.Sprint(code, " ", h.Get("Link")))
		return nil
	}}
	req, _ := http.NewRequest("GET", url, nil)
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
	res, err := edgetest.NewClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if string(body) != "body" || res.Trailer.Get("X-Sum") != "42" {
		t.Fatalf("body %q, trailer %v", body, res.Trailer)
	}
	if len(hints) != 1 || hints[0] != "103 </style.css>; rel=preload" {
		t.Fatalf("interim responses: %q", hints)
	}
}

// Bytes an instance sends right behind its 101, in the same packet,
// reach the client.
func TestUpgradeKeepsEarlyBytes(t *testing.T) {
	b, _ := startApp(t, "a", func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		io.WriteString(conn, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: tick\r\nConnection: Upgrade\r\n\r\nhello\n")
		line, _ := brw.ReadString('\n')
		io.WriteString(conn, "echo "+line)
	})
	f, _ := startFront(t, Config{})
	f.Add(b)
	conn, err := net.Dial("tcp", f.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tick\r\n\r\n")
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != 101 {
		t.Fatalf("handshake: %v %v", res, err)
	}
	if line, err := br.ReadString('\n'); line != "hello\n" {
		t.Fatalf("early bytes: %q %v", line, err)
	}
	io.WriteString(conn, "hi\n")
	if line, err := br.ReadString('\n'); line != "echo hi\n" {
		t.Fatalf("echo: %q %v", line, err)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("after the instance closed: %v", err)
	}
}

// An upgrade the client did not ask for is refused.
func TestUnrequestedUpgradeRefused(t *testing.T) {
	b, _ := startApp(t, "a", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "Upgrade")
		w.Header().Set("Upgrade", "tick")
		w.WriteHeader(101)
	})
	f, url := startFront(t, Config{})
	f.Add(b)
	if r := get(t, edgetest.NewClient(t), url); r.status != 502 {
		t.Fatalf("status %d", r.status)
	}
	if s := stat(f, "a"); s.InFlight != 0 {
		t.Fatalf("backend: %+v", s)
	}
}

// rawApp answers every request with raw, closing the connection after
// it when closeAfter is set, and counts the connections it accepted.
func rawApp(t *testing.T, raw string, closeAfter bool) (Backend, *atomic.Int32) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns atomic.Int32
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					io.Copy(io.Discard, req.Body)
					if _, err := io.WriteString(c, raw); err != nil || closeAfter {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return Backend{ID: "raw", Addr: ln.Addr().String()}, &conns
}

// Response heads of every kind reach the client as http.ReadResponse
// reads them, whether the edge's own parser or ReadResponse took them.
func TestResponseHeads(t *testing.T) {
	for _, tc := range []struct {
		name       string
		raw        string
		closeAfter bool
		status     int
		body       string
		header     map[string]string // "" for absent
		conns      int32             // after two requests
	}{
		{"plain", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nETag: W/\"x\"\r\nx-lower:  v \r\nKeep-Alive: timeout=5\r\nConnection: keep-alive\r\n\r\nok",
			false, 200, "ok", map[string]string{"Etag": `W/"x"`, "X-Lower": "v", "Keep-Alive": "", "Content-Length": "2"}, 1},
		{"no reason", "HTTP/1.1 201\r\nContent-Length: 0\r\n\r\n", false, 201, "", nil, 1},
		{"close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", true, 200, "ok", map[string]string{"Connection": ""}, 2},
		{"connection names a header", "HTTP/1.1 200 OK\r\nConnection: X-Hop\r\nX-Hop: 1\r\nX-End: 2\r\nContent-Length: 2\r\n\r\nok",
			false, 200, "ok", map[string]string{"X-Hop": "", "X-End": "2"}, 1},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", false, 200, "ok", map[string]string{"Transfer-Encoding": ""}, 1},
		{"bare LF", "HTTP/1.1 200 OK\nContent-Length: 2\nX-A: 1\n\nok", false, 200, "ok", map[string]string{"X-A": "1"}, 1},
		{"HTTP/1.0 until close", "HTTP/1.0 200 OK\r\nX-A: 1\r\n\r\nhello", true, 200, "hello", map[string]string{"X-A": "1"}, 2},
		{"no length until close", "HTTP/1.1 200 OK\r\n\r\nhello", true, 200, "hello", nil, 2},
		{"obs-fold", "HTTP/1.1 200 OK\r\nX-Folded: a\r\n b\r\nContent-Length: 2\r\n\r\nok", false, 200, "ok", map[string]string{"X-Folded": "a b"}, 1},
		{"204", "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n", false, 204, "", nil, 1},
		{"304 with length", "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\nETag: \"e\"\r\n\r\n", false, 304, "", map[string]string{"Etag": `"e"`}, 1},
		{"pragma", "HTTP/1.1 200 OK\r\nPragma: no-cache\r\nContent-Length: 2\r\n\r\nok", false, 200, "ok", map[string]string{"Cache-Control": "no-cache"}, 1},
		{"two cookies", "HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 2\r\n\r\nok", false, 200, "ok", nil, 1},
		{"same length twice", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok", false, 200, "ok", nil, 1},
		{"bad length", "HTTP/1.1 200 OK\r\nContent-Length: 2x\r\n\r\nok", true, 502, "502 Bad Gateway\n", nil, 2},
		{"two lengths", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok", true, 502, "502 Bad Gateway\n", nil, 2},
		{"not HTTP", "SSH-2.0-OpenSSH\r\n\r\n", true, 502, "502 Bad Gateway\n", nil, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, conns := rawApp(t, tc.raw, tc.closeAfter)
			f, url := startFront(t, Config{Options: edgeconf.Options{Compression: new(false)}})
			f.Add(b)
			c := edgetest.NewClient(t)
			for i := range 2 {
				r := get(t, c, url)
				if r.status != tc.status || r.body != tc.body {
					t.Fatalf("request %d: %d %q, want %d %q", i+1, r.status, r.body, tc.status, tc.body)
				}
				for k, v := range tc.header {
					if got := r.header.Get(k); got != v {
						t.Errorf("%s: %q, want %q", k, got, v)
					}
				}
				if tc.name == "two cookies" && len(r.header.Values("Set-Cookie")) != 2 {
					t.Errorf("Set-Cookie: %q", r.header.Values("Set-Cookie"))
				}
			}
			if n := conns.Load(); n != tc.conns {
				t.Errorf("%d connections to the instance, want %d", n, tc.conns)
			}
		})
	}
}

// wrappedWriter is what a Layer may hand on: a writer of its own.
type wrappedWriter struct{ http.ResponseWriter }

// Behind a Layer that wraps the writer, the request's metrics still name
// the instance that answered.
func TestLayerWrappingTheWriter(t *testing.T) {
	var layered atomic.Int32
	f, url := startFront(t, Config{Layers: []func(http.Handler) http.Handler{
		func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				layered.Add(1)
				next.ServeHTTP(wrappedWriter{w}, r)
			})
		},
	}})
	b, _ := startApp(t, "a", nil)
	f.Add(b)
	if r := get(t, edgetest.NewClient(t), url); r.status != 200 || r.body != "ok" {
		t.Fatalf("%d %q", r.status, r.body)
	}
	if s, _ := f.Stats("a"); s.Count != 1 || layered.Load() != 1 {
		t.Fatalf("stats %+v, layer ran %d times", s, layered.Load())
	}
}

// An instance may answer before it has read the request body, and stop
// reading it: its answer reaches the client.
func TestEarlyAnswerToLargeBody(t *testing.T) {
	b, _ := startApp(t, "a", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		http.Error(w, "too big for me", http.StatusRequestEntityTooLarge)
	})
	f, url := startFront(t, Config{})
	f.Add(b)
	req, _ := http.NewRequest("POST", url, bytes.NewReader(make([]byte, 32<<20)))
	r := do(t, edgetest.NewClient(t), req)
	if r.status != 413 || r.body != "too big for me\n" {
		t.Fatalf("%d %q", r.status, r.body)
	}
	if s := stat(f, "a"); s.Failures != 0 {
		t.Fatalf("backend: %+v", s)
	}
}

// A client that leaves while an instance thinks ends the request there:
// the instance sees its connection close (its request's context ends),
// and nothing counts against it.
func TestClientLeavingEndsRequest(t *testing.T) {
	for _, tc := range []struct {
		name string
		tls  bool
		h2   bool
	}{{"http1", false, false}, {"tls", true, false}, {"h2", true, true}} {
		t.Run(tc.name, func(t *testing.T) {
			entered, ended := make(chan struct{}, 1), make(chan struct{}, 1)
			b, _ := startApp(t, "a", func(w http.ResponseWriter, r *http.Request) {
				entered <- struct{}{}
				<-r.Context().Done()
				ended <- struct{}{}
			})
			cfg := Config{}
			if tc.tls {
				cfg.Options.TLS = &edgeconf.TLSOptions{SelfSigned: true}
			}
			f, url := startFront(t, cfg)
			f.Add(b)
			scheme := "http://"
			c := edgetest.NewClient(t)
			if tc.tls {
				scheme = "https://"
				c = tlsClient(t, tc.h2, nil)
			}
			url = scheme + f.Addr().String()
			ctx, cancel := context.WithCancel(context.Background())
			req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
			errc := make(chan error, 1)
			go func() {
				res, err := c.Do(req)
				if err == nil {
					res.Body.Close()
				}
				errc <- err
			}()
			<-entered
			cancel() // closes the connection (HTTP/1), resets the stream (h2)
			<-errc
			select {
			case <-ended:
			case <-time.After(10 * time.Second):
				t.Fatal("the instance's request went on after the client left")
			}
			for deadline := time.Now().Add(10 * time.Second); stat(f, "a").InFlight != 0; time.Sleep(time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("backend: %+v", stat(f, "a"))
				}
			}
			if s := stat(f, "a"); s.Failures != 0 || !s.Up {
				t.Fatalf("backend: %+v", s)
			}
		})
	}
}

// A WebSocket handshake sets the sticky cookie too: socket.io's polling
// and its upgrade must reach the same instance.
func TestStickyCookieOnUpgrade(t *testing.T) {
	b, _ := startApp(t, "ws", wsEcho)
	f, _ := startFront(t, Config{Balance: Sticky})
	f.Add(b)
	conn, err := net.Dial("tcp", f.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: a2V5\r\nSec-WebSocket-Version: 13\r\n\r\n")
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 101 || !strings.HasPrefix(res.Header.Get("Set-Cookie"), "tend_sticky=") {
		t.Fatalf("%d %v", res.StatusCode, res.Header)
	}
}
