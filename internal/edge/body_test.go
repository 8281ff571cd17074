package edge

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/edge/edgeconf"
	"github.com/tendhq/tend/internal/edge/internal/edgetest"
)

// nodeLikeApp is an instance that answers "100 Continue" the moment a
// request head comes, as Node's server does, then reads the whole body
// and answers 200 with its length. continued gets a value once the 100
// went out.
func nodeLikeApp(t *testing.T) (Backend, chan struct{}) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	continued := make(chan struct{}, 100)
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					io.WriteString(c, "HTTP/1.1 100 Continue\r\n\r\n")
					continued <- struct{}{}
					n, err := io.Copy(io.Discard, req.Body)
					if err != nil {
						return
					}
					body := itoa(int(n))
					io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: "+itoa(len(body))+"\r\n\r\n"+body)
				}
			})
		}
	})
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return Backend{ID: "node", Addr: ln.Addr().String()}, continued
}

// readFinal reads the responses on br up to the first final one, and
// counts the "100 Continue" before it.
func readFinal(t *testing.T, br *bufio.Reader) (*http.Response, string, int) {
	t.Helper()
	continues := 0
	for {
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("after %d interim responses: %v", continues, err)
		}
		if res.StatusCode == 100 {
			continues++
			continue
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		return res, string(body), continues
	}
}

// A chunked upload with Expect: 100-continue over max_body gets 413, even
// when the instance had answered "100 Continue" itself (Node does, at
// once) before the body went over: its connection closing then is the
// edge's doing, not the instance's failure.
func TestExpectContinueChunkedOverMaxBody413(t *testing.T) {
	b, continued := nodeLikeApp(t)
	f, _ := startFront(t, Config{Options: edgeconf.Options{MaxBody: 8 << 10}})
	f.Add(b)
	chunk := "1400\r\n" + strings.Repeat("x", 5<<10) + "\r\n" // 5 KiB
	for i := range 5 {
		c := edgetest.DialBounded(t, f.Addr().String())
		br := bufio.NewReader(c)
		io.WriteString(c, "PUT /upload HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n")
		// The edge's own "100 Continue", then the first 5 KiB, which
		// reach the instance: it answers "100 Continue" too, and the
		// edge passes that on.
		if res, err := http.ReadResponse(br, nil); err != nil || res.StatusCode != 100 {
			t.Fatalf("try %d: no 100 Continue from the edge: %v", i, err)
		}
		io.WriteString(c, chunk)
		<-continued
		if res, err := http.ReadResponse(br, nil); err != nil || res.StatusCode != 100 {
			t.Fatalf("try %d: the instance's 100 Continue was not passed on: %v", i, err)
		}
		// 5 KiB more: over the 8 KiB limit.
		io.WriteString(c, chunk+"0\r\n\r\n")
		res, body, _ := readFinal(t, br)
		c.Close()
		if res.StatusCode != 413 || !strings.Contains(body, "max_body") {
			t.Fatalf("try %d: %d %q, want 413", i, res.StatusCode, body)
		}
	}
	if s := stat(f, "node"); s.Failures != 0 {
		t.Errorf("the client's body counted against the instance: %+v", s)
	}
	st, _ := f.Stats("node")
	if st.Requests["4xx"] != 5 || st.Requests["5xx"] != 0 {
		t.Errorf("requests by class: %v, want 5 4xx", st.Requests)
	}
}

// A Content-Length over max_body with Expect: 100-continue gets 413 at
// once: the client is not told to send a body that would be refused.
func TestExpectContinueLengthOverMaxBody413(t *testing.T) {
	b, _ := startApp(t, "a", echoApp)
	f, _ := startFront(t, Config{Options: edgeconf.Options{MaxBody: 8 << 10}})
	f.Add(b)
	got := edgetest.RawExchange(t, f.Addr().String(), "PUT /upload HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 10000\r\n\r\n")
	if strings.Contains(got, " 100 ") {
		t.Fatalf("100 Continue sent for a body over max_body: %q", got)
	}
	if res := edgetest.ReadResponses(t, got, 1); res[0].StatusCode != 413 {
		t.Fatalf("%q, want 413", got)
	}
}

