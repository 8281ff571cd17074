// Package httpsyntax holds the RFC 9110 grammar of tokens and field
// values, in one place for the edge's options (which check header,
// cookie and method names when they are decoded) and its HTTP/1 codec
// and upstream client (which check them on every message). It is a leaf:
// no state, no imports of tend's.
package httpsyntax

import "strings"

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
