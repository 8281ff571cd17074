package e2e

import (
	"bufio"
	"compress/gzip"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
)

// startEdgeApp starts the Express fixture behind the edge with the given
// edge block and returns its port.
func startEdgeApp(t *testing.T, h *home, edgeYAML string) int {
	t.Helper()
	port := freePort(t)
	eco := filepath.Join(t.TempDir(), "tend.yaml")
	writeEco(t, eco, fmt.Sprintf("apps:\n  - name: web\n    script: %s/express-app.js\n    port: %d\n    instances: 2\n    edge:\n%s", fixtures, port, edgeYAML))
	h.ok("start", eco)
	return port
}

func insecureClient(min, max uint16, suites []uint16) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true, MinVersion: min, MaxVersion: max, CipherSuites: suites},
		ForceAttemptHTTP2: true,
	}}
}

func TestEdgeChecklistThroughExpress(t *testing.T) {
	h := newHome(t)
	port := startEdgeApp(t, h, "      tls: self-signed\n      cookies:\n        rename: {from: connect.sid, to: web.sid}\n      rate_limits: [{path: /login, per_minute: 60, burst: 3}]\n")
	url := fmt.Sprintf("https://127.0.0.1:%d", port)

	// TLS: 1.0/1.1 refused, a CBC suite refused at 1.2, h2 negotiated.
	for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11} {
		if _, err := insecureClient(v, v, nil).Get(url + "/"); err == nil {
			t.Errorf("TLS version %x accepted", v)
		}
	}
	if _, err := insecureClient(tls.VersionTLS12, tls.VersionTLS12, []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256}).Get(url + "/"); err == nil {
		t.Errorf("a CBC suite was accepted at TLS 1.2")
	}
	c := insecureClient(tls.VersionTLS12, 0, nil)
	resp, err := c.Get(url + "/headers")
	if err != nil {
		t.Fatal(err)
	}
	var seen map[string]string
	json.NewDecoder(resp.Body).Decode(&seen)
	resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Errorf("protocol %s, want HTTP/2", resp.Proto)
	}
	if seen["x-forwarded-proto"] != "https" {
		t.Errorf("the app saw X-Forwarded-Proto %q", seen["x-forwarded-proto"])
	}
	for _, hdr := range []string{"Content-Security-Policy", "Strict-Transport-Security", "X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy", "Cross-Origin-Opener-Policy"} {
		if resp.Header.Get(hdr) == "" {
			t.Errorf("missing %s", hdr)
		}
	}
	if resp.Header.Get("X-Powered-By") != "" {
		t.Errorf("X-Powered-By not removed")
	}

	// Compression: gzip and br decode to the original.
	for _, enc := range []string{"gzip", "br"} {
		req, _ := http.NewRequest("GET", url+"/big", nil)
		req.Header.Set("Accept-Encoding", enc)
		tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, DisableCompression: true}
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var r io.Reader = resp.Body
		if resp.Header.Get("Content-Encoding") != enc {
			t.Errorf("%s: Content-Encoding %q", enc, resp.Header.Get("Content-Encoding"))
		} else if enc == "gzip" {
			r, _ = gzip.NewReader(resp.Body)
		} else {
			r = brotli.NewReader(resp.Body)
		}
		body, _ := io.ReadAll(r)
		resp.Body.Close()
		if string(body) != strings.Repeat("tend ", 2000) {
			t.Errorf("%s body decodes to %d bytes, not the original", enc, len(body))
		}
	}

	// Cookies: flags added, Priority kept, connect.sid renamed both ways.
	req, _ := http.NewRequest("GET", url+"/login", nil)
	req.Header.Set("Cookie", "web.sid=s%3Aabc")
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var got struct{ Cookie string }
	json.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	if got.Cookie != "connect.sid=s%3Aabc" {
		t.Errorf("the app got Cookie %q, want connect.sid restored", got.Cookie)
	}
	cookies := strings.Join(resp.Header.Values("Set-Cookie"), "\n")
	for _, want := range []string{"web.sid=s%3Aabc", "Secure", "HttpOnly", "SameSite=Lax", "Priority=High"} {
		if !strings.Contains(cookies, want) {
			t.Errorf("Set-Cookie lacks %q:\n%s", want, cookies)
		}
	}
	if strings.Contains(cookies, "connect.sid") {
		t.Errorf("connect.sid reached the client:\n%s", cookies)
	}

	// Rate limit on /login: the burst passes, then 429 with Retry-After.
	limited := false
	for range 10 {
		resp, err := c.Get(url + "/login")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") != "" {
			limited = true
			break
		}
	}
	if !limited {
		t.Errorf("no 429 after the burst on /login")
	}
}

