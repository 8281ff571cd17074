package logs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tendhq/tend/internal/conf"
)

// DefaultQueueBytes is the default bound of a File's queue. At 4 MiB it holds
// tens of thousands of typical lines: seconds of a disk hiccup at high rates.
const DefaultQueueBytes = 4 << 20

// lineOverhead is what a queued Chunk costs beyond its text (the struct and
// its slice slot), so that a flood of one-line chunks is bounded too.
const lineOverhead = 64

// flushAt is the buffered size at which the writer writes even though more
// lines are queued: large enough that a write(2) carries thousands of lines,
// small enough that the buffer stays cheap.
const flushAt = 256 << 10

// errorEvery is the shortest time between two reports of a File's errors: a
// full disk fails every write, and one message a minute is enough to act on.
const errorEvery = time.Minute

// FileMode and DirMode are the permissions of log files and of the
// directories OpenFile creates. Logs can hold secrets; the owner (and, for
// files, a log shipper in the owner's group) is who needs them.
const (
	FileMode fs.FileMode = 0o640
	DirMode  fs.FileMode = 0o700
)

// ErrClosed is returned by the methods of a File after Close.
var ErrClosed = errors.New("log file closed")

// FileConfig is one log file.
type FileConfig struct {
	// Path is the file. os.DevNull ("/dev/null") discards every line with
	// no goroutine and no file.
	Path   string
	Format Format
	// MaxSize rotates the file before a line would make it exceed this many
	// bytes (a single longer line still gets a file of its own); 0 = never.
	MaxSize int64
	// Interval rotates the file at the boundaries of a schedule in local
	// time (conf.ParseInterval): "", "hourly", "daily", "weekly", or a duration
	// such as "6h". Rotation is checked when lines arrive: a file that gets
	// no line after a boundary is rotated by the first line that comes.
	Interval string
	// Retain is how many rotated files are kept; the oldest go first.
	// 0 keeps them all.
	Retain int
	// Compress gzips rotated files to <rotated name>.gz, off the writer.
	Compress bool
	// QueueBytes bounds the lines waiting for the writer (text plus a fixed
	// overhead per chunk); 0 = DefaultQueueBytes.
	QueueBytes int
	// Clock returns the current time: for rotation times and names, marker
	// lines and the rate limit of OnError. nil = time.Now.
	Clock func() time.Time
	// OnError receives the File's write, rotation and compression errors,
	// at most once a minute (by Clock); the rest are counted into the next
	// report. It is called from the File's goroutines and must not block.
	// nil = ignore.
	OnError func(error)

	// writeHook, when set, replaces the write(2) of the file: tests stall
	// or fail the disk with it.
	writeHook func(f *os.File, p []byte) (int, error)
}

// FileStats counts what a File did since it was opened.
type FileStats struct {
	Lines     int64 // lines written to the file (markers not included)
	Dropped   int64 // lines dropped: queue full, or a write failed
	Bytes     int64 // bytes written, markers included
	Rotations int64 // rotations done
}

