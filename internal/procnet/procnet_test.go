package procnet

import (
	"net"
	"os"
	"slices"
	"testing"
)

func TestListeningOwnSockets(t *testing.T) {
	v4, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer v4.Close()
	p4 := v4.Addr().(*net.TCPAddr).Port
	// A dual-stack listener shows in tcp6.
	v6, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	p6 := v6.Addr().(*net.TCPAddr).Port
	// A connected socket is not a listening one.
	c, err := net.Dial("tcp", v4.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	local := c.LocalAddr().(*net.TCPAddr).Port

	got, err := Listening(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(got, p4) || !slices.Contains(got, p6) {
		t.Errorf("listening %v, want %d and %d among them", got, p4, p6)
	}
	if slices.Contains(got, local) {
		t.Errorf("listening %v holds %d, the local port of a connection", got, local)
	}
	if !slices.IsSorted(got) {
		t.Errorf("listening %v is not sorted", got)
	}

	v6.Close()
	got, err = Listening(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(got, p6) {
		t.Errorf("listening %v after closing %d", got, p6)
	}
}

func TestListeningOtherProcess(t *testing.T) {
	// pid 1's sockets are not ours: the listener of this process is not
	// reported for it, whatever pid 1 listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	got, _ := Listening(1)
	if slices.Contains(got, port) {
		t.Errorf("pid 1 reported listening on %d, this process's port", port)
	}
}

func TestListeningGone(t *testing.T) {
	if _, err := Listening(1 << 30); err == nil {
		t.Error("no error for a pid that does not exist")
	}
	if got, err := Listening(); err != nil || len(got) != 0 {
		t.Errorf("no pids: %v, %v", got, err)
	}
}

func TestListenFDsNamesTheListeningDescriptor(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := ListenFDs(os.Getpid(), port)
	if err != nil {
		t.Fatal(err)
	}
	// One descriptor of the socket: the listener's or its duplicate's
	// (File), not the connection's.
	var own int
	rc, _ := ln.(*net.TCPListener).SyscallConn()
	rc.Control(func(fd uintptr) { own = int(fd) })
	if len(got) != 1 || got[0] != own && got[0] != int(f.Fd()) {
		t.Errorf("ListenFDs = %v, want one of %d and %d", got, own, f.Fd())
	}
	if got, err := ListenFDs(os.Getpid(), c.LocalAddr().(*net.TCPAddr).Port); err != nil || len(got) != 0 {
		t.Errorf("ListenFDs of a connection's port = %v, %v; want none", got, err)
	}
}
