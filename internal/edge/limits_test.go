package edge

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/edge/edgeconf"
	"github.com/tendhq/tend/internal/edge/internal/edgetest"
)

// echoApp answers with the request's method, path and body.
func echoApp(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.Path, b)
}

func TestBothLengthHeadersRefused(t *testing.T) {
	var logs syncBuffer
	var reached atomic.Int32
	f, _ := startFront(t, Config{Log: slog.New(slog.NewTextHandler(&logs, nil))})
	b, _ := startApp(t, "a", func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		echoApp(w, r)
	})
	f.Add(b)
	addr := f.Addr().String()

	// A good request, then the smuggling attempt pipelined behind it: the
	// first is answered, the second gets 400 and the connection closes.
	smuggle := "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n" +
		"0\r\n\r\nGET /admin HTTP/1.1\r\nHost: x\r\n\r\n"
	for _, tc := range []struct{ name, req string }{
		{"alone", smuggle},
		{"pipelined", "GET /first HTTP/1.1\r\nHost: x\r\n\r\n" + smuggle},
		{"TE first, other case", "POST /a HTTP/1.1\r\nHost: x\r\ntransfer-encoding: chunked\r\ncontent-length: 4\r\n\r\n0\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := reached.Load()
			got := edgetest.RawExchange(t, addr, tc.req)
			n := strings.Count(got, "HTTP/1.1 ")
			res := edgetest.ReadResponses(t, got, n)
			last := res[len(res)-1]
			if last.StatusCode != 400 || !last.Close {
				t.Fatalf("last response: %d close=%v in %q", last.StatusCode, last.Close, got)
			}
			if tc.name == "pipelined" && (n != 2 || res[0].StatusCode != 200) {
				t.Fatalf("the good request before it: %q", got)
			}
			if tc.name != "pipelined" && reached.Load() != before || tc.name == "pipelined" && reached.Load() != before+1 {
				t.Fatalf("the refused request reached the app")
			}
		})
	}
	if !strings.Contains(logs.String(), "both Content-Length and Transfer-Encoding") {
		t.Errorf("not logged: %q", logs.String())
	}

	// Over TLS (HTTP/1.1) too.
	tf, _, _, _, _ := tlsFront(t, Config{})
	c, err := tls.Dial("tcp", tf.Addr().String(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, smuggle)
	got, _ := io.ReadAll(c)
	if res := edgetest.ReadResponses(t, string(got), 1); res[0].StatusCode != 400 {
		t.Fatalf("over TLS: %q", got)
	}
}

// Ordinary framing keeps working on a connection whose stream the edge
// follows: pipelined requests with chunked bodies (extensions, trailers),
// lengths, and none.
func TestPipelinedFramingPassesThrough(t *testing.T) {
	f, _ := startFront(t, Config{})
	b, _ := startApp(t, "a", echoApp)
	f.Add(b)
	req := "POST /one HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
		"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n" +
		"POST /two HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc" +
		"\r\n" + // an old client's stray CRLF after a POST, which Go skips

		"GET /three HTTP/1.1\r\nHost: x\r\n\r\n" +
		"POST /four HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nxyz\r\n0\r\n\r\n" +
		"GET /five HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
	res := edgetest.ReadResponses(t, edgetest.RawExchange(t, f.Addr().String(), req), 5)
	want := []string{"POST /one hello world", "POST /two abc", "GET /three ", "POST /four xyz", "GET /five "}
	for i, r := range res {
		body, _ := io.ReadAll(r.Body)
		if r.StatusCode != 200 || string(body) != want[i] {
			t.Errorf("response %d: %d %q, want %q", i+1, r.StatusCode, body, want[i])
		}
	}
}

