package app

import (
	"context"
	"net"
	"syscall"
	"time"

	"github.com/tendhq/tend/internal/supervise"
)

// Effects are the app's side effects on the world: spawning processes,
// dialing them, and time. Config.Effects injects them, as tableflip's env
// does, so that tests of the state machine run with fake processes and a
// clock they advance, and without a sleep. Any nil field is the real one.
type Effects struct {
	// Spawn starts a process (supervise.Start).
	Spawn func(supervise.Config) (Process, error)
	// Dial connects to a process's port, for the readiness probes.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Now is the time of day.
	Now func() time.Time
	// AfterFunc calls f on its own goroutine after d (time.AfterFunc).
	AfterFunc func(d time.Duration, f func()) Timer
	// Listening returns the TCP ports the process group pgid listens on,
	// to say why an instance is not ready (listening.go).
	Listening func(pgid int) ([]int, error)
}

// Process is what an app needs of one child; *supervise.Process is it.
type Process interface {
	Pid() int
	Started() time.Time
	// Done is closed when the process has ended; Exit is valid from then.
	Done() <-chan struct{}
	Exit() supervise.Exit
	Signal(sig syscall.Signal) error
	// Stop signals the process, waits up to grace, then kills its group.
	Stop(sig syscall.Signal, grace time.Duration) supervise.Exit
}

// Timer is a pending AfterFunc.
type Timer interface {
	Stop() bool
}

// withDefaults fills the nil fields of e with the real effects.
func (e *Effects) withDefaults() Effects {
	var out Effects
	if e != nil {
		out = *e
	}
	if out.Spawn == nil {
		out.Spawn = func(c supervise.Config) (Process, error) {
			p, err := supervise.Start(c)
			if err != nil {
				return nil, err
			}
			return p, nil
		}
	}
	if out.Now == nil {
		out.Now = time.Now
	}
	if out.AfterFunc == nil {
		out.AfterFunc = func(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }
	}
	if out.Listening == nil {
		out.Listening = groupListening
	}
	// A nil Dial is ready's default dialer.
	return out
}