// File is a log file owned by one writer goroutine fed through a bounded
// queue.
//
// Write and WriteChunk never block: when the queue is full the line is
// dropped and counted, and every later line is dropped too until the writer
// takes the queue, so that the gap has one place; the writer then writes the
// marker line DropMarker(N) (in the file's format, with Stream "tend") where
// the gap is.
// A failed write (a full disk) drops the lines it carried the same way:
// whole lines that reached the file stay, a partial line is cut off again,
// the error goes to OnError, and the next lines try again, so writing resumes
// by itself once the disk has room.
//
// Rotation renames the file to <path>.<YYYY-MM-DD_HH-MM-SS>[_N] and opens a
// new one at path, between two lines: no line is lost or written twice. The
// stamp is when the file ended (the interval boundary for interval rotation)
// in the clock's location, and _N orders files that ended in the same
// second; RotatedFiles lists them oldest first. Compression and retention
// run on a janitor goroutine, never on the writer.
//
// OpenFile starts the writer goroutine (and the janitor when Compress or
// Retain is set, or once Configure sets them); Close stops them. Open one
// File per path and share it between the streams that go there: two Files
// on one path would each rotate it.
//
// Configure changes the format and the rotation of a File that is open, in
// the writer's order: the settings of a running app change without
// reopening its files.
type File struct {
	cfg     FileConfig // as opened; Configure does not change it (see the writer's fields)
	clock   func() time.Time
	limit   int
	discard bool

	mu         sync.Mutex // guards the fields up to closed, and the creation of jan
	queue      []Chunk    // lines waiting for the writer, in order
	queueBytes int        // cost of queue against limit
	full       bool       // a line was dropped since the writer last took the queue
	qDropped   int64      // lines dropped since the writer last took the queue
	closed     bool       // Close was called: Write is a no-op

	wake chan struct{}           // capacity 1: the queue became non-empty
	ctl  chan fileOp             // Sync, Reopen, Truncate, Configure, Close, in the writer's order
	done chan struct{}           // closed when the writer goroutine returns
	jan  atomic.Pointer[janitor] // nil while rotated files are left alone; set once, under mu

	// Owned by the writer goroutine.
	maxSize     int64         // MaxSize, as last configured
	interval    conf.Interval // Interval, as last configured
	intervalSet string        // its text, to tell a change
	fd          *os.File      // nil after a failed open: the next flush tries again
	size        int64         // bytes in the current file, for MaxSize
	buf         []byte        // rendered entries not yet written
	ents        []entry       // where each entry of buf ends
	pendingDrop int64         // dropped lines not yet marked in the file
	spare       []Chunk       // the queue slice the writer hands back on the next take
	r           *renderer
	next        time.Time // next interval boundary; zero without an interval
	lastStamp   string    // stamp and sequence number of the last rotated name
	lastSeq     int
	meta        Chunk // app and instance of the last lines, for markers
	flushErr    error // first write error since the last request

	lines, dropped, bytes, rotations atomic.Int64

	errMu      sync.Mutex // guards lastErr and suppressed
	lastErr    time.Time
	suppressed int
}

// entry is one rendered chunk (or marker) in File.buf: whole lines, each
// ending with its only '\n' (the formats escape or split on any other).
type entry struct {
	end    int   // offset in buf after its last newline
	marker int64 // lines a marker stands for; 0 for lines of the app
}

type fileOp struct {
	op    int
	cfg   *settingsOp // opConfigure only
	reply chan error  // capacity 1
}

// settingsOp is a Configure request, checked before it reaches the writer.
type settingsOp struct {
	format   Format
	maxSize  int64
	interval conf.Interval
	text     string // the interval's text
}

const (
	opSync = iota
	opReopen
	opTruncate
	opConfigure
	opClose
)

// OpenFile opens (creating it and its directory as needed) the log file of
// cfg and starts its writer. It fails on a bad config and when the file
// cannot be opened; later failures go to OnError.
func OpenFile(cfg FileConfig) (*File, error) {
	if cfg.Path == "" {
		return nil, errors.New("open log: empty path")
	}
	if cfg.Path == os.DevNull {
		return &File{cfg: cfg, discard: true}, nil
	}
	if err := cfg.Format.Validate(); err != nil {
		return nil, fmt.Errorf("open log %s: %w", cfg.Path, err)
	}
	iv, err := conf.ParseInterval(cfg.Interval)
	if err != nil {
		return nil, fmt.Errorf("open log %s: %w", cfg.Path, err)
	}
	if cfg.MaxSize < 0 || cfg.Retain < 0 || cfg.QueueBytes < 0 {
		return nil, fmt.Errorf("open log %s: max size, retain and queue bytes must not be negative", cfg.Path)
	}
	f := &File{
		cfg:         cfg,
		clock:       cfg.Clock,
		maxSize:     cfg.MaxSize,
		interval:    iv,
		intervalSet: cfg.Interval,
		limit:       cfg.QueueBytes,
		wake:        make(chan struct{}, 1),
		ctl:         make(chan fileOp),
		done:        make(chan struct{}),
		r:           newRenderer(cfg.Format),
	}
	if f.clock == nil {
		f.clock = time.Now
	}
	if f.limit == 0 {
		f.limit = DefaultQueueBytes
	}
	mtime, err := f.open()
	if err != nil {
		return nil, fmt.Errorf("open log %s: %w", cfg.Path, err)
	}
	if !iv.IsZero() {
		// A file left by an earlier run belongs to the period of its last
		// write: if that period is over, the first line rotates it.
		from := f.clock()
		if f.size > 0 {
			from = mtime
		}
		f.next = iv.Next(from)
	}
	if cfg.Compress || cfg.Retain > 0 {
		f.startJanitor(cfg.Compress, cfg.Retain)
	}
	go f.run()
	return f, nil
}

