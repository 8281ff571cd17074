package logs

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// RotatedFiles returns the rotated files of the log at path, oldest first:
// <path>.<YYYY-MM-DD_HH-MM-SS>[_N][.gz], as File names them. A missing
// directory has none.
func RotatedFiles(path string) ([]string, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list rotated logs of %s: %w", path, err)
	}
	type rotated struct {
		name, stamp string
		seq         int
	}
	var found []rotated
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), base+".")
		if !ok || e.IsDir() {
			continue
		}
		rest = strings.TrimSuffix(rest, ".gz")
		stamp, seqText, hasSeq := rest, "", false
		if len(rest) > len(stampLayout) {
			stamp, seqText = rest[:len(stampLayout)], rest[len(stampLayout):]
			seqText, hasSeq = strings.CutPrefix(seqText, "_")
			if !hasSeq {
				continue
			}
		}
		if _, err := time.Parse(stampLayout, stamp); err != nil {
			continue
		}
		seq := 0
		if hasSeq {
			if seq, err = strconv.Atoi(seqText); err != nil || seq < 1 {
				continue
			}
		}
		found = append(found, rotated{filepath.Join(dir, e.Name()), stamp, seq})
	}
	slices.SortFunc(found, func(a, b rotated) int {
		if c := strings.Compare(a.stamp, b.stamp); c != 0 {
			return c
		}
		if a.seq != b.seq {
			return a.seq - b.seq
		}
		return strings.Compare(a.name, b.name) // name before name.gz
	})
	names := make([]string, len(found))
	for i, r := range found {
		names[i] = r.name
	}
	return names, nil
}

// janitor prunes and compresses the rotated files of one File, so that the
// writer goroutine never waits for a directory listing, an unlink or gzip.
// OpenFile starts its goroutine; File.Close stops it through quit.
type janitor struct {
	path   string
	report func(error)

	mu       sync.Mutex // guards compress and retain, which File.Configure changes
	compress bool
	retain   int

	wake  chan struct{}      // capacity 1: a file was rotated
	syncc chan chan struct{} // File.Sync: work, then close the channel
	quit  chan struct{}      // closed by File.Close
	done  chan struct{}      // closed when run returns
}

// set changes what the janitor does, and has it do it now.
func (j *janitor) set(compress bool, retain int) {
	j.mu.Lock()
	j.compress, j.retain = compress, retain
	j.mu.Unlock()
	j.poke()
}

func (j *janitor) poke() {
	select {
	case j.wake <- struct{}{}:
	default:
	}
}

func (j *janitor) run() {
	defer close(j.done)
	// Finish what an earlier run left: a compression cut short by Close or
	// a crash, or more files than a lowered Retain allows.
	j.work()
	for {
		select {
		case <-j.wake:
			j.work()
		case reply := <-j.syncc:
			j.work()
			close(reply)
		case <-j.quit:
			return
		}
	}
}

// work applies retention, then compresses what is left uncompressed. It
// works from the directory rather than from a list of rotations, so a
// leftover of an earlier run is handled like a new rotation.
func (j *janitor) work() {
	j.mu.Lock()
	compress, retain := j.compress, j.retain
	j.mu.Unlock()
	files, err := RotatedFiles(j.path)
	if err != nil {
		j.report(err)
		return
	}
	if retain > 0 && len(files) > retain {
		for _, name := range files[:len(files)-retain] {
			if err := os.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
				j.report(fmt.Errorf("remove old log: %w", err))
			}
		}
		files = files[len(files)-retain:]
	}
	if !compress {
		return
	}
	for _, name := range files {
		if strings.HasSuffix(name, ".gz") {
			continue
		}
		select {
		case <-j.quit:
			return
		default:
		}
		if err := j.gzip(name); err != nil && !errors.Is(err, errQuit) {
			j.report(fmt.Errorf("compress log %s: %w", name, err))
		}
	}
}

var errQuit = errors.New("closing")

// gzip writes name.gz through a temporary file, fsyncs it, and only then
// removes name, so that a crash at any point leaves the lines in one of them.
func (j *janitor) gzip(name string) (err error) {
	src, err := os.Open(name)
	if err != nil {
		return err
	}
	defer src.Close()
	fi, err := src.Stat()
	if err != nil {
		return err
	}
	tmp := name + ".gz.tmp"
	dst, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, FileMode)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			dst.Close()
			os.Remove(tmp)
		}
	}()
	zw, err := gzip.NewWriterLevel(dst, gzip.DefaultCompression)
	if err != nil {
		return err
	}
	zw.Name, zw.ModTime = filepath.Base(name), fi.ModTime()
	if _, err = io.Copy(zw, quitReader{src, j.quit}); err != nil {
		return err
	}
	if err = zw.Close(); err != nil {
		return err
	}
	if err = dst.Sync(); err != nil {
		return err
	}
	if err = dst.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, name+".gz"); err != nil {
		return err
	}
	return os.Remove(name)
}

// quitReader stops a copy when quit is closed, so that Close does not wait
// for the compression of a large file.
type quitReader struct {
	r    io.Reader
	quit <-chan struct{}
}

func (q quitReader) Read(p []byte) (int, error) {
	select {
	case <-q.quit:
		return 0, errQuit
	default:
		return q.r.Read(p)
	}
}
