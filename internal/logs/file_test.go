package logs

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// openFile opens a File for a test and closes it at the end.
func openFile(t *testing.T, cfg FileConfig) *File {
	t.Helper()
	f, err := OpenFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := f.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return f
}

func syncFile(t *testing.T, f *File) {
	t.Helper()
	if err := f.Sync(); err != nil {
		t.Fatalf("Sync: %v", err)
	}
}

// captureChild starts the test binary as an app writing n numbered lines
// to a Pipe and captures its stdout into emit, as the daemon does. It
// returns when the app has exited and its output has been read.
func captureChild(t *testing.T, script string, n int, emit func(Chunk)) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "LOGS_CHILD="+script, "LOGS_LINES="+strconv.Itoa(n))
	cmd.Stderr = os.Stderr
	r, w, err := Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cmd.Stdout = w
	err = cmd.Start()
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := Capture(r, "seq", 0, StreamOut, emit); err != nil {
		t.Fatalf("Capture: %v", err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("app: %v", err)
	}
}

// readLog returns the lines of the rotated files of path, oldest first,
// decompressing .gz ones, then those of path itself.
func readLog(t *testing.T, path string) []string {
	t.Helper()
	rotated, err := RotatedFiles(path)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, name := range append(rotated, path) {
		lines = append(lines, readLines(t, name)...)
	}
	return lines
}

func readLines(t *testing.T, name string) []string {
	t.Helper()
	fd, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Close()
	var r io.Reader = fd
	if strings.HasSuffix(name, ".gz") {
		zr, err := gzip.NewReader(fd)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		r = zr
	}
	data, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if len(data) == 0 {
		return nil
	}
	if data[len(data)-1] != '\n' {
		t.Fatalf("%s does not end with a newline", name)
	}
	return strings.Split(string(data[:len(data)-1]), "\n")
}

// checkSeq checks that lines are "line 0000000" to n-1, each once, in order.
func checkSeq(t *testing.T, lines []string, n int) {
	t.Helper()
	if len(lines) != n {
		t.Errorf("%d lines, want %d", len(lines), n)
	}
	for i, l := range lines {
		if want := fmt.Sprintf("line %07d", i); l != want {
			t.Fatalf("line %d is %q, want %q", i, l, want)
		}
	}
}

func TestFileRotationKeepsEveryLineOnce(t *testing.T) {
	const n = 200_000
	tests := []struct {
		script   string
		maxSize  int64
		compress bool
	}{
		{"seq", 256 << 10, false},
		{"seq", 256 << 10, true},
		// Reads of up to 64 KiB, several files each: rotations cut chunks.
		{"seqbuf", 20_000, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/max=%d/compress=%v", tt.script, tt.maxSize, tt.compress), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "seq-out.log")
			f := openFile(t, FileConfig{
				Path:       path,
				MaxSize:    tt.maxSize,
				Compress:   tt.compress,
				QueueBytes: 64 << 20, // the test is about rotation: nothing may be dropped
			})
			captureChild(t, tt.script, n, f.WriteChunk)
			syncFile(t, f)
			st := f.Stats()
			if st.Lines != n || st.Dropped != 0 {
				t.Fatalf("stats %+v, want %d lines and none dropped", st, n)
			}
			rotated, err := RotatedFiles(path)
			if err != nil {
				t.Fatal(err)
			}
			if len(rotated) < 5 || int64(len(rotated)) != st.Rotations {
				t.Fatalf("%d rotated files, %d rotations; want several and equal", len(rotated), st.Rotations)
			}
			for _, name := range append(rotated, path) {
				if strings.HasSuffix(name, ".gz") != (tt.compress && name != path) {
					t.Fatalf("%s: compressed is not %v", name, tt.compress)
				}
				fi, err := os.Stat(name)
				if err != nil {
					t.Fatal(err)
				}
				// Full: the next line (13 bytes) did not fit.
				if !tt.compress && (fi.Size() > tt.maxSize || name != path && fi.Size() <= tt.maxSize-13) {
					t.Fatalf("%s: %d bytes, want at most MaxSize %d and nearly that", name, fi.Size(), tt.maxSize)
				}
			}
			checkSeq(t, readLog(t, path), n)
		})
	}
}

