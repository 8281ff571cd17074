package client

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/remote/pin"
)

// tlsDaemon is a TLS server that answers ping to the bearer token "tend_good"
// and counts the requests that reached it.
func tlsDaemon(t *testing.T) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var reached atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		if r.Header.Get("Authorization") != "Bearer tend_good" {
			w.WriteHeader(http.StatusUnauthorized)
			json.NewEncoder(w).Encode(api.Error{Error: "the token is not valid here"})
			return
		}
		json.NewEncoder(w).Encode(api.Ping{Version: "test", PID: 42})
	}))
	t.Cleanup(srv.Close)
	return srv, &reached
}

func serverFingerprint(srv *httptest.Server) string {
	return pin.Fingerprint(srv.Certificate().Raw)
}

func TestRemotePinsOnFirstUseAndRefusesAnotherCertificate(t *testing.T) {
	srv, reached := tlsDaemon(t)
	pins := &Pins{Path: filepath.Join(t.TempDir(), "tend", RemotesName)}
	var pinned []string
	c, err := NewRemote(RemoteOptions{URL: srv.URL, Token: "tend_good", Pins: pins, OnPin: func(fp string) { pinned = append(pinned, fp) }})
	if err != nil {
		t.Fatal(err)
	}
	if p, err := c.Ping(context.Background()); err != nil || p.PID != 42 {
		t.Fatalf("first ping: %+v, %v", p, err)
	}
	want := serverFingerprint(srv)
	if len(pinned) != 1 || pinned[0] != want {
		t.Errorf("pinned on first use: %q, want [%s]", pinned, want)
	}
	u, _ := NormalURL(srv.URL)
	if rec, ok, err := pins.Get(u); err != nil || !ok || rec.Fingerprint != want {
		t.Errorf("remotes file holds %+v (%v, %v), want fingerprint %s", rec, ok, err, want)
	}
	if fi, err := os.Stat(pins.Path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("remotes file: %v, want mode 0600", err)
	}

	// A new client, the same certificate: accepted, nothing pinned anew.
	c2, _ := NewRemote(RemoteOptions{URL: srv.URL, Token: "tend_good", Pins: pins, OnPin: func(fp string) { pinned = append(pinned, fp) }})
	if _, err := c2.Ping(context.Background()); err != nil || len(pinned) != 1 {
		t.Errorf("second client: %v, pins %q", err, pinned)
	}

	// Another certificate at the same address: refused before any request.
	other := strings.Repeat("AB:", 31) + "AB"
	if err := pins.Pin(u, other); err != nil {
		t.Fatal(err)
	}
	n := reached.Load()
	c3, _ := NewRemote(RemoteOptions{URL: srv.URL, Token: "tend_good", Pins: pins})
	_, err = c3.Ping(context.Background())
	var mm *MismatchError
	if !errors.As(err, &mm) || mm.Pinned != other || mm.Offered != want || mm.Given {
		t.Fatalf("changed certificate: %v, want a MismatchError naming both", err)
	}
	for _, s := range []string{"IDENTIFICATION HAS CHANGED", other, want, "tend remote login " + u + " --fingerprint " + want} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("the warning does not say %q:\n%v", s, err)
		}
	}
	if reached.Load() != n {
		t.Errorf("a request reached a daemon whose certificate is not the pinned one")
	}
	if rec, _, _ := pins.Get(u); rec.Fingerprint != other {
		t.Errorf("a refused certificate replaced the pin: %s", rec.Fingerprint)
	}
}

