package edge

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/edge/internal/edgetest"
)

func TestRefusedBackendIsRetriedAndMarkedDown(t *testing.T) {
	downs := make(chan string, 4)
	f, url := startFront(t, Config{OnDown: func(id string) { downs <- id }})
	good, _ := startApp(t, "good", nil)
	f.Add(Backend{ID: "dead", Addr: deadAddr(t)})
	f.Add(good)
	c := edgetest.NewClient(t)
	for range 10 {
		if r := get(t, c, url); r.status != 200 || r.backend != "good" {
			t.Fatalf("got %d from %q", r.status, r.backend)
		}
	}
	select {
	case id := <-downs:
		if id != "dead" {
			t.Fatalf("OnDown(%q)", id)
		}
	default:
		t.Fatal("OnDown was not called")
	}
	if len(downs) != 0 {
		t.Fatal("OnDown called more than once")
	}
	if s := stat(f, "dead"); s.Up || s.Failures != 1 || s.InFlight != 0 {
		t.Fatalf("dead backend: %+v", s)
	}

	f.Remove("good")
	if r := get(t, c, url); r.status != 503 || r.header.Get("Retry-After") != "1" {
		t.Fatalf("all down: %d, Retry-After %q", r.status, r.header.Get("Retry-After"))
	}
	// Added back while still refusing: tried, down again, 503.
	f.Add(Backend{ID: "dead", Addr: stat(f, "dead").Addr})
	if r := get(t, c, url); r.status != 503 {
		t.Fatalf("only a dead backend: %d", r.status)
	}
	if id := <-downs; id != "dead" {
		t.Fatalf("OnDown(%q)", id)
	}
}

func TestPostRetriedWithBodyIntact(t *testing.T) {
	good, _ := startApp(t, "good", func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		n, _ := io.Copy(h, r.Body)
		fmt.Fprintf(w, "%d %x", n, h.Sum(nil))
	})
	payload := make([]byte, 1<<20)
	rand.Read(payload)
	want := fmt.Sprintf("%d %x", len(payload), sha256.Sum256(payload))
	for _, chunked := range []bool{false, true} {
		t.Run(fmt.Sprint("chunked=", chunked), func(t *testing.T) {
			f, url := startFront(t, Config{})
			f.Add(Backend{ID: "dead", Addr: deadAddr(t)})
			f.Add(good)
			c := edgetest.NewClient(t)
			// Idle ties rotate, so the second request at the latest
			// tries the dead backend first.
			for i := 0; stat(f, "dead").Failures == 0; i++ {
				if i == 2 {
					t.Fatal("the dead backend was never tried")
				}
				var body io.Reader = bytes.NewReader(payload)
				if chunked {
					body = io.MultiReader(body) // length unknown to the client
				}
				req, _ := http.NewRequest("POST", url, body)
				if r := do(t, c, req); r.status != 200 || r.body != want {
					t.Fatalf("POST: %d %q, want 200 %q", r.status, r.body, want)
				}
			}
		})
	}
}

func TestNoRetryOnceRequestWasSent(t *testing.T) {
	// An app that reads the request and dies without answering: it may
	// have acted on it, so a POST must not run again elsewhere; a GET may.
	crash, _ := startApp(t, "crash", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			conn.Close()
		}
	})
	good, _ := startApp(t, "good", nil)
	for _, method := range []string{"POST", "GET"} {
		t.Run(method, func(t *testing.T) {
			f, url := startFront(t, Config{})
			f.Add(crash)
			f.Add(good)
			c := edgetest.NewClient(t)
			statuses := map[int]int{}
			for range 2 {
				var body io.Reader
				if method == "POST" {
					body = bytes.NewReader([]byte("charge card"))
				}
				req, _ := http.NewRequest(method, url, body)
				statuses[do(t, c, req).status]++
			}
			wantGood := map[string]uint64{"POST": 1, "GET": 2}[method]
			if s := stat(f, "good"); s.Requests != wantGood {
				t.Fatalf("good got %d requests, want %d (statuses %v)", s.Requests, wantGood, statuses)
			}
			if method == "POST" && (statuses[200] != 1 || statuses[502] != 1) {
				t.Fatalf("statuses %v, want one 200 and one 502", statuses)
			}
			if method == "GET" && statuses[200] != 2 {
				t.Fatalf("statuses %v, want two 200s: a GET is resent", statuses)
			}
			if s := stat(f, "crash"); !s.Up || s.Failures != 1 {
				t.Fatalf("crash: %+v; it accepted the connection, so it stays up", s)
			}
		})
	}
}

