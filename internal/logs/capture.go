package logs

import (
	"bytes"
	"io"
	"os"
	"strings"
	"time"
	"unicode/utf8"
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

// readBuffer is Capture's read size. It is several times MaxLine so that one
// read(2) usually carries many lines and the carried-over partial line (at
// most MaxLine bytes) always leaves room for a large read.
const readBuffer = 256 << 10

// minReadBuffer is where a stream's buffer starts.
const minReadBuffer = 16 << 10

// Capture pauses for nap after a read from a file (a pipe) that returned
// less than napBelow bytes. An app writing line by line at full speed
// otherwise gets a reader that wakes up, takes one line, and sleeps again,
// once per line; the pause lets a batch gather in the pipe instead, so that
// the app's writes find no reader to wake (see Pipe). It only delays: in
// 250µs a 64 KiB pipe fills at 256 MB/s, far beyond what line-at-a-time
// writers reach, so the app does not block on a full pipe. Variables so
// that tests can change them.
var (
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

// Capture reads r (an instance's stdout or stderr pipe) until EOF, frames
// lines on '\n' and calls emit for each, in order, from the calling goroutine.
//
// A line longer than MaxLine is emitted in pieces (see Line.Split), cut on a
// UTF-8 boundary when the text is UTF-8. A partial last line is emitted when
// r reports EOF or an error. Capture blocks on nothing but r, so emit must
// not block: the sinks of this package never do.
//
// When r is an *os.File, Capture pauses for 250µs after a read of less than
// 16 KiB, so that a line-at-a-time app's lines arrive in batches; give it
// the read end of Pipe.
//
// Capture returns nil at EOF and the read error otherwise. EOF comes when
// every process holding the write end has closed it: the app and any
// children that inherited its stdout.
func Capture(r io.Reader, app string, instance int, stream string, emit func(Line)) error {
	// Most streams are quiet: start small and grow to readBuffer when a
	// read fills the buffer, so that a daemon with hundreds of idle
	// instances does not hold 256 KiB per stream.
	buf := make([]byte, minReadBuffer)
	end := 0 // buf[:end] holds unframed bytes, at most MaxLine of them between reads
	l := Line{App: app, Instance: instance, Stream: stream}
	_, pause := r.(*os.File)
	for {
		free := len(buf) - end
		n, err := r.Read(buf[end:])
		if n > 0 {
			l.Time = time.Now()
			end += n
			start := 0
			if last := bytes.LastIndexByte(buf[:end], '\n'); last >= 0 {
				// One string for every complete line of this read, and
				// each line a slice of it: a line costs no allocation of
				// its own, which at a million lines a second is most of
				// the garbage the daemon would make.
				chunk := string(buf[:last+1])
				for start <= last {
					i := strings.IndexByte(chunk[start:], '\n')
					emitText(chunk[start:start+i], l, emit)
					start += i + 1
				}
			}
			// A partial line longer than MaxLine cannot fit a whole line any
			// more: emit its full pieces now and keep the rest.
			for end-start > MaxLine {
				cut := pieceLen(buf[start:end])
				l.Text, l.Split = string(buf[start:start+cut]), true
				emit(l)
				start += cut
			}
			end = copy(buf, buf[start:end])
			// A read that filled the buffer: a busy stream, or a long line
			// that must fit (end can reach MaxLine, which the small buffer
			// cannot hold with room to read).
			if n == free && len(buf) < readBuffer {
				grown := make([]byte, min(2*len(buf), readBuffer))
				end = copy(grown, buf[:end])
				buf = grown
			}
			if pause && n < napBelow && err == nil {
				time.Sleep(nap)
			}
		}
		if err != nil {
			if end > 0 {
				l.Time = time.Now()
				emitLine(buf[:end], l, emit)
			}
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
}

// emitText is emitLine for a line that is already a string.
func emitText(t string, l Line, emit func(Line)) {
	if len(t) > MaxLine {
		emitLine([]byte(t), l, emit)
		return
	}
	l.Text, l.Split = t, false
	emit(l)
}

// emitLine emits one complete line, in pieces when it is longer than MaxLine.
func emitLine(b []byte, l Line, emit func(Line)) {
	for len(b) > MaxLine {
		cut := pieceLen(b)
		l.Text, l.Split = string(b[:cut]), true
		emit(l)
		b = b[cut:]
	}
	l.Text, l.Split = string(b), false
	emit(l)
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
