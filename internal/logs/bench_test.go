package logs

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// goApp returns how to start this test binary as an app writing n lines
// with script (see runChild).
func goApp(script string) func(int) *exec.Cmd {
	return func(n int) *exec.Cmd {
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), "LOGS_CHILD="+script, "LOGS_LINES="+strconv.Itoa(n))
		return cmd
	}
}

func nodeApp(n int) *exec.Cmd {
	return exec.Command("node", "-e",
		`for (let i = 0; i < `+strconv.Itoa(n)+`; i++) console.log("line " + String(i).padStart(7, "0"))`)
}

// BenchmarkCaptureToFile is the benchmark in small: an app writes
// 1,000,000 numbered lines as fast as it can, once to /dev/null and once
// through a pipe that Capture drains into a File and a Hub, as the daemon
// wires them. It reports the lines per second stored (until the last line
// is in the file), the app's run time in both cases (the runs alternate, so
// that drifts of the machine hit both), their ratio, and the CPU time this
// process (the daemon's part) spent per run.
//
// Apps: "go-per-line" writes each line with its own write(2), the hardest
// case for a pipe; "go-chunked" writes 1,000 lines at a time, as the bench's
// count.js does; "go-buffered" writes 64 KiB at a time, the ceiling of the
// pipeline; "node" uses console.log, which writes to a pipe synchronously,
// line by line (skipped without node).
func BenchmarkCaptureToFile(b *testing.B) {
	const n = 1_000_000
	apps := []struct {
		name string
		app  func(int) *exec.Cmd
	}{
		{"go-per-line", goApp("seq")},
		{"go-chunked", goApp("seqchunk")},
		{"go-buffered", goApp("seqbuf")},
		{"node", nodeApp},
	}
	for _, a := range apps {
		b.Run(a.name, func(b *testing.B) {
			if a.name == "node" {
				if _, err := exec.LookPath("node"); err != nil {
					b.Skip("node not installed")
				}
			}
			var devnull, tend, stored, cpu time.Duration
			for range b.N {
				devnull += runApp(b, a.app(n), nil)
				path := filepath.Join(b.TempDir(), "app-out.log")
				f, err := OpenFile(FileConfig{Path: path})
				if err != nil {
					b.Fatal(err)
				}
				hub := NewHub(1000)
				start, cpuStart := time.Now(), cpuTime(b)
				tend += runApp(b, a.app(n), func(c Chunk) { f.WriteChunk(c); hub.Publish(c) })
				if err := f.Sync(); err != nil {
					b.Fatal(err)
				}
				stored += time.Since(start)
				cpu += cpuTime(b) - cpuStart
				if st := f.Stats(); st.Lines != n {
					b.Fatalf("stored %d lines of %d (%d dropped)", st.Lines, n, st.Dropped)
				}
				if err := f.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/stored.Seconds(), "lines/s")
			b.ReportMetric(float64(devnull.Milliseconds())/float64(b.N), "devnull-ms")
			b.ReportMetric(float64(tend.Milliseconds())/float64(b.N), "tend-ms")
			b.ReportMetric(tend.Seconds()/devnull.Seconds(), "ratio")
			b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms")
		})
	}
}

// cpuTime returns the CPU time this process has used.
func cpuTime(b testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// runApp runs cmd to /dev/null when emit is nil, and otherwise through a
// Pipe that Capture drains into emit; it returns the app's run time.
func runApp(b testing.TB, cmd *exec.Cmd, emit func(Chunk)) time.Duration {
	b.Helper()
	cmd.Stderr = os.Stderr
	var r, w *os.File
	var err error
	if emit == nil {
		w, err = os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	} else {
		r, w, err = Pipe()
	}
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stdout = w
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	w.Close()
	if emit != nil {
		defer r.Close()
		if err := Capture(r, "bench", 0, StreamOut, emit); err != nil {
			b.Fatal(err)
		}
	}
	if err := cmd.Wait(); err != nil {
		b.Fatal(err)
	}
	return time.Since(start)
}

// BenchmarkFileWrite measures what a line costs a File, Write and writer
// together, per format: it syncs every 10,000 lines so that the queue never
// overflows, and fails if a line is dropped.
func BenchmarkFileWrite(b *testing.B) {
	for _, format := range []Format{{}, {Time: true, DateLayout: "YYYY-MM-DD HH:mm:ss Z"}, {JSON: true}} {
		name := "text"
		if format.Time {
			name = "time"
		}
		if format.JSON {
			name = "json"
		}
		b.Run(name, func(b *testing.B) {
			f, err := OpenFile(FileConfig{Path: filepath.Join(b.TempDir(), "app.log"), Format: format})
			if err != nil {
				b.Fatal(err)
			}
			l := Line{Time: time.Now(), App: "bench", Stream: StreamOut, Text: "GET /api/users/42 200 3.1ms"}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				f.Write(l)
				if i++; i%10_000 == 0 {
					if err := f.Sync(); err != nil {
						b.Fatal(err)
					}
				}
			}
			if err := f.Sync(); err != nil {
				b.Fatal(err)
			}
			if st := f.Stats(); st.Dropped > 0 {
				b.Fatalf("dropped %d lines", st.Dropped)
			}
			if err := f.Close(); err != nil {
				b.Fatal(err)
			}
		})
	}
}