func TestFileIntervalRotation(t *testing.T) {
	clock := newFakeClock(time.Date(2024, 5, 10, 10, 15, 0, 0, time.Local))
	path := filepath.Join(t.TempDir(), "app.log")
	f := openFile(t, FileConfig{Path: path, Interval: "hourly", Clock: clock.Now})
	write := func(texts ...string) {
		for _, s := range texts {
			f.Write(Line{Time: clock.Now(), Text: s})
		}
		syncFile(t, f)
	}
	write("a1", "a2")
	clock.Set(time.Date(2024, 5, 10, 10, 59, 59, 0, time.Local))
	write("a3")
	clock.Set(time.Date(2024, 5, 10, 11, 0, 0, 0, time.Local))
	write("b1")
	clock.Set(time.Date(2024, 5, 10, 13, 30, 0, 0, time.Local)) // an idle hour: no empty file for it
	write("c1")
	clock.Set(time.Date(2024, 5, 10, 13, 45, 0, 0, time.Local))
	write("c2")

	rotated, err := RotatedFiles(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name  string
		lines []string
	}{
		{path + ".2024-05-10_11-00-00", []string{"a1", "a2", "a3"}},
		{path + ".2024-05-10_12-00-00", []string{"b1"}},
		{path, []string{"c1", "c2"}},
	}
	if len(rotated) != 2 {
		t.Fatalf("rotated files %v, want 2", rotated)
	}
	for i, w := range want {
		name := path
		if i < len(rotated) {
			name = rotated[i]
		}
		if name != w.name {
			t.Fatalf("file %d is %s, want %s", i, name, w.name)
		}
		if got := readLines(t, name); strings.Join(got, ",") != strings.Join(w.lines, ",") {
			t.Fatalf("%s has %q, want %q", name, got, w.lines)
		}
	}
}

