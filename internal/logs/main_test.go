package logs

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// The test binary doubles as the apps whose output the tests capture: with
// LOGS_CHILD set, TestMain runs that script instead of the tests.
func TestMain(m *testing.M) {
	if script := os.Getenv("LOGS_CHILD"); script != "" {
		runChild(script)
		return
	}
	goleak.VerifyTestMain(m)
}

// runChild is an app writing LOGS_LINES sequence-numbered lines as fast as
// it can: "seq" writes each line with its own write(2), as console.log to a
// pipe does; "seqchunk" writes 1,000 lines at a time, as the bench's
// count.js does; "seqbuf" buffers them as a batch-minded app would.
func runChild(script string) {
	n, _ := strconv.Atoi(os.Getenv("LOGS_LINES"))
	var w interface {
		Write([]byte) (int, error)
	} = os.Stdout
	size := 64 << 10
	if script == "seqchunk" {
		size = 1000 * len("line 0000000\n")
	}
	bw := bufio.NewWriterSize(os.Stdout, size)
	if script != "seq" {
		w = bw
	}
	line := []byte("line 0000000\n")
	for i := range n {
		formatSeq(line[5:12], i)
		if _, err := w.Write(line); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	if err := bw.Flush(); err != nil {
		os.Exit(1)
	}
	os.Exit(0)
}

// formatSeq writes i as 7 zero-padded digits into b.
func formatSeq(b []byte, i int) {
	for j := len(b) - 1; j >= 0; j-- {
		b[j] = byte('0' + i%10)
		i /= 10
	}
}

// fakeClock is a settable clock for rotation and rate-limit tests.
type fakeClock struct {
	mu sync.Mutex // guards t
	t  time.Time
}

func newFakeClock(t time.Time) *fakeClock { return &fakeClock{t: t} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func itoa(i int) string { return strconv.Itoa(i) }
