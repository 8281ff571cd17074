package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	// pollEvery and httpTimeout set the crash figure's resolution. Before
	// the new process listens a connection is refused at once, so the
	// timeout only matters for a process that accepted and is slow to
	// answer, and then waiting for it is the right measurement.
	pollEvery   = 2 * time.Millisecond
	httpTimeout = 250 * time.Millisecond
)

// client never keeps a connection: each poll must reach whichever process
// listens now, as a new client would. Proxy nil keeps all traffic on the
// loopback whatever the environment says.
var client = &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}

// waitServing polls GET / on the loopback port until it answers 200 with a
// pid that accept takes, and returns that pid and when the answer came. It
// gives up after servingTimeout, or when abort closes.
func waitServing(ctx context.Context, port int, accept func(int) bool, abort <-chan struct{}) (int, time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, servingTimeout)
	defer cancel()
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	var lastErr error
	for {
		body, err := get(ctx, url, httpTimeout)
		at := time.Now()
		if err == nil {
			var v struct {
				PID int `json:"pid"`
			}
			err = json.Unmarshal(body, &v)
			if err == nil && v.PID > 0 && accept(v.PID) {
				return v.PID, at, nil
			}
		}
		lastErr = err
		t := time.NewTimer(pollEvery)
		select {
		case <-t.C:
		case <-abort:
			t.Stop()
			return 0, time.Time{}, errors.New("aborted")
		case <-ctx.Done():
			t.Stop()
			return 0, time.Time{}, fmt.Errorf("%s: no 200 from the expected process within %s (last error: %v)", url, servingTimeout, lastErr)
		}
	}
}

func get(ctx context.Context, url string, timeout time.Duration) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %s", resp.Status)
	}
	return body, nil
}

// freePort asks the kernel for a free loopback port. Another process could
// take it before the app binds it; the app would then fail to serve and the
// run fail with a timeout, not a wrong figure.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// child is a process the benchmark runs itself rather than through a
// manager: bare node, nginx. It runs in a process group of its own, so that
// stop also ends what it forked (nginx's workers, which do not keep the
// run's marker in their environment for sweep to find).
type child struct {
	name   string
	cmd    *exec.Cmd
	out    *tail
	exited chan struct{} // closed by spawn's goroutine once the process is reaped
}

// spawn starts argv in dir with env. Its goroutine is the only caller of
// Wait; it ends when the process does, which stop makes sure of.
func spawn(name, dir string, env []string, argv ...string) (*child, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// Wait returns a second after the process exits even if something it
	// forked still holds the output pipe.
	cmd.WaitDelay = time.Second
	out := &tail{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("spawn %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, out: out, exited: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(c.exited)
	}()
	return c, nil
}

// stop sends SIGTERM to the child's process group and, if the child has
// not exited after grace, SIGKILL; grace 0 kills at once. It returns once
// the child is reaped, and SIGKILLs whatever is left in its group.
func (c *child) stop(grace time.Duration) error {
	pgid := c.cmd.Process.Pid
	sig := syscall.SIGTERM
	if grace == 0 {
		sig = syscall.SIGKILL
	}
	syscall.Kill(-pgid, sig)
	t := time.NewTimer(grace)
	defer t.Stop()
	var err error
	select {
	case <-c.exited:
	case <-t.C:
		err = fmt.Errorf("%s (pid %d) still running %s after SIGTERM: killed", c.name, pgid, grace)
		syscall.Kill(-pgid, syscall.SIGKILL)
		<-c.exited
	}
	syscall.Kill(-pgid, syscall.SIGKILL) // stragglers of the group, if any
	return err
}

// output is the end of what the child printed, for error messages.
func (c *child) output() string { return strings.TrimSpace(c.out.String()) }

// tail keeps the last tailSize bytes written to it; the exec package's
// copying goroutine writes while an error path may read.
type tail struct {
	mu  sync.Mutex // guards buf
	buf []byte
}

const tailSize = 4096

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > tailSize {
		t.buf = t.buf[len(t.buf)-tailSize:]
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
