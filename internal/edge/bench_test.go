package edge

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/edge/edgeconf"
	"github.com/tendhq/tend/internal/edge/internal/edgetest"
)

// BenchmarkProxy measures requests per second through the front to two
// trivial instances, with keep-alive on both sides; BenchmarkDirect is the
// same client against one instance, for scale.
func BenchmarkProxy(b *testing.B) {
	f, url := startFront(b, Config{})
	for _, id := range []string{"a", "b"} {
		be, _ := startApp(b, id, nil)
		f.Add(be)
	}
	benchGet(b, url)
}

func BenchmarkDirect(b *testing.B) {
	_, srv := startApp(b, "a", nil)
	benchGet(b, srv.URL)
}

func benchGet(b *testing.B, url string) {
	req, _ := http.NewRequest("GET", url, nil)
	measure(b, edgetest.NewClient(b), req)
}

// measure sends req from 4 × GOMAXPROCS clients at once, b.N times in
// all, and reports requests per second and allocations.
func measure(b *testing.B, c *http.Client, req *http.Request) {
	b.SetParallelism(4)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			res, err := c.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
}

// BenchmarkChecklist is the edge with the production checklist on: TLS
// (HTTP/1.1 keep-alive, and HTTP/2), gzip of an 8 KiB HTML page, security
// headers and cookie flags, in front of two trivial instances.
// BenchmarkChecklistOff is the same page with none of it, for scale.
func BenchmarkChecklist(b *testing.B) {
	for _, h2 := range []bool{false, true} {
		name := "h1"
		if h2 {
			name = "h2"
		}
		b.Run(name, func(b *testing.B) {
			f, _ := startFront(b, Config{Options: edgeconf.Options{TLS: &edgeconf.TLSOptions{SelfSigned: true}}})
			addPageApps(b, f)
			c := tlsClient(b, true, nil)
			if !h2 {
				c = tlsClient(b, false, nil)
				c.Transport.(*http.Transport).DisableKeepAlives = false
			}
			c.Transport.(*http.Transport).DisableCompression = true
			c.Transport.(*http.Transport).MaxIdleConnsPerHost = 256
			benchPage(b, c, "https://"+f.Addr().String(), "gzip", h2)
		})
	}
}

func BenchmarkChecklistOff(b *testing.B) {
	f, url := startFront(b, Config{Options: edgeconf.Options{
		Compression: new(false), HeadersOverride: nil, Cookies: &edgeconf.CookieOptions{Secure: new(false), HTTPOnly: new(false), SameSite: "off"},
		Headers: offHeaders(),
	}})
	addPageApps(b, f)
	c := edgetest.NewClient(b)
	c.Transport.(*http.Transport).DisableCompression = true
	benchPage(b, c, url, "", false)
}

func offHeaders() edgeconf.Headers {
	h := edgeconf.Headers{}
	for name := range edgeconf.SecurityHeaders() {
		h[name] = ""
	}
	return h
}

var benchHTML = strings.Repeat("<div class=\"item\"><a href=\"/items/1\">An item of the list</a> with some text.</div>\n", 100)[:8<<10]

func addPageApps(b *testing.B, f *Front) {
	for _, id := range []string{"a", "b"} {
		be, _ := startApp(b, id, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Content-Length", strconv.Itoa(len(benchHTML)))
			w.Header().Set("Set-Cookie", "sid=abc; Path=/")
			io.WriteString(w, benchHTML)
		})
		f.Add(be)
	}
}

func benchPage(b *testing.B, c *http.Client, url, accept string, h2 bool) {
	req, _ := http.NewRequest("GET", url, nil)
	if accept != "" {
		req.Header.Set("Accept-Encoding", accept)
	}
	res, err := c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if accept != "" && res.Header.Get("Content-Encoding") != accept || h2 && res.ProtoMajor != 2 {
		b.Fatalf("not what is measured: %s %v", res.Proto, res.Header)
	}
	measure(b, c, req)
}
