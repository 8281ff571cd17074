package ready

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := Port(context.Background(), nil, addr, nil); err != nil {
		t.Errorf("listening port: %v", err)
	}
	ln.Close()

	exited := make(chan struct{})
	close(exited)
	if err := Port(context.Background(), exited, addr, nil); !errors.Is(err, ErrExited) {
		t.Errorf("exited process: %v, want ErrExited", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Port(ctx, nil, addr, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("ended context: %v, want context.Canceled", err)
	}
}

func TestHealth(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/health" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	last, err := Health(context.Background(), nil, addr, "/health", nil)
	if err != nil || last != "GET /health answered 200 OK" {
		t.Errorf("healthy: %q, %v", last, err)
	}
	// Never 2xx: the wait ends with the process, saying what it last heard.
	exited := make(chan struct{})
	close(exited)
	last, err = Health(context.Background(), exited, addr, "/sick", nil)
	if !errors.Is(err, ErrExited) || last != "GET /sick answered 503 Service Unavailable" {
		t.Errorf("unhealthy: %q, %v", last, err)
	}
}

func TestSignal(t *testing.T) {
	signals := make(chan string, 2)
	signals <- Listening
	signals <- Ready
	if err := Signal(context.Background(), nil, signals, Ready); err != nil {
		t.Errorf("ready after another signal: %v", err)
	}
	exited := make(chan struct{})
	close(exited)
	if err := Signal(context.Background(), exited, signals, Ready); !errors.Is(err, ErrExited) {
		t.Errorf("exited: %v, want ErrExited", err)
	}
}

func TestReadIPC(t *testing.T) {
	in := strings.Join([]string{
		`"ready"`,
		`not json`,
		`{"tend":"listening"}`,
		`{"type":"tend:metric","name":"queue.depth","value":3}`,
		`{"type":"tend:metric","name":"bad name","value":1}`,
		`{"type":"tend:metric","name":"x","value":"1"}`,
	}, "\n")
	signals := make(chan string, 4)
	got := map[string]float64{}
	ReadIPC(strings.NewReader(in), signals, func(n string, v float64) { got[n] = v }, nil)
	close(signals)
	var sigs []string
	for s := range signals {
		sigs = append(sigs, s)
	}
	if strings.Join(sigs, ",") != "ready,listening" {
		t.Errorf("signals %v, want ready, listening", sigs)
	}
	if len(got) != 1 || got["queue.depth"] != 3 {
		t.Errorf("metrics %v, want queue.depth=3 alone", got)
	}
}

func TestNotify(t *testing.T) {
	n, err := ListenNotify(t.TempDir(), "n.sock")
	if err != nil {
		t.Fatal(err)
	}
	signals := make(chan string, 1)
	metrics := make(chan float64, 1)
	read := make(chan struct{})
	go func() {
		defer close(read)
		n.Read(signals, func(name string, v float64) { metrics <- v })
	}()
	c, err := net.Dial("unixgram", n.Path())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("STATUS=up\nREADY=1\nTEND_METRIC jobs=7\n")); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if s := <-signals; s != Ready {
		t.Errorf("signal %q, want %q", s, Ready)
	}
	if v := <-metrics; v != 7 {
		t.Errorf("metric %v, want 7", v)
	}
	n.Close() // ends Read and removes the socket file
	<-read
	if _, err := os.Stat(n.Path()); !os.IsNotExist(err) {
		t.Errorf("socket file after Close: %v", err)
	}
}
