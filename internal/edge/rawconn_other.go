//go:build !linux

package edge

import "net"

// fastConn is c: raw reads and writes are for Linux only.
func fastConn(c net.Conn) net.Conn { return c }
