package app

import (
	"context"
	"errors"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/edge/socket"
	"github.com/tendhq/tend/internal/ready"
	"github.com/tendhq/tend/internal/spec"
	"golang.org/x/sys/unix"
)

func TestSharedAddrIsWhatNodeWouldBind(t *testing.T) {
	tests := []struct {
		r             ready.ShareRequest
		network, addr string
		err           string
	}{
		{r: ready.ShareRequest{Port: 3000}, network: "tcp", addr: ":3000"},
		{r: ready.ShareRequest{Port: 3000, IPv6Only: true}, network: "tcp6", addr: "[::]:3000"},
		{r: ready.ShareRequest{Host: "::", Port: 80}, network: "tcp", addr: "[::]:80"},
		{r: ready.ShareRequest{Host: "0.0.0.0", Port: 80}, network: "tcp4", addr: "0.0.0.0:80"},
		{r: ready.ShareRequest{Host: "127.0.0.1", Port: 8080}, network: "tcp4", addr: "127.0.0.1:8080"},
		{r: ready.ShareRequest{Host: "::1", Port: 8080}, network: "tcp6", addr: "[::1]:8080"},
		{r: ready.ShareRequest{Host: "localhost", Port: 8080}, err: `host "localhost" is not an IP address: invalid argument`},
		{r: ready.ShareRequest{Port: 0}, err: "port 0 is not one tend shares (1-65535): invalid argument"},
		{r: ready.ShareRequest{Port: 70000}, err: "port 70000 is not one tend shares (1-65535): invalid argument"},
	}
	for _, tt := range tests {
		network, addr, err := sharedAddr(tt.r)
		if network != tt.network || addr != tt.addr || errString(err) != tt.err {
			t.Errorf("%+v: %q %q %v; want %q %q %q", tt.r, network, addr, err, tt.network, tt.addr, tt.err)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestSharedSocketIsBoundOnceAndClosedWithTheApp(t *testing.T) {
	var binds []string
	var bound []*os.File
	listen := func(network, addr string) (*os.File, error) {
		binds = append(binds, network+" "+addr)
		ln, err := net.Listen(network, addr)
		if err != nil {
			return nil, err
		}
		defer ln.Close()
		f, err := ln.(*net.TCPListener).File()
		bound = append(bound, f)
		return f, err
	}
	var sh shared
	if _, err := sh.socket(ready.ShareRequest{Host: "127.0.0.1", Port: 1}, listen); err == nil || len(binds) > 0 {
		t.Fatalf("a stopped app bound a port (%v, %v)", binds, err)
	}
	sh.setOpen(true)
	// A port of the kernel's choosing, found by a first bind.
	probe, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := probe.Addr().(*net.TCPAddr).Port
	probe.Close()
	r := ready.ShareRequest{Host: "127.0.0.1", Port: port}
	var got []*os.File
	for range 2 {
		f, err := sh.socket(r, listen)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, f)
	}
	if len(binds) != 1 {
		t.Fatalf("binds %v, want one for two instances", binds)
	}
	// Each instance's descriptor is its own: closing one leaves the port
	// accepting on the other.
	got[0].Close()
	ln, err := net.FileListener(got[1])
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatalf("the shared port refuses a connection: %v", err)
	}
	c.Close()
	ln.Close()
	got[1].Close()

	sh.setOpen(false)
	if _, err := bound[0].Stat(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("the socket is still open once the app stopped: %v", err)
	}
	if _, err := sh.socket(r, listen); err == nil || len(binds) != 1 {
		t.Errorf("a request after the stop was answered (%v, binds %v)", err, binds)
	}
}

func TestSharedPortsHaveACeiling(t *testing.T) {
	var sh shared
	sh.setOpen(true)
	defer sh.setOpen(false)
	n := 0
	listen := func(network, addr string) (*os.File, error) {
		n++
		return os.Open(os.DevNull)
	}
	var err error
	for i := range maxSharedPorts + 1 {
		var f *os.File
		if f, err = sh.socket(ready.ShareRequest{Port: 1000 + i}, listen); err == nil {
			f.Close()
		}
	}
	if n != maxSharedPorts || err == nil || !errors.Is(err, syscall.EINVAL) {
		t.Errorf("%d binds, last error %v; want %d and a refusal", n, err, maxSharedPorts)
	}
}

func TestBindConflictNamesPortAndSocketForANonNodeCluster(t *testing.T) {
	inUse := []string{"Traceback (most recent call last):", "OSError: [Errno 98] Address already in use"}
	tests := []struct {
		name   string
		s      spec.App
		stderr []string
		want   bool
	}{
		{"python, 2 instances", spec.App{Mode: spec.ModeFork, Instances: 2, Interpreter: "python3"}, inUse, true},
		{"node's words", spec.App{Mode: spec.ModeFork, Instances: 3, Interpreter: "none"}, []string{"Error: listen EADDRINUSE: address already in use :::3000"}, true},
		{"another crash", spec.App{Mode: spec.ModeFork, Instances: 2, Interpreter: "python3"}, []string{"KeyError: 'x'"}, false},
		{"one instance", spec.App{Mode: spec.ModeFork, Instances: 1, Interpreter: "python3"}, inUse, false},
		{"with a port", spec.App{Mode: spec.ModeProxy, Port: 80, Instances: 2, Interpreter: "python3"}, inUse, false},
		{"node shares its ports", spec.App{Mode: spec.ModeFork, Instances: 2, Interpreter: "node"}, inUse, false},
	}
	for _, tt := range tests {
		a := &App{spec: tt.s}
		got := a.bindConflict(tt.stderr)
		if (got != "") != tt.want {
			t.Errorf("%s: %q, want a hint: %v", tt.name, got, tt.want)
		}
		if got != "" && (!strings.Contains(got, "--port") || !strings.Contains(got, "--socket")) {
			t.Errorf("%s: %q names neither --port nor --socket", tt.name, got)
		}
	}
}

// An instance of a cluster without a port that does not say it listens is
// ready once it has run for min_uptime, not at once: one that cannot bind
// has crashed by then, and start reports it.
func TestClusterInstanceIsReadyAfterMinUptime(t *testing.T) {
	w := newWorld(t)
	a := w.newApp(spec.App{Mode: spec.ModeFork, Instances: 2, Autorestart: true, MaxRestarts: 16,
		MinUptime: spec.Duration(time.Second), ListenTimeout: spec.Duration(5 * time.Second)})
	started := make(chan error, 1)
	go func() { started <- a.Start(context.Background()) }()
	// Two listen_timeout deadlines and two min_uptime waits.
	w.waitTimersMade(4)
	select {
	case err := <-started:
		t.Fatalf("start returned before min_uptime: %v", err)
	default:
	}
	w.advance(time.Second)
	if err := <-started; err != nil {
		t.Fatal(err)
	}
	st, _ := a.Status()
	if st.Status != api.StatusOnline {
		t.Errorf("status %s after min_uptime, want online", st.Status)
	}
}

// With no instance alive, the shared ports refuse connections rather than
// keep clients waiting in the backlog; the next instance's start makes
// them listen again.
func TestSharedSocketsPauseWhileNoInstanceIsAlive(t *testing.T) {
	var sh shared
	sh.setOpen(true)
	defer sh.setOpen(false)
	listen := func(network, addr string) (*os.File, error) {
		ln, err := net.Listen(network, addr)
		if err != nil {
			return nil, err
		}
		defer ln.Close()
		return ln.(*net.TCPListener).File()
	}
	probe, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := probe.Addr().String()
	port := probe.Addr().(*net.TCPAddr).Port
	probe.Close()
	f, err := sh.socket(ready.ShareRequest{Host: "127.0.0.1", Port: port}, listen)
	if err != nil {
		t.Fatal(err)
	}
	f.Close() // the instance is gone
	if n, err := sh.pause(socket.Pause); n != 1 || err != nil {
		t.Fatalf("paused %d, %v; want 1", n, err)
	}
	if c, err := net.Dial("tcp4", addr); err == nil {
		c.Close()
		t.Fatal("a paused shared port accepted a connection")
	}
	if n, _ := sh.pause(socket.Pause); n != 0 {
		t.Errorf("paused again: %d", n)
	}
	if err := sh.resume(socket.Resume); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp4", addr)
	if err != nil {
		t.Fatalf("the port refuses connections once resumed: %v", err)
	}
	c.Close()
}

// takeListener takes a process's listening socket by its descriptor
// number, when it is bound to the address asked for, and the socket it
// returns accepts the connections made to that address.
func TestTakeListenerTakesTheSocketBoundToTheAddress(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	var fd int
	rc, _ := ln.(*net.TCPListener).SyscallConn()
	rc.Control(func(s uintptr) { fd = int(s) })
	pidfd, err := unix.PidfdOpen(os.Getpid(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(pidfd)
	for _, other := range []string{":" + strconv.Itoa(port), "[::1]:" + strconv.Itoa(port), "127.0.0.1:1"} {
		if f := takeListener(pidfd, []int{fd}, other); f != nil {
			f.Close()
			t.Errorf("takeListener took a socket on 127.0.0.1:%d for %s", port, other)
		}
	}
	f := takeListener(pidfd, []int{fd}, ln.Addr().String())
	if f == nil {
		t.Fatalf("takeListener took nothing for %s", ln.Addr())
	}
	taken, err := net.FileListener(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	ln.Close() // the taken descriptor keeps the socket open
	defer taken.Close()
	c, err := net.Dial("tcp", taken.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := taken.Accept()
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
}
