package edge

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/edge/edgeconf"
	"github.com/tendhq/tend/internal/edge/internal/edgetest"
)

// Server settings change by a new server on the same listener: requests
// in flight finish on the old one, new ones get the new limits, and no
// connection is refused.
func TestUpdateServerSettingsInPlace(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	f, url := startFront(t, Config{})
	b, _ := startApp(t, "a", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(entered)
			<-release
		}
		io.WriteString(w, "ok")
	})
	f.Add(b)
	c := edgetest.NewClient(t)
	if r := get(t, c, url); r.status != 200 {
		t.Fatal(r.status)
	}
	slow := make(chan int, 1)
	go func() {
		res, err := edgetest.NewClient(t).Get(url + "/slow")
		if err != nil {
			slow <- 0
			return
		}
		res.Body.Close()
		slow <- res.StatusCode
	}()
	<-entered

	o := f.Options()
	o.MaxHeaderBytes = 8 << 10
	o.ReadHeaderTimeout = edgeconf.Duration(5 * time.Second)
	if err := f.Update(o); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("X-Big", strings.Repeat("a", 12<<10))
	if r := do(t, edgetest.NewClient(t), req); r.status != 431 {
		t.Fatalf("12 KiB header on a new connection after max_header_bytes 8K: %d", r.status)
	}
	// The keep-alive client's connection was the old server's: it gets
	// its next answer there, with Connection: close, then moves.
	for i := range 3 {
		res, err := c.Get(url)
		if err != nil {
			t.Fatalf("after the update: %v", err)
		}
		res.Body.Close()
		if res.StatusCode != 200 || res.Close != (i == 0) {
			t.Fatalf("request %d after the update: %d, close=%v", i+1, res.StatusCode, res.Close)
		}
	}
	close(release)
	if s := <-slow; s != 200 {
		t.Fatalf("request in flight during the update: %d", s)
	}
	if got := f.Options().MaxHeaderBytes; got != 8<<10 {
		t.Fatalf("Options after Update: %s", got)
	}
}

func TestUpdateUpstreamTimeouts(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	f, url := startFront(t, Config{})
	b, _ := startApp(t, "a", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hang" {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
		io.WriteString(w, "ok")
	})
	f.Add(b)
	o := f.Options()
	o.ResponseHeaderTimeout = edgeconf.Duration(50 * time.Millisecond)
	if err := f.Update(o); err != nil {
		t.Fatal(err)
	}
	c := edgetest.NewClient(t)
	if r := get(t, c, url+"/hang"); r.status != 502 {
		t.Fatalf("an instance that does not answer within response_header_timeout: %d", r.status)
	}
	if r := get(t, c, url); r.status != 200 {
		t.Fatalf("after: %d", r.status)
	}
}

func TestUpdateKeepsRateLimitBuckets(t *testing.T) {
	clock := newFakeClock()
	f, url := startFront(t, Config{now: clock.Now, Options: edgeconf.Options{RateLimits: []edgeconf.RateLimit{{Path: "/", PerMinute: 1, Burst: 1}}}})
	b, _ := startApp(t, "a", nil)
	f.Add(b)
	c := edgetest.NewClient(t)
	get(t, c, url)
	o := f.Options()
	o.Headers = edgeconf.Headers{"X-Frame-Options": "DENY"}
	if err := f.Update(o); err != nil {
		t.Fatal(err)
	}
	if r := get(t, c, url); r.status != 429 || r.header.Get("X-Frame-Options") != "DENY" {
		t.Fatalf("after an update of headers only: %d %q", r.status, r.header.Get("X-Frame-Options"))
	}
	o.RateLimits = nil
	f.Update(o)
	if r := get(t, c, url); r.status != 200 {
		t.Fatalf("after removing the limit: %d", r.status)
	}
}

func TestUpdateRefusedChangesNothing(t *testing.T) {
	f, url := startFront(t, Config{})
	b, _ := startApp(t, "a", nil)
	f.Add(b)
	before := f.Options()
	bad := before
	bad.TLS = &edgeconf.TLSOptions{Cert: "/nonexistent/cert.pem", Key: "/nonexistent/key.pem"}
	bad.Compression = new(false)
	if err := f.Update(bad); err == nil || !strings.Contains(err.Error(), "tls.cert") {
		t.Fatalf("bad certificate: %v", err)
	}
	// A redirect port in use.
	o := before
	o.TLS = &edgeconf.TLSOptions{SelfSigned: true}
	o.RedirectHTTP = portOf(t, f)
	if err := f.Update(o); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("redirect port in use: %v", err)
	}
	if r := get(t, edgetest.NewClient(t), url); r.status != 200 {
		t.Fatalf("still plain HTTP after refused updates: %d", r.status)
	}
	if after := f.Options(); after.TLS != nil || !after.CompressionOn() {
		t.Fatalf("options changed: %+v", after)
	}
	f.Close(context.Background())
	if err := f.Update(before); err == nil {
		t.Fatal("Update after Close")
	}
}

func TestUpdateRedirectListener(t *testing.T) {
	f, _, _, _, _ := tlsFront(t, Config{})
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	defer noFollow.CloseIdleConnections()
	port := edgetest.FreePort(t)
	o := f.Options()
	o.RedirectHTTP = port
	if err := f.Update(o); err != nil {
		t.Fatal(err)
	}
	res, err := noFollow.Get("http://127.0.0.1:" + itoa(port) + "/x")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 308 {
		t.Fatalf("redirect: %d", res.StatusCode)
	}
	o.RedirectHTTP = 0
	if err := f.Update(o); err != nil {
		t.Fatal(err)
	}
	if _, err := noFollow.Get("http://127.0.0.1:" + itoa(port) + "/x"); err == nil {
		t.Fatal("the redirect listener still answers after it was turned off")
	}
}

func portOf(t testing.TB, f *Front) int {
	t.Helper()
	return f.Addr().(*net.TCPAddr).Port
}

// Updates of every kind under load, over keep-alive connections: no
// request fails.
func TestUpdateUnderLoad(t *testing.T) {
	f, url := startFront(t, Config{})
	for _, id := range []string{"a", "b"} {
		b, _ := startApp(t, id, loadApp)
		f.Add(b)
	}
	l := startLoad(t, url, 16, true)
	l.wait(200)
	for i := range 6 {
		o := f.Options()
		o.Headers = edgeconf.Headers{"X-Round": itoa(i)}                     // in place
		o.IdleTimeout = edgeconf.Duration(time.Duration(30+i) * time.Second) // a new server
		o.MaxHeaderBytes = edgeconf.Size(16+i) << 10
		o.DialTimeout = edgeconf.Duration(time.Duration(1+i) * time.Second) // a new Transport
		o.Compression = new(i%2 == 0)
		if err := f.Update(o); err != nil {
			t.Fatal(err)
		}
		l.wait(100)
	}
	l.finish(t)
}