// load is a bounded load generator: workers with keep-alive clients of
// their own send requests until stopped (or a cap), counting failures.
type load struct {
	total, failed atomic.Int64
	errs          chan string   // the first failure
	tick          chan struct{} // a request finished (dropped when nobody waits)
	stop, done    chan struct{}
}

func startLoad(t *testing.T, url string, workers int, posts bool) *load {
	l := &load{errs: make(chan string, 1), tick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := edgetest.NewClient(t)
			for i := range 20000 {
				select {
				case <-l.stop:
					return
				default:
				}
				var err error
				if posts && i%4 == 0 {
					err = post(c, url, fmt.Sprintf("w%d-%d", w, i))
				} else {
					err = getOK(c, url)
				}
				l.total.Add(1)
				if err != nil {
					l.failed.Add(1)
					select {
					case l.errs <- err.Error():
					default:
					}
				}
				select {
				case l.tick <- struct{}{}:
				default:
				}
			}
		}()
	}
	go func() { wg.Wait(); close(l.done) }()
	t.Cleanup(func() { l.end() })
	return l
}

// wait lets at least n requests finish, or the load end.
func (l *load) wait(n int) {
	for range n {
		select {
		case <-l.tick:
		case <-l.done:
			return
		}
	}
}

func (l *load) end() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	<-l.done
}

// finish stops the load and fails t if any request failed.
func (l *load) finish(t *testing.T) {
	t.Helper()
	l.end()
	if n := l.failed.Load(); n > 0 {
		t.Fatalf("%d of %d requests failed; first: %s", n, l.total.Load(), <-l.errs)
	}
	t.Logf("%d requests, none failed", l.total.Load())
}

// app handler for load: GET streams "ok" in two writes, so a response is
// in flight across more than one event; POST echoes.
func loadApp(w http.ResponseWriter, r *http.Request) {
	if r.Method == "POST" {
		io.Copy(w, r.Body)
		return
	}
	io.WriteString(w, "o")
	http.NewResponseController(w).Flush()
	io.WriteString(w, "k")
}

// Instances are replaced under load as a rolling reload does it: add the
// new one, remove the old, drain it, stop it. No request may fail.
func TestRemoveDrainUnderLoad(t *testing.T) {
	f, url := startFront(t, Config{})
	type inst struct {
		b   Backend
		srv *httptest.Server
	}
	gen := 0
	start := func() inst {
		gen++
		b, srv := startApp(t, fmt.Sprintf("api#%d.g%d", gen%2, gen), loadApp)
		f.Add(b)
		return inst{b, srv}
	}
	live := []inst{start(), start()}
	l := startLoad(t, url, 16, true)
	for range 20 {
		l.wait(100)
		next := start()
		old := live[0]
		live = append(live[1:], next)
		f.Remove(old.b.ID)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := f.Drain(ctx, old.b.ID); err != nil {
			t.Error(err)
		}
		cancel()
		if s := stat(f, old.b.ID); s.ID != "" {
			t.Errorf("drained backend still listed: %+v", s)
		}
		old.srv.Close()
	}
	l.wait(100)
	l.finish(t)
	if got := f.Backends(); len(got) != 2 || got[0].ID != live[0].b.ID || got[1].ID != live[1].b.ID {
		t.Fatalf("pool after reloads: %+v", got)
	}
}

// One instance of two dies abruptly under GET load, as with SIGKILL: its
// requests in flight and its pooled connections fail, new connections are
// refused. No request may fail, and it is reported down.
func TestCrashUnderLoad(t *testing.T) {
	downs := make(chan string, 4)
	f, url := startFront(t, Config{OnDown: func(id string) { downs <- id }})
	// Whole responses: a crash halfway through a streamed one cannot be
	// hidden from the client.
	a, _ := startApp(t, "a", nil)
	b, victim := startApp(t, "b", nil)
	f.Add(a)
	f.Add(b)
	l := startLoad(t, url, 16, false)
	l.wait(300)
	victim.Listener.Close()
	victim.CloseClientConnections()
	l.wait(300)
	l.finish(t)
	if id := <-downs; id != "b" {
		t.Fatalf("OnDown(%q)", id)
	}
	if s := stat(f, "b"); s.Up {
		t.Fatalf("crashed backend still up: %+v", s)
	}
}

func getOK(c *http.Client, url string) error {
	res, err := c.Get(url)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err == nil && (res.StatusCode != 200 || string(b) != "ok") {
		err = fmt.Errorf("GET: %d %q", res.StatusCode, b)
	}
	return err
}

func post(c *http.Client, url, body string) error {
	res, err := c.Post(url, "text/plain", bytes.NewReader([]byte(body)))
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err == nil && (res.StatusCode != 200 || string(b) != body) {
		err = fmt.Errorf("POST: %d %q, want %q", res.StatusCode, b, body)
	}
	return err
}