func TestFileRetentionDeletesOldest(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	clock := newFakeClock(time.Date(2024, 5, 10, 10, 0, 0, 0, time.Local))
	// A file of an earlier run, older than anything this run rotates.
	if err := os.WriteFile(path+".2020-01-01_00-00-00", []byte("old\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := openFile(t, FileConfig{Path: path, MaxSize: 100, Retain: 3, Compress: true, Clock: clock.Now})
	const n = 40 // 10-byte lines: 10 per file, 3 rotations with 9-line files
	for i := range n {
		if i%10 == 0 {
			clock.Add(time.Second) // distinct stamps; rotations within one second are tested below
		}
		f.Write(Line{Text: fmt.Sprintf("line %04d", i)})
		if i%7 == 0 {
			syncFile(t, f) // interleave the janitor with the writer
		}
	}
	syncFile(t, f)
	rotated, err := RotatedFiles(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(rotated) != 3 {
		t.Fatalf("kept %v, want 3 files", rotated)
	}
	var lines []string
	for _, name := range append(rotated, path) {
		lines = append(lines, readLines(t, name)...)
	}
	// The kept files hold the newest lines, contiguous up to the last.
	for i, l := range lines {
		if want := fmt.Sprintf("line %04d", n-len(lines)+i); l != want {
			t.Fatalf("kept line %d is %q, want %q (files %v)", i, l, want, rotated)
		}
	}
	if len(lines) < 3*9 {
		t.Fatalf("kept %d lines, want at least 3 full files", len(lines))
	}
}

func TestFileRotationsInOneSecondKeepOrder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	clock := newFakeClock(time.Date(2024, 5, 10, 10, 0, 0, 0, time.Local))
	f := openFile(t, FileConfig{Path: path, MaxSize: 20, Clock: clock.Now})
	for i := range 30 {
		f.Write(Line{Text: fmt.Sprintf("line %04d", i)})
	}
	syncFile(t, f)
	rotated, _ := RotatedFiles(path)
	if len(rotated) != 14 || !strings.HasSuffix(rotated[13], "_13") {
		t.Fatalf("rotated %v, want 14 ending in _13", rotated)
	}
	lines := readLog(t, path)
	for i, l := range lines {
		if want := fmt.Sprintf("line %04d", i); l != want {
			t.Fatalf("line %d is %q, want %q", i, l, want)
		}
	}
}

// stalledDisk is a write hook that blocks every write until released.
type stalledDisk struct {
	entered chan struct{} // closed once the writer is stuck in a write
	release chan struct{}
	enter   sync.Once
	free    sync.Once
}

func newStalledDisk() *stalledDisk {
	return &stalledDisk{entered: make(chan struct{}), release: make(chan struct{})}
}

func (d *stalledDisk) write(f *os.File, p []byte) (int, error) {
	d.enter.Do(func() { close(d.entered) })
	<-d.release
	return f.Write(p)
}

func (d *stalledDisk) Release() { d.free.Do(func() { close(d.release) }) }

func TestFileNeverBlocksOnStalledDisk(t *testing.T) {
	// Lines one by one, and in chunks of which the queue takes the lines
	// that fit.
	for _, perChunk := range []int{1, 10} {
		t.Run(fmt.Sprintf("chunks of %d", perChunk), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "app.log")
			disk := newStalledDisk()
			f := openFile(t, FileConfig{Path: path, QueueBytes: 1000 * (11 + lineOverhead), writeHook: disk.write})
			t.Cleanup(disk.Release) // before Close (cleanups run last first): a failing test must not hang
			const n = 100_000
			f.Write(Line{Text: "line 00000"})
			<-disk.entered // the writer holds the first line and is stuck
			for i := 1; i < n; i += perChunk {
				var text strings.Builder
				k := min(perChunk, n-i)
				for j := range k {
					fmt.Fprintf(&text, "line %05d\n", i+j)
				}
				f.WriteChunk(Chunk{Text: text.String(), N: k}) // each returns: the test would hang otherwise
			}
			st := f.Stats()
			if st.Dropped < int64(n-1001*perChunk) {
				t.Fatalf("dropped %d lines, want at least %d", st.Dropped, n-1001*perChunk)
			}
			disk.Release()
			syncFile(t, f)
			checkGap(t, readLines(t, path), n, f.Stats())
		})
	}
}

// TestFileQueueTakesTheLinesThatFit fills the queue with a chunk of which
// only the first lines fit: those are written, the rest marked, and so is
// every line after them until the writer takes the queue.
func TestFileQueueTakesTheLinesThatFit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	disk := newStalledDisk()
	// Room for the chunk of line 1 and 2 and the first 4 lines of the next.
	limit := 2*11 + lineOverhead + 4*11 + lineOverhead
	f := openFile(t, FileConfig{Path: path, QueueBytes: limit, writeHook: disk.write})
	t.Cleanup(disk.Release) // before Close (cleanups run last first): a failing test must not hang
	f.Write(Line{Text: "line 00000"})
	<-disk.entered // the writer holds line 0 and is stuck
	chunk := func(from, to int) Chunk {
		var text strings.Builder
		for i := from; i < to; i++ {
			fmt.Fprintf(&text, "line %05d\n", i)
		}
		return Chunk{Text: text.String(), N: to - from}
	}
	f.WriteChunk(chunk(1, 3))
	f.WriteChunk(chunk(3, 13)) // lines 3 to 6 fit
	f.WriteChunk(chunk(13, 14))
	if st := f.Stats(); st.Dropped != 7 {
		t.Fatalf("dropped %d lines, want 7", st.Dropped)
	}
	disk.Release()
	syncFile(t, f)
	lines := readLines(t, path)
	checkGap(t, lines, 14, f.Stats())
	if len(lines) != 8 {
		t.Fatalf("file has %q, want lines 0 to 6 and a marker", lines)
	}
}

