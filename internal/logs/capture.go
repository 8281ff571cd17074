package logs

import (
	"bytes"
	"errors"
	"io"
	"iter"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"
)

// Streams a Line comes from. StreamTend marks lines tend itself inserts, such
// as the "tend: dropped N lines" marker, so that readers can tell them from
// the app's output.
const (
	StreamOut  = "out"
	StreamErr  = "err"
	StreamTend = "tend"
)

// MaxLine is the longest line Capture emits whole, in bytes. Longer lines are
// cut into pieces of at most MaxLine bytes so that one runaway line (a
// minified JSON dump, a binary blob) cannot grow tend's memory without bound.
const MaxLine = 64 << 10

// readBuffer is Capture's read size: room for a partial line of up to
// MaxLine bytes carried over from the last read, plus a full pipe (64 KiB
// on Linux), so that one read(2) takes all the pipe holds.
const readBuffer = 2 * MaxLine

// buffers holds Capture's read buffers between reads. A stream takes one
// when its pipe has something to read and gives it back once the pipe is
// empty, so a quiet stream holds none: in a daemon with hundreds of idle
// instances they are a handful shared by whichever streams are busy.
var buffers = sync.Pool{New: func() any { b := make([]byte, readBuffer); return &b }}

// Capture pauses for nap after a small read (less than napBelow bytes) from
// a slow writer (less than napBelow bytes per millisecond since the last
// read). An app writing line by line otherwise gets a reader that wakes
// up, takes one line, and sleeps again, once per line; the pause lets a
// batch gather in the pipe instead, while no wake-up is armed (see
// Capture). Measured with 1,000,000 lines written one write(2) each, the
// pause cuts the daemon's CPU from about 400 ms to 90 ms (a Go app) and
// from about 2 s to 150 ms (Node's console.log). A fast writer gets no
// pause: it would fill the pipe and wait for the reader.
const (
	napBelow = 16 << 10
	nap      = 250 * time.Microsecond
)

// Line is one framed line of an app's output.
type Line struct {
	// Time is when tend read the line. Lines that arrived in the same read(2)
	// share one timestamp: they reached tend together, and one clock read per
	// chunk instead of per line is measurably cheaper at high rates.
	Time     time.Time
	App      string
	Instance int
	Stream   string // StreamOut, StreamErr or StreamTend
	// Text is the line without its '\n'. A '\r' before the '\n' is kept: only
	// '\n' frames lines, so output is stored exactly as the app wrote it.
	Text string
	// Split reports that the app's line was longer than MaxLine and continues
	// in the next Line of the same stream: joining Text of consecutive pieces
	// up to and including the first one with Split false gives the original
	// line. Files render a split piece with the suffix SplitSuffix.
	Split bool
}

// Chunk returns a Chunk holding l alone. Text should hold no '\n': each one
// ends a line of the chunk.
func (l Line) Chunk() Chunk {
	text := l.Text + "\n"
	return Chunk{
		Time: l.Time, App: l.App, Instance: l.Instance, Stream: l.Stream,
		Text: text, N: strings.Count(text, "\n"), Split: l.Split,
	}
}

// Chunk is the lines of one stream that Capture read together: what it
// hands to the sinks, which take a read at a time rather than a line at a
// time. Its Text is immutable, so sinks may keep it (or substrings of it)
// without copying.
type Chunk struct {
	Time     time.Time // when tend read the lines: the Time of each of them
	App      string
	Instance int
	Stream   string
	// Text is N lines, each ending in '\n' and at most MaxLine bytes long
	// without it; a partial last line that Capture flushed has a '\n' added.
	Text string
	N    int
	// Split reports that Text is one line, a piece of a longer line: see
	// Line.Split.
	Split bool
}

// Lines yields the lines of c, in order.
func (c Chunk) Lines() iter.Seq[Line] {
	return func(yield func(Line) bool) {
		l := Line{Time: c.Time, App: c.App, Instance: c.Instance, Stream: c.Stream, Split: c.Split}
		for text := c.Text; text != ""; {
			i := strings.IndexByte(text, '\n')
			l.Text = text[:i]
			if !yield(l) {
				return
			}
			text = text[i+1:]
		}
	}
}

