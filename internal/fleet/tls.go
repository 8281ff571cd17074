package fleet

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tendhq/tend/internal/home"
)

// selfSigned returns the hub's certificate in dir, made on first use: a
// self-signed ECDSA certificate for localhost, the machine's name and
// host (the listen address), valid ten years. made says it was just made.
func selfSigned(dir, host string) (certFile, keyFile string, made bool, err error) {
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if _, err := os.Stat(certFile); err == nil {
		return certFile, keyFile, false, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", "", false, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", false, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return "", "", false, err
	}
	tpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "tend hub"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	if name, err := os.Hostname(); err == nil && name != "" {
		tpl.DNSNames = append(tpl.DNSNames, name)
	}
	if host != "" {
		if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() {
			tpl.IPAddresses = append(tpl.IPAddresses, ip)
		} else if ip == nil {
			tpl.DNSNames = append(tpl.DNSNames, host)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		return "", "", false, err
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return "", "", false, err
	}
	if err := home.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		return "", "", false, err
	}
	if err := home.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return "", "", false, err
	}
	return certFile, keyFile, true, nil
}

// Fingerprint is the SHA-256 of a certificate, as hex.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// ClientTLS is how a client trusts the hub: a CA file, a pinned
// certificate fingerprint, or (neither) the system's roots.
type ClientTLS struct {
	CA          string
	Fingerprint string
}

// Config returns the TLS configuration of a client of the hub.
func (c ClientTLS) Config() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.CA != "" {
		b, err := os.ReadFile(c.CA)
		if err != nil {
			return nil, fmt.Errorf("hub ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("hub ca %s: no PEM certificate in it", c.CA)
		}
		cfg.RootCAs = pool
	}
	if c.Fingerprint != "" {
		want := strings.ToLower(strings.NewReplacer(":", "", "sha256/", "", "sha256:", "").Replace(c.Fingerprint))
		if len(want) != 64 {
			return nil, fmt.Errorf("hub fingerprint %q: want the 64 hex digits of a SHA-256 (tend hub prints it)", c.Fingerprint)
		}
		// The pin replaces the chain check: the certificate is the one
		// expected or nothing.
		cfg.InsecureSkipVerify = true
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 || Fingerprint(cs.PeerCertificates[0].Raw) != want {
				return errors.New("the hub's certificate does not match the pinned fingerprint")
			}
			return nil
		}
	}
	return cfg, nil
}

// CertFileFingerprint reads a PEM certificate file's fingerprint.
func CertFileFingerprint(certFile string) (string, error) {
	b, err := os.ReadFile(certFile)
	if err != nil {
		return "", err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return "", fmt.Errorf("%s: no PEM certificate in it", certFile)
	}
	return Fingerprint(blk.Bytes), nil
}
