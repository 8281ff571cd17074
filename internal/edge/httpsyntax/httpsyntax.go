// Package httpsyntax holds the RFC 9110 grammar the edge checks: tokens,
// field values, Content-Length, the Connection header and the hop-by-hop
// headers, in one place for the edge's options (which check header,
// cookie and method names when they are decoded) and its HTTP/1 codec
// and upstream client (which check them on every message). It is a leaf:
// no state, no imports of tend's.
package httpsyntax

import (
	"net/http"
	"net/textproto"
	"strings"
)

// IsTokenByte says whether c may appear in a token, such as a header
// name. Small enough to be inlined into the scanners that call it per
// byte.
func IsTokenByte(c byte) bool { return tokenBytes[c] }

// tokenBytes are the bytes of RFC 9110 tokens: a table, since every
// header name of every response is checked on its way out.
var tokenBytes = func() (t [256]bool) {
	for c := range 256 {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
			t[c] = true
		default:
			t[c] = strings.IndexByte("!#$%&'*+-.^_`|~", byte(c)) >= 0
		}
	}
	return t
}()

// IsToken says whether s is an RFC 9110 token: header names, cookie
// names and methods are.
func IsToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !IsTokenByte(s[i]) {
			return false
		}
	}
	return true
}

// ValidFieldValue refuses control characters other than tab: CR and LF
// would split the header.
func ValidFieldValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// ParseLength parses a Content-Length value as strconv.ParseInt would
// accept it and net/http's server then does: decimal digits, at most 2^63-1.
func ParseLength(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	if b[0] == '+' { // ParseInt takes a sign; the server refuses it
		return 0, false
	}
	var n int64
	for _, ch := range b {
		if ch < '0' || ch > '9' || n > (1<<63-1-int64(ch-'0'))/10 {
			return 0, false
		}
		n = n*10 + int64(ch-'0')
	}
	return n, true
}

// ConnectionLists says whether the Connection header values name k.
func ConnectionLists(conn []string, k string) bool {
	for _, v := range conn {
		for f := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(textproto.TrimString(f), k) {
				return true
			}
		}
	}
	return false
}

// HasLineBreak says whether v holds a CR or LF, which would split a head.
func HasLineBreak(v string) bool {
	return strings.IndexByte(v, '\n') >= 0 || strings.IndexByte(v, '\r') >= 0
}

// hopHeaders are the hop-by-hop headers (RFC 9110, 7.6.1), which the
// proxy does not pass on, in either direction.
var hopHeaders = [...]string{
	"Connection",
	"Proxy-Connection", // non-standard but still sent by some clients
	"Keep-Alive",
	"Proxy-Authenticate",
	"Proxy-Authorization",
	"Te",      // canonicalized version of "TE"
	"Trailer", // not Trailers (plural), as per RFC 9110
	"Transfer-Encoding",
	"Upgrade",
}

func IsHop(k string) bool {
	for _, h := range hopHeaders {
		if h == k {
			return true
		}
	}
	return false
}

// RemoveHopByHop deletes the hop-by-hop headers of a response, and those
// its Connection header names.
func RemoveHopByHop(h http.Header) {
	for _, v := range h["Connection"] {
		for f := range strings.SplitSeq(v, ",") {
			if f = textproto.TrimString(f); f != "" {
				delete(h, http.CanonicalHeaderKey(f))
			}
		}
	}
	for _, k := range hopHeaders {
		delete(h, k)
	}
}