// checkGap checks a file that lost lines to a full queue: line 0 to k-1 in
// order, then one marker for the rest, matching the stats.
func checkGap(t *testing.T, lines []string, n int, st FileStats) {
	t.Helper()
	if len(lines) < 2 {
		t.Fatalf("file has %d lines", len(lines))
	}
	marker := lines[len(lines)-1]
	dropped, ok := ParseDropMarker(marker)
	if !ok {
		t.Fatalf("last line %q is not a marker", marker)
	}
	kept := lines[:len(lines)-1]
	for i, l := range kept {
		if want := fmt.Sprintf("line %05d", i); l != want {
			t.Fatalf("line %d is %q, want %q", i, l, want)
		}
	}
	if int64(len(kept))+dropped != int64(n) || dropped != st.Dropped || int64(len(kept)) != st.Lines {
		t.Fatalf("%d kept + %d marked != %d written, or stats %+v disagree", len(kept), dropped, n, st)
	}
}

// TestCaptureNeverBlocksApp runs an app through a pipe into a File whose
// disk is stalled: the app finishes, and the file marks what it lost.
func TestCaptureNeverBlocksApp(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	disk := newStalledDisk()
	const n = 200_000
	// A queue of a third of what the app writes (13-byte lines).
	f := openFile(t, FileConfig{Path: path, QueueBytes: n * 13 / 3, writeHook: disk.write})
	t.Cleanup(disk.Release) // before Close (cleanups run last first): a failing test must not hang
	// captureChild returns once the app exited.
	captureChild(t, "seq", n, f.WriteChunk)
	disk.Release()
	syncFile(t, f)
	st := f.Stats()
	kept, marked := checkGaps(t, readLines(t, path), "line %07d", n)
	if marked == 0 || marked != st.Dropped || kept != st.Lines {
		t.Fatalf("stats %+v, %d kept, %d marked", st, kept, marked)
	}
}

// checkGaps checks lines numbered by layout from 0 to n-1 in which markers
// stand for missing lines at the place they are missing from. It returns
// the lines kept and those marked.
func checkGaps(t *testing.T, lines []string, layout string, n int) (kept, marked int64) {
	t.Helper()
	next := 0
	for _, l := range lines {
		if m, ok := ParseDropMarker(l); ok {
			next += int(m)
			marked += m
			continue
		}
		if want := fmt.Sprintf(layout, next); l != want {
			t.Fatalf("line %q where %q belongs", l, want)
		}
		next++
		kept++
	}
	if next != n {
		t.Fatalf("lines and markers account for %d lines, want %d", next, n)
	}
	return kept, marked
}

func TestFileMarksLinesOfFailedWrites(t *testing.T) {
	// Lines one by one, and in chunks that a failed write cuts in the
	// middle.
	for _, perChunk := range []int{1, 7} {
		t.Run(fmt.Sprintf("chunks of %d", perChunk), func(t *testing.T) { testFailedWrites(t, perChunk) })
	}
}

