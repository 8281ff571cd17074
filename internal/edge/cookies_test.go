package edge

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/tendhq/tend/internal/edge/edgeconf"
)

func TestCookieEdit(t *testing.T) {
	def := newCookiePolicy(&edgeconf.Options{})
	rename := newCookiePolicy(&edgeconf.Options{Cookies: &edgeconf.CookieOptions{Rename: &edgeconf.CookieRename{To: "sid"}}})
	var none edgeconf.CookieOptions
	none.UnmarshalJSON([]byte("false"))
	noFlags := newCookiePolicy(&edgeconf.Options{Cookies: &none})
	strict := newCookiePolicy(&edgeconf.Options{Cookies: &edgeconf.CookieOptions{SameSite: "strict", HTTPOnlyAllow: []string{"ui"}}})
	for _, tc := range []struct {
		p      *cookiePolicy
		secure bool
		in     string
		want   string
	}{
		{def, false, "a=1", "a=1; SameSite=Lax; HttpOnly"},
		{def, true, "a=1; Path=/", "a=1; Path=/; SameSite=Lax; Secure; HttpOnly"},
		// Attributes net/http does not know survive, in place.
		{def, true, "a=1; Priority=High; Partitioned; Path=/", "a=1; Priority=High; Partitioned; Path=/; SameSite=Lax; Secure; HttpOnly"},
		{def, true, "a=1; secure; HTTPONLY; samesite=strict", "a=1; secure; HTTPONLY; samesite=strict"},
		{def, false, "a=1; SameSite=None", "a=1; SameSite=None; Secure; HttpOnly"},
		{def, false, "XSRF-TOKEN=t; Path=/", "XSRF-TOKEN=t; Path=/; SameSite=Lax"},
		{def, false, "a=1;", "a=1; SameSite=Lax; HttpOnly"},
		{def, false, "garbage", "garbage"},
		{strict, false, "ui=dark", "ui=dark; SameSite=Strict"},
		{strict, false, "XSRF-TOKEN=t", "XSRF-TOKEN=t; SameSite=Strict; HttpOnly"},
		{noFlags, true, "a=1", "a=1"},
		{rename, true, "connect.sid=s%3Aabc; Path=/; HttpOnly", "sid=s%3Aabc; Path=/; HttpOnly; SameSite=Lax; Secure"},
		{rename, false, "connect.sidx=1; HttpOnly; SameSite=Lax", "connect.sidx=1; HttpOnly; SameSite=Lax"},
	} {
		if got := tc.p.edit(tc.in, tc.secure); got != tc.want {
			t.Errorf("%q (secure %v):\n got %q\nwant %q", tc.in, tc.secure, got, tc.want)
		}
	}
}

func TestCookieRenameRequest(t *testing.T) {
	p := newCookiePolicy(&edgeconf.Options{Cookies: &edgeconf.CookieOptions{Rename: &edgeconf.CookieRename{To: "sid"}}})
	for _, tc := range []struct{ in, want []string }{
		{[]string{"sid=abc"}, []string{"connect.sid=abc"}},
		{[]string{"a=1; sid=abc; b=2"}, []string{"a=1; connect.sid=abc; b=2"}},
		{[]string{"connect.sid=forged; sid=abc"}, []string{"connect.sid=abc"}},
		{[]string{"connect.sid=forged"}, nil},
		{[]string{"sidx=1; xsid=2"}, []string{"sidx=1; xsid=2"}},
		{[]string{"a=1", "sid=abc"}, []string{"a=1", "connect.sid=abc"}}, // HTTP/2 sends one header per cookie
	} {
		r, _ := http.NewRequest("GET", "/", nil)
		r.Header["Cookie"] = tc.in
		p.request(r.Header)
		if got := r.Header["Cookie"]; strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("%q: got %q, want %q", tc.in, got, tc.want)
		}
	}
}

// Through the front: over TLS the app's cookies get every flag, Priority
// is kept, and connect.sid is sid to the client and connect.sid to the app.
func TestSecureCookiesThroughFront(t *testing.T) {
	seen := make(chan string, 1)
	f, _ := startFront(t, Config{Options: edgeconf.Options{
		TLS:     &edgeconf.TLSOptions{SelfSigned: true},
		Cookies: &edgeconf.CookieOptions{Rename: &edgeconf.CookieRename{To: "sid"}},
	}})
	b, _ := startApp(t, "a", func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Header.Get("Cookie")
		w.Header().Add("Set-Cookie", "connect.sid=s%3Aabc; Path=/; HttpOnly")
		w.Header().Add("Set-Cookie", "prefs=dark; Priority=High; Max-Age=60")
		w.Header().Add("Set-Cookie", "XSRF-TOKEN=t0k; Path=/")
		io.WriteString(w, "ok")
	})
	f.Add(b)
	for _, h2 := range []bool{false, true} {
		req, _ := http.NewRequest("GET", "https://"+f.Addr().String()+"/", nil)
		req.Header.Set("Cookie", "sid=s%3Aabc; other=1")
		res, err := tlsClient(t, h2, nil).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if got := <-seen; got != "connect.sid=s%3Aabc; other=1" {
			t.Errorf("h2=%v: the app got Cookie %q", h2, got)
		}
		want := []string{
			"sid=s%3Aabc; Path=/; HttpOnly; SameSite=Lax; Secure",
			"prefs=dark; Priority=High; Max-Age=60; SameSite=Lax; Secure; HttpOnly",
			"XSRF-TOKEN=t0k; Path=/; SameSite=Lax; Secure",
		}
		if got := res.Header.Values("Set-Cookie"); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("h2=%v: Set-Cookie\n%s\nwant\n%s", h2, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
}
