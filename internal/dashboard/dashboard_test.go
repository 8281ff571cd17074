package dashboard

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/events"
	"github.com/tendhq/tend/internal/logs"
	"github.com/tendhq/tend/internal/remote"
)

func TestRingKeepsAnHourAtTheInterval(t *testing.T) {
	h := newHistory(time.Second)
	if h.points != 3600 {
		t.Fatalf("points = %d, want 3600 (an hour of 1 s samples)", h.points)
	}
	if got := ringBytes(h.points); got != 158400 {
		t.Errorf("ring bytes = %d, want the 158,400 the comment and README say", got)
	}
	start := time.Unix(1_000_000, 0)
	app := api.App{ID: 7, Name: "web", Instances: []api.Instance{{Status: api.StatusOnline, CPUPercent: 1, MemoryBytes: 100}}}
	for i := range 4000 {
		app.Instances[0].Restarts = i / 1000 // one restart every 1000 s
		h.record(start.Add(time.Duration(i)*time.Second), []api.App{app})
	}
	now := start.Add(3999 * time.Second)
	s := h.series(7, now.Add(-HistoryWindow))
	if len(s.T) != 3600 || s.T[0] != uint32(now.Add(-3599*time.Second).Unix()) || s.T[len(s.T)-1] != uint32(now.Unix()) {
		t.Fatalf("kept %d points from %d to %d, want the last 3600", len(s.T), s.T[0], s.T[len(s.T)-1])
	}
	if s.V["memory"][0] != 100 || s.V["cpu"][3599] != 1 {
		t.Errorf("values not kept: memory %v, cpu %v", s.V["memory"][0], s.V["cpu"][3599])
	}
	sum := h.record(now.Add(time.Second), []api.App{app})
	if sum[0].RestartsHour != 3 {
		t.Errorf("restarts in the last hour = %d, want 3", sum[0].RestartsHour)
	}
	// An app that is gone is forgotten.
	h.record(now.Add(2*time.Second), nil)
	if h.series(7, now.Add(-HistoryWindow)) != nil || len(h.rings) != 0 {
		t.Errorf("the ring of a deleted app is kept")
	}
}

func TestLoginLinkWorksOnceWithinAMinute(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	ss := newSessions(func() time.Time { return now })
	a, b := ss.newLink(), ss.newLink()
	if !ss.useLink(a) {
		t.Fatal("a fresh link is refused")
	}
	if ss.useLink(a) {
		t.Error("a link worked twice")
	}
	now = now.Add(LinkTTL + time.Second)
	if ss.useLink(b) {
		t.Error("a link worked after its minute")
	}
	if ss.useLink("made-up") {
		t.Error("an unknown nonce worked")
	}
}

func TestSlowPageLosesTicksNotTheCollector(t *testing.T) {
	b := newBroadcaster()
	sub, _ := b.subscribe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 10 {
			b.publish(tick{})
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("publish blocked on a subscriber that reads nothing")
	}
	if got := b.droppedOf(sub); got != 9 {
		t.Errorf("dropped %d ticks, want 9 (one is kept for the page)", got)
	}
}

// fakeAPI records the control API calls the dashboard makes.
type fakeAPI struct {
	mu    sync.Mutex
	calls []string
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.calls = append(f.calls, r.Method+" "+r.URL.Path)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `[]`)
}

func (f *fakeAPI) called() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func startTest(t *testing.T, addr string) (*Server, *fakeAPI, *remote.Store) {
	t.Helper()
	return startOn(t, addr, Config{Apps: func() []api.App { return []api.App{{ID: 1, Name: "web", Status: api.StatusOnline}} }})
}