func TestRemoteGivenFingerprintAndCertificateAuthorities(t *testing.T) {
	srv, reached := tlsDaemon(t)
	fp := serverFingerprint(srv)

	// --fingerprint: the one certificate accepted, in any spelling.
	c, _ := NewRemote(RemoteOptions{URL: srv.URL, Token: "tend_good", Fingerprint: strings.ToLower(strings.ReplaceAll(fp, ":", ""))})
	if _, err := c.Ping(context.Background()); err != nil {
		t.Errorf("given fingerprint: %v", err)
	}
	wrong := strings.Repeat("00", 32)
	c, _ = NewRemote(RemoteOptions{URL: srv.URL, Token: "tend_good", Fingerprint: wrong})
	var mm *MismatchError
	if _, err := c.Ping(context.Background()); !errors.As(err, &mm) || !mm.Given {
		t.Errorf("wrong given fingerprint: %v", err)
	}
	if _, err := NewRemote(RemoteOptions{URL: srv.URL, Fingerprint: "nope"}); err == nil {
		t.Errorf("a fingerprint that is not one was accepted")
	}

	// A certificate an authority vouches for is accepted, not pinned.
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	pins := &Pins{Path: filepath.Join(t.TempDir(), RemotesName)}
	c, _ = NewRemote(RemoteOptions{URL: srv.URL, Token: "tend_good", Pins: pins, Roots: roots, OnPin: func(string) { t.Error("pinned a CA-signed certificate") }})
	if _, err := c.Ping(context.Background()); err != nil {
		t.Errorf("CA-signed: %v", err)
	}
	if got, byCA := c.Certificate(); got != fp || !byCA {
		t.Errorf("Certificate() = %s, %v; want %s by a CA", got, byCA, fp)
	}
	if _, err := os.Stat(pins.Path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a remotes file was written for a CA-signed certificate: %v", err)
	}

	// Nothing pinned, no place to pin, no CA: refused, saying what to do.
	n := reached.Load()
	c, _ = NewRemote(RemoteOptions{URL: srv.URL, Token: "tend_good"})
	if _, err := c.Ping(context.Background()); err == nil || !strings.Contains(err.Error(), "tend remote login") {
		t.Errorf("unpinned, unsigned: %v", err)
	}
	if reached.Load() != n {
		t.Errorf("a request reached an unverified daemon")
	}

	// A refused token says how to give one.
	pins = &Pins{Path: filepath.Join(t.TempDir(), RemotesName)}
	c, _ = NewRemote(RemoteOptions{URL: srv.URL, Token: "tend_bad", Pins: pins})
	_, err := c.Ping(context.Background())
	var ce *Error
	if !errors.As(err, &ce) || ce.Status != http.StatusUnauthorized || !strings.Contains(ce.Message, "not valid here") || !strings.Contains(ce.Message, "TEND_TOKEN") {
		t.Errorf("bad token: %v", err)
	}
}

func TestRemoteNeverStartsADaemon(t *testing.T) {
	c, err := NewRemote(RemoteOptions{URL: "https://127.0.0.1:1", Pins: &Pins{Path: filepath.Join(t.TempDir(), RemotesName)}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Ensure(context.Background(), "/nonexistent/tend")
	if err == nil || errors.Is(err, ErrNoDaemon) || !strings.Contains(err.Error(), "no tend daemon answers at https://127.0.0.1:1") {
		t.Errorf("Ensure of an unreachable remote: %v", err)
	}
}

func TestNormalURL(t *testing.T) {
	for in, want := range map[string]string{
		"h":                     "https://h:8701",
		"H.example.com:9000":    "https://h.example.com:9000",
		"https://h:8701/":       "https://h:8701",
		"https://[::1]:5":       "https://[::1]:5",
		" https://10.0.0.1 ":    "https://10.0.0.1:8701",
		"http://h:8701":         "",
		"https://h:8701/v1":     "",
		"https://u:p@h:8701":    "",
		"https://h:8701/?x=1":   "",
		"https://:8701":         "",
		"ftp://h":               "",
		"https://h:8701#anchor": "",
	} {
		got, err := NormalURL(in)
		if want == "" {
			if err == nil {
				t.Errorf("NormalURL(%q) = %q, want an error", in, got)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("NormalURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
