package logs

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"
)

// capturePipe writes input into a Pipe from another goroutine, in the given
// pieces, and returns what Capture emitted.
func capturePipe(t *testing.T, pieces ...string) []Line {
	t.Helper()
	r, w, err := Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	werr := make(chan error, 1)
	go func() {
		defer w.Close()
		for _, p := range pieces {
			if _, err := io.WriteString(w, p); err != nil {
				werr <- err
				return
			}
		}
		werr <- nil
	}()
	var lines []Line
	if err := Capture(r, "api", 2, StreamErr, collect(&lines)); err != nil {
		t.Fatalf("Capture: %v", err)
	}
	if err := <-werr; err != nil {
		t.Fatal(err)
	}
	return lines
}

// collect returns an emit function that appends the lines of each chunk to
// lines, checking that the chunk is well formed.
func collect(lines *[]Line) func(Chunk) {
	return func(c Chunk) {
		if c.N != strings.Count(c.Text, "\n") || c.N == 0 || !strings.HasSuffix(c.Text, "\n") || c.Split && c.N != 1 {
			panic(fmt.Sprintf("malformed chunk %+v", c))
		}
		for l := range c.Lines() {
			*lines = append(*lines, l)
		}
	}
}

type piece struct {
	text  string
	split bool
}

func texts(lines []Line) []piece {
	out := make([]piece, len(lines))
	for i, l := range lines {
		out[i] = piece{l.Text, l.Split}
	}
	return out
}

func TestCaptureFraming(t *testing.T) {
	long := strings.Repeat("x", 2*MaxLine+10)
	exact := strings.Repeat("y", MaxLine)
	tests := []struct {
		name   string
		pieces []string
		want   []piece
	}{
		{"lines", []string{"a\nb\n"}, []piece{{"a", false}, {"b", false}}},
		{"empty lines", []string{"\n\na\n\n"}, []piece{{"", false}, {"", false}, {"a", false}, {"", false}}},
		{"crlf kept", []string{"a\r\nb\rc\n"}, []piece{{"a\r", false}, {"b\rc", false}}},
		{"partial last line", []string{"a\nend without newline"}, []piece{{"a", false}, {"end without newline", false}}},
		{"line across writes", []string{"hel", "lo\nwor", "ld\n"}, []piece{{"hello", false}, {"world", false}}},
		{"nothing", nil, nil},
		{"exactly MaxLine is whole", []string{exact + "\n"}, []piece{{exact, false}}},
		{"long line split", []string{long + "\nnext\n"}, []piece{
			{long[:MaxLine], true}, {long[MaxLine : 2*MaxLine], true}, {long[2*MaxLine:], false}, {"next", false},
		}},
		{"long partial line split at EOF", []string{long}, []piece{
			{long[:MaxLine], true}, {long[MaxLine : 2*MaxLine], true}, {long[2*MaxLine:], false},
		}},
		{"long line in small writes", splitEvery(long+"\n", 1000), []piece{
			{long[:MaxLine], true}, {long[MaxLine : 2*MaxLine], true}, {long[2*MaxLine:], false},
		}},
		{"MaxLine+1", []string{exact + "z\n"}, []piece{{exact, true}, {"z", false}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lines := capturePipe(t, tt.pieces...)
			got := texts(lines)
			if !equalPieces(got, tt.want) {
				t.Fatalf("got %d pieces %s, want %d %s", len(got), show(got), len(tt.want), show(tt.want))
			}
			for _, l := range lines {
				if l.App != "api" || l.Instance != 2 || l.Stream != StreamErr || l.Time.IsZero() {
					t.Fatalf("line %+v: wrong origin or no time", l)
				}
			}
		})
	}
}

// TestCaptureOneByteReads frames the same input read one byte at a time:
// framing must not depend on where reads end.
func TestCaptureOneByteReads(t *testing.T) {
	in := "a\r\n\nb" + strings.Repeat("z", MaxLine+5) + "\ntail"
	var got []Line
	err := Capture(iotest.OneByteReader(strings.NewReader(in)), "a", 0, StreamOut, collect(&got))
	if err != nil {
		t.Fatal(err)
	}
	want := []piece{{"a\r", false}, {"", false}, {"b" + strings.Repeat("z", MaxLine-1), true}, {"zzzzzz", false}, {"tail", false}}
	if !equalPieces(texts(got), want) {
		t.Fatalf("got %s, want %s", show(texts(got)), show(want))
	}
}