// startJanitor starts the janitor unless the File has one or is closed. The
// caller holds mu, or is OpenFile.
func (f *File) startJanitor(compress bool, retain int) {
	if f.jan.Load() != nil || f.closed {
		return
	}
	j := &janitor{
		path:     f.cfg.Path,
		compress: compress,
		retain:   retain,
		report:   f.report,
		wake:     make(chan struct{}, 1),
		syncc:    make(chan chan struct{}),
		quit:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	f.jan.Store(j)
	go j.run()
}

// Configure changes the Format, MaxSize, Interval, Retain and Compress of
// the open File; its Path, QueueBytes, Clock and OnError stay as opened.
// The lines written before the call are written the old way, the next ones
// the new way: a file that is already past a lowered MaxSize rotates at the
// next line, a new Interval counts from now, and the rotated files are
// pruned and compressed by the new Retain and Compress at once. A config
// that is not valid is refused and changes nothing.
func (f *File) Configure(cfg FileConfig) error {
	if f.discard {
		return nil
	}
	if err := cfg.Format.Validate(); err != nil {
		return fmt.Errorf("configure log %s: %w", f.cfg.Path, err)
	}
	iv, err := conf.ParseInterval(cfg.Interval)
	if err != nil {
		return fmt.Errorf("configure log %s: %w", f.cfg.Path, err)
	}
	if cfg.MaxSize < 0 || cfg.Retain < 0 {
		return fmt.Errorf("configure log %s: max size and retain must not be negative", f.cfg.Path)
	}
	if cfg.Compress || cfg.Retain > 0 {
		f.mu.Lock()
		f.startJanitor(cfg.Compress, cfg.Retain)
		f.mu.Unlock()
	}
	if j := f.jan.Load(); j != nil {
		j.set(cfg.Compress, cfg.Retain)
	}
	req := fileOp{op: opConfigure, cfg: &settingsOp{format: cfg.Format, maxSize: cfg.MaxSize, interval: iv, text: cfg.Interval}, reply: make(chan error, 1)}
	select {
	case f.ctl <- req:
	case <-f.done:
		return ErrClosed
	}
	return <-req.reply
}

// configure installs new settings; the queue was drained with the old ones.
func (f *File) configure(s *settingsOp) {
	f.r = newRenderer(s.format)
	f.maxSize = s.maxSize
	if s.text != f.intervalSet {
		f.interval, f.intervalSet = s.interval, s.text
		f.next = time.Time{}
		if !s.interval.IsZero() {
			f.next = s.interval.Next(f.clock())
		}
	}
}

// open opens f's path for appending, creating the directory if needed, and
// returns the file's modification time.
func (f *File) open() (time.Time, error) {
	if err := os.MkdirAll(filepath.Dir(f.cfg.Path), DirMode); err != nil {
		return time.Time{}, err
	}
	fd, err := os.OpenFile(f.cfg.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, FileMode)
	if err != nil {
		return time.Time{}, err
	}
	fi, err := fd.Stat()
	if err != nil {
		fd.Close()
		return time.Time{}, err
	}
	f.fd, f.size = fd, fi.Size()
	return fi.ModTime(), nil
}

// Write queues l for the file; see WriteChunk. Text should hold no '\n'.
func (f *File) Write(l Line) {
	if f.discard {
		return
	}
	f.WriteChunk(l.Chunk())
}

// WriteChunk queues the lines of c for the file. It never blocks; see File
// for what happens when the writer cannot keep up: the lines of c that fit
// the queue are written, the others dropped. WriteChunk after Close does
// nothing.
func (f *File) WriteChunk(c Chunk) {
	if f.discard || c.N == 0 {
		return
	}
	cost := len(c.Text) + lineOverhead
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return
	}
	lost := 0
	if f.full || f.queueBytes+cost > f.limit && len(f.queue) > 0 {
		// The lines that fit go, unless lines were lost already: they
		// would land after the gap, and its marker goes only after the
		// lines that were queued before it.
		if room := f.limit - f.queueBytes - lineOverhead; !f.full && room > 0 {
			if cut := strings.LastIndexByte(c.Text[:min(room, len(c.Text))], '\n') + 1; cut > 0 {
				kept := strings.Count(c.Text[:cut], "\n")
				lost = c.N - kept
				c.Text, c.N = c.Text[:cut], kept
				cost = cut + lineOverhead
			}
		}
		if lost == 0 {
			f.full = true
			f.qDropped += int64(c.N)
			f.mu.Unlock()
			f.dropped.Add(int64(c.N))
			return
		}
	}
	first := len(f.queue) == 0
	f.queue = append(f.queue, c)
	f.queueBytes += cost
	if lost > 0 {
		f.full = true
		f.qDropped += int64(lost)
		f.dropped.Add(int64(lost))
	}
	f.mu.Unlock()
	if first {
		select {
		case f.wake <- struct{}{}:
		default:
		}
	}
}

