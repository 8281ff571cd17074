// Package supervise runs one OS process: it spawns it in a process group of
// its own, sees its exit the moment it happens, and stops it by signal, grace
// period and SIGKILL of the whole group.
package supervise

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Config is what to run.
type Config struct {
	Path string   // absolute path of the executable
	Args []string // argv, Args[0] included
	Dir  string
	Env  []string
	// Stdout and Stderr receive the process's output. An *os.File is handed to
	// the child directly; anything else is fed by a pipe that os/exec drains.
	Stdout, Stderr io.Writer
	// ExtraFiles become fds 3, 4, ... in the child.
	ExtraFiles []*os.File
}

// Exit describes how a process ended.
type Exit struct {
	Code    int    // exit code; -1 when killed by a signal
	Signal  string // the signal that killed it, "" when it exited
	Started time.Time
	Ended   time.Time
}

// String is a short human description, e.g. "exit code 1" or "killed by SIGKILL".
func (e Exit) String() string {
	if e.Signal != "" {
		return "killed by " + e.Signal
	}
	return fmt.Sprintf("exit code %d", e.Code)
}

// Uptime is how long the process ran.
func (e Exit) Uptime() time.Duration { return e.Ended.Sub(e.Started) }

// Process is one running child. Its exit is observed by exactly one
// goroutine, started by Start, which calls Wait, kills what is left of the
// process group and closes Done.
type Process struct {
	cmd     *exec.Cmd // nil for a process adopted after an exec in place (Adopt)
	pid     int
	started time.Time
	done    chan struct{}
	exit    Exit // written once before done is closed
}

// Start spawns the process in a new process group. The child gets SIGKILL
// if the daemon dies, so no app outlives a crashed daemon unsupervised.
func Start(c Config) (*Process, error) {
	cmd := &exec.Cmd{
		Path:       c.Path,
		Args:       c.Args,
		Dir:        c.Dir,
		Env:        c.Env,
		Stdout:     c.Stdout,
		Stderr:     c.Stderr,
		ExtraFiles: c.ExtraFiles,
		SysProcAttr: &syscall.SysProcAttr{
			Setpgid:   true,
			Pdeathsig: syscall.SIGKILL,
		},
	}
	reaper.mu.Lock()
	var err error
	// On the spawn thread (see SpawnThread): an exec in place must not
	// end the thread that forked a child, or the child gets Pdeathsig.
	onSpawnThread(func() { err = cmd.Start() })
	if err == nil {
		// Registered under the reaper's lock so the orphan reaper never
		// collects a leader whose status belongs to cmd.Wait.
		reaper.leaders[cmd.Process.Pid] = true
	}
	reaper.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("spawn %s: %w", c.Path, err)
	}
	p := &Process{cmd: cmd, pid: cmd.Process.Pid, started: time.Now(), done: make(chan struct{})}
	go p.wait()
	return p, nil
}

func (p *Process) wait() {
	// Wait reaps at once when awaitExit saw the exit; else it blocks.
	awaitExit(p.pid)
	// During a hand-over the exit stays unreaped: a zombie's pid cannot be
	// reused, and the next daemon adopts it and reaps it.
	waitHold()
	var ws syscall.WaitStatus
	ok := false
	if p.cmd != nil {
		err := p.cmd.Wait()
		var ee *exec.ExitError
		if err == nil || errors.As(err, &ee) {
			ws, ok = p.cmd.ProcessState.Sys().(syscall.WaitStatus), true
		}
	} else {
		for {
			_, err := syscall.Wait4(p.pid, &ws, 0, nil)
			if err == syscall.EINTR {
				continue
			}
			ok = err == nil
			break
		}
	}
	ended := time.Now()
	reaper.mu.Lock()
	delete(reaper.leaders, p.pid)
	reaper.mu.Unlock()
	// The daemon owns the whole group: whatever the leader left behind goes
	// with it, so a restarted app never competes with its own orphans.
	killGroup(p.pid, time.Second)

	e := Exit{Code: -1, Started: p.started, Ended: ended}
	if ok {
		if ws.Signaled() {
			e.Signal = unix.SignalName(ws.Signal())
		} else {
			e.Code = ws.ExitStatus()
		}
	}
	p.exit = e
	close(p.done)
}

// Pid is the process id, which is also its process group id.
func (p *Process) Pid() int { return p.pid }

// Started is when the process was spawned.
func (p *Process) Started() time.Time { return p.started }

// Done is closed when the process has exited and been reaped.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exit returns how the process ended. Only valid after Done is closed.
func (p *Process) Exit() Exit {
	<-p.done
	return p.exit
}

// Signal sends sig to the process (not its group).
func (p *Process) Signal(sig syscall.Signal) error {
	select {
	case <-p.done:
		return os.ErrProcessDone
	default:
	}
	if p.cmd == nil {
		// Not reaped before done is closed, so the pid is still ours.
		return unix.Kill(p.pid, sig)
	}
	return p.cmd.Process.Signal(sig)
}

// Stop sends sig to the process, waits up to grace for it to exit, then
// SIGKILLs the whole process group. It returns once the process is reaped;
// by then no member of the group is left running.
func (p *Process) Stop(sig syscall.Signal, grace time.Duration) Exit {
	if err := p.Signal(sig); err == nil {
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-p.done:
			return p.exit
		case <-t.C:
		}
	}
	_ = unix.Kill(-p.pid, unix.SIGKILL)
	<-p.done
	return p.exit
}
