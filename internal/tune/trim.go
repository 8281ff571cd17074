package tune

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The daemon's executable is one static binary with the CLI, the edge, the
// TUI and every parser in it. Starting up, restoring apps and answering a
// burst of commands run code from all over it, and the kernel maps each
// page it faults in together with its neighbours (fault-around, 64 KiB), so
// the resident set ends up holding most of the binary's 15 MB although an
// idle daemon runs only its sampler, its timers and the garbage collector.
// Once the control API has been quiet for a while after such a burst, the
// daemon drops its mappings of the executable's read-only pages: code it
// still runs faults back in from the page cache (a minor fault, no disk
// read), the rest stays out of its resident set. The pages remain in the
// page cache either way; what changes is that the daemon no longer pins
// them, and that its RSS shows what it uses.

// QuietPeriod is how long the API must be quiet before a trim.
const QuietPeriod = 5 * time.Second

// Trimmer trims after the API has been quiet for one period following
// activity. The API's middleware calls Touch; Run ticks.
type Trimmer struct {
	requests atomic.Uint64 // API requests served so far
	trim     func() error  // releaseCode outside tests

	// Owned by the goroutine that calls step.
	seen   uint64 // requests at the previous step
	served bool   // requests came since the last trim (or starting up did)
}

// NewTrimmer returns a Trimmer that releases the executable's code pages.
func NewTrimmer() *Trimmer { return &Trimmer{trim: releaseCode} }

// Touch counts one API request; request goroutines call it at once.
func (q *Trimmer) Touch() { q.requests.Add(1) }

// step ends one period: it trims when the period was quiet and the one
// before it was not (or, the first time, once starting up is over).
func (q *Trimmer) step() (trimmed bool, err error) {
	if n := q.requests.Load(); n != q.seen {
		q.seen, q.served = n, true
		return false, nil
	}
	if !q.served {
		return false, nil
	}
	q.served = false
	return true, q.trim()
}

// Run steps at each tick until ctx is done or a trim fails (the same error
// would come every time), which it hands to onErr. The daemon's Run starts
// it and waits for it.
func (q *Trimmer) Run(ctx context.Context, every <-chan time.Time, onErr func(error)) {
	q.seen, q.served = q.requests.Load(), true
	for {
		select {
		case <-ctx.Done():
			return
		case <-every:
		}
		if _, err := q.step(); err != nil {
			onErr(err)
			return
		}
	}
}

// releaseCode drops this process's mappings of its executable's read-only
// pages (code, read-only data, the symbol table the runtime reads). Writable
// mappings are left alone: a private page that was written holds data only
// this process has.
func releaseCode() error {
	var exe syscall.Stat_t
	if err := syscall.Stat("/proc/self/exe", &exe); err != nil {
		return fmt.Errorf("release code pages: %w", err)
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return fmt.Errorf("release code pages: %w", err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		// start-end perms offset dev inode path
		fs := strings.Fields(s.Text())
		if len(fs) < 6 || strings.Contains(fs[1], "w") {
			continue
		}
		if ino, err := strconv.ParseUint(fs[4], 10, 64); err != nil || ino != exe.Ino || fs[3] != devString(exe.Dev) {
			continue
		}
		start, end, ok := strings.Cut(fs[0], "-")
		if !ok {
			continue
		}
		lo, err1 := strconv.ParseUint(start, 16, 64)
		hi, err2 := strconv.ParseUint(end, 16, 64)
		if err1 != nil || err2 != nil || hi <= lo {
			continue
		}
		if _, _, errno := syscall.Syscall(syscall.SYS_MADVISE, uintptr(lo), uintptr(hi-lo), unix.MADV_DONTNEED); errno != 0 {
			return fmt.Errorf("release code pages %s: %w", fs[0], errno)
		}
	}
	return s.Err()
}

// devString renders a device number as /proc/self/maps does ("fd:01").
func devString(dev uint64) string {
	return fmt.Sprintf("%02x:%02x", unix.Major(dev), unix.Minor(dev))
}
