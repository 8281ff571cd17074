package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/tendhq/tend/internal/procnet"
	"github.com/tendhq/tend/internal/ready"
	"github.com/tendhq/tend/internal/spec"
	"github.com/tendhq/tend/internal/supervise"
	"golang.org/x/sys/unix"
)

// A cluster without a port is PM2's `-i N` (or exec_mode: cluster) on an
// app that listens on a port of its own choosing: a fork-mode app with more
// than one instance and no port. tend does not know the port, so it cannot
// put its edge in front; a Node app's instances share the ports they
// listen on instead, as under PM2's cluster mode. tend's preload
// (socket.PreloadJS, told by TEND_SHARE_PORTS=1) asks over the IPC channel
// for the listening socket of each TCP port the app listens on; the app
// binds it once (shared, below), keeps it open across reloads and restarts
// and sends every instance that asks a descriptor of it, so the kernel
// balances and a reload refuses no connection. An app that never listens
// runs as N plain processes. A non-Node app cannot be told to share: one
// whose instances fight for a port crashes with a reason that says what to
// set instead (bindConflict).

// clustered is spec.App's Clustered.
func clustered(s spec.App) bool { return s.Clustered() }

// sharesPorts reports whether the app's instances share the ports they
// listen on: a Node cluster without a port (spec.App.SharesPorts), or a
// Node app without a port scaled down to one instance while the daemon
// still holds the sockets its instances shared. That one goes on sharing
// them, or its next process would find its port taken by the daemon.
func (a *App) sharesPorts() bool {
	s := &a.spec
	return s.SharesPorts() || s.IsNode() && s.Portless() && a.shared.held()
}

// ShareEnv is the variable that tells the preload to ask tend for the
// sockets of the ports the app listens on.
const ShareEnv = "TEND_SHARE_PORTS"

// maxSharedPorts bounds the ports one app can make the daemon bind.
const maxSharedPorts = 16

// shared holds the listening sockets the instances of a cluster without a
// port share: one per address, bound on the first request for it, open
// until the app stops. The readers of the instances' IPC channels ask on
// their own goroutines; the owner goroutine opens and closes it.
type shared struct {
	mu sync.Mutex // guards open and socks
	// open says the app runs: a request that comes while it is stopped
	// (from a process on its way out) binds nothing.
	open  bool
	socks []sharedSock
	// paused says the sockets refuse connections: no instance was alive
	// (App.pauseIfIdle).
	paused bool
}

// sharedSock is one bound socket: network and addr as net.Listen takes them.
type sharedSock struct {
	network, addr string
	f             *os.File
}

// sharedAddr is what net.Listen is given for node's listen on host and
// port: "" (node's listen(port)) and "::" listen on every address, IPv4
// too, unless ipv6Only; "0.0.0.0" and other IPv4 addresses on IPv4 alone.
func sharedAddr(r ready.ShareRequest) (network, addr string, err error) {
	if r.Port < 1 || r.Port > 65535 {
		return "", "", fmt.Errorf("port %d is not one tend shares (1-65535): %w", r.Port, syscall.EINVAL)
	}
	port := strconv.Itoa(r.Port)
	if r.Host == "" {
		if r.IPv6Only {
			return "tcp6", "[::]:" + port, nil
		}
		return "tcp", ":" + port, nil
	}
	ip := net.ParseIP(r.Host)
	switch {
	case ip == nil:
		return "", "", fmt.Errorf("host %q is not an IP address: %w", r.Host, syscall.EINVAL)
	case ip.To4() != nil:
		return "tcp4", net.JoinHostPort(ip.String(), port), nil
	case ip.IsUnspecified() && !r.IPv6Only:
		return "tcp", net.JoinHostPort("::", port), nil
	default:
		return "tcp6", net.JoinHostPort(ip.String(), port), nil
	}
}

