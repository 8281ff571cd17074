package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"syscall"
	"time"

	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/logs"
	"github.com/tendhq/tend/internal/ready"
	"github.com/tendhq/tend/internal/supervise"
	"golang.org/x/sys/unix"
)

// An update of the daemon (tend update) hands every app, with its running
// processes, to the next daemon, which is the same process after an exec
// in place (see internal/supervise/adopt.go). The app's side is here:
// Quiesce waits until no operation is under way, Handover ends the app's
// goroutines without stopping a process or closing a descriptor and says
// what the next daemon needs, and Adopt, in the next daemon, puts the
// processes back under supervision.

// Handed is an app as one daemon hands it to the next.
type Handed struct {
	ID    int          `json:"id"`
	Slots []HandedSlot `json:"slots"`
	// Socket is the descriptor of the shared listening socket in socket
	// mode, -1 when there is none. The edge's listener is the daemon's.
	Socket  int    `json:"socket_fd"`
	Reason  string `json:"reason,omitempty"` // why the app is errored
	Stopped bool   `json:"stopped,omitempty"`
}

// HandedSlot is one instance.
type HandedSlot struct {
	Index    int         `json:"index"`
	State    string      `json:"state"` // the slot's own, when no process runs
	Restarts int         `json:"restarts"`
	LastExit *api.Exit   `json:"last_exit,omitempty"`
	Proc     *HandedProc `json:"proc,omitempty"`
}

// HandedProc is one running process and the descriptors that stay open
// for it across the exec: its output pipes (with the partial lines read
// from them) and its readiness channels. A descriptor of -1 is none.
type HandedProc struct {
	PID        int       `json:"pid"`
	StartTime  uint64    `json:"start_time"`
	StartedAt  time.Time `json:"started_at"`
	Port       int       `json:"port"`
	State      string    `json:"state"` // launching or online
	Env        []string  `json:"env"`
	Stdout     int       `json:"stdout_fd"`
	Stderr     int       `json:"stderr_fd"`
	OutCarry   []byte    `json:"stdout_carry,omitempty"`
	ErrCarry   []byte    `json:"stderr_carry,omitempty"`
	IPC        int       `json:"ipc_fd"`
	Notify     int       `json:"notify_fd"`
	NotifyPath string    `json:"notify_path,omitempty"`
}

// Quiesce waits until no operation changes the app's processes (a reload,
// a scale) and none is launching or stopping, and holds further operations
// until release, or Handover, is called. It gives up when ctx ends, with
// nothing changed.
func (a *App) Quiesce(ctx context.Context) (release func(), err error) {
	for !a.opMu.TryLock() {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%s: an operation (reload, scale, restart) is still under way: %w", a.spec.Name, ctx.Err())
		case <-a.done:
			return nil, ErrDeleted
		case <-time.After(5 * time.Millisecond):
		}
	}
	if err := a.settle(ctx); err != nil {
		a.opMu.Unlock()
		return nil, fmt.Errorf("%s: instances are still launching or stopping: %w", a.spec.Name, err)
	}
	return a.opMu.Unlock, nil
}

