package dashboard

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"sync"
	"time"

	"github.com/tendhq/tend/internal/remote"
)

// CookieName is the session cookie's name: not a framework's default, so
// that it tells nobody what serves the page, and never collides with an
// app's cookie on the same host.
const CookieName = "tend_session"

const (
	// LinkTTL is how long a one-time login link works.
	LinkTTL = time.Minute
	// SessionTTL is how long a session lasts after its login.
	SessionTTL = 12 * time.Hour
	// maxSessions and maxLinks bound what logins can make the daemon keep;
	// beyond them the oldest makes room.
	maxSessions = 256
	maxLinks    = 64
)

// session is one logged-in browser.
type session struct {
	csrf    string
	scope   remote.Scope
	who     string // the token's name, or "login link"
	expires time.Time
	// token is the hash of the token it logged in with ("" for a login
	// link): revoking the token ends the session.
	token string
}

func (s *session) canChange() bool { return s.scope == remote.Operator }

// sessions keeps the sessions and the one-time login links, each by the
// SHA-256 of its secret (the cookie's value, the link's nonce): what the
// daemon holds, or hands over at an update, logs nobody in.
type sessions struct {
	now func() time.Time
	// tokenLive says whether the token of a hash is still there (nil: no
	// token logins).
	tokenLive func(hash string) bool

	mu    sync.Mutex           // guards byID and links
	byID  map[string]*session  // by the hash of the cookie's value
	links map[string]time.Time // the hash of a nonce → when it stops working
}

// secretHash is what sessions key a secret by.
func secretHash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

func newSessions(now func() time.Time) *sessions {
	return &sessions{now: now, byID: map[string]*session{}, links: map[string]time.Time{}}
}

func randomID() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// newLink makes a login link's nonce: it works once, within LinkTTL.
func (ss *sessions) newLink() string {
	n := randomID()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	now := ss.now()
	for k, exp := range ss.links {
		if now.After(exp) {
			delete(ss.links, k)
		}
	}
	if len(ss.links) >= maxLinks {
		var oldest string
		for k, exp := range ss.links {
			if oldest == "" || exp.Before(ss.links[oldest]) {
				oldest = k
			}
		}
		delete(ss.links, oldest)
	}
	ss.links[secretHash(n)] = now.Add(LinkTTL)
	return n
}

// useLink consumes a nonce: true once, if it is known and not expired.
func (ss *sessions) useLink(nonce string) bool {
	key := secretHash(nonce)
	ss.mu.Lock()
	defer ss.mu.Unlock()
	exp, ok := ss.links[key]
	if !ok {
		return false
	}
	delete(ss.links, key)
	return !ss.now().After(exp)
}

// start makes a session and returns its id (the cookie's value); token
// is the hash of the token it logged in with, or "".
func (ss *sessions) start(scope remote.Scope, who, token string) (string, *session) {
	id := randomID()
	s := &session{csrf: randomID(), scope: scope, who: who, expires: ss.now().Add(SessionTTL), token: token}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if len(ss.byID) >= maxSessions {
		var oldest string
		for k, v := range ss.byID {
			if oldest == "" || v.expires.Before(ss.byID[oldest].expires) {
				oldest = k
			}
		}
		delete(ss.byID, oldest)
	}
	ss.byID[secretHash(id)] = s
	return id, s
}

// get returns the session of r's cookie, or nil: none, expired, or made
// with a token revoked since.
func (ss *sessions) get(r *http.Request) *session {
	c, err := r.Cookie(CookieName)
	if err != nil || c.Value == "" {
		return nil
	}
	key := secretHash(c.Value)
	ss.mu.Lock()
	s := ss.byID[key]
	if s != nil && ss.now().After(s.expires) {
		delete(ss.byID, key)
		s = nil
	}
	ss.mu.Unlock()
	if s == nil || s.token == "" {
		return s
	}
	if ss.tokenLive == nil || !ss.tokenLive(s.token) {
		ss.mu.Lock()
		delete(ss.byID, key)
		ss.mu.Unlock()
		return nil
	}
	return s
}

func (ss *sessions) end(r *http.Request) {
	if c, err := r.Cookie(CookieName); err == nil {
		ss.mu.Lock()
		delete(ss.byID, secretHash(c.Value))
		ss.mu.Unlock()
	}
}

// sessionCookie is the cookie of session id: HttpOnly (no script reads
// it), Secure (browsers treat http://127.0.0.1 as a secure context and
// keep it there too), SameSite=Strict (no other site's page sends it).
func sessionCookie(id string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: CookieName, Value: id, Path: "/", MaxAge: maxAge, HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode}
}

// sameOrigin says whether r was sent by a page of this dashboard: its
// Origin header (which browsers send with every POST) names this host.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return false
	}
	scheme := "http://"
	if r.TLS != nil {
		scheme = "https://"
	}
	return o == scheme+r.Host
}

// validCSRF checks the CSRF token r carries (header X-CSRF-Token, or the
// form field csrf) against the session's.
func validCSRF(r *http.Request, s *session) bool {
	tok := r.Header.Get("X-CSRF-Token")
	if tok == "" {
		tok = r.PostFormValue("csrf")
	}
	return tok != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(s.csrf)) == 1
}