// A chunked body whose framing is broken is the client's fault: 400 (not
// 502), counted in the instance's 4xx and not as its failure, and logged
// at most once per interval with the count of those not logged.
func TestMalformedChunkedBody400(t *testing.T) {
	var logs syncBuffer
	clock := newFakeClock()
	b, _ := startApp(t, "a", echoApp)
	f, _ := startFront(t, Config{now: clock.Now, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	f.Add(b)
	head := "POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
	bodies := map[string]string{
		"bad chunk size":         "zz\r\nhello\r\n0\r\n\r\n",
		"bare LF in chunk size":  "5\nhello\r\n0\r\n\r\n",
		"bare LF after data":     "5\r\nhello\n0\r\n\r\n",
		"data longer than size":  "3\r\nhello\r\n0\r\n\r\n",
		"size too large":         "fffffffffffffffffff\r\nhello\r\n0\r\n\r\n",
		"big body then bad size": "8000\r\n" + strings.Repeat("x", 32<<10) + "\r\nxyz\r\n",
	}
	n := 0
	for name, body := range bodies {
		for range 3 {
			n++
			got := edgetest.RawExchange(t, f.Addr().String(), head+body)
			res := edgetest.ReadResponses(t, got, 1)[0]
			if res.StatusCode != 400 || !res.Close {
				t.Fatalf("%s: %q, want 400 and the connection closed", name, got)
			}
		}
	}
	st, _ := f.Stats("a")
	if st.Requests["4xx"] != uint64(n) || st.Requests["5xx"] != 0 || st.UpstreamErrors != 0 {
		t.Errorf("%d malformed bodies counted as %v, upstream errors %d", n, st.Requests, st.UpstreamErrors)
	}
	if k := strings.Count(logs.String(), "malformed request body"); k != 1 {
		t.Fatalf("%d log lines for %d malformed bodies in one interval, want 1:\n%s", k, n, logs.String())
	}
	clock.Add(time.Minute)
	edgetest.RawExchange(t, f.Addr().String(), head+bodies["bad chunk size"])
	if k := strings.Count(logs.String(), "malformed request body"); k != 2 || !strings.Contains(logs.String(), "suppressed="+itoa(n-1)) {
		t.Fatalf("after the interval: want a second line saying %d were not logged:\n%s", n-1, logs.String())
	}
}

// A body that trickles in is timed out by body_timeout: 408, and the
// request never reaches an instance's answer. A body that comes at a
// decent pace is not.
func TestBodyTimeout408(t *testing.T) {
	b, _ := startApp(t, "a", echoApp)
	f, _ := startFront(t, Config{Options: edgeconf.Options{BodyTimeout: edgeconf.Duration(300 * time.Millisecond)}})
	f.Add(b)
	addr := f.Addr().String()

	t.Run("stalled", func(t *testing.T) {
		c := edgetest.DialBounded(t, addr)
		io.WriteString(c, "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nx")
		got, _ := io.ReadAll(c)
		if res := edgetest.ReadResponses(t, string(got), 1)[0]; res.StatusCode != 408 || !res.Close {
			t.Fatalf("%q, want 408", got)
		}
	})
	t.Run("trickle", func(t *testing.T) {
		// A byte every 50 ms keeps coming, but far slower than a
		// window of body per body_timeout.
		c := edgetest.DialBounded(t, addr)
		io.WriteString(c, "POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
		done := make(chan struct{})
		var wg sync.WaitGroup
		defer wg.Wait()
		defer close(done)
		wg.Go(func() {
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-done:
					return
				case <-tick.C:
					if _, err := io.WriteString(c, "1\r\nx\r\n"); err != nil {
						return
					}
				}
			}
		})
		res, body, _ := readFinal(t, bufio.NewReader(c))
		if res.StatusCode != 408 {
			t.Fatalf("%d %q, want 408", res.StatusCode, body)
		}
	})
	t.Run("steady", func(t *testing.T) {
		big := strings.Repeat("y", 256<<10)
		req, _ := http.NewRequest("POST", "http://"+addr+"/upload", io.MultiReader(strings.NewReader(big)))
		req.ContentLength = -1
		if r := do(t, edgetest.NewClient(t), req); r.status != 200 || r.body != "POST /upload "+big {
			t.Fatalf("%d, %d bytes", r.status, len(r.body))
		}
	})
}

// Over HTTP/2 a header block over max_header_bytes gets 431, as over
// HTTP/1, and not a reset stream or connection.
func TestHTTP2HeaderTooLarge431(t *testing.T) {
	_, url, _, _, _ := tlsFront(t, Config{})
	c := tlsClient(t, true, nil)
	for _, tc := range []struct {
		size int
		want int
	}{{24 << 10, 200}, {40 << 10, 431}, {100 << 10, 431}, {24 << 10, 200}} {
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("X-Big", strings.Repeat("a", tc.size))
		res, err := c.Do(req)
		if err != nil {
			t.Fatalf("%d KiB header: %v", tc.size>>10, err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.ProtoMajor != 2 || res.StatusCode != tc.want {
			t.Fatalf("%d KiB header: %s %d, want %d", tc.size>>10, res.Proto, res.StatusCode, tc.want)
		}
	}
}

// Helmet's CSP asks browsers to upgrade to https only over TLS: over
// plain HTTP it would break every page served on a LAN.
func TestCSPUpgradeInsecureRequestsOnlyOverTLS(t *testing.T) {
	c, url := headerFront(t, edgeconf.Options{})
	plain := getWith(t, c, url).header.Get("Content-Security-Policy")
	if plain == "" || strings.Contains(plain, "upgrade-insecure-requests") {
		t.Errorf("over plain HTTP: %q", plain)
	}
	_, turl, _, _, _ := tlsFront(t, Config{})
	for _, h2 := range []bool{false, true} {
		res, err := tlsClient(t, h2, nil).Get(turl)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if csp := res.Header.Get("Content-Security-Policy"); !strings.HasSuffix(csp, ";upgrade-insecure-requests") || strings.TrimSuffix(csp, ";upgrade-insecure-requests") != plain {
			t.Errorf("over TLS (h2=%v): %q", h2, csp)
		}
	}
	// A CSP the user wrote goes as written.
	own := "default-src 'self';upgrade-insecure-requests"
	c2, url2 := headerFront(t, edgeconf.Options{Headers: edgeconf.Headers{"Content-Security-Policy": own}})
	if got := getWith(t, c2, url2).header.Get("Content-Security-Policy"); got != own {
		t.Errorf("configured CSP over plain HTTP: %q", got)
	}
}

// Over HTTP/2 a body that stalls is timed out too: 408.
func TestBodyTimeout408OverHTTP2(t *testing.T) {
	_, url, _, _, _ := tlsFront(t, Config{Options: edgeconf.Options{BodyTimeout: edgeconf.Duration(300 * time.Millisecond)}})
	pr, pw := io.Pipe()
	defer pw.Close()
	go pw.Write([]byte("x")) // one byte, then nothing
	req, _ := http.NewRequest("POST", url+"/upload", pr)
	c := tlsClient(t, true, nil)
	c.Timeout = 10 * time.Second // a bound, not a wait the test relies on
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.ProtoMajor != 2 || res.StatusCode != 408 {
		t.Fatalf("%s %d %q, want 408", res.Proto, res.StatusCode, body)
	}
}

// What the HTTP/2 server logs is mostly a client's doing (here a bad
// preface): at most one line per interval goes to the log.
func TestHTTP2ServerLogBounded(t *testing.T) {
	var logs syncBuffer
	clock := newFakeClock()
	f, _, _, _, _ := tlsFront(t, Config{now: clock.Now, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	badPreface := func() {
		c, err := tls.Dial("tcp", f.Addr().String(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second)) // a bound, not a wait
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\nxxxxxx")
		io.Copy(io.Discard, c) // until the server closes it, having logged
	}
	for range 5 {
		badPreface()
	}
	if k := strings.Count(logs.String(), "preface"); k != 1 {
		t.Fatalf("%d lines for 5 bad prefaces in one interval, want 1:\n%s", k, logs.String())
	}
	clock.Add(time.Minute)
	badPreface()
	if k := strings.Count(logs.String(), "preface"); k != 2 || !strings.Contains(logs.String(), "suppressed=4") {
		t.Fatalf("after the interval: want a second line saying 4 were not logged:\n%s", logs.String())
	}
}

// Over HTTP/2 a body refused as too large ends its stream only: the
// connection goes on serving (Connection: close would have made the
// server send GOAWAY).
func TestHTTP2BodyTooLargeKeepsConnection(t *testing.T) {
	_, url, _, _, _ := tlsFront(t, Config{Options: edgeconf.Options{MaxBody: 1 << 10}})
	c := tlsClient(t, true, nil)
	send := func(body string) (int, bool) {
		var reused bool
		trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused }}
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "POST", url, strings.NewReader(body))
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.ProtoMajor != 2 {
			t.Fatalf("%s, want HTTP/2", res.Proto)
		}
		return res.StatusCode, reused
	}
	send("ok")
	if code, _ := send(strings.Repeat("x", 2<<10)); code != 413 {
		t.Fatalf("a body over max_body: %d", code)
	}
	if code, reused := send("ok"); code != 200 || !reused {
		t.Fatalf("the next request: %d, on the same connection: %v", code, reused)
	}
}