func testFailedWrites(t *testing.T, perChunk int) {
	path := filepath.Join(t.TempDir(), "app.log")
	clock := newFakeClock(time.Date(2024, 5, 10, 10, 0, 0, 0, time.Local))
	var mu sync.Mutex
	fail := false
	var reports []error
	hook := func(fd *os.File, p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		if fail {
			// Like a disk that fills up in the middle of the write: part
			// of the buffer, ending inside a line, then ENOSPC.
			n, _ := fd.Write(p[:len(p)/2+3])
			return n, syscall.ENOSPC
		}
		return fd.Write(p)
	}
	f := openFile(t, FileConfig{
		Path: path, Clock: clock.Now, writeHook: hook,
		OnError: func(err error) { mu.Lock(); reports = append(reports, err); mu.Unlock() },
	})
	setFail := func(v bool) { mu.Lock(); fail = v; mu.Unlock() }
	write := func(from, to int) {
		for i := from; i < to; i += perChunk {
			var text strings.Builder
			for j := i; j < min(i+perChunk, to); j++ {
				fmt.Fprintf(&text, "line %05d\n", j)
			}
			f.WriteChunk(Chunk{Text: text.String(), N: min(i+perChunk, to) - i})
		}
	}
	write(0, 10)
	syncFile(t, f)
	setFail(true)
	write(10, 20)
	if err := f.Sync(); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Sync on a full disk: %v, want ENOSPC", err)
	}
	write(20, 30)
	_ = f.Sync()
	setFail(false)
	write(30, 40)
	syncFile(t, f)

	lines := readLines(t, path)
	var seen []int
	var marked int64
	for _, l := range lines {
		if n, ok := ParseDropMarker(l); ok {
			marked += n
			continue
		}
		i, err := strconv.Atoi(strings.TrimPrefix(l, "line "))
		if err != nil || len(l) != 10 {
			t.Fatalf("torn line %q in %q", l, lines)
		}
		seen = append(seen, i)
	}
	for j := 1; j < len(seen); j++ {
		if seen[j] <= seen[j-1] {
			t.Fatalf("lines out of order: %v", seen)
		}
	}
	st := f.Stats()
	if int64(len(seen)) != st.Lines || marked != st.Dropped || st.Lines+st.Dropped != 40 || st.Dropped == 0 {
		t.Fatalf("%d lines seen, %d marked, stats %+v", len(seen), marked, st)
	}
	if seen[len(seen)-1] != 39 {
		t.Fatalf("writing did not resume: last line %d", seen[len(seen)-1])
	}
	got := func() []error { mu.Lock(); defer mu.Unlock(); return slices.Clone(reports) }
	if r := got(); len(r) != 1 || !errors.Is(r[0], syscall.ENOSPC) {
		t.Fatalf("reports %v, want one ENOSPC (rate limited)", r)
	}
	// After a minute the next failure is reported, with the count of those
	// not reported.
	clock.Add(time.Minute)
	setFail(true)
	write(40, 41)
	_ = f.Sync()
	setFail(false)
	if r := got(); len(r) != 2 || !strings.Contains(r[1].Error(), "more errors since the last report") {
		t.Fatalf("reports %v, want a second one counting the suppressed", r)
	}
}

func TestFileJSON(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	f := openFile(t, FileConfig{Path: path, Format: Format{JSON: true, DateLayout: "YYYY-MM-DD HH:mm:ss.SSS Z"}})
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer w.Close()
		bw := bufio.NewWriter(w)
		for i := range 1000 {
			fmt.Fprintf(bw, "message %d with \"quotes\", \\, \t tab, \x01 and bad \xff bytes\r\n", i)
		}
		bw.WriteString(strings.Repeat("long", MaxLine/2) + "\n")
		bw.Flush()
	}()
	if err := Capture(r, "api", 1, StreamErr, f.WriteChunk); err != nil {
		t.Fatal(err)
	}
	r.Close()
	syncFile(t, f)
	lines := readLines(t, path)
	if len(lines) != 1002 {
		t.Fatalf("%d lines, want 1002", len(lines))
	}
	for i, l := range lines {
		var obj map[string]any
		if err := json.Unmarshal([]byte(l), &obj); err != nil {
			t.Fatalf("line %d does not parse: %v: %q", i, err, l)
		}
		for _, k := range []string{"timestamp", "app", "instance", "stream", "message"} {
			if _, ok := obj[k]; !ok {
				t.Fatalf("line %d has no %q: %s", i, k, l)
			}
		}
		if obj["app"] != "api" || obj["instance"] != 1.0 || obj["stream"] != "err" {
			t.Fatalf("line %d: wrong origin: %s", i, l)
		}
		if _, err := time.Parse("2006-01-02 15:04:05.000 -07:00", obj["timestamp"].(string)); err != nil {
			t.Fatalf("line %d: timestamp: %v", i, err)
		}
		if i < 1000 && obj["message"] != fmt.Sprintf("message %d with \"quotes\", \\, \t tab, \x01 and bad \uFFFD bytes\r", i) {
			t.Fatalf("line %d: message %q", i, obj["message"])
		}
		if split := obj["split"] == true; split != (i == 1000) {
			t.Fatalf("line %d: split %v", i, split)
		}
	}
}

