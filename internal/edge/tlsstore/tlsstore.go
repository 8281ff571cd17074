// Package tlsstore holds the certificates of the edge's TLS: a pair of
// PEM files reloaded when they change on disk, or a self-signed
// certificate for development kept in a state directory, and the server
// configuration (versions, suites, ALPN) that serves them. It starts no
// goroutine: a handshake checks the files, at most once per
// CheckInterval.
package tlsstore

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// tls12Suites are Mozilla's intermediate profile for TLS 1.2: ECDHE key
// exchange with an AEAD cipher only. Go's default list also has CBC
// suites. TLS 1.3 suites are not configurable, and all are fine.
var tls12Suites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// NewConfig is the server side of the front's TLS: 1.2 and 1.3, HTTP/2
// preferred, the certificate from certs.
func NewConfig(certs *Store) *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		CipherSuites:   tls12Suites,
		NextProtos:     []string{"h2", "http/1.1"},
		GetCertificate: certs.get,
	}
}

// CheckInterval is how often, at most, a handshake looks at the
// certificate files: a stat of two files, once a second, costs nothing.
const CheckInterval = time.Second

// Store holds the certificate of a front and reloads it when its
// files change on disk (a renewal by certbot, say), without a restart. It
// checks on a handshake, at most once per CheckInterval, with a stat
// of both files: no goroutine, no inotify. A pair that does not load
// (half-written, or a key of another certificate) keeps the old one in
// use; the error is logged once and reported by Err until a good pair
// replaces it.
type Store struct {
	certFile, keyFile string // "" for a certificate held in memory only
	now               func() time.Time
	log               *slog.Logger

	cur       atomic.Pointer[tls.Certificate]
	nextCheck atomic.Int64 // unix nanoseconds of the next look at the files

	mu    sync.Mutex // guards the fields below, and serializes reloads
	stamp [2]fileStamp
	err   error
}

// fileStamp tells a file's versions apart: a rename brings a new inode, a
// rewrite a new time or size.
type fileStamp struct {
	mod  time.Time
	size int64
	ino  uint64
}

func stampOf(name string) (fileStamp, error) {
	fi, err := os.Stat(name)
	if err != nil {
		return fileStamp{}, err
	}
	s := fileStamp{mod: fi.ModTime(), size: fi.Size()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		s.ino = st.Ino
	}
	return s, nil
}

// Load loads the pair of files, which must be good.
func Load(certFile, keyFile string, now func() time.Time, log *slog.Logger) (*Store, error) {
	s := &Store{certFile: certFile, keyFile: keyFile, now: now, log: log}
	var err error
	if s.stamp[0], err = stampOf(certFile); err == nil {
		s.stamp[1], err = stampOf(keyFile)
	}
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	c, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("tls: cannot use %s with %s: %w", certFile, keyFile, err)
	}
	s.cur.Store(&c)
	s.nextCheck.Store(now().Add(CheckInterval).UnixNano())
	return s, nil
}

// get is tls.Config.GetCertificate.
func (s *Store) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	if s.certFile != "" {
		s.check()
	}
	return s.cur.Load(), nil
}

// Certificate is the certificate served now.
func (s *Store) Certificate() *tls.Certificate {
	if s.certFile != "" {
		s.check()
	}
	return s.cur.Load()
}

// check reloads the pair if its files changed. A handshake that finds
// another one reloading goes on with the current certificate.
func (s *Store) check() {
	now := s.now()
	next := s.nextCheck.Load()
	if now.UnixNano() < next || !s.nextCheck.CompareAndSwap(next, now.Add(CheckInterval).UnixNano()) {
		return
	}
	if !s.mu.TryLock() {
		return
	}
	defer s.mu.Unlock()
	var stamp [2]fileStamp
	var err error
	if stamp[0], err = stampOf(s.certFile); err == nil {
		stamp[1], err = stampOf(s.keyFile)
	}
	if err == nil && stamp == s.stamp {
		return
	}
	if err == nil {
		var c tls.Certificate
		if c, err = tls.LoadX509KeyPair(s.certFile, s.keyFile); err == nil {
			s.stamp, s.err = stamp, nil
			s.cur.Store(&c)
			s.log.Info("tls certificate reloaded", "cert", s.certFile, "expires", c.Leaf.NotAfter)
			return
		}
	}
	err = fmt.Errorf("tls: %s and %s changed but cannot be used, so the previous certificate is still served: %w", s.certFile, s.keyFile, err)
	// Remember the stamps of the bad pair: it is reported once, and loaded
	// again only once it changes.
	s.stamp, s.err = stamp, err
	s.log.Error("tls certificate reload failed", "err", err)
}

// Err is the reason the files on disk are not the certificate served, or nil.
func (s *Store) Err() error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// SelfSignedFile is where a self-signed certificate is kept, with its key,
// in the caller's state directory.
const SelfSignedFile = "self-signed.pem"

// selfSignedMu serializes the fronts of a daemon that make the file.
var selfSignedMu sync.Mutex

// SelfSigned returns the certificate store for `tls: self-signed`: the
// certificate in dir when there is a good one, else a new one written
// there (certificate and key in one file, so they are replaced together).
// With dir "" the certificate lives in memory only, and browsers will
// have to accept a new one after each start.
func SelfSigned(dir string, now func() time.Time, log *slog.Logger) (*Store, error) {
	if dir == "" {
		certPEM, keyPEM, err := NewSelfSigned(now())
		if err != nil {
			return nil, err
		}
		c, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, err
		}
		s := &Store{now: now, log: log}
		s.cur.Store(&c)
		return s, nil
	}
	selfSignedMu.Lock()
	defer selfSignedMu.Unlock()
	file := filepath.Join(dir, SelfSignedFile)
	if c, err := tls.LoadX509KeyPair(file, file); err == nil && now().Add(30*24*time.Hour).Before(c.Leaf.NotAfter) {
		return Load(file, file, now, log)
	}
	certPEM, keyPEM, err := NewSelfSigned(now())
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("tls: self-signed certificate: %w", err)
	}
	tmp, err := os.CreateTemp(dir, SelfSignedFile+".*")
	if err == nil {
		_, err = tmp.Write(append(certPEM, keyPEM...))
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(tmp.Name(), file)
		}
		if err != nil {
			os.Remove(tmp.Name())
		}
	}
	if err != nil {
		return nil, fmt.Errorf("tls: self-signed certificate: %w", err)
	}
	log.Info("tls: made a self-signed certificate", "file", file)
	return Load(file, file, now, log)
}

// NewSelfSigned makes a certificate for localhost and this host's name,
// valid for a year (browsers refuse longer ones), and its key.
func NewSelfSigned(now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	hosts := []string{"localhost"}
	if h, err := os.Hostname(); err == nil && h != "" && h != "localhost" {
		hosts = append(hosts, h)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{Organization: []string{"tend"}, CommonName: "tend self-signed"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     hosts,
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), nil
}
