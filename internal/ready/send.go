package ready

import (
	"encoding/json"
	"fmt"
	"net"
	"sync"
	"time"
)

// sendTimeout bounds one write to a child that does not read its channel:
// the socket's buffer is full only when the child has stopped reading.
const sendTimeout = 5 * time.Second

// Sender writes messages to a Node child over the parent's end of its IPC
// channel, as Node's json serialization reads them: one JSON value and a
// newline. It is safe for concurrent use; messages never interleave.
type Sender struct {
	mu sync.Mutex // guards writes on c, so that each message goes out whole
	c  net.Conn
}

// NewSender returns a sender on the parent's end of a channel (SocketPair).
func NewSender(c net.Conn) *Sender { return &Sender{c: c} }

// Send writes v as one message. The child gets it as process.on('message').
func (s *Sender) Send(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("ipc message: %w", err)
	}
	b = append(b, '\n')
	return s.Locked(func(c net.Conn) error {
		if err := c.SetWriteDeadline(time.Now().Add(sendTimeout)); err != nil {
			return fmt.Errorf("ipc channel: %w", err)
		}
		if _, err := c.Write(b); err != nil {
			return fmt.Errorf("ipc channel: %w", err)
		}
		return nil
	})
}

// Locked runs write with the channel to itself, between other messages:
// for a writer of another kind on the same channel (a message with a
// descriptor), so that its bytes never land inside one of Send's.
func (s *Sender) Locked(write func(c net.Conn) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return write(s.c)
}