// Sync returns once every line written before the call has been written to
// the file (not fsynced: it is visible to readers), and the rotated files
// have been pruned and compressed. It returns the first write error since
// the previous request (Sync, Reopen, Truncate), if any. Tests use it, and
// so can a command that reads the file right after writing to it.
func (f *File) Sync() error {
	if f.discard {
		return nil
	}
	err := f.request(opSync)
	if j := f.jan.Load(); j != nil {
		reply := make(chan struct{})
		select {
		case j.syncc <- reply:
			select {
			case <-reply:
			case <-j.done:
			}
		case <-j.done:
		}
	}
	return err
}

// Reopen closes the file and opens its path again, after the lines written
// before the call: for an external logrotate that renamed the file (tend
// reload-logs). Lines written after Reopen go to the new file.
func (f *File) Reopen() error { return f.request(opReopen) }

// Truncate empties the file after the lines written before the call (tend
// flush). Rotated files are left alone.
func (f *File) Truncate() error { return f.request(opTruncate) }

// Close writes the queued lines, closes the file and stops the File's
// goroutines. A compression in progress is abandoned and done by the next
// OpenFile of the path. Write after Close does nothing; Close again
// returns nil.
func (f *File) Close() error {
	if f.discard {
		return nil
	}
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil
	}
	f.closed = true
	f.mu.Unlock()
	err := f.request(opClose)
	<-f.done
	// closed is set: no janitor starts from now on.
	if j := f.jan.Load(); j != nil {
		close(j.quit)
		<-j.done
	}
	return err
}

// Stats returns the File's counters.
func (f *File) Stats() FileStats {
	return FileStats{
		Lines:     f.lines.Load(),
		Dropped:   f.dropped.Load(),
		Bytes:     f.bytes.Load(),
		Rotations: f.rotations.Load(),
	}
}