// startOn serves a dashboard on addr from cfg, with a fake API, a token
// store, an event bus and a log hub of its own, and no apps unless cfg
// has them.
func startOn(t *testing.T, addr string, cfg Config) (*Server, *fakeAPI, *remote.Store) {
	t.Helper()
	dir := t.TempDir()
	tokens, err := remote.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeAPI{}
	cfg.Home, cfg.API, cfg.Tokens, cfg.Interval = dir, f, tokens, 50*time.Millisecond
	if cfg.Apps == nil {
		cfg.Apps = func() []api.App { return nil }
	}
	cfg.Events, cfg.Logs = events.New(16), logs.NewHub(10)
	s, err := Start(addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, f, tokens
}

// login follows a login link and returns the session cookie and the
// CSRF token of the overview.
func login(t *testing.T, s *Server, c *http.Client) (*http.Cookie, string) {
	t.Helper()
	resp, err := c.Get(s.LoginLink())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cookie := sessionOf(resp)
	if cookie == nil {
		t.Fatalf("the login link set no session cookie (status %d)", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodGet, s.URL()+"/", nil)
	req.AddCookie(cookie)
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	_, rest, _ := strings.Cut(string(b), `data-csrf="`)
	tok, _, _ := strings.Cut(rest, `"`)
	if tok == "" {
		t.Fatalf("no CSRF token in the page:\n%s", b)
	}
	return cookie, tok
}

// tokenLogin makes a token of scope named name and logs in with it on the
// login page's form; it returns the session cookie.
func tokenLogin(t *testing.T, s *Server, c *http.Client, tokens *remote.Store, name string, scope remote.Scope) *http.Cookie {
	t.Helper()
	secret, _, err := tokens.Create(name, scope)
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{"token": {secret}}
	req, _ := http.NewRequest(http.MethodPost, s.URL()+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", s.URL())
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cookie := sessionOf(resp)
	if cookie == nil {
		t.Fatalf("token login: %d and no session", resp.StatusCode)
	}
	return cookie
}

// sessionOf is the session cookie resp sets, or nil.
func sessionOf(resp *http.Response) *http.Cookie {
	for _, ck := range resp.Cookies() {
		if ck.Name == CookieName {
			return ck
		}
	}
	return nil
}

func noRedirect() *http.Client {
	return &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func TestChangesNeedOriginCSRFAndAnOperator(t *testing.T) {
	s, f, tokens := startTest(t, "127.0.0.1:0")
	c := noRedirect()
	cookie, csrf := login(t, s, c)
	post := func(ck *http.Cookie, origin, token string) int {
		req, _ := http.NewRequest(http.MethodPost, s.URL()+"/api/apps/1/restart", strings.NewReader("{}"))
		req.AddCookie(ck)
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		if token != "" {
			req.Header.Set("X-CSRF-Token", token)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tc := range []struct {
		name, origin, token string
	}{
		{"no origin", "", csrf},
		{"another origin", "http://evil.example", csrf},
		{"no token", s.URL(), ""},
		{"a wrong token", s.URL(), csrf + "x"},
	} {
		if code := post(cookie, tc.origin, tc.token); code != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", tc.name, code)
		}
	}
	if calls := f.called(); len(calls) != 0 {
		t.Fatalf("refused requests reached the API: %v", calls)
	}
	if code := post(cookie, s.URL(), csrf); code != http.StatusOK {
		t.Fatalf("a proper restart: %d", code)
	}
	if calls := f.called(); len(calls) != 1 || calls[0] != "POST /v1/apps/1/restart" {
		t.Errorf("API calls %v, want the restart", calls)
	}

	// A read-only token's session: logged in, but every change refused.
	ro := tokenLogin(t, s, c, tokens, "viewer", remote.ReadOnly)
	s.sess.mu.Lock()
	roCSRF := s.sess.byID[secretHash(ro.Value)].csrf
	s.sess.mu.Unlock()
	if code := post(ro, s.URL(), roCSRF); code != http.StatusForbidden {
		t.Errorf("a read-only session's restart: %d, want 403", code)
	}
	if calls := f.called(); len(calls) != 1 {
		t.Errorf("a read-only session reached the API: %v", calls)
	}
}

func TestStreamSendsTheFigures(t *testing.T) {
	s, _, _ := startTest(t, "127.0.0.1:0")
	c := noRedirect()
	cookie, _ := login(t, s, c)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL()+"/api/stream?page=overview", nil)
	req.AddCookie(cookie)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("stream: %s, Cache-Control %q", ct, resp.Header.Get("Cache-Control"))
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "data: ") && strings.Contains(sc.Text(), `"name":"web"`) {
			return
		}
	}
	t.Fatalf("no figures of web in the stream: %v", sc.Err())
}

func TestBeyondLoopbackOnlyTLS(t *testing.T) {
	if _, err := Start("0.0.0.0:0", Config{Home: t.TempDir(), CertFile: "/nonexistent/cert.pem"}); err == nil ||
		!strings.Contains(err.Error(), "TLS only") {
		t.Errorf("a half-set certificate: %v, want a refusal naming TLS", err)
	}
	s, _, _ := startTest(t, "0.0.0.0:0")
	if !strings.HasPrefix(s.URL(), "https://") {
		t.Fatalf("URL %s beyond loopback, want https", s.URL())
	}
	_, port, _ := strings.Cut(strings.TrimPrefix(s.URL(), "https://"), ":")
	resp, err := http.Get("http://127.0.0.1:" + port + "/login")
	if err == nil && resp.StatusCode == http.StatusOK {
		resp.Body.Close()
		t.Fatal("plain HTTP answered beyond loopback")
	}
	tc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err = tc.Get("https://127.0.0.1:" + port + "/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Strict-Transport-Security") == "" {
		t.Errorf("TLS login page: %d, HSTS %q", resp.StatusCode, resp.Header.Get("Strict-Transport-Security"))
	}
}

func TestAssetsNamedByHashAreCachedForGood(t *testing.T) {
	s, _, _ := startTest(t, "127.0.0.1:0")
	u := assetURL("dashboard.js")
	for _, tc := range []struct{ path, cache string }{
		{u, "public, max-age=31536000, immutable"},
		{"/assets/dashboard.js", "no-cache"},
		{"/assets/dashboard.js?v=old", "no-cache"},
	} {
		resp, err := http.Get(s.URL() + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Cache-Control") != tc.cache {
			t.Errorf("GET %s: %d, Cache-Control %q; want 200, %q", tc.path, resp.StatusCode, resp.Header.Get("Cache-Control"), tc.cache)
		}
	}
}

// A session made with a token ends when the token is revoked (by another
// process, as tend remote token revoke is): its page is sent to the login,
// its open stream says so and ends, and its requests are refused. A
// login link's session is not the token's and goes on.
func TestRevokingATokenEndsItsSessions(t *testing.T) {
	s, _, tokens := startTest(t, "127.0.0.1:0")
	c := noRedirect()
	linked, _ := login(t, s, c)
	byToken := tokenLogin(t, s, c, tokens, "ops", remote.Operator)
	get := func(ck *http.Cookie, path string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, s.URL()+path, nil)
		req.AddCookie(ck)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	if resp := get(byToken, "/"); resp.StatusCode != http.StatusOK {
		t.Fatalf("the token's session before the revocation: %d", resp.StatusCode)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sreq, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL()+"/api/stream?page=overview", nil)
	sreq.AddCookie(byToken)
	stream, err := c.Do(sreq)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	sc := bufio.NewScanner(stream.Body)
	for sc.Scan() && !strings.HasPrefix(sc.Text(), "data: ") {
	}
	cli, err := remote.Open(s.cfg.Home)
	if err != nil {
		t.Fatal(err)
	}
	if err := cli.Revoke("ops"); err != nil {
		t.Fatal(err)
	}
	var last string
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "event: ") {
			last = sc.Text()
		}
	}
	if last != "event: ended" {
		t.Errorf("the stream ended after %q, want event: ended", last)
	}
	if resp := get(byToken, "/"); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Errorf("the page after the revocation: %d to %q, want the login", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp := get(byToken, "/api/apps/1"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the API after the revocation: %d, want 401", resp.StatusCode)
	}
	if resp := get(linked, "/"); resp.StatusCode != http.StatusOK {
		t.Errorf("the login link's session after the revocation: %d, want 200", resp.StatusCode)
	}
}

// A dashboard handed over (tend update) goes on at the same address in
// the next: its sessions are still logged in, its charts keep their
// points, and what is handed over holds no session's secret.
func TestHandoverKeepsTheAddressSessionsAndCharts(t *testing.T) {
	s1, _, _ := startTest(t, "127.0.0.1:0")
	c := noRedirect()
	cookie, csrf := login(t, s1, c)
	history := func(s *Server) *Series { return s.hist.series(1, time.Now().Add(-HistoryWindow)) }
	// Points of distinct minutes, older than the collector's.
	eventuallyRing(t, s1)
	s1.hist.mu.Lock()
	for i := range 5 {
		var v [nSeries]float32
		v[seriesCPU] = float32(10 + i)
		s1.hist.rings[1].add(time.Now().Add(time.Duration(i-10)*time.Minute), v)
	}
	s1.hist.mu.Unlock()
	before := history(s1)

	f, h, err := s1.Handover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.FileListener(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), cookie.Value) {
		t.Fatal("the hand-over holds a session's cookie value")
	}
	var resumed Handed
	if err := json.Unmarshal(b, &resumed); err != nil {
		t.Fatal(err)
	}
	s2, _, _ := startOn(t, "127.0.0.1:0", Config{Listener: ln, Resume: &resumed,
		Apps: func() []api.App { return []api.App{{ID: 1, Name: "web", Status: api.StatusOnline}} }})
	if s2.URL() != s1.URL() {
		t.Fatalf("the dashboard moved from %s to %s", s1.URL(), s2.URL())
	}
	page, _ := http.NewRequest(http.MethodGet, s2.URL()+"/", nil)
	page.AddCookie(cookie)
	resp, err := c.Do(page)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the overview after the hand-over: %d, want 200 without a login", resp.StatusCode)
	}
	after := history(s2)
	if len(after.T) < len(before.T) || !slices.Equal(after.T[:len(before.T)], before.T) || !slices.Equal(after.V["cpu"][:len(before.T)], before.V["cpu"]) {
		t.Errorf("history before %v %v, after %v %v", before.T, before.V["cpu"], after.T, after.V["cpu"])
	}
	// The session may still change things, with its CSRF token.
	req, _ := http.NewRequest(http.MethodPost, s2.URL()+"/api/apps/1/restart", strings.NewReader("{}"))
	req.AddCookie(cookie)
	req.Header.Set("Origin", s2.URL())
	req.Header.Set("X-CSRF-Token", csrf)
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("a restart after the hand-over: %d", resp.StatusCode)
	}
}

// eventuallyRing waits for the collector to make app 1's ring.
func eventuallyRing(t *testing.T, s *Server) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.hist.mu.Lock()
		r := s.hist.rings[1]
		s.hist.mu.Unlock()
		if r != nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no history of app 1 after 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
