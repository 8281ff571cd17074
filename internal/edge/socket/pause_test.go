package socket

import (
	"errors"
	"net"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// A paused socket refuses connections and resets the queued ones; resumed,
// it accepts again, on the same port.
func TestPauseRefusesAndResumeAccepts(t *testing.T) {
	probe, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := probe.Addr().String()
	probe.Close()
	file, ln, err := Listen(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	ln.Close() // the file alone holds it, as the daemon does

	queued, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial a listening socket: %v", err)
	}
	defer queued.Close()
	if err := Pause(file); err != nil {
		t.Fatal(err)
	}
	queued.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := queued.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("read on a connection queued before the pause: %v, want a reset", err)
	}
	if _, err := net.DialTimeout("tcp", addr, 5*time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial a paused socket: %v, want connection refused", err)
	}

	if err := Resume(file); err != nil {
		t.Fatal(err)
	}
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial a resumed socket: %v", err)
	}
	c.Close()
	// Accepting works on the resumed socket, through a new listener on it.
	l2, err := net.FileListener(file)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	go func() {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
		}
	}()
	a, err := l2.Accept()
	if err != nil {
		t.Fatalf("accept on the resumed socket: %v", err)
	}
	a.Close()
	if got := l2.Addr().(*net.TCPAddr).Port; strconv.Itoa(got) != addr[len("127.0.0.1:"):] {
		t.Errorf("resumed on port %d, want %s", got, addr)
	}
}