// Capture reads r (an instance's stdout or stderr pipe) until EOF, frames
// lines on '\n' and calls emit with the complete lines of each read, in
// order, from the calling goroutine.
//
// A line longer than MaxLine is emitted in pieces (see Line.Split), cut on a
// UTF-8 boundary when the text is UTF-8, one piece per Chunk. A partial last
// line is emitted when r reports EOF or an error. Capture blocks on nothing
// but r, so emit must not block: the sinks of this package never do.
//
// When r is a pipe (the read end of Pipe), Capture makes it nonblocking and
// waits for it in an epoll set of its own, which Go's network poller
// watches: a quiet stream holds no thread and no read buffer. The set is
// armed only while Capture waits (EPOLLONESHOT), so an app's writes wake
// nothing while Capture reads or pauses between reads (see napBelow).
//
// Capture returns nil at EOF and the read error otherwise. EOF comes when
// every process holding the write end has closed it: the app and any
// children that inherited its stdout.
func Capture(r io.Reader, app string, instance int, stream string, emit func(Chunk)) error {
	_, _, err := CaptureUntil(r, app, instance, stream, emit, Handoff{})
	return err
}

// Handoff lets a Capture end before EOF and another one, in the next
// daemon, go on where it stopped (tend update): no line is lost or doubled.
type Handoff struct {
	// Carry is the start of a line that the previous Capture of this pipe
	// had read but not emitted: the first line read here completes it.
	Carry []byte
	// Stop, once closed, ends the Capture at the next line boundary: what it
	// has read of an incomplete line is returned, not emitted, and the rest
	// stays in the pipe. Only a pipe from Pipe can be stopped.
	Stop <-chan struct{}
}

// CaptureUntil is Capture that ends when h.Stop is closed (or at EOF, or
// on an error). It returns the incomplete line it read when it was
// stopped (stopped true), or with stopped false that it reached EOF, or
// the read error, having emitted everything.
func CaptureUntil(r io.Reader, app string, instance int, stream string, emit func(Chunk), h Handoff) (carry []byte, stopped bool, err error) {
	c := &framer{tmpl: Chunk{App: app, Instance: instance, Stream: stream}, emit: emit}
	c.carry = bytes.Clone(h.Carry)
	if f, ok := r.(*os.File); ok {
		if w, err := newWaiter(f); err == nil {
			defer w.close()
			if h.Stop != nil {
				// Wakes the wait of poll when Stop closes; owned by this
				// call, which waits for it.
				done := make(chan struct{})
				woke := make(chan struct{})
				go func() {
					defer close(woke)
					select {
					case <-h.Stop:
						_ = w.ep.SetReadDeadline(time.Unix(1, 0))
					case <-done:
					}
				}()
				defer func() { close(done); <-woke }()
			}
			carry, err := c.poll(w, h.Stop)
			return carry, err == errStopped, nilIfStopped(err)
		}
	}
	for {
		if c.buf == nil {
			c.take()
		}
		n, err := r.Read(c.buf[c.end:])
		if n > 0 {
			c.frame(n)
		}
		if err != nil {
			c.flush()
			c.release()
			if err == io.EOF {
				return nil, false, nil
			}
			return nil, false, err
		}
	}
}

// errStopped is poll's answer when Handoff.Stop ended it.
var errStopped = errors.New("capture stopped")

func nilIfStopped(err error) error {
	if err == errStopped {
		return nil
	}
	return err
}

// stopped reports whether stop is closed.
func stopped(stop <-chan struct{}) bool {
	select {
	case <-stop:
		return true
	default:
		return false
	}
}

