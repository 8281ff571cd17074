package upstream

import (
	"syscall"
	"unsafe"
)

// alive says whether an idle connection is still open, without waiting:
// a peek that finds nothing to read (EAGAIN) means the instance has not
// closed it. Data or EOF mean it is of no use for another request.
func (c *Conn) Alive() bool {
	if c.br.Buffered() > 0 {
		return false
	}
	if c.raw == nil {
		return true
	}
	ok := true
	var b [1]byte
	err := c.raw.Read(func(fd uintptr) bool {
		_, _, errno := syscall.Syscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), 1,
			syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
		ok = errno == syscall.EAGAIN
		return true
	})
	return ok && err == nil
}
