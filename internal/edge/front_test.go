package edge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tendhq/tend/internal/edge/internal/edgetest"
)

// Every test closes what it started; a goroutine left over fails the run.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// startApp runs an instance on loopback that names itself in X-Backend and
// answers "ok", or runs h.
func startApp(t testing.TB, id string, h http.HandlerFunc) (Backend, *httptest.Server) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Backend", id)
		if h != nil {
			h(w, r)
			return
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return Backend{ID: id, Addr: srv.Listener.Addr().String()}, srv
}

// deadAddr is a loopback address that refuses connections.
func deadAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func startFront(t testing.TB, cfg Config) (*Front, string) {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.App == "" {
		cfg.App = "api"
	}
	f, err := Listen(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		select {
		case <-f.closing:
			return // the test closed it
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := f.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return f, "http://" + f.Addr().String()
}

type reply struct {
	status  int
	backend string
	body    string
	header  http.Header
}

func do(t testing.TB, c *http.Client, req *http.Request) reply {
	t.Helper()
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{res.StatusCode, res.Header.Get("X-Backend"), string(b), res.Header}
}

func get(t testing.TB, c *http.Client, url string) reply {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return do(t, c, req)
}

func stat(f *Front, id string) BackendStats {
	for _, s := range f.Backends() {
		if s.ID == id {
			return s
		}
	}
	return BackendStats{}
}

func TestLeastConnAvoidsBusyBackend(t *testing.T) {
	entered, release := make(chan string, 1), make(chan struct{})
	h := func(id string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/slow" {
				entered <- id
				<-release
			}
			io.WriteString(w, "ok")
		}
	}
	a, _ := startApp(t, "a", h("a"))
	b, _ := startApp(t, "b", h("b"))
	f, url := startFront(t, Config{})
	f.Add(a)
	f.Add(b)
	c := edgetest.NewClient(t)

	slow := make(chan reply, 1)
	go func() {
		res, err := c.Get(url + "/slow")
		if err != nil {
			slow <- reply{}
			return
		}
		res.Body.Close()
		slow <- reply{status: res.StatusCode}
	}()
	busy := <-entered
	if s := stat(f, busy); s.InFlight != 1 {
		t.Errorf("busy backend %s: in flight %d, want 1", busy, s.InFlight)
	}
	for range 10 {
		if r := get(t, c, url); r.backend == busy || r.status != 200 {
			t.Fatalf("request went to %q (status %d) while %s was busy", r.backend, r.status, busy)
		}
	}
	close(release)
	if r := <-slow; r.status != 200 {
		t.Fatalf("slow request: %+v", r)
	}
}

func TestLeastConnSpreadsIdleLoad(t *testing.T) {
	f, url := startFront(t, Config{})
	for _, id := range []string{"a", "b", "c"} {
		b, _ := startApp(t, id, nil)
		f.Add(b)
	}
	c := edgetest.NewClient(t)
	counts := map[string]int{}
	for range 30 {
		counts[get(t, c, url).backend]++
	}
	if counts["a"] != 10 || counts["b"] != 10 || counts["c"] != 10 {
		t.Fatalf("ties between idle backends should rotate: %v", counts)
	}
}

func TestRoundRobinOrder(t *testing.T) {
	f, url := startFront(t, Config{Balance: RoundRobin})
	for _, id := range []string{"a", "b", "c"} {
		b, _ := startApp(t, id, nil)
		f.Add(b)
	}
	c := edgetest.NewClient(t)
	var seq []string
	for range 9 {
		seq = append(seq, get(t, c, url).backend)
	}
	if seq[0] == seq[1] || seq[1] == seq[2] || seq[0] == seq[2] {
		t.Fatalf("first round does not visit every backend: %v", seq)
	}
	for i, id := range seq {
		if id != seq[i%3] {
			t.Fatalf("not a fixed rotation: %v", seq)
		}
	}
}

func TestStickyKeepsClientOnOneBackend(t *testing.T) {
	f, url := startFront(t, Config{Balance: Sticky, StickyCookie: "srv"})
	for _, id := range []string{"a", "b", "c"} {
		b, _ := startApp(t, id, nil)
		f.Add(b)
	}
	c := edgetest.NewClient(t)
	var cookie *http.Cookie
	send := func() reply {
		req, _ := http.NewRequest("GET", url, nil)
		if cookie != nil {
			req.AddCookie(cookie)
		}
		r := do(t, c, req)
		if sc := r.header.Get("Set-Cookie"); sc != "" {
			for _, attr := range []string{"srv=", "Path=/", "HttpOnly", "SameSite=Lax"} {
				if !strings.Contains(sc, attr) {
					t.Errorf("Set-Cookie %q lacks %s", sc, attr)
				}
			}
			cookie, _ = http.ParseSetCookie(sc)
		}
		return r
	}

	first := send()
	if cookie == nil {
		t.Fatal("no sticky cookie on the first response")
	}
	if cookie.Value == first.backend {
		t.Errorf("cookie %q shows the instance id", cookie.Value)
	}
	for range 10 {
		if r := send(); r.backend != first.backend || r.header.Get("Set-Cookie") != "" {
			t.Fatalf("cookie'd client moved from %s to %s (Set-Cookie %q)", first.backend, r.backend, r.header.Get("Set-Cookie"))
		}
	}

	f.Remove(first.backend)
	moved := send()
	if moved.backend == first.backend || moved.header.Get("Set-Cookie") == "" {
		t.Fatalf("after removing %s: went to %s, Set-Cookie %q", first.backend, moved.backend, moved.header.Get("Set-Cookie"))
	}
	for range 5 {
		if r := send(); r.backend != moved.backend {
			t.Fatalf("client did not stick to its new backend %s: %s", moved.backend, r.backend)
		}
	}

	// Clients without the cookie still spread.
	seen := map[string]bool{}
	for range 4 {
		seen[get(t, c, url).backend] = true
	}
	if len(seen) != 2 {
		t.Fatalf("cookieless clients should spread over both backends: %v", seen)
	}
}