// Path returns the file's path.
func (f *File) Path() string { return f.cfg.Path }

func (f *File) request(op int) error {
	if f.discard {
		return nil
	}
	req := fileOp{op: op, reply: make(chan error, 1)}
	select {
	case f.ctl <- req:
	case <-f.done:
		return ErrClosed
	}
	// The writer replies to every request it takes before it returns.
	return <-req.reply
}

// run is the writer goroutine, started by OpenFile and ended by Close.
func (f *File) run() {
	defer close(f.done)
	for {
		select {
		case <-f.wake:
			f.drain()
		case req := <-f.ctl:
			// The lines written before the request are in the queue now;
			// later ones may be too, which keeps the order all the same.
			f.drain()
			// The first write error since the last request is the answer:
			// it concerns lines written before this request.
			err := f.flushErr
			f.flushErr = nil
			switch req.op {
			case opReopen:
				err = f.reopen()
			case opTruncate:
				err = f.truncate()
			case opConfigure:
				f.configure(req.cfg)
			case opClose:
				if f.fd != nil {
					if cerr := f.fd.Close(); err == nil {
						err = cerr
					}
					f.fd = nil
				}
			}
			req.reply <- err
			if req.op == opClose {
				return
			}
		}
	}
}

// drainTakes bounds the batches one drain writes, so that a queue that
// never empties (an app logging flat out) does not starve the requests.
const drainTakes = 16

