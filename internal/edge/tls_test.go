package edge

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/edge/edgeconf"
	"github.com/tendhq/tend/internal/edge/internal/edgetest"
	"github.com/tendhq/tend/internal/edge/tlsstore"
)

// writePair writes a new self-signed certificate and its key to
// dir/name.crt and dir/name.key and returns the paths and the
// certificate's serial number.
func writePair(t testing.TB, dir, name string) (certFile, keyFile, serial string) {
	t.Helper()
	certPEM, keyPEM, err := tlsstore.NewSelfSigned(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	writeFile(t, certFile, certPEM)
	writeFile(t, keyFile, keyPEM)
	return certFile, keyFile, serialOf(t, certPEM)
}

// writeFile replaces name as a renewal tool does: a new file renamed over
// the old one.
func writeFile(t testing.TB, name string, data []byte) {
	t.Helper()
	tmp := name + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, name); err != nil {
		t.Fatal(err)
	}
}

func serialOf(t testing.TB, certPEM []byte) string {
	t.Helper()
	b, _ := pem.Decode(certPEM)
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c.SerialNumber.String()
}

// fakeClock is a clock that moves only when told.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// tlsFront starts a front with TLS from fresh files in front of one
// instance answering "ok".
func tlsFront(t testing.TB, cfg Config) (f *Front, url, certFile, keyFile, serial string) {
	t.Helper()
	dir := t.TempDir()
	certFile, keyFile, serial = writePair(t, dir, "site")
	cfg.Options.TLS = &edgeconf.TLSOptions{Cert: certFile, Key: keyFile}
	f, _ = startFront(t, cfg)
	b, _ := startApp(t, "a", nil)
	f.Add(b)
	return f, "https://" + f.Addr().String(), certFile, keyFile, serial
}

// tlsClient is a client that trusts any certificate, with keep-alive off
// so that each request makes a handshake.
func tlsClient(t testing.TB, h2 bool, cfg *tls.Config) *http.Client {
	if cfg == nil {
		cfg = &tls.Config{}
	}
	cfg.InsecureSkipVerify = true
	tr := &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: !h2, ForceAttemptHTTP2: h2}
	if !h2 {
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		cfg.NextProtos = []string{"http/1.1"}
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// handshake dials the front and reports the serial of the certificate it
// served, or the handshake's error.
func handshake(addr string, cfg *tls.Config) (string, error) {
	cfg.InsecureSkipVerify = true
	c, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		return "", err
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber.String(), nil
}

func TestTLSVersionsAndSuites(t *testing.T) {
	f, _, _, _, _ := tlsFront(t, Config{})
	addr := f.Addr().String()
	for _, tc := range []struct {
		name string
		cfg  *tls.Config
		ok   bool
	}{
		{"TLS 1.0", &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS10}, false},
		{"TLS 1.1", &tls.Config{MinVersion: tls.VersionTLS11, MaxVersion: tls.VersionTLS11}, false},
		{"TLS 1.2 CBC", &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
		}}, false},
		{"TLS 1.2 RSA key exchange", &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{
			tls.TLS_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_RSA_WITH_AES_256_GCM_SHA384,
		}}, false},
		{"TLS 1.2 ECDHE AES-GCM", &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}}, true},
		{"TLS 1.2 ECDHE ChaCha20", &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256}}, true},
		{"TLS 1.3", &tls.Config{MinVersion: tls.VersionTLS13}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := handshake(addr, tc.cfg)
			if tc.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			// "remote error": the front refused, not the client.
			if !tc.ok && (err == nil || !strings.Contains(err.Error(), "remote error")) {
				t.Fatalf("not refused by the front: %v", err)
			}
		})
	}
}

