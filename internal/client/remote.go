package client

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/tendhq/tend/internal/home"
	"github.com/tendhq/tend/internal/remote/pin"
)

// DefaultPort is the port of a remote daemon's URL that names none.
const DefaultPort = "8701"

// RemoteOptions say how to reach a daemon on another host.
type RemoteOptions struct {
	URL   string // https://host[:port], as NormalURL reads it
	Token string // the bearer token; "" sends none (the daemon says 401)
	// Pins is where fingerprints are pinned (remotes.json); nil pins
	// nothing and trusts only Fingerprint or a CA.
	Pins *Pins
	// Fingerprint, when set, is the one certificate to accept (tend remote
	// login --fingerprint), even over the one pinned.
	Fingerprint string
	// Roots are the certificate authorities that make pinning needless;
	// nil: the system's.
	Roots *x509.CertPool
	// OnPin, when set, is told the fingerprint pinned on first use.
	OnPin func(fingerprint string)
}

// MismatchError is a daemon whose certificate is not the one pinned: it
// may be another host in the middle, or a certificate replaced on purpose.
type MismatchError struct {
	URL, Pinned, Offered string
	Given                bool // Pinned came from --fingerprint, not the pins file
}

func (e *MismatchError) Error() string {
	if e.Given {
		return fmt.Sprintf("the certificate of %s has the fingerprint\n  %s\nnot the one given:\n  %s\nnothing was sent; check the fingerprint on that host with `tend remote fingerprint`", e.URL, e.Offered, e.Pinned)
	}
	return fmt.Sprintf(`@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
@    WARNING: REMOTE DAEMON IDENTIFICATION HAS CHANGED!   @
@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!
The certificate of %s is not the one pinned for it, so nothing was sent.
  pinned:  SHA256 %s
  offered: SHA256 %s
If the daemon's certificate was replaced on purpose, check the new fingerprint
on that host (tend remote fingerprint) and pin it:
  tend remote login %s --fingerprint %s`, e.URL, e.Pinned, e.Offered, e.URL, e.Offered)
}

// NormalURL reads a remote daemon's address: https://host[:port] (the
// port defaults to 8701; a path is not allowed). A bare host[:port] is
// taken as https. Plain http is refused: the token would travel in clear.
func NormalURL(s string) (string, error) {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("remote %q: %w", s, err)
	}
	switch {
	case u.Scheme != "https":
		return "", fmt.Errorf("remote %q: want https://host:port (a remote daemon speaks only TLS)", s)
	case u.Host == "" || u.Hostname() == "":
		return "", fmt.Errorf("remote %q: no host", s)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "" || strings.Trim(u.Path, "/") != "":
		return "", fmt.Errorf("remote %q: want only https://host:port, without a path, user or query", s)
	}
	port := u.Port()
	if port == "" {
		port = DefaultPort
	}
	return "https://" + net.JoinHostPort(strings.ToLower(u.Hostname()), port), nil
}

// NewRemote returns a client of the daemon at o.URL. It never starts a
// daemon; it does not connect until a request.
func NewRemote(o RemoteOptions) (*Client, error) {
	u, err := NormalURL(o.URL)
	if err != nil {
		return nil, err
	}
	if o.Fingerprint != "" && !pin.Valid(o.Fingerprint) {
		return nil, fmt.Errorf("fingerprint %q: want the 64 hex digits `tend remote fingerprint` prints (colons optional)", o.Fingerprint)
	}
	o.URL = u
	host, _, _ := net.SplitHostPort(strings.TrimPrefix(u, "https://"))
	v := &verifier{o: o, host: host}
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		TLSHandshakeTimeout: 10 * time.Second,
		TLSClientConfig: &tls.Config{
			ServerName: host,
			MinVersion: tls.VersionTLS12,
			// The chain is checked by VerifyConnection: a CA's, or the
			// pinned fingerprint.
			InsecureSkipVerify: true,
			VerifyConnection:   v.verify,
		},
		ForceAttemptHTTP2: true,
		MaxIdleConns:      2,
		IdleConnTimeout:   30 * time.Second,
	}
	return &Client{hc: &http.Client{Transport: tr}, base: u, token: o.Token, verifier: v}, nil
}

// Remote is the URL of the remote daemon, or "" for the local one.
func (c *Client) Remote() string {
	if c.verifier == nil {
		return ""
	}
	return c.base
}

// Certificate is the fingerprint of the certificate the remote daemon
// served at the last handshake ("" before one), and whether an authority
// this host trusts vouched for it (then it was not pinned).
func (c *Client) Certificate() (fingerprint string, byCA bool) {
	if c.verifier == nil {
		return "", false
	}
	c.verifier.mu.Lock()
	defer c.verifier.mu.Unlock()
	return c.verifier.seen, c.verifier.byCA
}

// verifier checks a remote daemon's certificate: one a CA vouches for
// (for the host's name) is good; any other must have the fingerprint
// given or pinned, and with none of those it is pinned now (first use).
type verifier struct {
	o    RemoteOptions
	host string

	mu   sync.Mutex // guards seen and byCA
	seen string
	byCA bool
}

