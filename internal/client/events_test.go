package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/home"
)

// A stream that ends is followed again after the last event read, and
// what the daemon says on the new stream (a gap) reaches fn in order.
func TestFollowEventsResumesAfterTheLastEvent(t *testing.T) {
	dir := t.TempDir()
	ln, err := net.Listen("unix", filepath.Join(dir, home.SocketName))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var queries []string
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		queries = append(queries, r.URL.RawQuery)
		n := len(queries)
		mu.Unlock()
		w.Header().Set("Content-Type", "text/event-stream")
		send := func(e api.StreamEvent) {
			if e.ID != 0 {
				fmt.Fprintf(w, "id: %d\n", e.ID)
			}
			fmt.Fprintf(w, "event: %s\ndata: {\"id\":%d,\"type\":%q}\n\n", e.Type, e.ID, e.Type)
		}
		if n == 1 {
			fmt.Fprint(w, ": heartbeat\n\n")
			send(api.StreamEvent{ID: 1, Type: api.EventAppState})
			send(api.StreamEvent{ID: 2, Type: api.EventInstanceState})
			return // the daemon went away
		}
		send(api.StreamEvent{Type: api.EventGap})
		send(api.StreamEvent{ID: 3, Type: api.EventAppState})
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	srv.Listener = ln
	srv.Start()
	defer srv.Close()

	stop := errors.New("enough")
	var got []string
	var ends []error
	err = New(dir).FollowEvents(context.Background(), EventsRequest{App: "web"}, time.Millisecond, func(err error) { ends = append(ends, err) }, func(e api.StreamEvent) error {
		got = append(got, fmt.Sprintf("%d %s", e.ID, e.Type))
		if e.ID == 3 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Errorf("FollowEvents: %v, want fn's error", err)
	}
	if want := "[1 app.state 2 instance.state 0 gap 3 app.state]"; fmt.Sprint(got) != want {
		t.Errorf("events %v, want %s", got, want)
	}
	if want := "[app=web app=web&since=2]"; fmt.Sprint(queries) != want {
		t.Errorf("queries %v, want %s", queries, want)
	}
	if len(ends) != 1 {
		t.Errorf("onErr told %v, want the one end of the first stream", ends)
	}
}
