package logs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// mountSmallFS mounts a 64 KiB tmpfs for the test and unmounts it at the
// end. Mounting needs root (or CAP_SYS_ADMIN): the test is skipped without,
// except in CI, where skipping would hide the test.
func mountSmallFS(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=64k,mode=0700"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("mount tmpfs (the full-disk test needs root in CI): %v", err)
		}
		t.Skipf("mount tmpfs: %v (needs root)", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// TestFileFullDisk fills a small file system: writes keep returning, the
// error is reported once, lines are counted and marked as dropped, and
// writing resumes once space is freed.
func TestFileFullDisk(t *testing.T) {
	dir := mountSmallFS(t)
	clock := newFakeClock(time.Date(2024, 5, 10, 10, 0, 0, 0, time.Local))
	// Most of the space goes to a file the test deletes later.
	filler := filepath.Join(dir, "filler")
	if err := os.WriteFile(filler, make([]byte, 40<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var reports []error
	path := filepath.Join(dir, "logs", "app-out.log") // the directory is created
	f := openFile(t, FileConfig{
		Path: path, Clock: clock.Now,
		OnError: func(err error) { mu.Lock(); reports = append(reports, err); mu.Unlock() },
	})
	text := strings.Repeat("x", 90) // 100-byte lines with the number
	const full = 1000               // 100 KB: more than the file system holds
	for i := range full {
		f.Write(Line{Text: fmt.Sprintf("%s %08d", text, i)})
		if i%100 == 0 {
			_ = f.Sync() // many separate writes fail, not just one
		}
	}
	if err := f.Sync(); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Sync on a full disk: %v, want ENOSPC", err)
	}
	st := f.Stats()
	if st.Dropped == 0 || st.Lines+st.Dropped != full {
		t.Fatalf("stats %+v, want drops and every line counted", st)
	}
	mu.Lock()
	if len(reports) != 1 || !errors.Is(reports[0], syscall.ENOSPC) || !strings.Contains(reports[0].Error(), path) {
		t.Fatalf("reports %v, want one ENOSPC naming the file", reports)
	}
	mu.Unlock()

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	const more = 50
	for i := full; i < full+more; i++ {
		f.Write(Line{Text: fmt.Sprintf("%s %08d", text, i)})
	}
	syncFile(t, f)

	lines := readLines(t, path)
	var last int
	var marked int64
	for j, l := range lines {
		if n, ok := ParseDropMarker(l); ok {
			marked += n
			continue
		}
		var i int
		if _, err := fmt.Sscanf(l[len(text)+1:], "%d", &i); err != nil || len(l) != len(text)+9 {
			t.Fatalf("line %d is torn: %q", j, l)
		}
		if j > 0 && i <= last {
			t.Fatalf("line %d: %d after %d", j, i, last)
		}
		last = i
	}
	st = f.Stats()
	if last != full+more-1 || marked != st.Dropped || st.Lines+st.Dropped != full+more {
		t.Fatalf("last line %d, %d marked, stats %+v: writing did not resume cleanly", last, marked, st)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reports) != 1 {
		t.Fatalf("reports %v, want still one within the minute", reports)
	}
}
