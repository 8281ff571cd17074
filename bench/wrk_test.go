package main

import (
	"fmt"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

func TestParseWrk(t *testing.T) {
	const clean = `Running 10s test @ http://127.0.0.1:18081/
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     8.22ms   14.13ms 210.10ms   97.01%
    Req/Sec     2.56k   789.16     4.47k    71.67%
  Latency Distribution
     50%    5.52ms
     75%    7.49ms
     90%   11.73ms
     99%   83.38ms
  15301 requests in 3.01s, 3.59MB read
Requests/sec:   5081.58
Transfer/sec:      1.19MB
`
	const failing = `Running 3m test @ http://127.0.0.1:40000/
  2 threads and 32 connections
  Latency Distribution
     50%  812.00us
     75%    1.10ms
     90%    1.90ms
     99%    1.02s
  120345 requests in 1.00m, 28.10MB read
  Socket errors: connect 1, read 12, write 3, timeout 4
  Non-2xx or 3xx responses: 5
Requests/sec:   2005.75
Transfer/sec:    479.50KB
`
	tests := []struct {
		name    string
		out     string
		want    wrkResult
		wantErr bool
	}{
		{"clean", clean, wrkResult{requests: 15301, seconds: 3.01, rps: 5081.58, p99: 83.38}, false},
		{"errors", failing, wrkResult{requests: 120345, seconds: 60, rps: 2005.75, p99: 1020, connect: 1, read: 12, write: 3, timeout: 4, non2xx: 5}, false},
		{"no latency", "  10 requests in 1.00s, 1KB read\nRequests/sec: 10.00\n", wrkResult{}, true},
		{"bad unit", "     99%   83.38xs\n", wrkResult{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseWrk(tt.out)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseWrk: err %v, want error %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if !near(got.p99, tt.want.p99) || !near(got.seconds, tt.want.seconds) {
				t.Errorf("p99 %v ms, %v s; want %v ms, %v s", got.p99, got.seconds, tt.want.p99, tt.want.seconds)
			}
			got.p99, got.seconds = tt.want.p99, tt.want.seconds
			if got != tt.want {
				t.Errorf("parseWrk = %+v, want %+v", got, tt.want)
			}
			if f := got.failed(); f != tt.want.connect+tt.want.read+tt.want.write+tt.want.timeout+tt.want.non2xx {
				t.Errorf("failed() = %d", f)
			}
		})
	}
}

func TestParseWrkDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"812.00us": 812 * time.Microsecond,
		"5.52ms":   5520 * time.Microsecond,
		"3.01s":    3010 * time.Millisecond,
		"1.50m":    90 * time.Second,
		"1.00h":    time.Hour,
	} {
		got, err := parseWrkDuration(in)
		if err != nil || (got-want).Abs() > time.Microsecond {
			t.Errorf("parseWrkDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
}

func TestCountBytes(t *testing.T) {
	for n, want := range map[int]int64{0: 0, 1: 7, 10: 70, 11: 78, 1_000_000: 11_888_890} {
		if got := countBytes(n); got != want {
			t.Errorf("countBytes(%d) = %d, want %d", n, got, want)
		}
	}
}

func near(a, b float64) bool { return a-b < 1e-6 && b-a < 1e-6 }

func TestWithChildrenListsTheChildren(t *testing.T) {
	cmd := exec.Command("sh", "-c", "sleep 30 & echo $!; wait")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	var child int
	if _, err := fmt.Fscan(out, &child); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(child, syscall.SIGKILL)
	pids, err := withChildren(cmd.Process.Pid)()
	if err != nil {
		t.Fatal(err)
	}
	if len(pids) != 2 || pids[0] != cmd.Process.Pid || pids[1] != child {
		t.Fatalf("withChildren(%d) = %v, want [%d %d]", cmd.Process.Pid, pids, cmd.Process.Pid, child)
	}
}