// Handover ends the app's goroutines, and the capture of its processes'
// output at a line boundary, without stopping a process or closing one of
// their descriptors, and returns what Adopt needs, the descriptors made
// inheritable (see supervise.Inheritable). The caller has quiesced the
// app and holds the exits (supervise.HoldExits), so no process is reaped
// meanwhile; a process that exits now is the next daemon's to see. The
// app is closed afterwards, as by Close, except for its front, which the
// daemon hands over itself. It returns within about ctx.
func (a *App) Handover(ctx context.Context) (Handed, error) {
	h := Handed{ID: a.id, Socket: -1}
	var procs []*proc
	err := a.do(func() {
		a.handingOver = true
		a.disarm()
		for _, s := range a.slots {
			a.cancelTimer(s)
			hs := HandedSlot{Index: s.index, State: s.state, Restarts: s.restarts, LastExit: s.lastExit}
			if p := s.cur; p != nil && p.pipes != nil {
				close(p.pipes.stop)
				procs = append(procs, p)
				hs.Proc = &HandedProc{
					PID: p.sp.Pid(), StartTime: p.startTime, StartedAt: p.sp.Started(),
					Port: p.port, State: p.state, Env: s.env, Stdout: -1, Stderr: -1, IPC: -1, Notify: -1,
				}
			}
			h.Slots = append(h.Slots, hs)
		}
		h.Reason, h.Stopped = a.reason, a.stopped
		if a.sock != nil {
			if fd, err := supervise.Inheritable(a.sock); err == nil {
				h.Socket = fd
			}
		}
	})
	if err != nil {
		return Handed{}, err
	}
	var errs []error
	for _, p := range procs {
		hp := h.Slots[slices.IndexFunc(h.Slots, func(s HandedSlot) bool { return s.Index == p.slot.index })].Proc
		captured := true
		select {
		case <-p.captured:
		case <-ctx.Done():
			// Its output is not handed over: the next daemon sees the
			// process without it.
			captured = false
			errs = append(errs, fmt.Errorf("%s instance %d: its output capture did not stop", a.spec.Name, p.slot.index))
		}
		if captured && p.pipes.handed[0] {
			if fd, err := supervise.Inheritable(p.pipes.out); err != nil {
				errs = append(errs, fmt.Errorf("stdout: %w", err))
			} else {
				hp.Stdout, hp.OutCarry = fd, p.pipes.carry[0]
			}
		}
		if captured && p.pipes.handed[1] {
			if fd, err := supervise.Inheritable(p.pipes.err); err != nil {
				errs = append(errs, fmt.Errorf("stderr: %w", err))
			} else {
				hp.Stderr, hp.ErrCarry = fd, p.pipes.carry[1]
			}
		}
		if p.ipc != nil {
			// Ends ReadIPC; a message it had read half of is lost (readiness
			// and metrics only, never output).
			_ = p.ipc.SetReadDeadline(time.Unix(1, 0))
			if sc, ok := p.ipc.(syscall.Conn); ok {
				if fd, err := supervise.Inheritable(sc); err == nil {
					hp.IPC = fd
				}
			}
		}
		if p.notify != nil {
			p.notify.Pause()
			if fd, err := supervise.Inheritable(p.notify.Conn()); err == nil {
				hp.Notify, hp.NotifyPath = fd, p.notify.Path()
			}
		}
	}
	// The readers of the channels end at their deadline, the other helpers
	// with the context; a helper that waits for opMu gets it once it is
	// released and finds the app closed.
	a.cancel()
	<-a.done
	a.opMu.Unlock()
	a.waitHelpers()
	return h, errors.Join(errs...)
}

// Adopt puts an app that the previous daemon handed over (Handover) back
// under supervision, in the next daemon: procs are its processes as
// supervise.Adopt made them, by pid. A process that could not be adopted
// counts as one that ended: its slot starts a new one. The app is new and
// stopped; it ends running, as the handed app did, with the slots'
// restart counts, and its online processes in its front's pool at once.
func (a *App) Adopt(h Handed, procs map[int]Process) error {
	a.opMu.Lock()
	defer a.opMu.Unlock()
	var err error
	if e := a.do(func() { err = a.adopt(h, procs) }); e != nil {
		return e
	}
	return err
}

func (a *App) adopt(h Handed, procs map[int]Process) error {
	if h.Socket >= 0 && a.sock == nil {
		unix.CloseOnExec(h.Socket) // the children get it as fd 3, no other
		a.sock = os.NewFile(uintptr(h.Socket), "listen-socket")
	}
	if h.Stopped {
		// Stopped by the user: nothing ran, nothing is adopted.
		for _, hs := range h.Slots {
			hs.Proc.closeFDs()
		}
		a.closeTraffic()
		return nil
	}
	if err := a.openTraffic(); err != nil {
		for _, hs := range h.Slots {
			hs.Proc.closeFDs()
		}
		return err
	}
	a.stopped = false
	a.reason = h.Reason
	var errs []error
	for _, hs := range h.Slots {
		hp := hs.Proc
		if hs.Index < 0 || hs.Index >= len(a.slots) {
			hp.closeFDs()
			continue
		}
		s := a.slots[hs.Index]
		s.restarts, s.lastExit = hs.Restarts, hs.LastExit
		var sp Process
		if hp != nil {
			sp = procs[hp.PID]
		}
		if sp == nil {
			hp.closeFDs()
			switch hs.State {
			case api.StatusErrored, api.StatusStopped:
				a.setSlotState(s, hs.State)
			default:
				// Waiting to restart, or its process is gone: start one.
				errs = append(errs, a.spawn(s))
			}
			continue
		}
		if err := a.adoptProc(s, hp, sp); err != nil {
			errs = append(errs, fmt.Errorf("%s instance %d: %w", a.spec.Name, s.index, err))
		}
	}
	a.arm()
	a.cfg.OnChange()
	return errors.Join(errs...)
}