func TestEdgeHygieneThroughExpress(t *testing.T) {
	h := newHome(t)
	port := startEdgeApp(t, h, "      read_header_timeout: 500ms\n")
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	// An instance answers before the probes (start may return before
	// both are in the pool: issue 20).
	get(t, "http://"+addr+"/")
	raw := func(req string) string {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(conn, req)
		line, _ := bufio.NewReader(conn).ReadString('\n')
		return line
	}
	if got := raw("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"); !strings.Contains(got, " 400 ") {
		t.Errorf("both length headers: %q, want 400", got)
	}
	if got := raw("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 64<<10) + "\r\n\r\n"); !strings.Contains(got, " 431 ") {
		t.Errorf("64 KiB header: %q, want 431", got)
	}
	// A spoofed X-Forwarded-For from an untrusted client is replaced.
	req, _ := http.NewRequest("GET", "http://"+addr+"/headers", nil)
	req.Header.Set("X-Forwarded-For", "6.6.6.6")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var seen map[string]string
	json.NewDecoder(resp.Body).Decode(&seen)
	resp.Body.Close()
	if strings.Contains(seen["x-forwarded-for"], "6.6.6.6") || !strings.Contains(seen["x-forwarded-for"], "127.0.0.1") {
		t.Errorf("X-Forwarded-For reaching the app: %q", seen["x-forwarded-for"])
	}
	// 1,000 connections that send half a header and stall do not stop a
	// normal request, and are closed after the timeout.
	var stalled []net.Conn
	for range 1000 {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial %d: %v", len(stalled), err)
		}
		io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\nX-Half")
		stalled = append(stalled, conn)
	}
	defer func() {
		for _, c := range stalled {
			c.Close()
		}
	}()
	get(t, "http://"+addr+"/")
	closed := 0
	buf := make([]byte, 1)
	for _, c := range stalled[:20] {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(buf); err != nil {
			closed++
		}
	}
	if closed != 20 {
		t.Errorf("%d of 20 stalled connections closed after the header timeout", closed)
	}
}

func TestServeStaticFiles(t *testing.T) {
	h := newHome(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "index.html"), []byte("<h1>home</h1>"), 0o644)
	os.WriteFile(filepath.Join(dir, "app.js"), []byte(strings.Repeat("console.log(1);\n", 200)), 0o644)
	secret := filepath.Join(filepath.Dir(dir), "secret.txt")
	os.WriteFile(secret, []byte("secret"), 0o600)
	defer os.Remove(secret)
	port := freePort(t)
	h.ok("serve", dir, strconv.Itoa(port), "--spa")
	base := fmt.Sprintf("127.0.0.1:%d", port)
	if body := get(t, "http://"+base+"/app.js"); !strings.HasPrefix(body, "console.log") {
		t.Errorf("GET /app.js: %q", body)
	}
	if body := get(t, "http://"+base+"/some/route"); body != "<h1>home</h1>" {
		t.Errorf("SPA fallback: %q", body)
	}
	for _, path := range []string{"/../secret.txt", "/%2e%2e/secret.txt", "/..%2fsecret.txt", "/..%5csecret.txt", "/%2e%2e%2fsecret.txt"} {
		conn, err := net.Dial("tcp", base)
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: x\r\nAccept: text/plain\r\nConnection: close\r\n\r\n", path)
		resp, _ := io.ReadAll(conn)
		conn.Close()
		if strings.Contains(string(resp), "secret") && !strings.Contains(string(resp), "<h1>") || !(strings.Contains(string(resp), " 404 ") || strings.Contains(string(resp), " 400 ")) {
			t.Errorf("GET %s: %q, want 404 or 400", path, strings.SplitN(string(resp), "\r\n", 2)[0])
		}
	}
	if a := h.app("static-" + strconv.Itoa(port)); !allOnline(a) {
		t.Errorf("serve app: %s", a.Status)
	}
}

// An access log turned on at run time starts with the next request: the
// file is opened then, with no restart of the app or its front.
func TestAccessLogTurnedOnBySet(t *testing.T) {
	h := newHome(t)
	url := startCluster(t, h, "web", 1)
	get(t, url+"/?step=before")
	path := filepath.Join(h.dir, "logs", "web-access.log")
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("access log exists before it was turned on: %v", err)
	}
	pid := pids(h.app("web"))
	h.ok("set", "web", "edge.access_log=json")
	get(t, url+"/?step=after")
	// The line goes through the log pipeline's queue: wait for it.
	var b []byte
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		b, _ = os.ReadFile(path)
		if strings.Contains(string(b), "step=after") {
			break
		}
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	var entry map[string]any
	if len(lines) != 1 || json.Unmarshal([]byte(lines[0]), &entry) != nil || !strings.Contains(lines[0], "step=after") {
		t.Fatalf("access log after tend set:\n%s\nwant one JSON line for /?step=after", b)
	}
	if got := pids(h.app("web")); len(got) != 1 || got[0] != pid[0] {
		t.Errorf("instances changed: %v, were %v", got, pid)
	}
}