func TestCaptureSplitKeepsUTF8(t *testing.T) {
	// "é" is two bytes and "€" three: no cut at MaxLine falls between
	// characters for both, whatever the offset.
	for _, s := range []string{"é", "€", "a€"} {
		long := strings.Repeat(s, 3*MaxLine/len(s))
		lines := capturePipe(t, long+"\n")
		var joined strings.Builder
		for i, l := range lines {
			if !utf8.ValidString(l.Text) {
				t.Fatalf("%q: piece %d is not valid UTF-8", s, i)
			}
			if len(l.Text) > MaxLine {
				t.Fatalf("%q: piece %d has %d bytes", s, i, len(l.Text))
			}
			if l.Split != (i < len(lines)-1) {
				t.Fatalf("%q: piece %d of %d has Split %v", s, i, len(lines), l.Split)
			}
			joined.WriteString(l.Text)
		}
		if joined.String() != long {
			t.Fatalf("%q: pieces do not join into the line", s)
		}
	}
}

func TestCaptureReturnsReadError(t *testing.T) {
	var got []Line
	err := Capture(io.MultiReader(strings.NewReader("a\npartial"), iotest.ErrReader(os.ErrDeadlineExceeded)),
		"a", 0, StreamOut, collect(&got))
	if err != os.ErrDeadlineExceeded {
		t.Fatalf("err = %v, want the read error", err)
	}
	if want := []piece{{"a", false}, {"partial", false}}; !equalPieces(texts(got), want) {
		t.Fatalf("got %s, want %s", show(texts(got)), show(want))
	}
}

func splitEvery(s string, n int) []string {
	var out []string
	for len(s) > n {
		out = append(out, s[:n])
		s = s[n:]
	}
	return append(out, s)
}

func equalPieces(a, b []piece) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func show(ps []piece) string {
	var b bytes.Buffer
	for _, p := range ps {
		t := p.text
		if len(t) > 20 {
			t = t[:10] + "…(" + itoa(len(t)) + ")"
		}
		b.WriteString("[" + strings.ReplaceAll(t, "\r", `\r`))
		if p.split {
			b.WriteString(" split")
		}
		b.WriteString("]")
	}
	return b.String()
}

// TestPipeIsOutsideThePoller checks what Pipe is for: a read end that Go
// does not put in its epoll set (so it takes no deadline), a blocking write
// end as an app expects of its stdout, and both closed on exec.
func TestPipeIsOutsideThePoller(t *testing.T) {
	r, w, err := Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	for _, f := range []*os.File{r, w} {
		rc, err := f.SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var fl, fd int
		if err := rc.Control(func(d uintptr) {
			fl, _ = unix.FcntlInt(d, unix.F_GETFL, 0)
			fd, _ = unix.FcntlInt(d, unix.F_GETFD, 0)
		}); err != nil {
			t.Fatal(err)
		}
		if fl&unix.O_NONBLOCK != 0 || fd&unix.FD_CLOEXEC == 0 {
			t.Fatalf("%s: flags %#x, fd flags %#x: want blocking and close-on-exec", f.Name(), fl, fd)
		}
	}
	if err := r.SetReadDeadline(time.Now()); err == nil {
		t.Fatal("the read end accepts deadlines, so it is in the poller")
	}
}

// TestIdleCapturesHoldNoThreadNorBuffer starts many captures, has each read
// a line, and leaves their pipes open and quiet: waiting in the poller,
// they add no OS thread to the process, and none holds a read buffer.
func TestIdleCapturesHoldNoThreadNorBuffer(t *testing.T) {
	const n = 200
	threadsBefore := threads(t)
	heapBefore := heapInUse()
	var wg sync.WaitGroup
	got := make(chan struct{}, n)
	writers := make([]*os.File, n)
	for i := range writers {
		r, w, err := Pipe()
		if err != nil {
			t.Fatal(err)
		}
		writers[i] = w
		wg.Go(func() {
			defer r.Close()
			if err := Capture(r, "idle", i, StreamOut, func(Chunk) { got <- struct{}{} }); err != nil {
				t.Error(err)
			}
		})
	}
	defer func() {
		for _, w := range writers {
			w.Close()
		}
		wg.Wait()
	}()
	for _, w := range writers {
		if _, err := io.WriteString(w, "one line, then quiet\n"); err != nil {
			t.Fatal(err)
		}
	}
	for range n {
		<-got
	}
	time.Sleep(50 * time.Millisecond) // past the nap after the read: every capture waits again
	if extra := threads(t) - threadsBefore; extra > 10 {
		t.Errorf("%d idle captures added %d threads", n, extra)
	}
	// A read buffer is 128 KiB: were each capture holding one, the heap
	// would have grown by 25 MiB.
	if grown := heapInUse() - heapBefore; grown > n*(8<<10) {
		t.Errorf("%d idle captures grew the heap by %d KiB", n, grown>>10)
	}
}

// threads returns the number of threads of this process.
func threads(t *testing.T) int {
	t.Helper()
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(status)) {
		if v, ok := strings.CutPrefix(line, "Threads:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no Threads in /proc/self/status")
	return 0
}

// heapInUse returns the bytes of live heap objects after a collection
// (two, so that sync.Pool lets go of what it holds).
func heapInUse() int {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int(m.HeapAlloc)
}