func TestTLSServesHTTP2AndHTTP1(t *testing.T) {
	proto := make(chan string, 2)
	f, _ := startFront(t, Config{Options: edgeconf.Options{TLS: &edgeconf.TLSOptions{SelfSigned: true}}})
	b, _ := startApp(t, "a", func(w http.ResponseWriter, r *http.Request) {
		proto <- r.Header.Get("X-Forwarded-Proto")
		io.WriteString(w, "ok")
	})
	f.Add(b)
	url := "https://" + f.Addr().String()
	for _, h2 := range []bool{true, false} {
		res, err := tlsClient(t, h2, nil).Get(url)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		want := 1
		if h2 {
			want = 2
		}
		if res.ProtoMajor != want || string(body) != "ok" {
			t.Errorf("h2=%v: %s %q", h2, res.Proto, body)
		}
		if res.TLS.NegotiatedProtocol != map[bool]string{true: "h2", false: "http/1.1"}[h2] {
			t.Errorf("ALPN %q", res.TLS.NegotiatedProtocol)
		}
		if p := <-proto; p != "https" {
			t.Errorf("X-Forwarded-Proto %q over TLS", p)
		}
		if hsts := res.Header.Get("Strict-Transport-Security"); hsts != "max-age=31536000; includeSubDomains" {
			t.Errorf("HSTS %q over TLS", hsts)
		}
	}
}

// A plain request to the TLS port gets told, as net/http's own TLS does.
func TestTLSPortAnswersPlainHTTP(t *testing.T) {
	f, _, _, _, _ := tlsFront(t, Config{})
	got := edgetest.RawExchange(t, f.Addr().String(), "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if !strings.HasPrefix(got, "HTTP/1.0 400 Bad Request") || !strings.Contains(got, "HTTPS server") {
		t.Fatalf("plain HTTP to the TLS port: %q", got)
	}
}

// syncBuffer is a log sink tests read while the front writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestCertificateReloadedWhenFilesChange(t *testing.T) {
	clock := newFakeClock()
	var logs syncBuffer
	f, _, certFile, keyFile, first := tlsFront(t, Config{now: clock.Now, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	addr := f.Addr().String()
	if got, err := handshake(addr, &tls.Config{}); err != nil || got != first {
		t.Fatalf("first certificate: %s %v", got, err)
	}

	// A renewal: new files in place. Within the check interval the old
	// one is still served; after it, the new one.
	_, _, second := writePair(t, filepath.Dir(certFile), "site")
	if got, _ := handshake(addr, &tls.Config{}); got != first {
		t.Fatalf("reloaded before the check interval: %s", got)
	}
	clock.Add(tlsstore.CheckInterval)
	if got, err := handshake(addr, &tls.Config{}); err != nil || got != second {
		t.Fatalf("after the swap: %s %v, want %s", got, err, second)
	}
	if f.TLSError() != nil || !strings.Contains(logs.String(), "tls certificate reloaded") {
		t.Fatalf("TLSError %v, log %q", f.TLSError(), logs.String())
	}

	// A bad swap: a key that is not the certificate's. The old pair stays
	// in use, and the error is reported until a good pair comes.
	other := t.TempDir()
	_, otherKey, _ := writePair(t, other, "other")
	key, _ := os.ReadFile(otherKey)
	writeFile(t, keyFile, key)
	clock.Add(tlsstore.CheckInterval)
	if got, err := handshake(addr, &tls.Config{}); err != nil || got != second {
		t.Fatalf("after a bad swap: %s %v, want the previous %s", got, err, second)
	}
	if err := f.TLSError(); err == nil || !strings.Contains(err.Error(), "previous certificate is still served") {
		t.Fatalf("TLSError after a bad swap: %v", err)
	}
	if !strings.Contains(logs.String(), "tls certificate reload failed") {
		t.Fatalf("bad swap not logged: %q", logs.String())
	}
	clock.Add(tlsstore.CheckInterval)
	handshake(addr, &tls.Config{})
	if n := strings.Count(logs.String(), "reload failed"); n != 1 {
		t.Fatalf("a bad pair is reported once, not at each check: %d", n)
	}

	_, _, third := writePair(t, filepath.Dir(certFile), "site")
	clock.Add(tlsstore.CheckInterval)
	if got, err := handshake(addr, &tls.Config{}); err != nil || got != third {
		t.Fatalf("after a good swap: %s %v, want %s", got, err, third)
	}
	if err := f.TLSError(); err != nil {
		t.Fatalf("TLSError after recovery: %v", err)
	}
}

func TestSelfSignedKeptInStateDir(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{StateDir: dir, Options: edgeconf.Options{TLS: &edgeconf.TLSOptions{SelfSigned: true}}}
	f1, _ := startFront(t, cfg)
	first, err := handshake(f1.Addr().String(), &tls.Config{})
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, tlsstore.SelfSignedFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("self-signed file: %v %v", fi, err)
	}
	f2, _ := startFront(t, cfg)
	if again, err := handshake(f2.Addr().String(), &tls.Config{ServerName: "localhost"}); err != nil || again != first {
		t.Fatalf("a second front made another certificate: %s %v, want %s", again, err, first)
	}
	// It verifies for localhost against itself.
	pemData, _ := os.ReadFile(filepath.Join(dir, tlsstore.SelfSignedFile))
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pemData)
	c, err := tls.Dial("tcp", f2.Addr().String(), &tls.Config{RootCAs: roots, ServerName: "localhost"})
	if err != nil {
		t.Fatalf("self-signed certificate does not verify for localhost: %v", err)
	}
	c.Close()
}

