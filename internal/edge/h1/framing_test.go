package h1

import (
	"bytes"
	"math/rand/v2"
	"net"
	"testing"
)

// The framing follower hands the server exactly the bytes the client
// sent, however they are cut.
func TestFramingConnPassesBytes(t *testing.T) {
	stream := "GET / HTTP/1.1\r\nHost: x\r\n\r\n" +
		"POST /a HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789" +
		"POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\na;x=y\r\n0123456789\r\n0\r\nT: 1\r\n\r\n" +
		"\r\nGET /c HTTP/1.0\r\n\n" +
		"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\n\x81\x05hello\r\n\r\n arbitrary"
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 200 {
		client, server := net.Pipe()
		wrng := rand.New(rand.NewPCG(3, uint64(i)))
		fc := NewConn(server, nil, 1<<16, func(net.Conn) { t.Error("refused a good request") })
		go func() {
			rest := stream
			for rest != "" {
				n := min(len(rest), 1+wrng.IntN(40))
				client.Write([]byte(rest[:n]))
				rest = rest[n:]
			}
			client.Close()
		}()
		var got bytes.Buffer
		buf := make([]byte, 1+rng.IntN(64))
		for {
			n, err := fc.Read(buf)
			got.Write(buf[:n])
			if err != nil {
				break
			}
		}
		fc.Close()
		if got.String() != stream {
			t.Fatalf("got %q\nwant %q", got.String(), stream)
		}
	}
}