// poll is Capture's loop on a pipe: read until the pipe is empty, then wait
// for it without a buffer.
func (c *framer) poll(w *waiter, stop <-chan struct{}) ([]byte, error) {
	var last time.Time // of the last read that got data
	for {
		if stopped(stop) {
			// Between reads: every complete line is emitted, the partial
			// one goes to the next Capture, the rest is in the pipe.
			c.release()
			return c.carry, errStopped
		}
		if c.buf == nil {
			c.take()
		}
		n, err := w.read(c.buf[c.end:])
		if err == unix.EAGAIN {
			c.release()
			if err = w.wait(); err == nil || stopped(stop) {
				continue
			}
		}
		if err != nil || n == 0 {
			if c.buf == nil {
				c.take() // with the partial line carried, to flush it
			}
			c.flush()
			c.release()
			return nil, err // nil at EOF
		}
		now := c.frame(n)
		// Slow: the n bytes took longer to come than napBelow bytes a
		// millisecond would have.
		if n < napBelow && now.Sub(last) > time.Duration(n)*time.Millisecond/napBelow {
			// A small read from a slow writer: let its next lines gather
			// in the pipe, without a buffer held meanwhile.
			c.release()
			time.Sleep(nap)
		}
		last = now
	}
}

// waiter reads a pipe in nonblocking mode and waits for it in an epoll set
// that holds the pipe alone, with EPOLLONESHOT: the set becomes readable
// once after each arm, and a write into the pipe while it is not armed
// costs the writer no wake-up of anyone. The set's descriptor is itself in
// Go's network poller, so that waiting parks the goroutine, not a thread.
type waiter struct {
	fd   int      // the pipe's read end, owned by the caller of Capture
	epfd int      // the epoll set, owned by ep
	ep   *os.File // for Go's poller; its Fd method would make it blocking
	erc  syscall.RawConn
}

// newWaiter fails when f cannot be in an epoll set (a regular file) or is
// closed.
func newWaiter(f *os.File) (*waiter, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	fd := -1
	if err := rc.Control(func(d uintptr) { fd = int(d) }); err != nil {
		return nil, err
	}
	// The descriptor stays valid after Control returns because the caller
	// closes f only once Capture has returned.
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	w := &waiter{fd: fd, epfd: epfd}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, fd, w.event()); err != nil {
		unix.Close(epfd)
		return nil, err
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(epfd)
		return nil, err
	}
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(epfd)
		return nil, err
	}
	w.ep = os.NewFile(uintptr(epfd), "epoll") // nonblocking: in the poller
	if w.erc, err = w.ep.SyscallConn(); err != nil {
		w.ep.Close()
		return nil, err
	}
	return w, nil
}

func (w *waiter) event() *unix.EpollEvent {
	return &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLONESHOT, Fd: int32(w.fd)}
}

// read reads the pipe; EAGAIN when it is empty.
func (w *waiter) read(p []byte) (int, error) {
	for {
		n, err := unix.Read(w.fd, p)
		if err != unix.EINTR {
			return n, err
		}
	}
}

// wait arms the set and returns once the pipe has data or is at EOF.
func (w *waiter) wait() error {
	// Arming tests the pipe as it is now: data that came after the read
	// that found it empty makes the set readable at once.
	if err := unix.EpollCtl(w.epfd, unix.EPOLL_CTL_MOD, w.fd, w.event()); err != nil {
		return err
	}
	var events [1]unix.EpollEvent
	return w.erc.Read(func(epfd uintptr) bool {
		n, err := unix.EpollWait(int(epfd), events[:], 0)
		return n > 0 || err != nil && err != unix.EINTR
	})
}

func (w *waiter) close() { w.ep.Close() }

// framer frames the bytes Capture reads into Chunks.
type framer struct {
	tmpl  Chunk // App, Instance and Stream of every chunk
	emit  func(Chunk)
	bufp  *[]byte // from buffers; nil while the stream holds no buffer
	buf   []byte
	end   int    // buf[:end] holds unframed bytes, at most MaxLine of them between reads
	carry []byte // unframed bytes kept while the buffer is given back
}

// take gets a read buffer, with the carried partial line at its start.
func (c *framer) take() {
	c.bufp = buffers.Get().(*[]byte)
	c.buf = *c.bufp
	c.end = copy(c.buf, c.carry)
	c.carry = nil
}

