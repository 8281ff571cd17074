package ready

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"
)

// A Node process asks, through tend's preload, for the listening socket of
// a port it is about to listen on ({tend: 'share', seq, host, port}) when
// the instances of a cluster share the ports they listen on; the daemon
// binds the port once and sends the socket back as a handle, which Node's
// IPC channel carries as a descriptor in SCM_RIGHTS next to a JSON line
// that names it:
//
//	{"cmd":"NODE_HANDLE","type":"net.Native","msg":{"cmd":"NODE_TEND_SHARE","seq":1}}
//
// Node acks it with {"cmd":"NODE_HANDLE_ACK"} (ReadIPC ignores that) and
// emits the inner message with the raw TCP handle as an 'internalMessage'
// (a cmd that starts with NODE_ is internal), which the app's own
// process.on('message') never sees. A refusal is the inner message alone,
// with an error.

// ShareCmd names the daemon's answers to a share request.
const ShareCmd = "NODE_TEND_SHARE"

// ShareRequest is a process's request for the shared socket of a port:
// Host is an IP address, or "" for every address (node's listen(port)).
type ShareRequest struct {
	Seq  int
	Host string
	Port int
	// IPv6Only is node's ipv6Only listen option.
	IPv6Only bool
}

// ShareFunc answers a share request; ReadIPC calls it on its own
// goroutine, in the order the requests came.
type ShareFunc func(ShareRequest)

// shareRequest reads a {tend: 'share'} message, or says it is none.
func shareRequest(m map[string]any) (ShareRequest, bool) {
	if m["tend"] != "share" {
		return ShareRequest{}, false
	}
	seq, _ := m["seq"].(float64)
	port, _ := m["port"].(float64)
	host, _ := m["host"].(string)
	v6, _ := m["ipv6Only"].(bool)
	return ShareRequest{Seq: int(seq), Host: host, Port: int(port), IPv6Only: v6}, true
}

// SendHandle writes msg on s's channel with the socket f as a handle,
// which Node gives the process as a raw TCP (or pipe) handle, with msg,
// ready for server.listen(handle). The process gets its own descriptor of
// the socket; f stays the caller's. The channel must be a unix socket (as
// SocketPair makes it).
func SendHandle(s *Sender, msg any, f *os.File) error {
	line, err := jsonLine(map[string]any{"cmd": "NODE_HANDLE", "type": "net.Native", "msg": msg})
	if err != nil {
		return err
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return fmt.Errorf("send handle: %w", err)
	}
	return s.Locked(func(c net.Conn) error {
		uc, ok := c.(*net.UnixConn)
		if !ok {
			return fmt.Errorf("send handle: the channel is a %T, not a unix socket", c)
		}
		if err := uc.SetWriteDeadline(time.Now().Add(sendTimeout)); err != nil {
			return fmt.Errorf("send handle: %w", err)
		}
		var n int
		var werr error
		// Control, not Fd: Fd would make the descriptor blocking.
		if err := rc.Control(func(fd uintptr) {
			n, _, werr = uc.WriteMsgUnix(line, syscall.UnixRights(int(fd)), nil)
		}); err != nil {
			return fmt.Errorf("send handle: %w", err)
		}
		// The descriptor went with the first bytes; the rest of a line the
		// socket took only in part follows as plain data.
		if werr == nil && n < len(line) {
			_, werr = uc.Write(line[n:])
		}
		if werr != nil {
			return fmt.Errorf("send handle: %w", werr)
		}
		return nil
	})
}

func jsonLine(msg any) ([]byte, error) {
	b, err := json.Marshal(msg)
	if err != nil {
		return nil, fmt.Errorf("ipc message: %w", err)
	}
	return append(b, '\n'), nil
}

// ShareReply is the inner message of an answer to request seq: with the
// socket's handle, or alone with the error that refused it (code is
// node's name of the errno, as EADDRINUSE, so that the app sees the error
// its own bind would have had).
func ShareReply(seq int, err error) map[string]any {
	m := map[string]any{"cmd": ShareCmd, "seq": seq}
	if err != nil {
		m["error"] = err.Error()
		var errno syscall.Errno
		if errors.As(err, &errno) {
			m["errno"] = -int(errno)
			m["code"] = errnoName(errno)
		}
	}
	return m
}

// errnoName is node's code of the errors a bind can end with.
func errnoName(e syscall.Errno) string {
	switch e {
	case syscall.EADDRINUSE:
		return "EADDRINUSE"
	case syscall.EACCES:
		return "EACCES"
	case syscall.EADDRNOTAVAIL:
		return "EADDRNOTAVAIL"
	case syscall.EAFNOSUPPORT:
		return "EAFNOSUPPORT"
	case syscall.EINVAL:
		return "EINVAL"
	default:
		return "EIO"
	}
}
