package edge

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"

	"github.com/tendhq/tend/internal/edge/edgeconf"
)

// page is a text body well over the compression threshold.
var page = strings.Repeat("<p>The quick brown fox jumps over the lazy dog.</p>\n", 200)

// compressApp serves the responses the compression tests ask for by path.
func compressApp(t testing.TB) http.HandlerFunc {
	binary := make([]byte, 8<<10)
	rand.Read(binary)
	return func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		switch r.URL.Path {
		case "/page": // length known: decided at WriteHeader
			h.Set("Content-Type", "text/html; charset=utf-8")
			h.Set("ETag", `"v1"`)
			h.Set("Accept-Ranges", "bytes")
			h.Set("Content-Length", itoa(len(page)))
			io.WriteString(w, page)
		case "/stream": // length unknown: decided after 1 KiB
			h.Set("Content-Type", "application/json")
			for i := range 100 {
				io.WriteString(w, `{"n":`+itoa(i)+`,"text":"some repeated text"}`+"\n")
				w.(http.Flusher).Flush()
			}
		case "/small":
			h.Set("Content-Type", "text/plain")
			io.WriteString(w, "small")
		case "/binary":
			h.Set("Content-Type", "image/png")
			w.Write(binary)
		case "/file": // ranges, conditional requests
			h.Set("Content-Type", "text/plain")
			h.Set("ETag", `"f1"`)
			http.ServeContent(w, r, "f.txt", time.Unix(1e9, 0), strings.NewReader(page))
		case "/nocontent":
			h.Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusNoContent)
		case "/notransform":
			h.Set("Content-Type", "text/html")
			h.Set("Cache-Control", "public, no-transform")
			io.WriteString(w, page)
		case "/encoded": // the app's own gzip passes as it is
			h.Set("Content-Type", "text/html")
			h.Set("Content-Encoding", "gzip")
			gz := gzip.NewWriter(w)
			io.WriteString(gz, page)
			gz.Close()
		case "/svg":
			h.Set("Content-Type", "image/svg+xml")
			io.WriteString(w, page)
		case "/problem":
			h.Set("Content-Type", "application/problem+json")
			io.WriteString(w, page)
		case "/vary":
			h.Set("Content-Type", "text/html")
			h.Set("Vary", "Origin")
			io.WriteString(w, page)
		}
	}
}

