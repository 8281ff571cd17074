package ready

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// channel makes an IPC channel: a writer on the parent's end, and the
// child's end as a unix conn. Both are closed when the test ends.
func channel(t *testing.T) (*Sender, *net.UnixConn) {
	t.Helper()
	parent, child, err := SocketPair()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { parent.Close() })
	c, err := net.FileConn(child)
	child.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return NewSender(parent), c.(*net.UnixConn)
}

func listenFile(t *testing.T) (*os.File, int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, ln.Addr().(*net.TCPAddr).Port
}

func TestSendHandleCarriesTheSocketWithItsLine(t *testing.T) {
	w, cc := channel(t)
	f, port := listenFile(t)
	if err := SendHandle(w, ShareReply(7, nil), f); err != nil {
		t.Fatal(err)
	}
	if err := w.Send(map[string]any{"after": true}); err != nil {
		t.Fatal(err)
	}

	buf, oob := make([]byte, 4096), make([]byte, 64)
	n, oobn, _, _, err := cc.ReadMsgUnix(buf, oob)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := syscall.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		t.Fatalf("control messages %v, %v; want one", msgs, err)
	}
	fds, err := syscall.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		t.Fatalf("descriptors %v, %v; want one", fds, err)
	}
	got := os.NewFile(uintptr(fds[0]), "got")
	defer got.Close()
	// The descriptor comes with the first bytes of its line.
	lines := strings.SplitAfter(string(buf[:n]), "\n")
	want := `{"cmd":"NODE_HANDLE","msg":{"cmd":"NODE_TEND_SHARE","seq":7},"type":"net.Native"}` + "\n"
	if lines[0] != want {
		t.Errorf("line %q, want %q", lines[0], want)
	}

	// The descriptor is the listening socket itself: a connection to the
	// port is accepted on it.
	ln, err := net.FileListener(got)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if p := ln.Addr().(*net.TCPAddr).Port; p != port {
		t.Fatalf("received socket on port %d, want %d", p, port)
	}
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	a, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
}

func TestSendWritesOneLineWithoutADescriptor(t *testing.T) {
	w, cc := channel(t)
	if err := w.Send(ShareReply(3, fmt.Errorf("listen :3000: %w", syscall.EADDRINUSE))); err != nil {
		t.Fatal(err)
	}
	buf, oob := make([]byte, 4096), make([]byte, 64)
	n, oobn, _, _, err := cc.ReadMsgUnix(buf, oob)
	if err != nil {
		t.Fatal(err)
	}
	if oobn != 0 {
		t.Errorf("%d bytes of control data with a plain message", oobn)
	}
	var m map[string]any
	if !strings.HasSuffix(string(buf[:n]), "\n") || json.Unmarshal(buf[:n], &m) != nil {
		t.Fatalf("not one JSON line: %q", buf[:n])
	}
	if m["cmd"] != ShareCmd || m["seq"] != 3.0 || m["code"] != "EADDRINUSE" || m["errno"] != float64(-int(syscall.EADDRINUSE)) ||
		!strings.Contains(m["error"].(string), "address already in use") {
		t.Errorf("refusal %v; want cmd, seq 3, code EADDRINUSE, its errno and the error", m)
	}
}

func TestSendHandleWantsAUnixSocket(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	f, _ := listenFile(t)
	if err := SendHandle(NewSender(a), ShareReply(1, nil), f); err == nil || !strings.Contains(err.Error(), "not a unix socket") {
		t.Fatalf("a handle sent on a pipe: %v", err)
	}
}

// The protocol as node speaks it: a real node process asks for a port,
// gets the socket as a handle, listens on it and serves.
func TestNodeListensOnTheHandleItAskedFor(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("node is required in CI")
		}
		t.Skip("needs node")
	}
	f, port := listenFile(t)
	parent, child, err := SocketPair()
	if err != nil {
		t.Fatal(err)
	}
	defer parent.Close()
	w := NewSender(parent)
	script := `
const net = require('net');
process.on('internalMessage', (m, h) => {
  if (m.cmd !== 'NODE_TEND_SHARE') return;
  if (!h) { console.error('no handle', JSON.stringify(m)); process.exit(2); }
  net.createServer((c) => c.end('served by ' + m.seq)).listen(h, () => process.send({ tend: 'listening' }));
});
process.send({ tend: 'share', seq: 5, port: Number(process.argv[1]) });
process.on('message', (m) => { if (m === 'bye') process.exit(0); });
`
	cmd := exec.Command(node, "-e", script, fmt.Sprint(port))
	cmd.Env = append(os.Environ(), "NODE_CHANNEL_FD=3", "NODE_CHANNEL_SERIALIZATION_MODE=json")
	cmd.ExtraFiles = []*os.File{child}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	child.Close()
	defer func() {
		_ = w.Send("bye")
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("node: %v", err)
			}
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Error("node did not exit")
		}
	}()

	signals := make(chan string, 4)
	var asked []ShareRequest
	read := make(chan struct{})
	go func() {
		defer close(read)
		ReadIPC(parent, signals, func(string, float64) {}, nil, func(r ShareRequest) {
			asked = append(asked, r)
			if err := SendHandle(w, ShareReply(r.Seq, nil), f); err != nil {
				t.Error(err)
			}
		})
	}()
	select {
	case s := <-signals:
		if s != Listening {
			t.Fatalf("signal %q, want listening", s)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("node never listened on the handle")
	}
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	line, _ := bufio.NewReader(c).ReadString('\n')
	if line != "served by 5" {
		t.Errorf("answer %q, want %q", line, "served by 5")
	}
	_ = w.Send("bye")
	<-read
	if len(asked) != 1 || asked[0].Port != port || asked[0].Seq != 5 {
		t.Errorf("requests %+v, want one for port %d", asked, port)
	}
}