func TestHeaderTooLarge431(t *testing.T) {
	f, url := startFront(t, Config{})
	b, _ := startApp(t, "a", nil)
	f.Add(b)
	c := edgetest.NewClient(t)
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("X-Big", strings.Repeat("a", 64<<10))
	if r := do(t, c, req); r.status != 431 {
		t.Fatalf("64 KiB header: %d", r.status)
	}
	req.Header.Set("X-Big", strings.Repeat("a", 24<<10))
	if r := do(t, c, req); r.status != 200 {
		t.Fatalf("24 KiB header under the 32 KiB default: %d", r.status)
	}
	// Over HTTP/2: TestHTTP2HeaderTooLarge431.
}

func TestBodyTooLarge413(t *testing.T) {
	f, url := startFront(t, Config{Options: edgeconf.Options{MaxBody: 1 << 10}})
	b, _ := startApp(t, "a", echoApp)
	f.Add(b)
	c := edgetest.NewClient(t)
	small := strings.Repeat("x", 1<<10)
	big := small + "x"
	for _, tc := range []struct {
		name    string
		body    io.Reader
		want    int
		chunked bool
	}{
		{"at the limit", strings.NewReader(small), 200, false},
		{"length over", strings.NewReader(big), 413, false},
		{"chunked at the limit", io.MultiReader(strings.NewReader(small)), 200, true},
		{"chunked over", io.MultiReader(strings.NewReader(big)), 413, true},
	} {
		req, _ := http.NewRequest("POST", url, tc.body)
		if tc.chunked {
			req.ContentLength = -1
		}
		r := do(t, c, req)
		if r.status != tc.want {
			t.Errorf("%s: %d %q", tc.name, r.status, r.body)
		}
		if tc.want == 413 && !strings.Contains(r.body, "max_body") {
			t.Errorf("%s: %q does not say which limit", tc.name, r.body)
		}
	}
}

// Slowloris: connections that send half a header and stall hold no
// worker hostage; the timeout closes them.
func TestStalledHeadersDoNotBlock(t *testing.T) {
	const timeout = 300 * time.Millisecond
	f, url := startFront(t, Config{Options: edgeconf.Options{ReadHeaderTimeout: edgeconf.Duration(timeout)}})
	b, _ := startApp(t, "a", nil)
	f.Add(b)
	addr := f.Addr().String()
	const n = 1000
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("after %d connections: %v", len(conns), err)
		}
		conns = append(conns, c)
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: "); err != nil {
			t.Fatal(err)
		}
	}
	if r := get(t, edgetest.NewClient(t), url); r.status != 200 || r.body != "ok" {
		t.Fatalf("a normal request among %d stalled ones: %d %q", n, r.status, r.body)
	}
	// Every stalled connection is closed by the front (EOF, or a reset,
	// or a 408 first): none is still open long after the timeout.
	var wg sync.WaitGroup
	var open atomic.Int32
	for _, c := range conns {
		wg.Go(func() {
			c.SetReadDeadline(time.Now().Add(10 * time.Second)) // a bound, not a wait
			if _, err := io.Copy(io.Discard, c); err != nil {
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					open.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if open.Load() > 0 {
		t.Fatalf("%d stalled connections still open", open.Load())
	}
}

func TestForwardedHeadersTrust(t *testing.T) {
	b, _ := startApp(t, "a", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{
			"xff":  strings.Join(r.Header.Values("X-Forwarded-For"), "|"),
			"xfh":  r.Header.Get("X-Forwarded-Host"),
			"xfp":  r.Header.Get("X-Forwarded-Proto"),
			"real": r.Header.Get("X-Real-Ip"),
		})
	})
	send := func(t *testing.T, trusted []string) map[string]string {
		f, url := startFront(t, Config{Options: edgeconf.Options{TrustedProxies: trusted}})
		f.Add(b)
		req, _ := http.NewRequest("GET", url, nil)
		req.Host = "example.test"
		req.Header.Set("X-Forwarded-For", "6.6.6.6, 203.0.113.7")
		req.Header.Set("X-Forwarded-Host", "public.example")
		req.Header.Set("X-Forwarded-Proto", "https")
		req.Header.Set("X-Real-Ip", "6.6.6.6")
		r := do(t, edgetest.NewClient(t), req)
		var got map[string]string
		if err := json.Unmarshal([]byte(r.body), &got); err != nil {
			t.Fatal(err, r.body)
		}
		return got
	}
	t.Run("untrusted", func(t *testing.T) {
		got := send(t, []string{"10.0.0.0/8"})
		want := map[string]string{"xff": "127.0.0.1", "xfh": "example.test", "xfp": "http", "real": "127.0.0.1"}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s: %q, want %q", k, got[k], v)
			}
		}
	})
	t.Run("trusted", func(t *testing.T) {
		got := send(t, []string{"127.0.0.1/32", "::1"})
		want := map[string]string{"xff": "6.6.6.6, 203.0.113.7, 127.0.0.1", "xfh": "public.example", "xfp": "https", "real": "6.6.6.6"}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s: %q, want %q", k, got[k], v)
			}
		}
	})
}

