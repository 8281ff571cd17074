// Package pin names a certificate by its SHA-256 fingerprint, the way
// `tend remote fingerprint` prints it on the daemon's host and the client
// pins it on first use (as ssh pins a host key). It imports nothing, so
// that the client, which must not link the server, can use it.
package pin

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// Fingerprint is the SHA-256 of a certificate's DER bytes, as openssl
// prints it: upper-case hex pairs joined by colons.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	h := strings.ToUpper(hex.EncodeToString(sum[:]))
	var b strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(h[i : i+2])
	}
	return b.String()
}

// Same compares two fingerprints, ignoring case and colons; "" is never
// the same as anything.
func Same(a, b string) bool {
	return a != "" && Normal(a) == Normal(b)
}

// Normal is a fingerprint in upper case without colons.
func Normal(s string) string {
	return strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(s), ":", ""))
}

// Valid says whether s reads as a SHA-256 fingerprint (64 hex digits,
// with or without colons).
func Valid(s string) bool {
	n := Normal(s)
	if len(n) != 64 {
		return false
	}
	_, err := hex.DecodeString(n)
	return err == nil
}