// socket returns a descriptor of the socket for r, which the caller sends
// and closes, binding it with listen the first time.
func (sh *shared) socket(r ready.ShareRequest, listen func(network, addr string) (*os.File, error)) (*os.File, error) {
	network, addr, err := sharedAddr(r)
	if err != nil {
		return nil, err
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if !sh.open {
		return nil, fmt.Errorf("the app is stopping: %w", syscall.EINVAL)
	}
	i := slices.IndexFunc(sh.socks, func(s sharedSock) bool { return s.network == network && s.addr == addr })
	if i < 0 {
		switch {
		case listen == nil:
			return nil, fmt.Errorf("this daemon shares no port: %w", syscall.EINVAL)
		case len(sh.socks) >= maxSharedPorts:
			return nil, fmt.Errorf("an app shares at most %d ports: %w", maxSharedPorts, syscall.EINVAL)
		}
		f, err := listen(network, addr)
		if err != nil {
			return nil, err
		}
		sh.socks = append(sh.socks, sharedSock{network: network, addr: addr, f: f})
		i = len(sh.socks) - 1
	}
	return dupFile(sh.socks[i].f)
}

// held says whether the app holds a shared socket.
func (sh *shared) held() bool {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return len(sh.socks) > 0
}

// take makes f the socket for network and addr, unless the app has one for
// it already (then f is closed), and returns a descriptor of the socket
// for the caller to send and close, as socket does.
func (sh *shared) take(network, addr string, f *os.File) (*os.File, error) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	i := slices.IndexFunc(sh.socks, func(s sharedSock) bool { return s.network == network && s.addr == addr })
	switch {
	case !sh.open:
		f.Close()
		return nil, fmt.Errorf("the app is stopping: %w", syscall.EINVAL)
	case i >= 0:
		f.Close()
	case len(sh.socks) >= maxSharedPorts:
		f.Close()
		return nil, fmt.Errorf("an app shares at most %d ports: %w", maxSharedPorts, syscall.EINVAL)
	default:
		sh.socks = append(sh.socks, sharedSock{network: network, addr: addr, f: f})
		i = len(sh.socks) - 1
	}
	return dupFile(sh.socks[i].f)
}

// dupFile is a descriptor of f's socket of its own, which stays valid when
// f is closed.
func dupFile(f *os.File) (*os.File, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	var fd int
	var derr error
	if err := rc.Control(func(s uintptr) { fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return nil, err
	}
	if derr != nil {
		return nil, fmt.Errorf("dup shared socket: %w", derr)
	}
	return os.NewFile(uintptr(fd), f.Name()), nil
}

// setOpen opens the app for requests, or closes it and every socket: the
// ports are free once the app is stopped. Owner goroutine.
func (sh *shared) setOpen(open bool) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.open = open
	if open {
		return
	}
	for _, s := range sh.socks {
		s.f.Close()
	}
	sh.socks, sh.paused = nil, false
}

// pause makes the sockets refuse connections while no instance is alive
// to accept them (socket.Pause), and says how many it paused. Owner
// goroutine, with no process alive.
func (sh *shared) pause(pause func(*os.File) error) (int, error) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.paused || len(sh.socks) == 0 {
		return 0, nil
	}
	var errs []error
	for _, s := range sh.socks {
		if err := pause(s.f); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.addr, err))
		}
	}
	sh.paused = true
	return len(sh.socks), errors.Join(errs...)
}

// resume makes paused sockets listen again, before an instance that will
// accept on them starts (socket.Resume; nil leaves them as they are).
// Owner goroutine.
func (sh *shared) resume(resume func(*os.File) error) error {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if !sh.paused || resume == nil {
		return nil
	}
	for _, s := range sh.socks {
		if err := resume(s.f); err != nil {
			return fmt.Errorf("listen on %s again: %w", s.addr, err)
		}
	}
	sh.paused = false
	return nil
}

// handover returns the sockets made inheritable for the next daemon
// (Handover), and closes its own descriptors: the handed ones are all
// there is of them, whether the next daemon comes up or this one adopts
// them again. An error leaves one out, which the next daemon binds again
// when asked, if it can.
func (sh *shared) handover() []HandedShared {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	var out []HandedShared
	for _, s := range sh.socks {
		if fd, err := supervise.Inheritable(s.f); err == nil {
			out = append(out, HandedShared{Network: s.network, Addr: s.addr, FD: fd})
		}
		s.f.Close()
	}
	sh.socks, sh.open, sh.paused = nil, false, false
	return out
}

