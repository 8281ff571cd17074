package daemon

import (
	"bytes"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tendhq/tend/internal/remote"
)

func TestRemoteHandlerAuthorisesEveryRequest(t *testing.T) {
	tokens, err := remote.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	op, _, _ := tokens.Create("ci", remote.Operator)
	ro, _, _ := tokens.Create("viewer", remote.ReadOnly)
	var logged bytes.Buffer
	d := &Daemon{log: slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	var served []string
	h := d.remoteHandler(&remote.Guard{Tokens: tokens}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, _ := remote.TokenFrom(r.Context())
		served = append(served, r.Method+" "+r.URL.Path+" "+tok.Name)
	}))
	for _, c := range []struct {
		method, path, secret string
		code                 int
		body                 string
	}{
		{"GET", "/v1/apps", "", 401, "needs a token"},
		{"GET", "/v1/apps", "tend_wrong", 401, "not valid"},
		{"GET", "/v1/apps", ro, 200, ""},
		{"POST", "/v1/apps/web/profile", ro, 200, ""},
		{"POST", "/v1/apps/web/reload", ro, 403, "read-only"},
		{"GET", "/v1/apps/web/env", ro, 403, "read-only"},
		{"GET", "/v1/releases", ro, 403, "read-only"},
		{"POST", "/v1/apps/web/reload", op, 200, ""},
		{"GET", "/v1/releases", op, 200, ""},
		{"POST", "/v1/update", op, 403, "not served beyond the unix socket"},
		{"POST", "/v1/kill", op, 403, "not served beyond the unix socket"},
	} {
		r := httptest.NewRequest(c.method, c.path, nil)
		r.RemoteAddr = "192.0.2.1:1234"
		if c.secret != "" {
			r.Header.Set("Authorization", "Bearer "+c.secret)
		}
		w := httptest.NewRecorder()
		n := len(served)
		h.ServeHTTP(w, r)
		if w.Code != c.code || !strings.Contains(w.Body.String(), c.body) {
			t.Errorf("%s %s: %d %s, want %d %q", c.method, c.path, w.Code, w.Body, c.code, c.body)
		}
		if reached := len(served) > n; reached != (c.code == 200) {
			t.Errorf("%s %s: reached the API: %v", c.method, c.path, reached)
		}
		if c.code == 401 && w.Header().Get("WWW-Authenticate") == "" {
			t.Errorf("%s %s: 401 without WWW-Authenticate", c.method, c.path)
		}
	}
	if want := "GET /v1/apps viewer"; served[0] != want {
		t.Errorf("the API saw %q, want the token's name: %q", served[0], want)
	}
	// Seven refusals within loglimit.Every: one line. Each served request
	// is a debug line naming its token.
	log := logged.String()
	if n := strings.Count(log, "remote request refused"); n != 1 {
		t.Errorf("%d refusal lines, want 1:\n%s", n, log)
	}
	if !strings.Contains(log, `level=DEBUG msg="remote request" token=viewer`) || !strings.Contains(log, `level=DEBUG msg="remote request" token=ci`) {
		t.Errorf("served requests are not logged at debug with their token's name:\n%s", log)
	}
}

func TestSameAddr(t *testing.T) {
	for _, c := range []struct {
		ln   *net.TCPAddr
		addr string
		want bool
	}{
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8701}, "127.0.0.1:8701", true},
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8701}, "127.0.0.1:8702", false},
		{&net.TCPAddr{IP: net.IPv6unspecified, Port: 8701}, "0.0.0.0:8701", true},
		{&net.TCPAddr{IP: net.IPv6unspecified, Port: 8701}, ":8701", true},
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8701}, ":8701", false},
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8701}, "0.0.0.0:8701", false},
	} {
		if got := sameAddr(c.ln, c.addr); got != c.want {
			t.Errorf("sameAddr(%s, %s) = %v", c.ln, c.addr, got)
		}
	}
}
