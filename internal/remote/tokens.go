// Package remote is what guards the control API beyond the unix socket:
// bearer tokens (kept hashed, scoped read-only or operator, revocable),
// the TLS configuration of the listener (the user's certificate or a
// self-signed one with a printable fingerprint), and a limit on failed
// logins per address. The remote listener and the dashboard both use it;
// it imports nothing of tend's but home and tlsstore.
package remote

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tendhq/tend/internal/home"
)

// TokensName is the file in TEND_HOME that holds the tokens' hashes.
const TokensName = "tokens.json"

// Scope is what a token may do.
type Scope string

const (
	// ReadOnly lists, describes, follows logs and metrics, and profiles:
	// everything that changes nothing that runs.
	ReadOnly Scope = "read-only"
	// Operator may also change what runs: start, stop, reload, deploy.
	Operator Scope = "operator"
)

// Token is one token as stored: never its secret, only its hash.
type Token struct {
	Name    string    `json:"name"`
	Scope   Scope     `json:"scope"`
	Created time.Time `json:"created"`
	Hash    string    `json:"hash"` // hex SHA-256 of the secret
}

// CanChange reports whether the token may change what runs.
func (t Token) CanChange() bool { return t.Scope == Operator }

// Limits on what the file may hold, so a token file cannot grow the
// daemon without bound.
const (
	MaxTokens    = 1000
	maxNameLen   = 64
	maxFileBytes = 1 << 20
	secretPrefix = "tend_"
)

// ErrNoToken is Verify's answer to a secret that matches no token.
var ErrNoToken = errors.New("no such token")

// Store is the token file of one TEND_HOME. The CLI (on this host, over
// the unix socket or directly) adds and revokes tokens; the daemon checks
// them: Verify reads the file again whenever it changed on disk, so a
// revoked token stops working at its next request.
type Store struct {
	path string

	mu     sync.Mutex // guards the fields below
	tokens []Token
	stamp  home.Stamp
}

// Open opens the token store of dir (TEND_HOME); the file need not exist.
func Open(dir string) (*Store, error) {
	s := &Store{path: filepath.Join(dir, TokensName)}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.reload(); err != nil {
		return nil, err
	}
	return s, nil
}

// reload reads the file if it changed since it was read. s.mu is held.
func (s *Store) reload() error {
	fi, err := os.Stat(s.path)
	if errors.Is(err, os.ErrNotExist) {
		s.tokens, s.stamp = nil, home.Stamp{}
		return nil
	}
	if err != nil {
		return fmt.Errorf("tokens: %w", err)
	}
	st := home.StampOf(fi)
	if st == s.stamp && s.tokens != nil {
		return nil
	}
	if fi.Size() > maxFileBytes {
		return fmt.Errorf("tokens: %s is %d bytes, more than the %d a token file can be", s.path, fi.Size(), maxFileBytes)
	}
	b, err := os.ReadFile(s.path)
	if err != nil {
		return fmt.Errorf("tokens: %w", err)
	}
	var f struct {
		Tokens []Token `json:"tokens"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("tokens: %s: %w", s.path, err)
	}
	if len(f.Tokens) > MaxTokens {
		return fmt.Errorf("tokens: %s holds %d tokens, more than %d", s.path, len(f.Tokens), MaxTokens)
	}
	if f.Tokens == nil {
		f.Tokens = []Token{}
	}
	s.tokens, s.stamp = f.Tokens, st
	return nil
}

func (s *Store) save() error {
	b, err := json.MarshalIndent(struct {
		Tokens []Token `json:"tokens"`
	}{s.tokens}, "", "  ")
	if err != nil {
		return err
	}
	if err := home.WriteFile(s.path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("tokens: %w", err)
	}
	if fi, err := os.Stat(s.path); err == nil {
		s.stamp = home.StampOf(fi)
	}
	return nil
}

// CheckName says why name cannot name a token, or nil.
func CheckName(name string) error {
	if name == "" || len(name) > maxNameLen {
		return fmt.Errorf("token name %q: want 1 to %d characters", name, maxNameLen)
	}
	for _, c := range name {
		if !(c == '-' || c == '_' || c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return fmt.Errorf("token name %q: use letters, digits, '-', '_' and '.'", name)
		}
	}
	return nil
}

// Create adds a token and returns its secret, which is not kept: it is
// shown to the user once.
func (s *Store) Create(name string, scope Scope) (secret string, t Token, err error) {
	if err := CheckName(name); err != nil {
		return "", Token{}, err
	}
	if scope != ReadOnly && scope != Operator {
		return "", Token{}, fmt.Errorf("token scope %q: want %s or %s", scope, ReadOnly, Operator)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.reload(); err != nil {
		return "", Token{}, err
	}
	if slices.ContainsFunc(s.tokens, func(t Token) bool { return t.Name == name }) {
		return "", Token{}, fmt.Errorf("a token named %s exists: revoke it first, or choose another name", name)
	}
	if len(s.tokens) >= MaxTokens {
		return "", Token{}, fmt.Errorf("there are %d tokens already, the most a host keeps: revoke some", len(s.tokens))
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", Token{}, err
	}
	secret = secretPrefix + base64.RawURLEncoding.EncodeToString(raw)
	t = Token{Name: name, Scope: scope, Created: time.Now().UTC().Truncate(time.Second), Hash: hash(secret)}
	s.tokens = append(s.tokens, t)
	if err := s.save(); err != nil {
		s.tokens = s.tokens[:len(s.tokens)-1]
		return "", Token{}, err
	}
	return secret, t, nil
}

// Revoke removes the token named name.
func (s *Store) Revoke(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.reload(); err != nil {
		return err
	}
	i := slices.IndexFunc(s.tokens, func(t Token) bool { return t.Name == name })
	if i < 0 {
		return fmt.Errorf("no token named %s (tend remote token ls lists them)", name)
	}
	old := s.tokens
	s.tokens = slices.Delete(slices.Clone(old), i, i+1)
	if err := s.save(); err != nil {
		s.tokens = old
		return err
	}
	return nil
}

// List returns the tokens, without secrets (their hashes included).
func (s *Store) List() ([]Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.reload(); err != nil {
		return nil, err
	}
	return slices.Clone(s.tokens), nil
}

// Verify returns the token whose secret this is, or ErrNoToken. Every
// token's hash is compared in constant time, so the answer's timing says
// nothing about which hashes are near.
func (s *Store) Verify(secret string) (Token, error) {
	if !strings.HasPrefix(secret, secretPrefix) || len(secret) > 128 {
		return Token{}, ErrNoToken
	}
	h := hash(secret)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.reload(); err != nil {
		return Token{}, err
	}
	found := -1
	for i, t := range s.tokens {
		if subtle.ConstantTimeCompare([]byte(t.Hash), []byte(h)) == 1 {
			found = i
		}
	}
	if found < 0 {
		return Token{}, ErrNoToken
	}
	return s.tokens[found], nil
}

// Has says whether a token of this hash (Token.Hash) is in the store: a
// session made by logging in with a token ends when it is revoked. A file
// that cannot be read answers no.
func (s *Store) Has(hash string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.reload() != nil {
		return false
	}
	return slices.ContainsFunc(s.tokens, func(t Token) bool { return subtle.ConstantTimeCompare([]byte(t.Hash), []byte(hash)) == 1 })
}

func hash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}
