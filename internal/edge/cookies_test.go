package edge

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/tendhq/tend/internal/edge/edgeconf"
)

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