func (v *verifier) verify(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("the daemon sent no certificate")
	}
	leaf := cs.PeerCertificates[0]
	fp := pin.Fingerprint(leaf.Raw)
	v.mu.Lock()
	v.seen, v.byCA = fp, false
	v.mu.Unlock()
	if v.o.Fingerprint != "" {
		if !pin.Same(v.o.Fingerprint, fp) {
			return &MismatchError{URL: v.o.URL, Pinned: v.o.Fingerprint, Offered: fp, Given: true}
		}
		return nil
	}
	var pinned Pinned
	if v.o.Pins != nil {
		var err error
		if pinned, _, err = v.o.Pins.Get(v.o.URL); err != nil {
			return err
		}
	}
	if pinned.Fingerprint != "" {
		if !pin.Same(pinned.Fingerprint, fp) {
			return &MismatchError{URL: v.o.URL, Pinned: pinned.Fingerprint, Offered: fp}
		}
		return nil
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: v.host, Roots: v.o.Roots, Intermediates: inter}); err == nil {
		v.mu.Lock()
		v.byCA = true
		v.mu.Unlock()
		return nil // a CA vouches for it: nothing to pin
	}
	if v.o.Pins == nil {
		return fmt.Errorf("the certificate of %s (SHA256 %s) is not signed by an authority this host trusts, and no fingerprint is pinned for it: run `tend remote login %s`", v.o.URL, fp, v.o.URL)
	}
	if err := v.o.Pins.Pin(v.o.URL, fp); err != nil {
		return err
	}
	if v.o.OnPin != nil {
		v.o.OnPin(fp)
	}
	return nil
}

// RemotesName is the file, in the user's config directory's tend folder,
// where remote daemons are remembered: their pinned fingerprints and the
// tokens tend remote login stored.
const RemotesName = "remotes.json"

// Pins is the remotes file of one user.
type Pins struct {
	Path string
}

// Pinned is what is remembered of a remote daemon.
type Pinned struct {
	Fingerprint string    `json:"fingerprint,omitempty"`
	Token       string    `json:"token,omitempty"`
	Pinned      time.Time `json:"pinned,omitzero"`
}

// maxRemotesBytes bounds the remotes file read.
const maxRemotesBytes = 1 << 20

// DefaultPins is the remotes file under the user's config directory
// ($XDG_CONFIG_HOME/tend/remotes.json, or ~/.config/tend/remotes.json).
func DefaultPins() (*Pins, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return nil, fmt.Errorf("remotes file: %w (set XDG_CONFIG_HOME)", err)
	}
	return &Pins{Path: filepath.Join(dir, "tend", RemotesName)}, nil
}

func (p *Pins) load() (map[string]Pinned, error) {
	m := map[string]Pinned{}
	fi, err := os.Stat(p.Path)
	if errors.Is(err, os.ErrNotExist) {
		return m, nil
	}
	if err != nil {
		return nil, fmt.Errorf("remotes file: %w", err)
	}
	if fi.Size() > maxRemotesBytes {
		return nil, fmt.Errorf("remotes file %s: %d bytes, more than %d", p.Path, fi.Size(), maxRemotesBytes)
	}
	b, err := os.ReadFile(p.Path)
	if err != nil {
		return nil, fmt.Errorf("remotes file: %w", err)
	}
	var f struct {
		Remotes map[string]Pinned `json:"remotes"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("remotes file %s: %w (fix or remove it)", p.Path, err)
	}
	if f.Remotes != nil {
		m = f.Remotes
	}
	return m, nil
}

func (p *Pins) save(m map[string]Pinned) error {
	b, err := json.MarshalIndent(struct {
		Remotes map[string]Pinned `json:"remotes"`
	}{m}, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p.Path), 0o700); err != nil {
		return fmt.Errorf("remotes file: %w", err)
	}
	if err := home.WriteFile(p.Path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("remotes file: %w", err)
	}
	return nil
}

// Get returns what is remembered of the daemon at u (a NormalURL).
func (p *Pins) Get(u string) (Pinned, bool, error) {
	m, err := p.load()
	if err != nil {
		return Pinned{}, false, err
	}
	r, ok := m[u]
	return r, ok, nil
}

// Pin remembers fp as the fingerprint of the daemon at u.
func (p *Pins) Pin(u, fp string) error {
	return p.update(u, func(r *Pinned) { r.Fingerprint, r.Pinned = fp, time.Now().UTC().Truncate(time.Second) })
}

// Login remembers the daemon at u: its fingerprint ("" for one a CA
// vouches for) and token.
func (p *Pins) Login(u, fp, token string) error {
	return p.update(u, func(r *Pinned) {
		if fp != "" && !pin.Same(fp, r.Fingerprint) {
			r.Fingerprint, r.Pinned = fp, time.Now().UTC().Truncate(time.Second)
		}
		r.Token = token
	})
}

// Forget removes the daemon at u; it says whether there was one.
func (p *Pins) Forget(u string) (bool, error) {
	m, err := p.load()
	if err != nil {
		return false, err
	}
	if _, ok := m[u]; !ok {
		return false, nil
	}
	delete(m, u)
	return true, p.save(m)
}

func (p *Pins) update(u string, f func(*Pinned)) error {
	m, err := p.load()
	if err != nil {
		return err
	}
	r := m[u]
	f(&r)
	m[u] = r
	return p.save(m)
}

// refused rewrites a remote daemon's refusal of the token for the user.
func (c *Client) refused(status int, msg string) string {
	switch status {
	case http.StatusUnauthorized:
		return fmt.Sprintf("%s refused the request: %s; set TEND_TOKEN, or run `tend remote login %s --token TOKEN`", c.base, msg, c.base)
	case http.StatusForbidden, http.StatusTooManyRequests:
		return fmt.Sprintf("%s refused the request: %s", c.base, msg)
	}
	return msg
}

// unreachable says that nothing answers at the remote daemon's address.
func (c *Client) unreachable(err error) error {
	return fmt.Errorf("no tend daemon answers at %s (%w): is remote_addr set in its daemon.yaml, and the daemon running?", c.base, err)
}