// drain writes the queue until it is empty, or for drainTakes batches, then
// flushes. When it stops with lines left, it wakes the writer again.
func (f *File) drain() {
	for range drainTakes {
		f.mu.Lock()
		batch, dropped := f.queue, f.qDropped
		f.queue, f.queueBytes, f.qDropped, f.full = f.spare[:0], 0, 0, false
		f.mu.Unlock()
		if len(batch) == 0 && dropped == 0 {
			f.spare = batch
			f.flush()
			return
		}
		f.writeBatch(batch, dropped)
		// Release the strings for the collector; after a burst, let a big
		// slice go rather than keep it for every quiet file.
		clear(batch)
		if cap(batch) > 4096 && len(batch) < cap(batch)/4 {
			batch = nil
		}
		f.spare = batch
	}
	f.flush()
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// writeBatch renders a batch taken from the queue; dropped lines were
// dropped after it.
func (f *File) writeBatch(batch []Chunk, dropped int64) {
	if !f.next.IsZero() {
		if now := f.clock(); !now.Before(f.next) {
			if f.size > 0 || len(f.buf) > 0 {
				f.flush()
				f.rotate(f.next)
			}
			f.next = f.interval.Next(now)
		}
	}
	for i := range batch {
		// Not the chunk itself: its text would stay in memory while the
		// file is quiet.
		f.meta = Chunk{App: batch[i].App, Instance: batch[i].Instance}
		if f.pendingDrop > 0 {
			f.mark() // a write failed before these lines
		}
		f.add(batch[i], 0)
	}
	f.pendingDrop += dropped
	if f.pendingDrop > 0 {
		f.mark()
	}
}

// mark adds the marker of the pending dropped lines.
func (f *File) mark() {
	n := f.pendingDrop
	f.pendingDrop = 0
	f.add(Line{
		Time:     f.clock(),
		App:      f.meta.App,
		Instance: f.meta.Instance,
		Stream:   StreamTend,
		Text:     DropMarker(n),
	}.Chunk(), n)
}

// add renders one chunk into the buffer. When MaxSize is set it writes
// and rotates where a line would take the file over MaxSize: on a line
// boundary, with a line longer than MaxSize in a file of its own.
func (f *File) add(c Chunk, marker int64) {
	f.buf = f.r.append(f.buf, c)
	f.ents = append(f.ents, entry{end: len(f.buf), marker: marker})
	for f.maxSize > 0 && f.size+int64(len(f.buf)) > f.maxSize {
		cut := 0 // how much of buf goes to the current file
		if room := f.maxSize - f.size; room > 0 {
			cut = bytes.LastIndexByte(f.buf[:room], '\n') + 1
		}
		if cut == 0 && f.size == 0 {
			cut = bytes.IndexByte(f.buf, '\n') + 1
		}
		if cut == len(f.buf) {
			break // a long line alone: it rotates the file when the next one comes
		}
		f.flushTo(cut)
		f.rotate(f.clock())
	}
	if len(f.buf) >= flushAt {
		f.flush()
	}
}

// flush writes the buffered entries.
func (f *File) flush() {
	f.flushTo(len(f.buf))
}

// flushTo writes buf[:n], which ends on a line boundary. When the write
// fails, the lines that reached the file whole stay, a partial one is cut
// off, and the rest count as dropped, to be marked before the next lines.
func (f *File) flushTo(n int) {
	if n == 0 {
		return
	}
	var err error
	if f.fd == nil {
		_, err = f.open()
	}
	written := 0
	if err == nil {
		if f.cfg.writeHook != nil {
			written, err = f.cfg.writeHook(f.fd, f.buf[:n])
		} else {
			written, err = f.fd.Write(f.buf[:n])
		}
	}
	if err != nil {
		whole := bytes.LastIndexByte(f.buf[:written], '\n') + 1
		if written > whole {
			f.cutTail(int64(written - whole))
		}
		written = whole
		err = fmt.Errorf("write log %s: %w", f.cfg.Path, err)
		if f.flushErr == nil {
			f.flushErr = err
		}
		f.report(err)
	}
	// Count the lines written and those lost, entry by entry, and drop the
	// entries (or the part of one) that are done.
	var lines, lost int64
	from, k := 0, 0
	for ; k < len(f.ents) && from < n; k++ {
		e := &f.ents[k]
		to := min(e.end, n)
		if e.marker > 0 {
			// A marker is one line, so it is either written whole, or lost
			// whole and marked again later, or left for the next write.
			if e.end > written && e.end <= n {
				f.pendingDrop += e.marker
			}
		} else {
			w := min(max(written, from), to)
			if w > from {
				lines += int64(bytes.Count(f.buf[from:w], newline))
			}
			if to > w {
				lost += int64(bytes.Count(f.buf[w:to], newline))
			}
		}
		from = e.end
		if e.end > n {
			break // the rest of this entry stays buffered
		}
	}
	f.ents = f.ents[:copy(f.ents, f.ents[k:])]
	for i := range f.ents {
		f.ents[i].end -= n
	}
	f.pendingDrop += lost
	f.dropped.Add(lost)
	f.lines.Add(lines)
	f.size += int64(written)
	f.bytes.Add(int64(written))
	f.buf = f.buf[:copy(f.buf, f.buf[n:])]
}

// cutTail removes the last n bytes of the file: the start of a line whose
// write failed, so that the line written next does not continue it. It
// works from the file's real size, in case someone else truncated it.
func (f *File) cutTail(n int64) {
	fi, err := f.fd.Stat()
	if err != nil || fi.Size() < n {
		return
	}
	_ = f.fd.Truncate(fi.Size() - n)
}

// rotate renames the current file to its rotated name and opens a new one.
// The buffer must be flushed.
func (f *File) rotate(stamp time.Time) {
	name := f.rotatedName(stamp)
	if err := os.Rename(f.cfg.Path, name); err != nil {
		f.report(fmt.Errorf("rotate log %s: %w", f.cfg.Path, err))
		if !errors.Is(err, fs.ErrNotExist) {
			// Keep writing to the file and try again after another MaxSize
			// bytes rather than on every line.
			f.size = 0
			return
		}
	} else {
		f.rotations.Add(1)
		if j := f.jan.Load(); j != nil {
			j.poke()
		}
	}
	if f.fd != nil {
		f.fd.Close()
		f.fd = nil
	}
	if _, err := f.open(); err != nil {
		f.report(fmt.Errorf("reopen log %s after rotation: %w", f.cfg.Path, err))
		f.size = 0
	}
}

// stampLayout is the Go layout of the stamp of rotated files: sortable, and
// free of ':' which some tools and file systems reject in names.
const stampLayout = "2006-01-02_15-04-05"

func (f *File) rotatedName(stamp time.Time) string {
	s := stamp.Format(stampLayout)
	seq := 0
	if s == f.lastStamp {
		seq = f.lastSeq + 1
	}
	for ; ; seq++ {
		name := f.cfg.Path + "." + s
		if seq > 0 {
			name += "_" + strconv.Itoa(seq)
		}
		if !exists(name) && !exists(name+".gz") {
			f.lastStamp, f.lastSeq = s, seq
			return name
		}
	}
}

func exists(name string) bool {
	_, err := os.Lstat(name)
	return err == nil
}

func (f *File) reopen() error {
	if f.fd != nil {
		f.fd.Close()
		f.fd = nil
	}
	if _, err := f.open(); err != nil {
		return fmt.Errorf("reopen log %s: %w", f.cfg.Path, err)
	}
	return nil
}

func (f *File) truncate() error {
	if f.fd == nil {
		if _, err := f.open(); err != nil {
			return fmt.Errorf("truncate log %s: %w", f.cfg.Path, err)
		}
	}
	if err := f.fd.Truncate(0); err != nil {
		return fmt.Errorf("truncate log %s: %w", f.cfg.Path, err)
	}
	f.size = 0
	return nil
}

// report passes err to OnError unless one was reported less than
// errorEvery ago; then it is counted into the next report.
func (f *File) report(err error) {
	if f.cfg.OnError == nil {
		return
	}
	now := f.clock()
	f.errMu.Lock()
	if !f.lastErr.IsZero() && now.Sub(f.lastErr) < errorEvery {
		f.suppressed++
		f.errMu.Unlock()
		return
	}
	n := f.suppressed
	f.lastErr, f.suppressed = now, 0
	f.errMu.Unlock()
	if n > 0 {
		err = fmt.Errorf("%w (and %d more errors since the last report)", err, n)
	}
	f.cfg.OnError(err)
}

// DropMarker returns the text of the line that marks n dropped lines.
func DropMarker(n int64) string {
	if n == 1 {
		return "tend: dropped 1 line"
	}
	return "tend: dropped " + strconv.FormatInt(n, 10) + " lines"
}

// ParseDropMarker returns the count of a marker's text, as DropMarker wrote
// it, and whether text is one.
func ParseDropMarker(text string) (int64, bool) {
	rest, ok := strings.CutPrefix(text, "tend: dropped ")
	if !ok {
		return 0, false
	}
	num, unit, _ := strings.Cut(rest, " ")
	n, err := strconv.ParseInt(num, 10, 64)
	want := "lines"
	if n == 1 {
		want = "line"
	}
	if err != nil || n < 1 || unit != want {
		return 0, false
	}
	return n, true
}

// LineWriter returns an io.Writer that writes each line of what it is
// given as a Line of app on StreamOut, stamped with the File's clock: for
// the daemon's own tend.log, so that a log/slog handler gets the rotation
// and the never-blocking queue of app logs. A slog handler writes one
// record, newline included, per Write; a Write without a final newline is
// taken as a whole line all the same. Write never blocks and never fails.
func (f *File) LineWriter(app string) io.Writer {
	return lineWriter{f: f, app: app}
}

type lineWriter struct {
	f   *File
	app string
}

func (w lineWriter) Write(p []byte) (int, error) {
	now := time.Now()
	if w.f.clock != nil {
		now = w.f.clock()
	}
	text := string(p)
	if !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	w.f.WriteChunk(Chunk{Time: now, App: w.app, Stream: StreamOut, Text: text, N: strings.Count(text, "\n")})
	return len(p), nil
}
