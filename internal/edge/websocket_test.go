package edge

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// The smallest WebSocket that shows the front is transparent to it: the
// RFC 6455 handshake and short unfragmented frames, no extensions.

func wsAccept(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

func writeFrame(w io.Writer, payload []byte, masked bool) error {
	if len(payload) > 125 {
		return errors.New("frame too long for this test")
	}
	hdr := []byte{0x81, byte(len(payload))} // FIN, text
	if !masked {
		_, err := w.Write(append(hdr, payload...))
		return err
	}
	hdr[1] |= 0x80
	mask := [4]byte{1, 2, 3, 4}
	out := append(hdr, mask[:]...)
	for i, c := range payload {
		out = append(out, c^mask[i%4])
	}
	_, err := w.Write(out)
	return err
}

func readFrame(r io.Reader) ([]byte, error) {
	var hdr [2]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := int(hdr[1] & 0x7f)
	var mask [4]byte
	if hdr[1]&0x80 != 0 {
		if _, err := io.ReadFull(r, mask[:]); err != nil {
			return nil, err
		}
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		return nil, err
	}
	for i := range p {
		p[i] ^= mask[i%4]
	}
	return p, nil
}

// wsEcho upgrades with Hijack and echoes frames until the client leaves.
func wsEcho(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Upgrade") != "websocket" {
		http.Error(w, "want a websocket", http.StatusBadRequest)
		return
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
		wsAccept(r.Header.Get("Sec-WebSocket-Key")))
	brw.Flush()
	for {
		p, err := readFrame(brw)
		if err != nil {
			return
		}
		if writeFrame(conn, p, false) != nil {
			return
		}
	}
}

func dialWS(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	key := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef"))
	fmt.Fprintf(conn, "GET /ws HTTP/1.1\r\nHost: example.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", key)
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 101 || res.Header.Get("Sec-WebSocket-Accept") != wsAccept(key) {
		t.Fatalf("handshake: %d, accept %q", res.StatusCode, res.Header.Get("Sec-WebSocket-Accept"))
	}
	return conn, br
}

func TestWebSocketEchoAndDrain(t *testing.T) {
	b, _ := startApp(t, "ws", wsEcho)
	f, _ := startFront(t, Config{})
	f.Add(b)
	conn, br := dialWS(t, f.Addr().String())
	defer conn.Close()
	for i := range 3 {
		msg := fmt.Sprintf("hello %d", i)
		if err := writeFrame(conn, []byte(msg), true); err != nil {
			t.Fatal(err)
		}
		got, err := readFrame(br)
		if err != nil || string(got) != msg {
			t.Fatalf("echo: %q, %v", got, err)
		}
	}
	if s := stat(f, "ws"); s.InFlight != 1 {
		t.Fatalf("an open websocket counts in flight: %+v", s)
	}

	// Drain is bounded by its ctx while the socket stays open...
	f.Remove("ws")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := f.Drain(ctx, "ws"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Drain with an open websocket: %v", err)
	}
	// ...and returns once it closes.
	conn.Close()
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.Drain(ctx, "ws"); err != nil {
		t.Fatal(err)
	}
}

func TestCloseEndsWebSockets(t *testing.T) {
	b, _ := startApp(t, "ws", wsEcho)
	f, _ := startFront(t, Config{})
	f.Add(b)
	conn, br := dialWS(t, f.Addr().String())
	defer conn.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := f.Close(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Close with an open websocket past its deadline: %v", err)
	}
	if _, err := readFrame(br); err == nil {
		t.Fatal("websocket still open after Close")
	}
}
