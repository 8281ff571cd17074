package remote

import (
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestTokensAreHashedScopedAndRevocable(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	op, _, err := s.Create("ci", Operator)
	if err != nil {
		t.Fatal(err)
	}
	ro, _, err := s.Create("viewer", ReadOnly)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Create("ci", ReadOnly); err == nil || !strings.Contains(err.Error(), "a token named ci exists") {
		t.Errorf("second token named ci: %v", err)
	}
	for _, bad := range []string{"", "a b", strings.Repeat("x", 65), "../x"} {
		if _, _, err := s.Create(bad, ReadOnly); err == nil {
			t.Errorf("token name %q accepted", bad)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, TokensName))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), op) || strings.Contains(string(b), ro) {
		t.Fatalf("token file holds a secret:\n%s", b)
	}
	if fi, _ := os.Stat(filepath.Join(dir, TokensName)); fi.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %v, want 0600", fi.Mode().Perm())
	}

	// Another store of the same home (the CLI) sees them, and a revoke
	// there is seen here at the next check.
	other, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if tok, err := other.Verify(op); err != nil || tok.Name != "ci" || !tok.CanChange() {
		t.Errorf("verify operator secret: %+v, %v", tok, err)
	}
	if tok, err := other.Verify(ro); err != nil || tok.Name != "viewer" || tok.CanChange() {
		t.Errorf("verify read-only secret: %+v, %v", tok, err)
	}
	// Change the secret's last character to another one (a fixed
	// replacement equals the original one time in 64).
	changed := op[:len(op)-1] + "A"
	if changed == op {
		changed = op[:len(op)-1] + "B"
	}
	if _, err := s.Verify(changed); !errors.Is(err, ErrNoToken) {
		t.Errorf("a changed secret: %v, want ErrNoToken", err)
	}
	if err := other.Revoke("ci"); err != nil {
		t.Fatal(err)
	}
	// The mtime may not move within the file system's granularity: the
	// size does, since a token is gone.
	if _, err := s.Verify(op); !errors.Is(err, ErrNoToken) {
		t.Errorf("revoked token still verifies: %v", err)
	}
	if err := s.Revoke("ci"); err == nil {
		t.Error("revoking a revoked token succeeded")
	}
}

func TestGuardRefusesAndSlowsDownGuessing(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	op, _, _ := s.Create("ops", Operator)
	ro, _, _ := s.Create("ro", ReadOnly)
	now := time.Unix(1000, 0)
	g := &Guard{Tokens: s, Now: func() time.Time { return now }}
	check := func(addr, auth string, write bool) error {
		r := httptest.NewRequest("GET", "/v1/apps", nil)
		r.RemoteAddr = addr + ":5555"
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		_, err := g.Check(r, write)
		return err
	}
	cases := []struct {
		auth  string
		write bool
		want  error
		code  int
	}{
		{"", false, ErrMissing, 401},
		{"Basic abc", false, ErrMissing, 401},
		{"Bearer tend_wrong", false, ErrWrong, 401},
		{"Bearer " + ro, true, ErrReadOnly, 403},
		{"Bearer " + ro, false, nil, 0},
		{"Bearer " + op, true, nil, 0},
	}
	for _, c := range cases {
		err := check("10.0.0.1", c.auth, c.write)
		if !errors.Is(err, c.want) || (err != nil && Status(err) != c.code) {
			t.Errorf("%q write=%v: %v (%d), want %v (%d)", c.auth, c.write, err, Status(err), c.want, c.code)
		}
	}
	// Guessing from one address: after MaxFailures, even a good token is
	// answered 429 there, and not elsewhere; after the window, again.
	for i := 0; i < MaxFailures; i++ {
		check("10.0.0.2", "Bearer tend_guess", false)
	}
	if err := check("10.0.0.2", "Bearer "+op, false); !errors.Is(err, ErrTooMany) || Status(err) != 429 {
		t.Errorf("after %d failures: %v, want 429", MaxFailures, err)
	}
	if err := check("10.0.0.3", "Bearer "+op, false); err != nil {
		t.Errorf("another address: %v", err)
	}
	now = now.Add(FailWindow)
	if err := check("10.0.0.2", "Bearer "+op, false); err != nil {
		t.Errorf("after the window: %v", err)
	}
}

func TestGuardRemembersBoundedAddresses(t *testing.T) {
	s, _ := Open(t.TempDir())
	now := time.Unix(1000, 0)
	g := &Guard{Tokens: s, Now: func() time.Time { return now }}
	for i := 0; i < maxAddrs+50; i++ {
		g.fail("addr" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + time.Duration(i).String())
	}
	if n := len(g.fails); n > maxAddrs {
		t.Errorf("%d addresses remembered, limit %d", n, maxAddrs)
	}
}

func TestServerTLSSelfSignedIsKeptAndFingerprinted(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	_, store, err := ServerTLS(dir, "", "", log)
	if err != nil {
		t.Fatal(err)
	}
	_, again, err := ServerTLS(dir, "", "", log)
	if err != nil {
		t.Fatal(err)
	}
	a, b := store.Certificate().Certificate[0], again.Certificate().Certificate[0]
	if Fingerprint(a) != Fingerprint(b) {
		t.Error("a second start made a new certificate")
	}
	fp := Fingerprint(a)
	if len(fp) != 95 || !SameFingerprint(strings.ToLower(strings.ReplaceAll(fp, ":", "")), fp) {
		t.Errorf("fingerprint %q", fp)
	}
	if _, err := x509.ParseCertificate(a); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ServerTLS(dir, "cert.pem", "", log); err == nil {
		t.Error("a cert without its key was accepted")
	}
}
