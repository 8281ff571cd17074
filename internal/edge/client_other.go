//go:build !linux

package edge

// alive says whether an idle connection can take a request. Without a
// peek at the socket, only bytes the instance sent unasked tell.
func (c *upConn) alive() bool { return c.br.Buffered() == 0 }
