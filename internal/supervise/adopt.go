package supervise

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/tendhq/tend/internal/metrics"
	"golang.org/x/sys/unix"
)

// An update of the daemon (tend update) replaces its program with
// syscall.Exec and keeps its pid, so that every app process stays its
// child: no process is restarted and none is re-parented, and wait4 still
// reaps them. Three things make that work, all here:
//
//   - Children get Pdeathsig (SIGKILL when the daemon dies), which Linux
//     sends when the *thread* that forked the child ends, even when the
//     process lives on. Exec ends every thread but the caller. So every
//     fork happens on one thread, the daemon's main thread (SpawnThread),
//     and the exec is called on that same thread: it survives the exec as
//     the new program's main thread, which forks the next children.
//   - Between the moment the old daemon hands its state over and the moment
//     the new one adopts it, no exit may be reaped (HoldExits): the zombie
//     keeps its pid from being reused, and its status for the adopter.
//   - The new daemon makes a Process of a pid it did not spawn (Adopt).

// spawnThread is where Start forks: jobs are run by the goroutine that
// serves them (SpawnThread); nil runs them on the caller's thread.
var spawnThread struct {
	mu   sync.Mutex    // guards jobs and gone
	jobs chan func()   // nil when no goroutine serves the forks
	gone chan struct{} // closed when the server stops serving
}

// SpawnThread makes the calling goroutine the one thread on which every
// child is forked, locking it to its OS thread (the main thread when the
// caller is main, which locked it in an init function). The caller must
// run each job received from jobs on this goroutine until it calls stop,
// after which forks happen on any thread again.
func SpawnThread() (jobs <-chan func(), stop func()) {
	runtime.LockOSThread()
	ch := make(chan func())
	gone := make(chan struct{})
	spawnThread.mu.Lock()
	spawnThread.jobs, spawnThread.gone = ch, gone
	spawnThread.mu.Unlock()
	return ch, func() {
		spawnThread.mu.Lock()
		if spawnThread.jobs == ch {
			spawnThread.jobs, spawnThread.gone = nil, nil
		}
		spawnThread.mu.Unlock()
		close(gone)
		runtime.UnlockOSThread()
	}
}

// onSpawnThread runs f on the spawn thread, or on the caller's when none
// serves.
func onSpawnThread(f func()) {
	spawnThread.mu.Lock()
	jobs, gone := spawnThread.jobs, spawnThread.gone
	spawnThread.mu.Unlock()
	if jobs == nil {
		f()
		return
	}
	ran := make(chan struct{})
	select {
	case jobs <- func() { f(); close(ran) }:
		<-ran
	case <-gone:
		f()
	}
}

// hold is closed when the exits held by HoldExits may be reaped again.
var hold struct {
	mu sync.Mutex    // guards ch
	ch chan struct{} // nil: exits are reaped at once
}

// HoldExits keeps every Process from reaping its exit until release is
// called (which an exec makes moot): the old daemon holds them from the
// moment it writes down its processes, so that a process that exits
// meanwhile is still there, a zombie, for the new daemon to adopt.
func HoldExits() (release func()) {
	ch := make(chan struct{})
	hold.mu.Lock()
	hold.ch = ch
	hold.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			hold.mu.Lock()
			if hold.ch == ch {
				hold.ch = nil
			}
			hold.mu.Unlock()
			close(ch)
		})
	}
}

func waitHold() {
	hold.mu.Lock()
	ch := hold.ch
	hold.mu.Unlock()
	if ch != nil {
		<-ch
	}
}

// Adopt makes a Process of pid, a child that this process spawned before it
// replaced its program by an exec in place, started at started (as
// Process.Started said). It fails when pid is not a child of this process
// (anymore): then nothing is left to supervise.
func Adopt(pid int, started time.Time) (*Process, error) {
	st, ok := metrics.StatOf(pid)
	if !ok || st.PPID != os.Getpid() {
		return nil, fmt.Errorf("adopt pid %d: not a child of this daemon", pid)
	}
	reaper.mu.Lock()
	reaper.leaders[pid] = true
	reaper.mu.Unlock()
	p := &Process{pid: pid, started: started, done: make(chan struct{})}
	go p.wait()
	return p, nil
}

// Inheritable returns a duplicate of the descriptor of c (an *os.File, a
// net.Conn or a net.Listener) without the close-on-exec flag, so that it
// is open, with that number, in the program an exec in place starts. It is
// a duplicate so that c keeps owning its own descriptor, which closes at
// the exec (or when c is closed, or collected) without touching the one
// handed on. The duplicate belongs to no one until the exec.
func Inheritable(c syscall.Conn) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return -1, err
	}
	dup, derr := -1, error(nil)
	if err := rc.Control(func(fd uintptr) { dup, derr = unix.FcntlInt(fd, unix.F_DUPFD, 0) }); err != nil {
		return -1, err
	}
	if derr != nil {
		return -1, fmt.Errorf("keep a descriptor open across exec: %w", derr)
	}
	return dup, nil
}

// OnSpawnThread runs f on the thread that forks the children (see
// SpawnThread), which is where an exec in place must be called.
func OnSpawnThread(f func()) { onSpawnThread(f) }
