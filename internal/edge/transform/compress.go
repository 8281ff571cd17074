// Package transform holds the edits the edge makes to what passes
// through it, each compiled once from Options and then applied per
// message with no allocation where the message needs none: compression
// (negotiated per request, decided per response), security headers, and
// cookie flags and renaming. It knows no connection, server or front:
// internal/edge's response writer decides when each applies.
package transform

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzhttp/writer/gzkp"
	"github.com/klauspost/compress/gzhttp/writer/zstdkp"
	"github.com/klauspost/compress/zstd"
)

// Compression is negotiated per request and decided per response, in
// internal/edge's response writer, with the rules here. gzhttp's own handler is not
// used: it knows no brotli, and it neither weakens ETags nor honours
// no-transform; its pooled gzip and zstd writers are.

// Coding is a content coding the edge can apply.
type Coding uint8

const (
	Identity Coding = iota
	CodingBr
	CodingGzip
	CodingZstd
)

var codingNames = [...]string{Identity: "", CodingBr: "br", CodingGzip: "gzip", CodingZstd: "zstd"}

func (c Coding) String() string { return codingNames[c] }

// MinCompressSize is the smallest body worth compressing: below it the
// saving does not cover a packet.
const MinCompressSize = 1 << 10

// Levels: fast enough to keep up with a proxy, most of the ratio of the
// slow ones on text.
const (
	gzipLevel = 5
	brLevel   = 4
	zstdLevel = int(zstd.SpeedDefault)
)

// Negotiate picks the coding for a request's Accept-Encoding: the highest
// q-value wins; on a tie br, then gzip, then zstd (zstd only when the
// client prefers it). q=0 refuses a coding; "*" stands for those not named.
func Negotiate(accept []string) Coding {
	if len(accept) == 0 {
		return Identity
	}
	var q [4]float64
	var named [4]bool
	star := -1.0
	for _, line := range accept {
		for item := range strings.SplitSeq(line, ",") {
			name, params, _ := strings.Cut(item, ";")
			name = strings.TrimSpace(name)
			w := 1.0
			for params != "" {
				var p string
				p, params, _ = strings.Cut(params, ";")
				k, v, _ := strings.Cut(p, "=")
				if strings.EqualFold(strings.TrimSpace(k), "q") {
					f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
					if err != nil || f < 0 || f > 1 {
						f = 0
					}
					w = f
				}
			}
			var c Coding
			switch strings.ToLower(name) {
			case "br":
				c = CodingBr
			case "gzip", "x-gzip":
				c = CodingGzip
			case "zstd":
				c = CodingZstd
			case "*":
				star = w
				continue
			default:
				continue
			}
			q[c], named[c] = w, true
		}
	}
	best, bestQ := Identity, 0.0
	for _, c := range []Coding{CodingBr, CodingGzip, CodingZstd} {
		w := q[c]
		if !named[c] && star > 0 {
			w = star
		}
		if w > bestQ {
			best, bestQ = c, w
		}
	}
	return best
}

// Compressible says whether a response may be compressed, whatever its
// size: not for HEAD, 1xx, 204, 206, 304, ranges, encoded bodies,
// no-transform, or types outside the allow-list.
func Compressible(r *http.Request, h http.Header, status int) bool {
	if r.Method == http.MethodHead || status < 200 || status == http.StatusNoContent ||
		status == http.StatusPartialContent || status == http.StatusNotModified {
		return false
	}
	if _, ok := h["Content-Range"]; ok {
		return false
	}
	if ce := h.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		return false
	}
	for _, cc := range h["Cache-Control"] {
		if ContainsToken(cc, "no-transform") {
			return false
		}
	}
	return compressibleType(h.Get("Content-Type"))
}

// compressibleType is the allow-list: text, JSON, JavaScript, XML, SVG.
// Images, video, archives and fonts are compressed already or gain little.
func compressibleType(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	mt = strings.ToLower(strings.TrimSpace(mt))
	if strings.HasPrefix(mt, "text/") || strings.HasSuffix(mt, "+json") || strings.HasSuffix(mt, "+xml") {
		return true
	}
	switch mt {
	case "application/json", "application/javascript", "application/x-javascript",
		"application/ecmascript", "application/xml", "image/svg+xml":
		return true
	}
	return false
}

// IsEventStream says whether a response is server-sent events, which are
// flushed event by event.
func IsEventStream(h http.Header) bool {
	ct := h.Get("Content-Type")
	return strings.HasPrefix(ct, "text/event-stream") && (len(ct) == len("text/event-stream") || ct[len("text/event-stream")] == ';')
}

// ContainsToken says whether a comma-separated header value lists tok.
func ContainsToken(v, tok string) bool {
	for item := range strings.SplitSeq(v, ",") {
		name, _, _ := strings.Cut(item, "=")
		if strings.EqualFold(strings.TrimSpace(name), tok) {
			return true
		}
	}
	return false
}

// StartCompressing sets the headers of a response about to be compressed
// with c: the length and ranges no longer describe the bytes sent, and a
// strong ETag promises byte-identical bodies, which a compressed one is
// not.
func StartCompressing(h http.Header, c Coding) {
	h.Set("Content-Encoding", c.String())
	delete(h, "Content-Length")
	delete(h, "Accept-Ranges")
	if et := h.Get("Etag"); et != "" && !strings.HasPrefix(et, "W/") {
		h.Set("Etag", "W/"+et)
	}
}

// AddVary adds Accept-Encoding to Vary unless it is there already: every
// response of a front that compresses varies with it.
func AddVary(h http.Header) {
	for _, v := range h["Vary"] {
		if ContainsToken(v, "accept-encoding") || strings.TrimSpace(v) == "*" {
			return
		}
	}
	h.Add("Vary", "Accept-Encoding")
}

// Encoder is a compressing writer; Close finishes the stream and returns
// the encoder to its pool.
type Encoder interface {
	io.Writer
	Flush() error
	Close() error
}

func NewEncoder(c Coding, w io.Writer) Encoder {
	switch c {
	case CodingGzip:
		return gzkp.NewWriter(w, gzipLevel)
	case CodingZstd:
		return zstdkp.NewWriter(w, zstdLevel)
	default:
		bw := brWriters.Get().(*brotli.Writer)
		bw.Reset(w)
		return &pooledBr{bw}
	}
}

// brWriters recycles brotli writers, whose window tables are costly to
// allocate per response.
var brWriters = sync.Pool{New: func() any { return brotli.NewWriterLevel(nil, brLevel) }}

type pooledBr struct{ *brotli.Writer }

func (p *pooledBr) Close() error {
	if p.Writer == nil {
		return nil
	}
	err := p.Writer.Close()
	p.Writer.Reset(nil)
	brWriters.Put(p.Writer)
	p.Writer = nil
	return err
}
