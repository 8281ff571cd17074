package edge

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
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
