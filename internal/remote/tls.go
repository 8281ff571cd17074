package remote

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/tendhq/tend/internal/edge/tlsstore"
	"github.com/tendhq/tend/internal/remote/pin"
)

// TLSDir is where, in TEND_HOME, the self-signed certificate of the
// remote API and the dashboard is kept.
const TLSDir = "remote"

// ServerTLS is the TLS of a listener beyond the unix socket: TLS 1.2 and
// 1.3 with AEAD suites only, serving certFile and keyFile (reloaded when
// they change) or, when both are "", a self-signed certificate kept in
// TEND_HOME/remote, made at the first start. Clients pin the latter by
// its Fingerprint.
func ServerTLS(dir, certFile, keyFile string, log *slog.Logger) (*tls.Config, *tlsstore.Store, error) {
	var (
		store *tlsstore.Store
		err   error
	)
	switch {
	case certFile == "" && keyFile == "":
		store, err = tlsstore.SelfSigned(filepath.Join(dir, TLSDir), time.Now, log)
	case certFile == "" || keyFile == "":
		return nil, nil, errors.New("remote tls: set both cert and key, or neither for a self-signed certificate")
	default:
		store, err = tlsstore.Load(certFile, keyFile, time.Now, log)
	}
	if err != nil {
		return nil, nil, err
	}
	cfg := tlsstore.NewConfig(store)
	cfg.NextProtos = []string{"h2", "http/1.1"}
	return cfg, store, nil
}

// Fingerprint is the SHA-256 of a certificate's DER bytes, as openssl
// prints it (upper-case hex pairs joined by colons): what `tend remote
// fingerprint` prints and a client pins.
func Fingerprint(der []byte) string { return pin.Fingerprint(der) }

// SameFingerprint compares two fingerprints, ignoring case and colons.
func SameFingerprint(a, b string) bool { return pin.Same(a, b) }
