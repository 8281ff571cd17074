package logs

import (
	"fmt"
	"os"
	"syscall"
)

// Pipe returns a pipe for an instance's stdout or stderr, made for Capture:
// hand w to the child (exec.Cmd.Stdout = w, which passes the descriptor
// itself, with no copying goroutine), close w in the daemon once the child
// has started, run Capture on r, and close r when Capture returns.
//
// Unlike os.Pipe, its read end is outside Go's network poller. A
// descriptor in the poller stays in Go's epoll set for its whole life, and
// Linux wakes the poller on every write into the pipe, so every line a
// line-at-a-time app (console.log) writes would cost the daemon a wake-up:
// measured with a Go app writing 1,000,000 lines with one write(2) each,
// the daemon spent twice the CPU reading them. Capture instead waits for r
// in an epoll set of its own that is armed only while it waits (see
// Capture), and holds no thread while it does. The write end stays
// blocking, as an app expects of its stdout: a full pipe makes it wait
// rather than fail with EAGAIN.
//
// Both ends are close-on-exec: exec.Cmd dups w onto the child's fd 1 or 2.
func Pipe() (r, w *os.File, err error) {
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil {
		return nil, nil, fmt.Errorf("create log pipe: %w", err)
	}
	return os.NewFile(uintptr(p[0]), "|0"), os.NewFile(uintptr(p[1]), "|1"), nil
}
