package supervise

import (
	"os"

	"golang.org/x/sys/unix"
)

// awaitExit returns once process pid has exited, without reaping it. It
// waits in Go's poller on a pidfd (readable once the process has exited),
// so that a running child does not hold an OS thread the way a blocked
// wait4 does: the daemon's threads stay few with 50 instances. It returns
// false when pidfds are not available (Linux before 5.10); the caller's
// Wait then blocks as before.
func awaitExit(pid int) bool {
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if err != nil {
		return false
	}
	f := os.NewFile(uintptr(fd), "pidfd")
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return false
	}
	failed := false
	err = rc.Read(func(fd uintptr) bool {
		for {
			n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 0)
			switch {
			case err == unix.EINTR:
				continue
			case err != nil:
				failed = true
				return true
			}
			return n > 0 // else wait in the poller until it is readable
		}
	})
	return err == nil && !failed
}