// SetBalancing names the sticky cookie afresh from the next request; ""
// is the default name, and a later SetBalance keeps the name set.
func TestSetBalancingRenamesTheStickyCookie(t *testing.T) {
	f, url := startFront(t, Config{})
	b, _ := startApp(t, "a", nil)
	f.Add(b)
	c := edgetest.NewClient(t)
	cookieName := func() string {
		req, _ := http.NewRequest("GET", url, nil)
		sc, _ := http.ParseSetCookie(do(t, c, req).header.Get("Set-Cookie"))
		if sc == nil {
			return ""
		}
		return sc.Name
	}
	if got := cookieName(); got != "" {
		t.Errorf("least_conn set cookie %q", got)
	}
	for _, step := range []struct {
		set  func() error
		want string
	}{
		{func() error { return f.SetBalancing(Sticky, "tsid") }, "tsid"},
		{func() error { return f.SetBalance(RoundRobin) }, ""},
		{func() error { return f.SetBalance(Sticky) }, "tsid"},
		{func() error { return f.SetBalancing(Sticky, "") }, DefaultStickyCookie},
	} {
		if err := step.set(); err != nil {
			t.Fatal(err)
		}
		if got := cookieName(); got != step.want {
			t.Errorf("cookie %q, want %q", got, step.want)
		}
	}
	if err := f.SetBalancing("random", "x"); err == nil {
		t.Error("SetBalancing accepted an unknown policy")
	}
	if got := cookieName(); got != DefaultStickyCookie {
		t.Errorf("a refused SetBalancing changed the cookie to %q", got)
	}
}

func TestForwardedHeaders(t *testing.T) {
	b, _ := startApp(t, "a", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{
			"host":  r.Host,
			"xff":   strings.Join(r.Header.Values("X-Forwarded-For"), "|"),
			"xfh":   r.Header.Get("X-Forwarded-Host"),
			"xfp":   r.Header.Get("X-Forwarded-Proto"),
			"fwd":   r.Header.Get("Forwarded"),
			"path":  r.URL.RequestURI(),
			"agent": r.Header.Get("User-Agent"),
		})
	})
	f, url := startFront(t, Config{})
	f.Add(b)
	req, _ := http.NewRequest("GET", url+"/p?q=1", nil)
	req.Host = "example.test"
	req.Header.Set("X-Forwarded-For", "6.6.6.6")
	req.Header.Set("X-Forwarded-Host", "evil.test")
	req.Header.Set("X-Forwarded-Proto", "https")
	req.Header.Set("Forwarded", "for=6.6.6.6")
	req.Header.Set("User-Agent", "tester")
	r := do(t, edgetest.NewClient(t), req)
	var got map[string]string
	if err := json.Unmarshal([]byte(r.body), &got); err != nil {
		t.Fatal(err, r.body)
	}
	want := map[string]string{"host": "example.test", "xff": "127.0.0.1", "xfh": "example.test", "xfp": "http", "fwd": "", "path": "/p?q=1", "agent": "tester"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %q, want %q", k, got[k], v)
		}
	}
}

func TestNoBackend503(t *testing.T) {
	_, url := startFront(t, Config{})
	r := get(t, edgetest.NewClient(t), url)
	if r.status != 503 || r.header.Get("Retry-After") != "1" || !strings.Contains(r.body, "no instance of api") {
		t.Fatalf("empty pool: %d %q Retry-After %q", r.status, r.body, r.header.Get("Retry-After"))
	}
}

func TestListenErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if _, err := Listen(Config{App: "api", Addr: ln.Addr().String()}); err == nil || !strings.Contains(err.Error(), "already in use") {
		t.Errorf("port in use: %v", err)
	}
	if _, err := Listen(Config{App: "api", Addr: "127.0.0.1:0", Balance: "random"}); err == nil || !strings.Contains(err.Error(), "least_conn") {
		t.Errorf("bad balance: %v", err)
	}
	f, _ := startFront(t, Config{})
	if err := f.SetBalance("random"); err == nil {
		t.Error("SetBalance accepted an unknown policy")
	}
}

func TestCloseLetsInFlightFinish(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	b, _ := startApp(t, "a", func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		io.WriteString(w, "finished")
	})
	f, url := startFront(t, Config{})
	f.Add(b)
	c := edgetest.NewClient(t)
	got := make(chan string, 1)
	go func() {
		res, err := c.Get(url)
		if err != nil {
			got <- err.Error()
			return
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		got <- fmt.Sprint(res.StatusCode, " ", string(body))
	}()
	<-entered
	closed := make(chan error, 1)
	go func() { closed <- f.Close(context.Background()) }()
	<-f.closing
	select {
	case err := <-closed:
		t.Fatalf("Close returned with a request in flight: %v", err)
	default:
	}
	close(release)
	if r := <-got; r != "200 finished" {
		t.Fatalf("in-flight request: %s", r)
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(url); err == nil {
		t.Fatal("closed front still answers")
	}
}

func TestCloseCutsOffAtDeadline(t *testing.T) {
	entered := make(chan struct{})
	b, _ := startApp(t, "a", func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-r.Context().Done() // held until the front gives up on it
	})
	f, url := startFront(t, Config{})
	f.Add(b)
	c := edgetest.NewClient(t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if res, err := c.Get(url); err == nil {
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
	}()
	<-entered
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := f.Close(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Close past its deadline: %v", err)
	}
	<-done
}
