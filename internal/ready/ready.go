// Package ready tells when a new process is ready for traffic: its port
// accepting connections, an HTTP health path answering 2xx, or the process
// saying so itself, through Node's IPC channel (process.send('ready')) or
// sd_notify's READY=1 on NOTIFY_SOCKET. It also makes those two channels.
//
// Every wait runs on its caller's goroutine and ends when the process exits
// or the caller's context ends; the context carries the deadline
// (listen_timeout) and the owner's cancellation, so a wait never outlives
// whoever started it. The readers of the channels run until the channel is
// closed by whoever made it.
package ready

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"time"
)

// What a process can signal on its channels.
const (
	Ready     = "ready"     // process.send('ready') or READY=1
	Listening = "listening" // the socket-mode preload listened on fd 3
)

// ErrExited is returned by a wait whose process ended before it was ready.
var ErrExited = errors.New("exited before it was ready")

// DialFunc opens a connection, as net.Dialer.DialContext does. Nil means a
// plain net.Dialer.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

func (d DialFunc) orDefault() DialFunc {
	if d != nil {
		return d
	}
	var nd net.Dialer
	return nd.DialContext
}

// Intervals between attempts: a process cannot tell us when it starts
// listening, so the port and health waits poll. These pace the retries; the
// deadline is the caller's context.
const (
	portEvery   = 5 * time.Millisecond
	dialTimeout = 100 * time.Millisecond
	healthEvery = 20 * time.Millisecond
	healthLimit = time.Second
)

// Port waits until addr accepts a TCP connection. It returns nil, ErrExited,
// or the context's error.
func Port(ctx context.Context, exited <-chan struct{}, addr string, dial DialFunc) error {
	dial = dial.orDefault()
	tick := time.NewTicker(portEvery)
	defer tick.Stop()
	for {
		dctx, cancel := context.WithTimeout(ctx, dialTimeout)
		c, err := dial(dctx, "tcp", addr)
		cancel()
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			return ErrExited
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// Health waits until GET path on addr answers 2xx. It returns the last answer
// ("GET /health answered 503 Service Unavailable", or "no answer") and nil,
// ErrExited or the context's error.
func Health(ctx context.Context, exited <-chan struct{}, addr, path string, dial DialFunc) (string, error) {
	url := "http://" + addr + path
	// A transport of its own, without keep-alives, so that no idle
	// connection (and its goroutines) outlives the wait.
	tr := &http.Transport{DialContext: dial.orDefault(), DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	c := &http.Client{Timeout: healthLimit, Transport: tr}
	tick := time.NewTicker(healthEvery)
	defer tick.Stop()
	last := "no answer"
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return last, err
		}
		if resp, err := c.Do(req); err == nil {
			io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			last = "GET " + path + " answered " + resp.Status
			if resp.StatusCode/100 == 2 {
				return last, nil
			}
		}
		select {
		case <-exited:
			return last, ErrExited
		case <-ctx.Done():
			return last, ctx.Err()
		case <-tick.C:
		}
	}
}

// Signal waits until want arrives on signals (fed by ReadIPC or
// Notify.Read). It returns nil, ErrExited or the context's error.
func Signal(ctx context.Context, exited <-chan struct{}, signals <-chan string, want string) error {
	for {
		select {
		case got := <-signals:
			if got == want {
				return nil
			}
		case <-exited:
			return ErrExited
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
