//go:build !linux

package rawconn

import "net"

// Fast is c: raw reads and writes are for Linux only.
func Fast(c net.Conn) net.Conn { return c }