func TestFileReopenAfterExternalRename(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	f := openFile(t, FileConfig{Path: path})
	f.Write(Line{Text: "before"})
	syncFile(t, f)
	if err := os.Rename(path, path+".1"); err != nil { // what logrotate does
		t.Fatal(err)
	}
	f.Write(Line{Text: "between"}) // still goes to the open file, now path.1
	if err := f.Reopen(); err != nil {
		t.Fatal(err)
	}
	f.Write(Line{Text: "after"})
	syncFile(t, f)
	if got := readLines(t, path+".1"); strings.Join(got, ",") != "before,between" {
		t.Fatalf("renamed file has %q", got)
	}
	if got := readLines(t, path); strings.Join(got, ",") != "after" {
		t.Fatalf("new file has %q", got)
	}
}

func TestFileTruncate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	f := openFile(t, FileConfig{Path: path})
	for i := range 100 {
		f.Write(Line{Text: fmt.Sprint("old ", i)})
	}
	// No Sync: Truncate goes through the writer after the lines above.
	if err := f.Truncate(); err != nil {
		t.Fatal(err)
	}
	f.Write(Line{Text: "new"})
	syncFile(t, f)
	if got := readLines(t, path); strings.Join(got, ",") != "new" {
		t.Fatalf("file has %q", got)
	}
}

func TestFileCreatesDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	path := filepath.Join(dir, "app.log")
	f := openFile(t, FileConfig{Path: path})
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != DirMode {
		t.Fatalf("directory: %v, mode %v", err, fi.Mode())
	}
	// A directory removed under a running File is created again at rotation
	// or Reopen.
	if err := os.RemoveAll(filepath.Dir(dir)); err != nil {
		t.Fatal(err)
	}
	if err := f.Reopen(); err != nil {
		t.Fatal(err)
	}
	f.Write(Line{Text: "x"})
	syncFile(t, f)
	if got := readLines(t, path); len(got) != 1 {
		t.Fatalf("file has %q", got)
	}
}

func TestFileOpenErrors(t *testing.T) {
	dir := t.TempDir()
	notDir := filepath.Join(dir, "file")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, cfg := range []FileConfig{
		{Path: ""},
		{Path: filepath.Join(notDir, "app.log")},
		{Path: filepath.Join(dir, "a.log"), Interval: "fortnightly"},
		{Path: filepath.Join(dir, "a.log"), Format: Format{DateLayout: "YYYY-QQ"}},
		{Path: filepath.Join(dir, "a.log"), MaxSize: -1},
	} {
		if f, err := OpenFile(cfg); err == nil {
			f.Close()
			t.Errorf("OpenFile(%+v) succeeded", cfg)
		} else if cfg.Path != "" && !strings.Contains(err.Error(), cfg.Path) {
			t.Errorf("error %q does not name the file", err)
		}
	}
}

