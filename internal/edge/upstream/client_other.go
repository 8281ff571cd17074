//go:build !linux

package upstream

// alive says whether an idle connection can take a request. Without a
// peek at the socket, only bytes the instance sent unasked tell.
func (c *Conn) Alive() bool { return c.br.Buffered() == 0 }
