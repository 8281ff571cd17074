// Package socket is the edge's socket mode, where tend is not in the data
// path: the daemon binds the app's public port once and every instance
// inherits the listening socket as fd 3, so the kernel spreads
// connections across them and a reload refuses none. It owns the
// listener and the Node preload that makes an unmodified app.listen(PORT)
// use the inherited socket.
package socket

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
)

// PreloadJS is a Node preload (`node -r listen.js`) for socket mode: when
// systemd-style LISTEN_FDS=1 and LISTEN_PID name this process, the app's
// first listen on a TCP port, whatever port it asks for, listens on the
// inherited socket (fd 3) instead, so an unmodified app.listen(PORT) works.
// With TEND_SHARE_PORTS=1 (a cluster without a port, see app's share.go),
// each listen on a TCP port asks the daemon over the IPC channel for that
// port's socket instead, and listens on the handle it gets.
//
//go:embed preload/listen.js
var PreloadJS []byte

// Listen binds a TCP listener on addr for socket mode and returns it
// with a duplicate of its descriptor, to hand to every instance as fd 3
// (supervise.Config.ExtraFiles). Both stay open for the app's life, so
// reloads refuse no connection; close both when the app is deleted.
func Listen(addr string) (*os.File, net.Listener, error) {
	return ListenNetwork("tcp", addr)
}

// ListenNetwork is Listen on a network of net.Listen's: "tcp4" or "tcp6"
// for one family alone.
func ListenNetwork(network, addr string) (*os.File, net.Listener, error) {
	lc := net.ListenConfig{
		// Go sets SO_REUSEADDR already; set it here regardless, since a
		// restarted daemon must rebind while old connections sit in TIME_WAIT.
		Control: func(_, _ string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
			})
			if err != nil {
				return err
			}
			return serr
		},
	}
	ln, err := lc.Listen(context.Background(), network, addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, nil, fmt.Errorf("socket %s is already in use by another process: stop it or give the app another port: %w", addr, err)
		}
		return nil, nil, fmt.Errorf("socket %s: %w", addr, err)
	}
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		ln.Close()
		return nil, nil, fmt.Errorf("socket %s: %w", addr, err)
	}
	return f, ln, nil
}
