package ready

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// MetricFunc receives an app's own metric, sent on one of its channels.
type MetricFunc func(name string, value float64)

// SocketPair makes the IPC channel Node expects in NODE_CHANNEL_FD: the
// parent's end, and the child's end to pass as an extra file.
func SocketPair() (parent net.Conn, child *os.File, err error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("ipc channel: %w", err)
	}
	pf := os.NewFile(uintptr(fds[0]), "ipc-parent")
	defer pf.Close()
	parent, err = net.FileConn(pf)
	if err != nil {
		syscall.Close(fds[1])
		return nil, nil, fmt.Errorf("ipc channel: %w", err)
	}
	return parent, os.NewFile(uintptr(fds[1]), "ipc-child"), nil
}

// ReadIPC reads Node's IPC messages (one JSON value per line) until the
// channel closes: readiness ('ready', and the preload's {tend: 'listening'})
// goes to signals, {type: 'tend:metric', name, value} to metric, the
// messages of apps instrumented for PM2 (pm2.go) to pm2 when it is not nil.
func ReadIPC(r io.Reader, signals chan<- string, metric MetricFunc, pm2 PM2Func) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 1<<20)
	for sc.Scan() {
		var msg any
		if json.Unmarshal(sc.Bytes(), &msg) != nil {
			continue
		}
		switch m := msg.(type) {
		case string:
			if m == Ready {
				send(signals, Ready)
			}
		case map[string]any:
			if m["tend"] == Listening {
				send(signals, Listening)
			}
			if m["type"] == "tend:runtime" {
				runtimeFigures(m["figures"], metric)
			}
			pm2Message(m, pm2)
			if m["type"] == "tend:metric" {
				name, _ := m["name"].(string)
				v, ok := m["value"].(float64)
				if ok && validMetricName(name) {
					metric(name, v)
				}
			}
		}
	}
}

// RuntimePrefix starts the names with which ReadIPC reports the figures of
// tend's runtime preload ({type: 'tend:runtime', figures: {name: value}}):
// a space, which no name of the app's own metrics has. After the figures
// of one message comes RuntimeEnd, so that the receiver can take them as
// one batch.
const (
	RuntimePrefix = "runtime "
	RuntimeEnd    = RuntimePrefix
)

// maxRuntimeFigures bounds the figures taken from one runtime message.
const maxRuntimeFigures = 32

func runtimeFigures(v any, metric MetricFunc) {
	figs, _ := v.(map[string]any)
	n := 0
	for name, val := range figs {
		f, ok := val.(float64)
		if !ok || !validMetricName(name) {
			continue
		}
		if n++; n > maxRuntimeFigures {
			break
		}
		metric(RuntimePrefix+name, f)
	}
	metric(RuntimeEnd, 0)
}

// Notify is the sd_notify datagram socket of one process.
type Notify struct {
	c    *net.UnixConn
	path string
}

// ListenNotify creates the notify socket dir/name (dir is made if needed).
func ListenNotify(dir, name string) (*Notify, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, name)
	os.Remove(path)
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("notify socket: %w", err)
	}
	return &Notify{c: c, path: path}, nil
}

// Path is what the child gets in NOTIFY_SOCKET.
func (n *Notify) Path() string { return n.path }

// Close closes the socket, which ends Read, and removes its file.
func (n *Notify) Close() error {
	err := n.c.Close()
	os.Remove(n.path)
	return err
}

// Read reads sd_notify datagrams ("READY=1\nSTATUS=...", and tend's
// "TEND_METRIC name=value") until the socket is closed.
func (n *Notify) Read(signals chan<- string, metric MetricFunc) {
	buf := make([]byte, 4096)
	for {
		k, _, err := n.c.ReadFrom(buf)
		if err != nil {
			return
		}
		for _, line := range strings.Split(string(buf[:k]), "\n") {
			if line == "READY=1" {
				send(signals, Ready)
			}
			if rest, ok := strings.CutPrefix(line, "TEND_METRIC "); ok {
				name, val, _ := strings.Cut(rest, "=")
				v, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
				if err == nil && validMetricName(name) {
					metric(name, v)
				}
			}
		}
	}
}

// validMetricName accepts what Prometheus accepts in a label value and a
// person can read: letters, digits, '_', '.', '-', ':', up to 64 bytes.
func validMetricName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c == '_' || c == '.' || c == '-' || c == ':' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// send never blocks: a waiter that has not taken the last signal yet has
// enough to decide, so a process that says ready twice stalls no reader.
func send(ch chan<- string, v string) {
	select {
	case ch <- v:
	default:
	}
}