// release gives the read buffer back, keeping a partial line aside.
func (c *framer) release() {
	if c.bufp == nil {
		return
	}
	if c.end > 0 {
		c.carry = bytes.Clone(c.buf[:c.end])
	}
	buffers.Put(c.bufp)
	c.bufp, c.buf, c.end = nil, nil, 0
}

// frame emits the complete lines among the n bytes just read at buf[end:],
// and the full pieces of a partial line longer than MaxLine. It returns
// the time of the read.
func (c *framer) frame(n int) time.Time {
	ch := c.tmpl
	ch.Time = time.Now()
	from := c.end // the bytes before are a partial line: no '\n' there
	c.end += n
	start := 0
	if last := bytes.LastIndexByte(c.buf[from:c.end], '\n'); last >= 0 {
		last += from
		if hasLong(c.buf[:last]) {
			start = c.frameLong(ch, last)
		} else {
			// One string for every complete line of this read: one copy
			// and one allocation per read, whatever the number of lines,
			// shared by every sink.
			c.run(ch, c.buf[:last+1])
			start = last + 1
		}
	}
	// A partial line longer than MaxLine cannot fit a whole line any more:
	// emit its full pieces now and keep the rest.
	for c.end-start > MaxLine {
		cut := pieceLen(c.buf[start:c.end])
		c.piece(ch, c.buf[start:start+cut], true)
		start += cut
	}
	c.end = copy(c.buf, c.buf[start:c.end])
	return ch.Time
}

// frameLong is frame for complete lines among which one is longer than
// MaxLine (rare): the runs of short lines go as chunks, the long ones in
// pieces. It returns where the unframed bytes start.
func (c *framer) frameLong(ch Chunk, last int) int {
	run, start := 0, 0
	for start <= last {
		i := bytes.IndexByte(c.buf[start:], '\n')
		if i > MaxLine {
			c.run(ch, c.buf[run:start])
			c.line(ch, c.buf[start:start+i])
			run = start + i + 1
		}
		start += i + 1
	}
	c.run(ch, c.buf[run:start])
	return start
}

// run emits b, whole lines each with its '\n', as one chunk.
func (c *framer) run(ch Chunk, b []byte) {
	if len(b) == 0 {
		return
	}
	ch.Text, ch.N = string(b), bytes.Count(b, newline)
	c.emit(ch)
}

var newline = []byte{'\n'}

// hasLong reports whether b, lines without the '\n' of the last, holds one
// longer than MaxLine. It looks at the last '\n' of each window of MaxLine+1
// bytes, so it costs a few scans per MaxLine bytes, not one per line.
func hasLong(b []byte) bool {
	for len(b) > MaxLine {
		i := bytes.LastIndexByte(b[:MaxLine+1], '\n')
		if i < 0 {
			return true
		}
		b = b[i+1:]
	}
	return false
}

// flush emits what is left at the end of the stream: a partial last line.
func (c *framer) flush() {
	if c.end == 0 {
		return
	}
	ch := c.tmpl
	ch.Time = time.Now()
	c.line(ch, c.buf[:c.end])
	c.end = 0
}

// line emits one line (without its '\n'), in pieces when it is longer than
// MaxLine.
func (c *framer) line(ch Chunk, b []byte) {
	for len(b) > MaxLine {
		cut := pieceLen(b)
		c.piece(ch, b[:cut], true)
		b = b[cut:]
	}
	c.piece(ch, b, false)
}

// piece emits b as a line of its own, with its '\n' added.
func (c *framer) piece(ch Chunk, b []byte, split bool) {
	var s strings.Builder
	s.Grow(len(b) + 1)
	s.Write(b)
	s.WriteByte('\n')
	ch.Text, ch.N, ch.Split = s.String(), 1, split
	c.emit(ch)
}

// pieceLen returns where to cut b (longer than MaxLine): at MaxLine, moved
// back to the start of a UTF-8 sequence when the cut would fall inside one,
// so that both pieces stay valid text.
func pieceLen(b []byte) int {
	for cut := MaxLine; cut > MaxLine-utf8.UTFMax; cut-- {
		if utf8.RuneStart(b[cut]) {
			return cut
		}
	}
	return MaxLine
}