// fetch sends a GET (or method) with Accept-Encoding as given and returns
// the response with its raw body; the client does not decompress.
func fetch(t testing.TB, c *http.Client, method, url, accept string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	if accept != "" {
		req.Header.Set("Accept-Encoding", accept)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, b
}

func decode(t testing.TB, coding string, b []byte) string {
	t.Helper()
	var r io.Reader
	switch coding {
	case "gzip":
		gz, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		r = gz
	case "br":
		r = brotli.NewReader(bytes.NewReader(b))
	case "zstd":
		zr, err := zstd.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		r = zr
	default:
		return string(b)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("%s body does not decode: %v", coding, err)
	}
	return string(out)
}

func compressFront(t testing.TB, cfg Config) (*http.Client, string) {
	t.Helper()
	f, url := startFront(t, cfg)
	b, _ := startApp(t, "a", compressApp(t))
	f.Add(b)
	return plainClient(t), url
}

// plainClient is a client that neither asks for compression nor decodes it.
func plainClient(t testing.TB) *http.Client {
	tr := &http.Transport{DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func TestCompressionDecodesToOriginal(t *testing.T) {
	c, url := compressFront(t, Config{})
	var stream strings.Builder
	for i := range 100 {
		stream.WriteString(`{"n":` + itoa(i) + `,"text":"some repeated text"}` + "\n")
	}
	for _, tc := range []struct{ path, want string }{{"/page", page}, {"/stream", stream.String()}, {"/svg", page}, {"/problem", page}} {
		for _, coding := range []string{"gzip", "br", "zstd"} {
			res, body := fetch(t, c, "GET", url+tc.path, coding)
			if got := res.Header.Get("Content-Encoding"); got != coding {
				t.Errorf("%s %s: Content-Encoding %q", tc.path, coding, got)
				continue
			}
			if decode(t, coding, body) != tc.want {
				t.Errorf("%s %s: body does not decode to the original", tc.path, coding)
			}
			if len(body) >= len(tc.want) {
				t.Errorf("%s %s: %d bytes for %d", tc.path, coding, len(body), len(tc.want))
			}
			// The app's length is gone; the server may send the length of
			// what it sends, when the whole body fits its buffer.
			if cl := res.Header.Get("Content-Length"); cl != "" && cl != itoa(len(body)) || res.Header.Get("Accept-Ranges") != "" {
				t.Errorf("%s %s: Content-Length %q for %d bytes, Accept-Ranges %q", tc.path, coding, cl, len(body), res.Header.Get("Accept-Ranges"))
			}
			if v := res.Header.Values("Vary"); len(v) != 1 || v[0] != "Accept-Encoding" {
				t.Errorf("%s %s: Vary %q", tc.path, coding, v)
			}
		}
	}
	res, _ := fetch(t, c, "GET", url+"/page", "gzip")
	if et := res.Header.Get("ETag"); et != `W/"v1"` {
		t.Errorf("ETag of a compressed response: %q, want W/\"v1\"", et)
	}
	res, _ = fetch(t, c, "GET", url+"/vary", "gzip")
	if v := res.Header.Values("Vary"); len(v) != 2 || v[0] != "Origin" || v[1] != "Accept-Encoding" {
		t.Errorf("the app's Vary: %q", v)
	}
}

func TestCompressionLeavesAlone(t *testing.T) {
	c, url := compressFront(t, Config{})
	for _, tc := range []struct {
		name, method, path string
		hdr                []string
		status             int
		encoding           string // what the app sent
	}{
		{"small", "GET", "/small", nil, 200, ""},
		{"binary", "GET", "/binary", nil, 200, ""},
		{"range", "GET", "/file", []string{"Range", "bytes=0-99"}, 206, ""},
		{"HEAD", "HEAD", "/page", nil, 200, ""},
		{"204", "GET", "/nocontent", nil, 204, ""},
		{"304", "GET", "/file", []string{"If-None-Match", `"f1"`}, 304, ""},
		{"no-transform", "GET", "/notransform", nil, 200, ""},
		{"already encoded", "GET", "/encoded", nil, 200, "gzip"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, body := fetch(t, c, tc.method, url+tc.path, "br, gzip, zstd", tc.hdr...)
			if res.StatusCode != tc.status || res.Header.Get("Content-Encoding") != tc.encoding {
				t.Fatalf("%d, Content-Encoding %q", res.StatusCode, res.Header.Get("Content-Encoding"))
			}
			if v := res.Header.Get("Vary"); v != "Accept-Encoding" {
				t.Errorf("Vary %q", v)
			}
			switch tc.name {
			case "range":
				if res.Header.Get("Content-Range") != "bytes 0-99/"+itoa(len(page)) || string(body) != page[:100] {
					t.Errorf("range: %q %q", res.Header.Get("Content-Range"), body)
				}
			case "HEAD":
				if res.Header.Get("Content-Length") != itoa(len(page)) || res.Header.Get("ETag") != `"v1"` {
					t.Errorf("HEAD: Content-Length %q ETag %q", res.Header.Get("Content-Length"), res.Header.Get("ETag"))
				}
			case "already encoded":
				if decode(t, "gzip", body) != page {
					t.Error("the app's gzip was not passed as it is")
				}
			case "small":
				if string(body) != "small" || res.Header.Get("Content-Length") != "5" {
					t.Errorf("small: %q, Content-Length %q", body, res.Header.Get("Content-Length"))
				}
			}
		})
	}
}

func TestCompressionOff(t *testing.T) {
	c, url := compressFront(t, Config{Options: edgeconf.Options{Compression: new(false)}})
	res, body := fetch(t, c, "GET", url+"/page", "gzip")
	if res.Header.Get("Content-Encoding") != "" || string(body) != page || res.Header.Get("Vary") != "" || res.Header.Get("ETag") != `"v1"` {
		t.Fatalf("compression: false still compresses: %v", res.Header)
	}
}

// Server-sent events are flushed event by event, compressed or not: the
// first event arrives while the app still holds the second.
func TestEventStreamFlushedAtOnce(t *testing.T) {
	next := make(chan struct{})
	f, url := startFront(t, Config{})
	b, _ := startApp(t, "a", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 2 {
			io.WriteString(w, "data: event "+itoa(i)+"\n\n")
			w.(http.Flusher).Flush()
			if i == 0 {
				select {
				case <-next:
				case <-r.Context().Done():
					return
				}
			}
		}
	})
	f.Add(b)
	tr := &http.Transport{DisableCompression: true}
	defer tr.CloseIdleConnections()
	for _, coding := range []string{"", "gzip", "br", "zstd"} {
		req, _ := http.NewRequest("GET", url, nil)
		if coding != "" {
			req.Header.Set("Accept-Encoding", coding)
		}
		res, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		if got := res.Header.Get("Content-Encoding"); got != coding {
			t.Fatalf("event stream with %q: Content-Encoding %q", coding, got)
		}
		var r io.Reader = res.Body
		switch coding {
		case "gzip":
			r, err = gzip.NewReader(res.Body)
		case "br":
			r = brotli.NewReader(res.Body)
		case "zstd":
			var zr *zstd.Decoder
			zr, err = zstd.NewReader(res.Body)
			defer zr.Close()
			r = zr
		}
		if err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(r)
		if line, err := br.ReadString('\n'); err != nil || line != "data: event 0\n" {
			t.Fatalf("%q: first event %q, %v", coding, line, err)
		}
		next <- struct{}{}
		rest, _ := io.ReadAll(br)
		res.Body.Close()
		if string(rest) != "\ndata: event 1\n\n" {
			t.Fatalf("%q: rest %q", coding, rest)
		}
	}
}