// adopt takes the sockets the previous daemon handed over (Adopt).
func (sh *shared) adopt(hs []HandedShared) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for _, s := range hs {
		if s.FD < 0 {
			continue
		}
		unix.CloseOnExec(s.FD)
		f := os.NewFile(uintptr(s.FD), "shared-socket")
		if len(sh.socks) >= maxSharedPorts {
			f.Close()
			continue
		}
		sh.socks = append(sh.socks, sharedSock{network: s.Network, addr: s.Addr, f: f})
		// It may have been paused: the next spawn makes it listen.
		sh.paused = true
	}
}

// shareFunc answers the share requests of process p on its channel w, on
// the channel's reader goroutine: a descriptor of the port's socket, or the
// error that refused it, which the app gets from its listen as from a bind
// of its own.
func (a *App) shareFunc(p *proc, w *ready.Sender) ready.ShareFunc {
	return func(r ready.ShareRequest) {
		f, err := a.shared.socket(r, a.cfg.ListenShared)
		if errors.Is(err, syscall.EADDRINUSE) {
			if g, ok := a.takeFromSibling(p, r); ok {
				f, err = g, nil
			}
		}
		if err != nil {
			_ = w.Send(ready.ShareReply(r.Seq, err))
			return
		}
		err = ready.SendHandle(w, ready.ShareReply(r.Seq, nil), f)
		f.Close()
		if err == nil {
			// Its replacement must listen too before it is ready.
			a.post(func() { p.slot.listens = true })
		}
	}
}

// probeCluster decides the readiness of an instance of a cluster without
// a port. A Node instance says when it listens on a shared port (the
// preload does): it is ready then. One that has not listened within
// listen_timeout is ready too, as a worker that never listens, as PM2
// has it, unless its slot's previous process listened: then it must too.
// Another program is ready once tend sees it listen, or else once it has
// run for min_uptime while no other instance listens; one that does not
// listen while another does is most likely failing to bind the port the
// other holds, and is not ready (if it crashes for that, start reports it
// with bindConflict).
func (a *App) probeCluster(ctx context.Context, s spec.App, p *proc, within string) (bool, string) {
	exited := p.sp.Done()
	if s.IsNode() {
		ok, why := waitSignal(ctx, exited, p.signals, within, ready.Listening)
		switch {
		case ok:
			return true, "listening on a shared port"
		case why == ready.ErrExited.Error() || a.ctx.Err() != nil:
			return false, why
		case p.mustListen:
			return false, "did not listen on its shared port(s) " + within
		default:
			return true, "running, not listening on any port " + within
		}
	}
	up := s.MinUptime.D()
	passed := up <= 0
	var upDone <-chan struct{}
	if !passed {
		uctx, cancel := context.WithCancel(ctx)
		t := a.fx.AfterFunc(up, cancel)
		defer t.Stop()
		defer cancel()
		upDone = uctx.Done()
	}
	tick := time.NewTicker(clusterEvery)
	defer tick.Stop()
	var other []int // a listening instance and its ports
	for {
		select {
		case <-exited:
			return false, ready.ErrExited.Error()
		case <-ctx.Done():
			if len(other) > 1 {
				return false, fmt.Sprintf("instance %d listens on %s, this one on no port %s; %s", other[0], portList(other[1:]), within, a.conflictHint())
			}
			return false, "neither listened nor ran for min_uptime " + within
		case <-upDone:
			upDone, passed = nil, true
		case <-tick.C:
		}
		if ports, err := a.fx.Listening(p.sp.Pid()); err == nil && len(ports) > 0 {
			return true, "listening on " + portList(ports)
		}
		if passed {
			if other = a.listeningSibling(p); other == nil {
				return true, "running for min_uptime " + up.String()
			}
		}
	}
}

// clusterEvery paces the looks at the sockets of a launching instance of
// a non-Node cluster without a port.
const clusterEvery = 50 * time.Millisecond

// sibling is another running instance of an app: its slot's index and
// its pid.
type sibling struct{ index, pid int }

// siblings returns the other running instances of p's app. A helper
// goroutine.
func (a *App) siblings(p *proc) []sibling {
	got := make(chan []sibling, 1)
	a.post(func() {
		var sibs []sibling
		for _, s := range a.slots {
			if s.cur != nil && s.cur != p && s != p.slot && s.cur.sp != nil {
				sibs = append(sibs, sibling{s.index, s.cur.sp.Pid()})
			}
		}
		got <- sibs
	})
	select {
	case sibs := <-got:
		return sibs
	case <-a.ctx.Done():
		return nil
	}
}

