package socket

import (
	"fmt"
	"os"
	"syscall"
)

// backlog is what Resume listens with: the kernel caps it at somaxconn,
// as Go's own listeners ask.
const backlog = 4096

// Pause makes the listening socket f refuse connections while no instance
// is alive to accept them: it leaves the LISTEN state (Linux's shutdown of
// a listening socket), so that a client gets "connection refused" at once
// instead of waiting in the backlog for its own timeout; connections
// queued and not yet accepted are reset. The socket stays bound to its port
// (which must have been given explicitly, not 0), so Resume can listen
// again without another process having taken it meanwhile.
//
// Only the owner of the socket may call it, when no child holds a copy:
// a shutdown applies to every copy of the descriptor.
func Pause(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return fmt.Errorf("pause socket: %w", err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = syscall.Shutdown(int(fd), syscall.SHUT_RD) }); err != nil {
		return fmt.Errorf("pause socket: %w", err)
	}
	if serr != nil {
		return fmt.Errorf("pause socket: %w", serr)
	}
	return nil
}

// Resume makes a paused socket listen again; on one that listens it does
// nothing but set the backlog.
func Resume(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return fmt.Errorf("resume socket: %w", err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = syscall.Listen(int(fd), backlog) }); err != nil {
		return fmt.Errorf("resume socket: %w", err)
	}
	if serr != nil {
		return fmt.Errorf("resume socket: %w", serr)
	}
	return nil
}
