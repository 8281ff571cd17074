// Package rawconn makes the edge's TCP connections, to clients and to
// instances, read and write with raw system calls on their nonblocking
// sockets (see Conn for why). Linux only; elsewhere Fast returns the
// connection as it is.
package rawconn
