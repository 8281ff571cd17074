package tune

import (
	"bufio"
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestQuietTrimmer(t *testing.T) {
	trims := 0
	q := &Trimmer{served: true, trim: func() error { trims++; return nil }}
	for i, c := range []struct {
		requests int // during the period
		trim     bool
		why      string
	}{
		{0, true, "a quiet first period trims what starting up faulted in"},
		{0, false, "quiet periods without requests do not trim again"},
		{3, false, "a busy period does not trim"},
		{1, false, "still busy"},
		{0, true, "the quiet period after busy ones trims"},
		{0, false, "and only once"},
		{1, false, "busy again"},
		{0, true, "quiet again"},
	} {
		for range c.requests {
			q.Touch()
		}
		before := trims
		got, err := q.step()
		if err != nil {
			t.Fatal(err)
		}
		if got != c.trim || trims-before != map[bool]int{true: 1, false: 0}[c.trim] {
			t.Fatalf("period %d (%s): trimmed %v (%d calls), want %v", i, c.why, got, trims-before, c.trim)
		}
	}
}

func TestQuietTrimmerStopsOnError(t *testing.T) {
	ticks := make(chan time.Time, 1)
	var errs []error
	q := &Trimmer{trim: func() error { return errors.New("no madvise here") }}
	ticks <- time.Time{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		q.Run(context.Background(), ticks, func(err error) { errs = append(errs, err) })
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("run kept going after the trim failed")
	}
	if len(errs) != 1 {
		t.Fatalf("errors reported: %v, want one", errs)
	}
}

// TestReleaseCode checks that the test binary's read-only mappings of its
// own executable shrink: the pages it does not run stay out.
func TestReleaseCode(t *testing.T) {
	before := exeRSS(t)
	if err := releaseCode(); err != nil {
		t.Fatal(err)
	}
	after := exeRSS(t)
	t.Logf("executable's read-only pages resident: %d KiB before, %d KiB after", before, after)
	if after >= before {
		t.Fatalf("resident pages of the executable did not shrink: %d KiB before, %d KiB after", before, after)
	}
}

// exeRSS sums the Rss of the read-only mappings of the executable, in KiB.
func exeRSS(t *testing.T) int {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	total, in := 0, false
	s := bufio.NewScanner(f)
	for s.Scan() {
		fs := strings.Fields(s.Text())
		if len(fs) >= 5 && strings.Contains(fs[0], "-") && !strings.HasSuffix(fs[0], ":") {
			in = len(fs) >= 6 && fs[5] == exe && !strings.Contains(fs[1], "w")
			continue
		}
		if in && len(fs) >= 2 && fs[0] == "Rss:" {
			n, _ := strconv.Atoi(fs[1])
			total += n
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	if total == 0 {
		t.Fatalf("no read-only mapping of %s in /proc/self/smaps", exe)
	}
	return total
}
