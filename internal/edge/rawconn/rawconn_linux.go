package rawconn

import (
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"
)

// Conn is a TCP connection whose reads and writes are raw system
// calls on its nonblocking socket, waiting in Go's poller as net.Conn does.
//
// Why: a write on loopback delivers the segment to the receiver inside
// the call, which takes 20–30 µs. A plain Read or Write tells the
// scheduler it is in a system call; one that lasts past a tick of the
// runtime's monitor (20 µs) has its P handed to another thread, which is
// started or woken for it, and the monitor keeps waking every 20 µs while
// that happens. Under load that was a quarter of the edge's CPU per
// request. A raw call keeps the P, and, the socket being nonblocking, it
// never waits inside the kernel: EAGAIN parks the goroutine in the poller.
type Conn struct {
	*net.TCPConn
	rc syscall.RawConn
}

// maxRawWrite bounds one write call, so that a large body does not hold
// the P for the time it takes to copy megabytes.
const maxRawWrite = 256 << 10

// Fast is c with raw reads and writes when it is a TCP connection.
func Fast(c net.Conn) net.Conn {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return c
	}
	return &Conn{TCPConn: tc, rc: rc}
}

func (c *Conn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	var n uintptr
	var errno syscall.Errno
	err := c.rc.Read(func(fd uintptr) bool {
		for {
			n, _, errno = syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
			if errno != syscall.EINTR {
				return errno != syscall.EAGAIN
			}
		}
	})
	switch {
	case err != nil:
		return 0, err
	case errno != 0:
		return 0, c.opError("read", errno)
	case n == 0:
		return 0, io.EOF
	}
	return int(n), nil
}

func (c *Conn) Write(p []byte) (int, error) {
	done := 0
	var errno syscall.Errno
	err := c.rc.Write(func(fd uintptr) bool {
		for done < len(p) {
			b := p[done:min(len(p), done+maxRawWrite)]
			n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
			switch e {
			case 0:
				done += int(n)
			case syscall.EINTR:
			case syscall.EAGAIN:
				return false
			default:
				errno = e
				return true
			}
		}
		return true
	})
	switch {
	case err != nil:
		return done, err
	case errno != 0:
		return done, c.opError("write", errno)
	}
	return done, nil
}

// opError is errno as net.Conn reports it.
func (c *Conn) opError(op string, errno syscall.Errno) error {
	return &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: os.NewSyscallError(op, errno)}
}
