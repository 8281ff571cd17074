// Package home owns TEND_HOME: where it is, the names of the files inside it,
// its permissions, and the daemon lock. Both the client and the daemon use it,
// so it imports nothing of tend's.
package home

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// Names inside TEND_HOME.
const (
	SocketName = "tend.sock"
	StateName  = "state.json"
	DumpName   = "dump.json"
	LockName   = "daemon.lock"
	LogName    = "tend.log"
	LogsDir    = "logs"
	RunDir     = "run"
)

// ErrRunning means another daemon holds TEND_HOME's lock.
var ErrRunning = errors.New("another tend daemon is running in this TEND_HOME")

// maxSocketPath is the longest path a unix socket can have on Linux: its
// address holds 108 bytes, the last of them a NUL.
const maxSocketPath = 107

// Socket is the path of home's control socket, or an error saying what to
// do when the path is too long to bind or dial (the kernel's own answer
// would be "invalid argument").
func Socket(home string) (string, error) {
	p := filepath.Join(home, SocketName)
	if len(p) > maxSocketPath {
		return p, fmt.Errorf("TEND_HOME %s is too long: its control socket %s would be %d bytes, and a unix socket's path can have at most %d; set TEND_HOME to a shorter directory", home, SocketName, len(p), maxSocketPath)
	}
	return p, nil
}

// Default is $TEND_HOME, or ~/.tend, as an absolute path.
func Default() (string, error) {
	if h := os.Getenv("TEND_HOME"); h != "" {
		return filepath.Abs(h)
	}
	dir, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no home directory: set TEND_HOME: %w", err)
	}
	return filepath.Join(dir, ".tend"), nil
}

// Ensure creates home with mode 0700, or tightens it to that.
func Ensure(home string) error {
	if err := os.MkdirAll(home, 0o700); err != nil {
		return fmt.Errorf("create TEND_HOME: %w", err)
	}
	if err := os.Chmod(home, 0o700); err != nil {
		return fmt.Errorf("TEND_HOME: %w", err)
	}
	return nil
}

// Lock takes the daemon lock of home, which a daemon holds for its whole
// life; ErrRunning when another process holds it.
func Lock(home string) (unlock func(), err error) {
	f, err := LockFile(home)
	if err != nil {
		return nil, err
	}
	return func() { f.Close() }, nil
}

// LockFile is Lock that returns the locked file: the lock is held until it
// is closed, and by a program that inherits its descriptor across an exec
// (the daemon's update in place).
func LockFile(home string) (*os.File, error) {
	path := filepath.Join(home, LockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, ErrRunning
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return f, nil
}

// Unlocked reports whether no daemon holds home's lock.
func Unlocked(home string) bool {
	f, err := os.OpenFile(filepath.Join(home, LockName), os.O_RDONLY|os.O_CREATE, 0o600)
	if err != nil {
		return false
	}
	defer f.Close()
	return syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB) == nil
}

// OpenLock opens home's lock file for a caller that waits on it (a shared
// flock blocks until the daemon that holds it has exited).
func OpenLock(home string) (*os.File, error) {
	return os.OpenFile(filepath.Join(home, LockName), os.O_RDONLY|os.O_CREATE, 0o600)
}

// SyncDir makes the entries of dir (a rename into it) durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