// adoptProc makes the slot's current process of an adopted one.
func (a *App) adoptProc(s *slot, hp *HandedProc, sp Process) error {
	a.nextGen++
	p := &proc{slot: s, gen: a.nextGen, sp: sp, port: hp.Port, startTime: hp.StartTime, state: hp.State, ready: make(chan struct{})}
	s.env = hp.Env
	p.inspectPort = inspectPortOf(hp.Env)
	signals := make(chan string, 4)
	if f := inherited(hp.IPC, "ipc-parent"); f != nil {
		c, err := net.FileConn(f)
		f.Close()
		if err == nil {
			p.ipc = c
			p.sender = ready.NewSender(c)
			p.closers = append(p.closers, c)
			metric, pm2 := a.metricSink(p), a.pm2Sink(p)
			a.goHelper(func() { ready.ReadIPC(c, signals, metric, pm2) })
		}
	}
	if f := inherited(hp.Notify, "notify"); f != nil {
		n, err := ready.AdoptNotify(f, hp.NotifyPath)
		f.Close()
		if err == nil {
			p.notify = n
			p.closers = append(p.closers, n)
			metric := a.metricSink(p)
			a.goHelper(func() { n.Read(signals, metric) })
		}
	}
	k, err := a.openSinks(s.index)
	if err != nil {
		hp.closeOutput()
		p.close()
		// Without its log files the process cannot be served: it is
		// stopped, and its slot starts a new one.
		s.cur = p
		a.live[p] = struct{}{}
		a.stopProc(p)
		return err
	}
	// A stream the previous daemon saw at EOF stays at EOF.
	out, errf := inherited(hp.Stdout, "|0"), inherited(hp.Stderr, "|0")
	for _, f := range []**os.File{&out, &errf} {
		if *f != nil {
			continue
		}
		var err error
		if *f, err = endedPipe(); err != nil {
			for _, g := range []*os.File{out, errf} {
				if g != nil {
					g.Close()
				}
			}
			k.release()
			return err
		}
	}
	if hp.State == api.StatusOnline {
		p.decide(true, "adopted from the previous daemon")
		if a.front != nil && p.port > 0 {
			a.front.Add(p.id(), p.addr())
			p.inPool = true
		}
	}
	s.cur = p
	a.attach(p, k, newPipes(out, errf, hp.OutCarry, hp.ErrCarry), signals)
	return nil
}

// inherited is the file of a descriptor inherited across the exec, or nil
// for -1. The descriptor is made blocking first, as a pipe from logs.Pipe
// is: os.NewFile would put a nonblocking one in Go's poller.
func inherited(fd int, name string) *os.File {
	if fd < 0 {
		return nil
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		return nil
	}
	unix.CloseOnExec(fd)
	return os.NewFile(uintptr(fd), name)
}

// endedPipe is a pipe at EOF, for a stream that was not handed over.
func endedPipe() (*os.File, error) {
	r, w, err := logs.Pipe()
	if err != nil {
		return nil, err
	}
	w.Close()
	return r, nil
}

// closeFDs closes the descriptors of a process that is not adopted.
func (hp *HandedProc) closeFDs() {
	if hp == nil {
		return
	}
	hp.closeOutput()
	for _, fd := range []int{hp.IPC, hp.Notify} {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
	if hp.NotifyPath != "" {
		os.Remove(hp.NotifyPath)
	}
}

func (hp *HandedProc) closeOutput() {
	for _, fd := range []int{hp.Stdout, hp.Stderr} {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
}
