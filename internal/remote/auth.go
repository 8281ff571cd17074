package remote

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Failed logins from one address: after MaxFailures within FailWindow,
// that address is answered 429 until the window has passed, so a token
// cannot be guessed at the speed of the network.
const (
	MaxFailures = 10
	FailWindow  = time.Minute
	// maxAddrs bounds the addresses remembered: beyond it, the oldest
	// entry makes room (an attacker with many addresses gains nothing
	// against 256-bit secrets anyway).
	maxAddrs = 10000
)

// Errors of Guard.Check; Status maps them to HTTP codes.
var (
	ErrMissing  = errors.New("this API needs a token: send Authorization: Bearer <token> (tend remote token create makes one)")
	ErrWrong    = errors.New("the token is not valid here (revoked, or made on another host)")
	ErrReadOnly = errors.New("the token is read-only: this request changes what runs or reads secrets, and needs an operator token (tend remote token create --name NAME on the daemon's host)")
	ErrTooMany  = errors.New("too many failed logins from this address: wait a minute")
)

// Status is the HTTP status for an error of Check.
func Status(err error) int {
	switch {
	case errors.Is(err, ErrTooMany):
		return http.StatusTooManyRequests
	case errors.Is(err, ErrReadOnly):
		return http.StatusForbidden
	default:
		return http.StatusUnauthorized
	}
}

// Guard checks the bearer token of requests from beyond the unix socket.
type Guard struct {
	Tokens *Store
	Now    func() time.Time // time.Now when nil

	mu    sync.Mutex // guards fails
	fails map[string]*failures
}

type failures struct {
	n     int
	first time.Time
}

// Check returns the token of r, or why r is refused. write says whether r
// changes what runs. A refused token counts against r's address.
func (g *Guard) Check(r *http.Request, write bool) (Token, error) {
	addr := r.RemoteAddr
	if h, _, err := net.SplitHostPort(addr); err == nil {
		addr = h
	}
	if g.limited(addr) {
		return Token{}, ErrTooMany
	}
	secret, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || secret == "" {
		g.fail(addr)
		return Token{}, ErrMissing
	}
	return g.CheckSecret(addr, strings.TrimSpace(secret), write)
}

// CheckSecret is Check for a secret that came another way (a login form).
func (g *Guard) CheckSecret(addr, secret string, write bool) (Token, error) {
	if g.limited(addr) {
		return Token{}, ErrTooMany
	}
	t, err := g.Tokens.Verify(secret)
	if errors.Is(err, ErrNoToken) {
		g.fail(addr)
		return Token{}, ErrWrong
	}
	if err != nil {
		return Token{}, err
	}
	if write && !t.CanChange() {
		return t, ErrReadOnly
	}
	return t, nil
}

func (g *Guard) now() time.Time {
	if g.Now != nil {
		return g.Now()
	}
	return time.Now()
}

func (g *Guard) limited(addr string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	f := g.fails[addr]
	if f == nil {
		return false
	}
	if g.now().Sub(f.first) >= FailWindow {
		delete(g.fails, addr)
		return false
	}
	return f.n >= MaxFailures
}

func (g *Guard) fail(addr string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	if g.fails == nil {
		g.fails = map[string]*failures{}
	}
	f := g.fails[addr]
	if f == nil || now.Sub(f.first) >= FailWindow {
		if len(g.fails) >= maxAddrs {
			g.evict(now)
		}
		f = &failures{first: now}
		g.fails[addr] = f
	}
	f.n++
}

// evict drops expired entries, or the oldest one when none has expired.
// g.mu is held.
func (g *Guard) evict(now time.Time) {
	var oldest string
	for a, f := range g.fails {
		if now.Sub(f.first) >= FailWindow {
			delete(g.fails, a)
		} else if oldest == "" || f.first.Before(g.fails[oldest].first) {
			oldest = a
		}
	}
	if len(g.fails) >= maxAddrs {
		delete(g.fails, oldest)
	}
}

type tokenKey struct{}

// WithToken is ctx for a request the token t was checked for.
func WithToken(ctx context.Context, t Token) context.Context {
	return context.WithValue(ctx, tokenKey{}, t)
}

// TokenFrom is the token of a request from beyond the unix socket; ok is
// false for a request over the socket.
func TokenFrom(ctx context.Context) (t Token, ok bool) {
	t, ok = ctx.Value(tokenKey{}).(Token)
	return t, ok
}
