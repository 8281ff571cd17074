package edge

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/edge/internal/edgetest"
)

// A front handed over finishes its request in flight, telling its client
// to close the connection, while a connection made meanwhile waits in the
// socket's backlog and is served by the front that takes the socket over:
// nothing is refused or cut.
func TestHandoverFinishesInFlightAndKeepsTheSocket(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	b, _ := startApp(t, "a", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(entered)
			<-release
		}
		io.WriteString(w, "ok "+r.URL.Path)
	})
	f1, url := startFront(t, Config{})
	f1.Add(b)
	type answer struct {
		text  string
		close bool
	}
	call := func(c *http.Client, path string, out chan<- answer) {
		res, err := c.Get(url + path)
		if err != nil {
			out <- answer{text: err.Error()}
			return
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		out <- answer{fmt.Sprint(res.StatusCode, " ", string(body)), res.Close}
	}
	slow := make(chan answer, 1)
	go call(edgetest.NewClient(t), "/slow", slow)
	<-entered

	handed := make(chan error, 1)
	var file interface{ Close() error }
	var ln net.Listener
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		f, err := f1.Handover(ctx)
		if err == nil {
			file = f
			ln, err = net.FileListener(f)
		}
		handed <- err
	}()
	for deadline := time.Now().Add(10 * time.Second); !f1.acc.quit.Load(); {
		if time.Now().After(deadline) {
			t.Fatal("the front never stopped accepting")
		}
		time.Sleep(time.Millisecond)
	}
	// A new connection now waits in the backlog.
	late := make(chan answer, 1)
	go call(&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}, "/late", late)
	select {
	case err := <-handed:
		t.Fatalf("Handover returned with a request in flight: %v", err)
	case a := <-late:
		t.Fatalf("a request was answered by a front handing over: %+v", a)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if a := <-slow; a.text != "200 ok /slow" || !a.close {
		t.Errorf("request in flight: %+v, want 200 with Connection: close", a)
	}
	if err := <-handed; err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	gated, open := Gate(ln)
	f2, err := Listen(Config{App: "api", Listener: gated})
	if err != nil {
		t.Fatal(err)
	}
	defer f2.Close(context.Background())
	f2.Add(b)
	open()
	if a := <-late; a.text != "200 ok /late" {
		t.Errorf("connection made during the hand-over: %+v, want 200 from the next front", a)
	}
}

// Fronts handed over one to the next under a load of POSTs (which a
// client never retries by itself) drop none: a connection accepted in
// the moment the listener closes is served by the front handing over,
// and a keep-alive connection whose client sends its next request just
// as the hand-over begins gets that request answered, with
// Connection: close, rather than a reset.
func TestHandoverUnderLoadDropsNothing(t *testing.T) {
	b, _ := startApp(t, "a", nil)
	front, url := startFront(t, Config{})
	front.Add(b)

	ctx, stop := context.WithCancel(context.Background())
	var ok, failed atomic.Int64
	errs := make(chan error, 16)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			// Half the clients keep their connections alive, half open
			// one per request, as a client told to close does.
			c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1, DisableKeepAlives: i%2 == 1}}
			defer c.CloseIdleConnections()
			for ctx.Err() == nil {
				res, err := c.Post(url+"/", "text/plain", strings.NewReader("x"))
				if err == nil {
					_, err = io.Copy(io.Discard, res.Body)
					res.Body.Close()
					if err == nil && res.StatusCode != http.StatusOK {
						err = fmt.Errorf("status %s", res.Status)
					}
				}
				if err != nil {
					failed.Add(1)
					select {
					case errs <- err:
					default:
					}
					continue
				}
				ok.Add(1)
			}
		})
	}
	waitFor := func(n int64) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ok.Load() < n; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("only %d requests answered, want %d", ok.Load(), n)
			}
		}
	}
	const handovers = 20
	for range handovers {
		waitFor(ok.Load() + 100)
		hctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		file, err := front.Handover(hctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.FileListener(file)
		file.Close()
		if err != nil {
			t.Fatal(err)
		}
		gated, open := Gate(ln)
		next, err := Listen(Config{App: "api", Listener: gated})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { next.Close(context.Background()) })
		next.Add(b)
		open()
		front = next
	}
	waitFor(ok.Load() + 100)
	stop()
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Errorf("%d of %d requests failed across %d hand-overs; first: %v", n, n+ok.Load(), handovers, <-errs)
	}
}
