package upstream

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
)

func TestChunkWriter(t *testing.T) {
	var buf bytes.Buffer
	bw := bufio.NewWriter(&buf)
	for _, p := range []string{"a", strings.Repeat("b", 17), strings.Repeat("c", 4096)} {
		writeChunk(bw, []byte(p))
	}
	bw.Flush()
	want := "1\r\na\r\n11\r\n" + strings.Repeat("b", 17) + "\r\n1000\r\n" + strings.Repeat("c", 4096) + "\r\n"
	if buf.String() != want {
		t.Fatalf("chunks: %q", buf.String()[:40])
	}
}