func TestClientBehindTrustedProxies(t *testing.T) {
	var pf []netip.Prefix
	for _, p := range []string{"10.0.0.0/8", "127.0.0.1"} {
		pp, err := edgeconf.ParsePrefix(p)
		if err != nil {
			t.Fatal(err)
		}
		pf = append(pf, pp)
	}
	for _, tc := range []struct{ peer, xff, want string }{
		{"198.51.100.1:5", "6.6.6.6", "198.51.100.1"},           // untrusted peer: its XFF is ignored
		{"127.0.0.1:5", "6.6.6.6, 203.0.113.7", "203.0.113.7"},  // the last untrusted hop
		{"127.0.0.1:5", "203.0.113.7, 10.1.2.3", "203.0.113.7"}, // skipping trusted hops
		{"127.0.0.1:5", "", "127.0.0.1"},
		{"127.0.0.1:5", "10.0.0.1", "10.0.0.1"}, // all trusted: the first
		{"127.0.0.1:5", "garbage, 10.0.0.1", "10.0.0.1"},
	} {
		r, _ := http.NewRequest("GET", "/", nil)
		r.RemoteAddr = tc.peer
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		if got, _ := clientOf(pf, r); got.String() != tc.want {
			t.Errorf("%s via %q: %s, want %s", tc.peer, tc.xff, got, tc.want)
		}
	}
}

func TestRateLimit429(t *testing.T) {
	clock := newFakeClock()
	f, url := startFront(t, Config{now: clock.Now, Options: edgeconf.Options{
		RateLimits: []edgeconf.RateLimit{{Path: "/login", PerMinute: 6, Burst: 2, Methods: []string{"POST"}}},
	}})
	b, _ := startApp(t, "a", nil)
	f.Add(b)
	c := edgetest.NewClient(t)
	post := func(path string) reply {
		req, _ := http.NewRequest("POST", url+path, nil)
		return do(t, c, req)
	}
	for i := range 2 {
		if r := post("/login"); r.status != 200 {
			t.Fatalf("request %d within the burst: %d", i+1, r.status)
		}
	}
	r := post("/LOGIN/") // the same route to Express
	if r.status != 429 || r.header.Get("Retry-After") != "10" {
		t.Fatalf("over the limit: %d, Retry-After %q", r.status, r.header.Get("Retry-After"))
	}
	if r := post("/loginx"); r.status != 200 {
		t.Fatalf("another path: %d", r.status)
	}
	if r := get(t, c, url+"/login"); r.status != 200 {
		t.Fatalf("another method: %d", r.status)
	}
	clock.Add(10 * time.Second)
	if r := post("/login"); r.status != 200 {
		t.Fatalf("after Retry-After: %d", r.status)
	}
	if r := post("/login"); r.status != 429 {
		t.Fatalf("one token per 10s: %d", r.status)
	}
}
