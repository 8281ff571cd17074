// Package inspect speaks the Chrome DevTools Protocol to a Node.js
// inspector over WebSocket: CPU profiles, heap snapshots and sampling heap
// profiles of a running process.
//
// A Conn sends a method with an id and waits for the answer of that id;
// events (messages without an id) go to the handler registered for their
// method, called on the read goroutine in the order they arrive, so that a
// handler that writes a heap snapshot's chunks to a slow reader holds the
// inspector back instead of buffering the snapshot.
//
// The inspector runs code in the process for whoever connects; this package
// only talks to 127.0.0.1, and the caller closes the inspector again
// (CloseInspector) after each profile.
package inspect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// MaxMessage bounds one message from the inspector. The largest is the
// answer of Profiler.stop: a CPU profile of the longest duration allowed
// (MaxDuration) at a fine interval is some tens of MB.
const MaxMessage = 256 << 20

// maxList bounds the answer of /json/list.
const maxList = 1 << 20

// Conn is a session with one inspector. Its read goroutine is started by
// Dial and stopped by Close, which waits for it.
type Conn struct {
	ws   *websocket.Conn
	done chan struct{} // closed when the read goroutine has returned

	mu       sync.Mutex // guards the fields below
	nextID   int64
	pending  map[int64]chan response
	handlers map[string]func(json.RawMessage)
	err      error // why the read goroutine ended
}

type response struct {
	Result json.RawMessage
	Err    error
}

// message is any message of the inspector: an answer (ID set) or an event.
type message struct {
	ID     int64           `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// Target is one entry of the inspector's /json/list.
type Target struct {
	ID                   string `json:"id"`
	Type                 string `json:"type"`
	Title                string `json:"title"`
	WebSocketDebuggerURL string `json:"webSocketDebuggerUrl"`
}

// Addr is the loopback address of an inspector port.
func Addr(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// List asks the inspector on 127.0.0.1:port for its targets.
func List(ctx context.Context, port int) ([]Target, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+Addr(port)+"/json/list", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("inspector /json/list: %s", resp.Status)
	}
	var ts []Target
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxList)).Decode(&ts); err != nil {
		return nil, fmt.Errorf("inspector /json/list: %w", err)
	}
	return ts, nil
}

// WaitList polls the inspector's /json/list until it answers with a target
// or ctx ends: after SIGUSR1 the inspector opens on its own thread, a moment
// later.
func WaitList(ctx context.Context, port int) (Target, error) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		ts, err := List(ctx, port)
		if err == nil {
			err = errors.New("no target with a webSocketDebuggerUrl")
			for _, t := range ts {
				if t.WebSocketDebuggerURL == "" {
					continue
				}
				// Whoever answers on the port names the URL: never follow
				// it off the port we asked.
				if u, perr := url.Parse(t.WebSocketDebuggerURL); perr != nil || u.Scheme != "ws" || u.Host != Addr(port) {
					return Target{}, fmt.Errorf("inspector on %s names a debugger URL elsewhere (%q): not following it", Addr(port), t.WebSocketDebuggerURL)
				}
				return t, nil
			}
		}
		last = err
		select {
		case <-ctx.Done():
			return Target{}, fmt.Errorf("inspector on %s did not open: %w", Addr(port), last)
		case <-tick.C:
		}
	}
}

// Dial connects to the inspector on 127.0.0.1:port, waiting until ctx ends
// for it to open.
func Dial(ctx context.Context, port int) (*Conn, error) {
	t, err := WaitList(ctx, port)
	if err != nil {
		return nil, err
	}
	return DialURL(ctx, t.WebSocketDebuggerURL)
}

// DialURL connects to a target's webSocketDebuggerUrl.
func DialURL(ctx context.Context, url string) (*Conn, error) {
	ws, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		return nil, fmt.Errorf("connect to inspector %s: %w", url, err)
	}
	ws.SetReadLimit(MaxMessage)
	c := &Conn{
		ws:       ws,
		done:     make(chan struct{}),
		pending:  map[int64]chan response{},
		handlers: map[string]func(json.RawMessage){},
	}
	go c.read()
	return c, nil
}

// read receives messages until the connection ends, then fails every call
// still waiting.
func (c *Conn) read() {
	defer close(c.done)
	var err error
	for {
		var b []byte
		// A cancelled context would close the connection: reads use none,
		// and Close ends them by closing it.
		_, b, err = c.ws.Read(context.Background())
		if err != nil {
			break
		}
		if method, params, ok := splitEvent(b); ok {
			c.event(method, params)
			continue
		}
		var m message
		if e := json.Unmarshal(b, &m); e != nil {
			err = fmt.Errorf("inspector sent a message that is not JSON: %w", e)
			break
		}
		if m.ID == 0 {
			c.event(m.Method, m.Params)
			continue
		}
		r := response{Result: m.Result}
		if m.Error != nil {
			r.Err = fmt.Errorf("inspector: %s (code %d)", m.Error.Message, m.Error.Code)
		}
		c.mu.Lock()
		ch := c.pending[m.ID]
		delete(c.pending, m.ID)
		c.mu.Unlock()
		if ch != nil {
			ch <- r
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.err = fmt.Errorf("inspector connection closed: %w", err)
	for id, ch := range c.pending {
		ch <- response{Err: c.err}
		delete(c.pending, id)
	}
}

// event hands an event to its handler, if any.
func (c *Conn) event(method string, params json.RawMessage) {
	c.mu.Lock()
	h := c.handlers[method]
	c.mu.Unlock()
	if h != nil {
		h(params)
	}
}

// Handle registers f for the events of method (nil removes it). f runs on
// the read goroutine: while it blocks, no other message is read.
func (c *Conn) Handle(method string, f func(params json.RawMessage)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f == nil {
		delete(c.handlers, method)
		return
	}
	c.handlers[method] = f
}

// Call sends method with params and waits for its answer, decoded into
// result when result is not nil.
func (c *Conn) Call(ctx context.Context, method string, params, result any) error {
	raw, err := c.CallRaw(ctx, method, params)
	if err != nil {
		return err
	}
	if result == nil {
		return nil
	}
	if err := json.Unmarshal(raw, result); err != nil {
		return fmt.Errorf("%s: answer: %w", method, err)
	}
	return nil
}

// CallRaw sends method with params and returns its answer's result as it
// came.
func (c *Conn) CallRaw(ctx context.Context, method string, params any) (json.RawMessage, error) {
	ch := make(chan response, 1)
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	c.nextID++
	id := c.nextID
	c.pending[id] = ch
	c.mu.Unlock()

	msg := struct {
		ID     int64  `json:"id"`
		Method string `json:"method"`
		Params any    `json:"params,omitempty"`
	}{id, method, params}
	b, err := json.Marshal(msg)
	if err == nil {
		err = c.ws.Write(ctx, websocket.MessageText, b)
	}
	if err != nil {
		c.forget(id)
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, fmt.Errorf("%s: %w", method, r.Err)
		}
		return r.Result, nil
	case <-ctx.Done():
		c.forget(id)
		return nil, fmt.Errorf("%s: %w", method, ctx.Err())
	}
}

func (c *Conn) forget(id int64) {
	c.mu.Lock()
	delete(c.pending, id)
	c.mu.Unlock()
}

// Close ends the session and waits for the read goroutine.
func (c *Conn) Close() error {
	// The inspector answers a close frame with one of no status, which
	// the library reports as an error: either way the session is over.
	_ = c.ws.Close(websocket.StatusNormalClosure, "")
	_ = c.ws.CloseNow()
	<-c.done
	return nil
}