func TestFileDevNullAndClose(t *testing.T) {
	f, err := OpenFile(FileConfig{Path: os.DevNull})
	if err != nil {
		t.Fatal(err)
	}
	f.Write(Line{Text: "x"})
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	path := filepath.Join(t.TempDir(), "app.log")
	f, err = OpenFile(FileConfig{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		f.Write(Line{Text: fmt.Sprintf("line %05d", i)})
	}
	if err := f.Close(); err != nil { // drains the queue first
		t.Fatal(err)
	}
	f.Write(Line{Text: "after close"})
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	for _, op := range []func() error{f.Sync, f.Reopen, f.Truncate} {
		if err := op(); !errors.Is(err, ErrClosed) {
			t.Fatalf("after Close: %v, want ErrClosed", err)
		}
	}
	lines := readLines(t, path)
	if len(lines) != 1000 || lines[999] != "line 00999" {
		t.Fatalf("%d lines after Close, want 1000", len(lines))
	}
}

func TestDropMarker(t *testing.T) {
	for _, n := range []int64{1, 2, 12345} {
		if got, ok := ParseDropMarker(DropMarker(n)); !ok || got != n {
			t.Errorf("ParseDropMarker(DropMarker(%d)) = %d, %v", n, got, ok)
		}
	}
	for _, s := range []string{"tend: dropped 1 lines", "tend: dropped 2 line", "tend: dropped 0 lines", "dropped 3 lines", "tend: dropped x lines"} {
		if _, ok := ParseDropMarker(s); ok {
			t.Errorf("ParseDropMarker(%q) accepted it", s)
		}
	}
}

// TestFileRotatesFileOfAnEarlierPeriod reopens a log last written
// yesterday: the first line of today rotates it, stamped with the boundary
// after its last write.
func TestFileRotatesFileOfAnEarlierPeriod(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	if err := os.WriteFile(path, []byte("yesterday\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	yesterday := time.Date(2024, 5, 9, 18, 0, 0, 0, time.Local)
	if err := os.Chtimes(path, yesterday, yesterday); err != nil {
		t.Fatal(err)
	}
	clock := newFakeClock(time.Date(2024, 5, 10, 9, 0, 0, 0, time.Local))
	f := openFile(t, FileConfig{Path: path, Interval: "daily", Clock: clock.Now})
	f.Write(Line{Text: "today"})
	syncFile(t, f)
	rotated, _ := RotatedFiles(path)
	if len(rotated) != 1 || rotated[0] != path+".2024-05-10_00-00-00" {
		t.Fatalf("rotated %v", rotated)
	}
	if got := strings.Join(readLines(t, rotated[0]), ","); got != "yesterday" {
		t.Fatalf("rotated file has %q", got)
	}
	if got := strings.Join(readLines(t, path), ","); got != "today" {
		t.Fatalf("current file has %q", got)
	}
}

// TestFileCompressesLeftovers opens a log whose earlier run was stopped
// before it compressed a rotated file: the new File compresses it.
func TestFileCompressesLeftovers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	left := path + ".2024-05-09_00-00-00"
	if err := os.WriteFile(left, []byte("left\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(left+".gz.tmp", []byte("half a gzip"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := openFile(t, FileConfig{Path: path, Compress: true})
	syncFile(t, f)
	rotated, _ := RotatedFiles(path)
	if len(rotated) != 1 || rotated[0] != left+".gz" {
		t.Fatalf("rotated %v, want only %s.gz", rotated, left)
	}
	if got := strings.Join(readLines(t, rotated[0]), ","); got != "left" {
		t.Fatalf("compressed file has %q", got)
	}
	if exists(left) || exists(left+".gz.tmp") {
		t.Fatal("the uncompressed file or the temporary file is left")
	}
}

func TestFileLineWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tend.log")
	clock := newFakeClock(time.Date(2024, 5, 10, 9, 0, 0, 0, time.UTC))
	f := openFile(t, FileConfig{Path: path, Clock: clock.Now, Format: Format{JSON: true}})
	logger := slog.New(slog.NewTextHandler(f.LineWriter("tend"), nil))
	logger.Info("started", "pid", 42)
	logger.Warn("two\nlines")
	syncFile(t, f)
	lines := readLines(t, path)
	if _, err := io.WriteString(f.LineWriter("raw"), "a\nb\n"); err != nil {
		t.Fatal(err)
	}
	syncFile(t, f)
	if raw := readLines(t, path)[2:]; len(raw) != 2 || !strings.Contains(raw[0], `"message":"a"`) || !strings.Contains(raw[1], `"message":"b"`) {
		t.Fatalf("one Write of two lines gave %q", raw)
	}
	if len(lines) != 2 {
		t.Fatalf("%d lines: %q", len(lines), lines)
	}
	var rec struct{ Timestamp, App, Message string }
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
		t.Fatal(err)
	}
	if rec.App != "tend" || rec.Timestamp != "2024-05-10T09:00:00.000Z" || !strings.Contains(rec.Message, "msg=started pid=42") {
		t.Fatalf("record %+v", rec)
	}
	// slog quotes the newline, so the record stays one line.
	if !strings.Contains(lines[1], `msg=\"two\\nlines\"`) {
		t.Fatalf("second record %s", lines[1])
	}
}

// Configure changes an open File from the next line: a file past a lowered
// MaxSize rotates, Retain prunes what was rotated before, the new format
// stamps the next lines, and no line is lost or written twice.
func TestFileConfigureChangesTheOpenFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	clock := newFakeClock(time.Date(2024, 5, 10, 10, 0, 0, 0, time.Local))
	f := openFile(t, FileConfig{Path: path, Clock: clock.Now})
	for i := range 100 {
		f.Write(Line{Text: fmt.Sprintf("line %07d", i), Time: clock.Now()})
	}
	syncFile(t, f)
	if rotated, _ := RotatedFiles(path); len(rotated) != 0 {
		t.Fatalf("rotated before Configure: %v", rotated)
	}
	if err := f.Configure(FileConfig{Path: path, MaxSize: 1024, Retain: 2}); err != nil {
		t.Fatal(err)
	}
	// 13-byte lines: a 1K file holds 78. The 1300 bytes already there go
	// to a rotated file at the next line.
	for i := 100; i < 400; i++ {
		if i%50 == 0 {
			clock.Add(time.Second)
		}
		f.Write(Line{Text: fmt.Sprintf("line %07d", i), Time: clock.Now()})
	}
	syncFile(t, f)
	rotated, err := RotatedFiles(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(rotated) != 2 {
		t.Fatalf("rotated files %v, want the 2 newest kept", rotated)
	}
	if st := f.Stats(); st.Rotations < 4 {
		t.Errorf("%d rotations, want at least 4", st.Rotations)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() > 1024 {
		t.Errorf("current file: %v, %v; want at most 1024 bytes", fi.Size(), err)
	}
	kept := readLog(t, path)
	for i, l := range kept {
		if want := fmt.Sprintf("line %07d", 400-len(kept)+i); l != want {
			t.Fatalf("kept line %d is %q, want %q", i, l, want)
		}
	}

	// The format changes at the next line; a bad one changes nothing.
	if err := f.Configure(FileConfig{Path: path, Format: Format{DateLayout: "YYYY-MM-DD ["}}); err == nil {
		t.Error("Configure accepted a bad date layout")
	}
	if err := f.Configure(FileConfig{Path: path, MaxSize: -1}); err == nil {
		t.Error("Configure accepted a negative MaxSize")
	}
	if err := f.Configure(FileConfig{Path: path, Format: Format{Time: true, DateLayout: "YYYY"}}); err != nil {
		t.Fatal(err)
	}
	f.Write(Line{Text: "stamped", Time: clock.Now()})
	syncFile(t, f)
	lines := readLines(t, path)
	if last := lines[len(lines)-1]; last != "2024: stamped" {
		t.Errorf("last line %q, want %q", last, "2024: stamped")
	}
	if st := f.Stats(); st.Dropped != 0 || st.Lines != 401 {
		t.Errorf("stats %+v, want 401 lines and none dropped", st)
	}
}

// Compress set by Configure starts the janitor a File opened without one,
// and it compresses the files rotated before.
func TestFileConfigureStartsTheJanitor(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	clock := newFakeClock(time.Date(2024, 5, 10, 10, 0, 0, 0, time.Local))
	f := openFile(t, FileConfig{Path: path, MaxSize: 100, Clock: clock.Now})
	for i := range 30 {
		clock.Add(time.Second)
		f.Write(Line{Text: fmt.Sprintf("line %04d", i)})
	}
	syncFile(t, f)
	if err := f.Configure(FileConfig{Path: path, MaxSize: 100, Compress: true}); err != nil {
		t.Fatal(err)
	}
	syncFile(t, f)
	rotated, _ := RotatedFiles(path)
	if len(rotated) < 2 {
		t.Fatalf("rotated %v", rotated)
	}
	for _, name := range rotated {
		if !strings.HasSuffix(name, ".gz") {
			t.Errorf("%s not compressed after Configure set Compress", name)
		}
	}
	if got := readLog(t, path); len(got) != 30 {
		t.Errorf("%d lines, want 30", len(got))
	}
}
