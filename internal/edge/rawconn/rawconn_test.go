package rawconn

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// rawPair is a loopback TCP connection whose server end is a Fast.
func rawPair(t *testing.T) (raw, peer net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	peer, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	raw = Fast(c)
	if _, ok := raw.(*Conn); !ok {
		t.Fatalf("Fast of a TCP connection is a %T, want *Conn", raw)
	}
	t.Cleanup(func() { raw.Close(); peer.Close() })
	return raw, peer
}

func TestRawConnMovesEveryByteBothWays(t *testing.T) {
	raw, peer := rawPair(t)
	// More than one raw write and more than a socket buffer: the writer
	// waits in the poller while the peer reads.
	want := bytes.Repeat([]byte("0123456789abcdef"), 3*maxRawWrite/16+7)
	errc := make(chan error, 1)
	go func() {
		_, err := raw.Write(want)
		errc <- err
	}()
	got := make([]byte, len(want))
	if _, err := io.ReadFull(peer, got); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("write: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("the peer read other bytes than were written")
	}

	go func() {
		peer.Write([]byte("hello"))
		peer.(*net.TCPConn).CloseWrite()
	}()
	b, err := io.ReadAll(raw)
	if err != nil || string(b) != "hello" {
		t.Fatalf("read %q, %v; want hello and EOF", b, err)
	}
}

func TestRawConnReportsTimeoutsAndClosedAsNetConnDoes(t *testing.T) {
	raw, _ := rawPair(t)
	raw.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	_, err := raw.Read(make([]byte, 10))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past the deadline: %v, want a timeout", err)
	}
	raw.SetReadDeadline(time.Time{})

	done := make(chan error, 1)
	go func() {
		_, err := raw.Read(make([]byte, 10))
		done <- err
	}()
	time.AfterFunc(10*time.Millisecond, func() { raw.Close() })
	if err := <-done; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read on a connection closed under it: %v, want net.ErrClosed", err)
	}
	if _, err := raw.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write on a closed connection: %v, want net.ErrClosed", err)
	}
}

func TestRawConnReportsResetAsOpError(t *testing.T) {
	raw, peer := rawPair(t)
	peer.(*net.TCPConn).SetLinger(0)
	peer.Close() // RST, which loopback delivers before Close returns
	_, err := raw.Write([]byte("ping"))
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "write" {
		t.Fatalf("write to a reset peer: %v, want a *net.OpError of write", err)
	}
}