// listeningSibling returns the index of another running instance of p's
// app that listens on a TCP port, then its ports; nil when none does. A
// helper goroutine.
func (a *App) listeningSibling(p *proc) []int {
	for _, sb := range a.siblings(p) {
		if ports, err := a.fx.Listening(sb.pid); err == nil && len(ports) > 0 {
			return append([]int{sb.index}, ports...)
		}
	}
	return nil
}

// takeFromSibling finds the socket r asks for in another running instance
// of the app, which bound it by itself before the app shared its ports (a
// Node app without a port scaled up from one instance), and makes it the
// shared socket: a descriptor of it is taken from that process with
// pidfd_getfd(2), so the instance goes on accepting on it beside the new
// ones, and none of its connections is refused. The daemon may: the
// instances are its children. A reader goroutine.
func (a *App) takeFromSibling(p *proc, r ready.ShareRequest) (*os.File, bool) {
	network, addr, err := sharedAddr(r)
	if err != nil {
		return nil, false
	}
	for _, sb := range a.siblings(p) {
		fds, err := procnet.ListenFDs(sb.pid, r.Port)
		if err != nil || len(fds) == 0 {
			continue
		}
		pidfd, err := unix.PidfdOpen(sb.pid, 0)
		if err != nil {
			continue
		}
		f := takeListener(pidfd, fds, addr)
		unix.Close(pidfd)
		if f == nil {
			continue
		}
		g, err := a.shared.take(network, addr, f)
		if err != nil {
			return nil, false
		}
		if a.cfg.Log != nil {
			a.cfg.Log.Info("instances share the port an instance bound by itself", "app", a.spec.Name, "instance", sb.index, "pid", sb.pid, "addr", addr)
		}
		return g, true
	}
	return nil, false
}

// takeListener duplicates, from the process of pidfd, the first of its
// descriptors fds that is a socket bound to addr (host:port, the host
// empty or unspecified for every address): nil when none is.
func takeListener(pidfd int, fds []int, addr string) *os.File {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil
	}
	want := net.ParseIP(host)
	for _, fd := range fds {
		nfd, err := unix.PidfdGetfd(pidfd, fd, 0) // close-on-exec
		if err != nil {
			continue
		}
		var ip net.IP
		var got int
		switch sa, _ := unix.Getsockname(nfd); sa := sa.(type) {
		case *unix.SockaddrInet4:
			ip, got = net.IP(sa.Addr[:]), sa.Port
		case *unix.SockaddrInet6:
			ip, got = net.IP(sa.Addr[:]), sa.Port
		}
		same := ip != nil && strconv.Itoa(got) == port &&
			(want == nil && ip.IsUnspecified() || want != nil && (want.IsUnspecified() && ip.IsUnspecified() || ip.Equal(want)))
		if same {
			return os.NewFile(uintptr(nfd), "shared-socket")
		}
		unix.Close(nfd)
	}
	return nil
}

// addrInUse matches what a bind that found its port taken says: Node's
// EADDRINUSE, errno's text in Python, Go, Ruby, Java ("Address already in
// use").
var addrInUse = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(?i)EADDRINUSE|address already in use`) })

// bindConflict says what to do when an instance of a cluster without a
// port that does not share ports crashed as its port was taken (by another
// instance, most likely): "" when its stderr says nothing of the kind.
func (a *App) bindConflict(stderr []string) string {
	if !clustered(a.spec) || a.sharesPorts() || !slices.ContainsFunc(stderr, addrInUse().MatchString) {
		return ""
	}
	return "its port is taken (address already in use); " + a.conflictHint()
}

// conflictHint says what to set when the instances of a non-Node cluster
// without a port fight for one.
func (a *App) conflictHint() string {
	return fmt.Sprintf("the %d instances of a non-Node app without a port each bind the same one: "+
		"set --port N (tend's edge balances over the instances, each listening on PORT) or --socket --port N (they share one socket), or run one instance",
		a.spec.Instances)
}