// The client's faults in a request body get the client's status codes,
// through the real daemon and Express: 413 for an upload over max_body
// even after Node sent its own "100 Continue", 400 for a malformed
// chunked body (counted in the app's 4xx, logged at most once per 10 s),
// 408 for a body that trickles in; and Helmet's CSP asks for https only
// over TLS.
func TestEdgeClientBodyFaultsThroughExpress(t *testing.T) {
	h := newHome(t)
	port := startEdgeApp(t, h, "      max_body: 8K\n      body_timeout: 1s\n")
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	get(t, "http://"+addr+"/")
	dial := func() (net.Conn, *bufio.Reader) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(10 * time.Second)) // a bound, not a wait
		return c, bufio.NewReader(c)
	}
	// final reads the responses up to the final one.
	final := func(br *bufio.Reader) (*http.Response, string) {
		for {
			res, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode == 100 {
				continue
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			return res, string(b)
		}
	}
	interim := func(br *bufio.Reader, what string) {
		if res, err := http.ReadResponse(br, nil); err != nil || res.StatusCode != 100 {
			t.Fatalf("%s: no 100 Continue: %v", what, err)
		}
	}

	// Over max_body, chunked, with Expect: the edge's 100 Continue, 5 KiB,
	// Node's own 100 Continue passed on, 5 KiB more: 413. (/slow does not
	// read the body; it answers after 30 s.)
	chunk := "1400\r\n" + strings.Repeat("x", 5<<10) + "\r\n"
	for i := range 3 {
		c, br := dial()
		io.WriteString(c, "GET /slow?ms=30000 HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n")
		interim(br, "the edge's")
		io.WriteString(c, chunk)
		interim(br, "Node's, passed on")
		io.WriteString(c, chunk+"0\r\n\r\n")
		if res, body := final(br); res.StatusCode != 413 {
			t.Fatalf("upload %d over max_body: %d %q, want 413", i, res.StatusCode, body)
		}
		c.Close()
	}
	// A length over max_body with Expect: 413, and no 100 Continue first.
	c, br := dial()
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 9000\r\n\r\n")
	if res, err := http.ReadResponse(br, nil); err != nil || res.StatusCode != 413 {
		t.Fatalf("Content-Length over max_body with Expect: %v %v, want 413 at once", res, err)
	}

	// Malformed chunked bodies: 400, the app's 4xx, a bounded log.
	start := time.Now()
	const bad = 20
	for i := range bad {
		c, br := dial()
		io.WriteString(c, "GET /slow?ms=30000 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"+
			[]string{"zz\r\nhello\r\n", "5\nhello\r\n", "3\r\nhello\r\n0\r\n\r\n"}[i%3])
		if res, body := final(br); res.StatusCode != 400 || !res.Close {
			t.Fatalf("malformed body %d: %d %q, want 400 and close", i, res.StatusCode, body)
		}
		c.Close()
	}
	elapsed := time.Since(start)
	var n4, n5 uint64
	for _, in := range h.app("web").Instances {
		if in.HTTP != nil {
			n4 += in.HTTP.Requests["4xx"]
			n5 += in.HTTP.Requests["5xx"]
		}
	}
	if n4 != bad+3 || n5 != 0 {
		t.Errorf("the app counted %d 4xx and %d 5xx, want %d 4xx (3 uploads over max_body and %d malformed bodies) and no 5xx", n4, n5, bad+3, bad)
	}
	logged := func() int {
		b, _ := os.ReadFile(filepath.Join(h.dir, "tend.log"))
		return strings.Count(string(b), "path=/slow")
	}
	for deadline := time.Now().Add(10 * time.Second); logged() == 0 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
	}
	// One line per 10 s at most, whatever the pace of the requests.
	if n, most := logged(), 1+int(elapsed/(10*time.Second)); n == 0 || n > most {
		t.Errorf("%d log lines for %d malformed bodies in %s, want 1 to %d", n, bad, elapsed, most)
	}

	// A body that trickles in (a byte every 300 ms, well within
	// body_timeout between two bytes) is timed out: 408.
	c, br = dial()
	io.WriteString(c, "GET /slow?ms=30000 HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
	stop := make(chan struct{})
	trickled := make(chan struct{})
	go func() {
		defer close(trickled)
		tick := time.NewTicker(300 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if _, err := io.WriteString(c, "x"); err != nil {
					return
				}
			}
		}
	}()
	res, body := final(br)
	close(stop)
	<-trickled
	if res.StatusCode != 408 {
		t.Fatalf("a trickling body: %d %q, want 408", res.StatusCode, body)
	}

	// Helmet's CSP over plain HTTP: no upgrade-insecure-requests.
	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if csp := resp.Header.Get("Content-Security-Policy"); csp == "" || strings.Contains(csp, "upgrade-insecure-requests") {
		t.Errorf("CSP over plain HTTP: %q", csp)
	}
}
