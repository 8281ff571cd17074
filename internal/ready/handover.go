package ready

import (
	"fmt"
	"net"
	"os"
	"time"
)

// Pause ends Read without closing the socket, for a daemon that hands the
// socket to the next one (tend update); datagrams that come meanwhile wait
// in the socket.
func (n *Notify) Pause() { _ = n.c.SetReadDeadline(time.Unix(1, 0)) }

// Conn is the socket itself, whose descriptor a hand-over passes on.
func (n *Notify) Conn() *net.UnixConn { return n.c }

// AdoptNotify makes a Notify of socket f, inherited from the previous
// daemon, bound at path. f is the caller's to close.
func AdoptNotify(f *os.File, path string) (*Notify, error) {
	c, err := net.FileConn(f)
	if err != nil {
		return nil, fmt.Errorf("notify socket: %w", err)
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		c.Close()
		return nil, fmt.Errorf("notify socket: fd %d is not a unix socket", f.Fd())
	}
	return &Notify{c: uc, path: path}, nil
}