func TestRedirectHTTPToHTTPS(t *testing.T) {
	port := edgetest.FreePort(t)
	f, _, _, _, _ := tlsFront(t, Config{Options: edgeconf.Options{RedirectHTTP: port}})
	_, tlsPort, _ := net.SplitHostPort(f.Addr().String())
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	defer c.CloseIdleConnections()
	req, _ := http.NewRequest("POST", "http://127.0.0.1:"+itoa(port)+"/login?next=/a", strings.NewReader("x"))
	req.Host = "example.test:" + itoa(port)
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if want := "https://example.test:" + tlsPort + "/login?next=/a"; res.StatusCode != 308 || res.Header.Get("Location") != want {
		t.Fatalf("redirect: %d %q, want 308 %q", res.StatusCode, res.Header.Get("Location"), want)
	}
}

func TestTLSUpdateNeedsNoRestart(t *testing.T) {
	f, url := startFront(t, Config{})
	b, _ := startApp(t, "a", nil)
	f.Add(b)
	if r := get(t, edgetest.NewClient(t), url); r.status != 200 {
		t.Fatalf("plain: %d", r.status)
	}
	o := f.Options()
	o.TLS = &edgeconf.TLSOptions{SelfSigned: true}
	if err := f.Update(o); err != nil {
		t.Fatal(err)
	}
	c := tlsClient(t, true, nil)
	res, err := c.Get("https://" + f.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || res.ProtoMajor != 2 {
		t.Fatalf("after turning TLS on: %d %s", res.StatusCode, res.Proto)
	}
	// A new server for the HTTP/2 connection: it gets GOAWAY after its
	// next answer, and the client moves on without an error.
	o.IdleTimeout = edgeconf.Duration(time.Minute + time.Second)
	if err := f.Update(o); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		res, err := c.Get("https://" + f.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 || res.ProtoMajor != 2 || res.Header.Get("Connection") != "" {
			t.Fatalf("after a new server: %d %s %v", res.StatusCode, res.Proto, res.Header)
		}
	}
}

// A WebSocket over TLS: the HTTP/1.1 connection the front follows is
// handed over whole, and frames pass both ways.
func TestWebSocketOverTLS(t *testing.T) {
	b, _ := startApp(t, "ws", wsEcho)
	f, _ := startFront(t, Config{Options: edgeconf.Options{TLS: &edgeconf.TLSOptions{SelfSigned: true}}})
	f.Add(b)
	conn, err := tls.Dial("tcp", f.Addr().String(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2", "http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if p := conn.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Fatalf("ALPN %q", p)
	}
	conn.Close()
	conn, err = tls.Dial("tcp", f.Addr().String(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "GET /ws HTTP/1.1\r\nHost: example.test\r\nAccept-Encoding: gzip\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: MDEyMzQ1Njc4OWFiY2RlZg==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != 101 {
		t.Fatalf("handshake: %v %v", res, err)
	}
	for i := range 3 {
		msg := "hello over tls " + itoa(i)
		if err := writeFrame(conn, []byte(msg), true); err != nil {
			t.Fatal(err)
		}
		if got, err := readFrame(br); err != nil || string(got) != msg {
			t.Fatalf("echo: %q, %v", got, err)
		}
	}
}
