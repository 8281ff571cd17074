package logs

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"unicode/utf8"
)

// cutReader returns in, in reads whose sizes cycle through sizes.
type cutReader struct {
	in    []byte
	sizes []int
	i     int
}

func (r *cutReader) Read(p []byte) (int, error) {
	if len(r.in) == 0 {
		return 0, io.EOF
	}
	n := len(p)
	if len(r.sizes) > 0 {
		n = min(n, r.sizes[r.i%len(r.sizes)])
		r.i++
	}
	n = copy(p[:n], r.in)
	r.in = r.in[n:]
	return n, nil
}

// FuzzCapture: whatever an app writes, and however the reads cut it,
// the lines Capture emits are the output as written, in order, none lost
// or doubled: joined back (a split piece with the next, every other line
// with its '\n'), they are the output, with a '\n' added to a last line
// that had none. Every chunk is whole lines, counted right, none over
// MaxLine; a split piece is a chunk of its own; UTF-8 output stays UTF-8
// in every line.
//
// data is repeated to make lines longer than MaxLine reachable: reps
// times reps more. Read sizes are 1 + s*s for each byte s of cuts.
func FuzzCapture(f *testing.F) {
	f.Add([]byte("a\nbb\n\nccc"), uint8(0), []byte{})
	f.Add([]byte("line\r\n"), uint8(3), []byte{0, 1, 2})
	f.Add([]byte("x"), uint8(255), []byte{255, 7})
	f.Add([]byte("é€😀\n"), uint8(160), []byte{200, 255, 1})
	f.Add([]byte(strings.Repeat("y", 300)+"\n"), uint8(16), []byte{})
	f.Add([]byte("\n"), uint8(10), []byte{0})
	f.Add([]byte("\xff\xfe"), uint8(200), []byte{181})
	f.Fuzz(func(t *testing.T, data []byte, reps uint8, cuts []byte) {
		n := 1 + int(reps)*int(reps)
		if len(data)*n > 4*MaxLine+1000 {
			n = max(1, (4*MaxLine+1000)/max(1, len(data)))
		}
		in := bytes.Repeat(data, n)
		sizes := make([]int, len(cuts))
		for i, s := range cuts {
			sizes[i] = 1 + int(s)*int(s)
		}
		var chunks []Chunk
		err := Capture(&cutReader{in: in, sizes: sizes}, "app", 0, StreamOut, func(c Chunk) { chunks = append(chunks, c) })
		if err != nil {
			t.Fatalf("Capture: %v", err)
		}
		whole := utf8.Valid(in)
		var got bytes.Buffer
		for i, c := range chunks {
			if c.Text == "" || c.Text[len(c.Text)-1] != '\n' {
				t.Fatalf("chunk %d: %q does not end a line", i, c.Text)
			}
			if c.N != strings.Count(c.Text, "\n") {
				t.Fatalf("chunk %d: N %d, %d lines", i, c.N, strings.Count(c.Text, "\n"))
			}
			if c.Split && c.N != 1 {
				t.Fatalf("chunk %d: a split piece with %d lines", i, c.N)
			}
			if c.App != "app" || c.Stream != StreamOut {
				t.Fatalf("chunk %d: app %q stream %q", i, c.App, c.Stream)
			}
			lines := 0
			for l := range c.Lines() {
				lines++
				if len(l.Text) > MaxLine {
					t.Fatalf("chunk %d: a line of %d bytes", i, len(l.Text))
				}
				if whole && !utf8.ValidString(l.Text) {
					t.Fatalf("chunk %d: UTF-8 output cut inside a character: %q", i, l.Text)
				}
				got.WriteString(l.Text)
				if !l.Split {
					got.WriteByte('\n')
				}
			}
			if lines != c.N {
				t.Fatalf("chunk %d: Lines yields %d, N is %d", i, lines, c.N)
			}
		}
		want := in
		if len(in) > 0 && in[len(in)-1] != '\n' {
			want = append(bytes.Clone(in), '\n')
		}
		if !bytes.Equal(got.Bytes(), want) {
			t.Fatalf("lines joined back (%d bytes) are not the output (%d bytes)\ngot  %.200q\nwant %.200q", got.Len(), len(want), got.Bytes(), want)
		}
	})
}
