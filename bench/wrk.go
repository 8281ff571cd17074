package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// The load every HTTP figure uses: wrk with 2 threads (one per core of the
// machine the results come from) over 32 keep-alive connections.
const (
	wrkThreads = 2
	wrkConns   = 32
	// wrkWarmup is an unmeasured run per system before the measured ones:
	// JIT, connection pools and page cache warm up for all alike.
	wrkWarmup = 2 * time.Second
)

// interleave runs b.o.loadRuns measured rounds after a warm-up round 0,
// whose results are not to be kept; each round runs every one of n systems
// once, rotating which goes first, so that load on a shared machine falls on
// all alike. run gets the round, the system's index and how long a load
// should last (wrkWarmup in round 0, -duration after).
func (b *bench) interleave(n int, run func(round, i int, d time.Duration) error) error {
	for round := range b.o.loadRuns + 1 {
		d := b.o.duration
		if round == 0 {
			d = wrkWarmup
		}
		for j := range n {
			if err := run(round, (round+j)%n, d); err != nil {
				return err
			}
		}
	}
	return nil
}

// loadSamples splits the wrk runs of each system into its requests/s and
// its p99s (ms), and logs both under the section's name.
func loadSamples(section string, load map[string][]wrkResult) (rps, p99s, cpus map[string][]float64) {
	rps, p99s, cpus = map[string][]float64{}, map[string][]float64{}, map[string][]float64{}
	for name, rs := range load {
		for _, r := range rs {
			rps[name] = append(rps[name], r.rps)
			p99s[name] = append(p99s[name], r.p99)
			if r.cpu > 0 && r.requests > 0 {
				cpus[name] = append(cpus[name], float64(r.cpu)*1e6/userHZ/float64(r.requests))
			}
		}
	}
	logSamples(section+": requests/s", rps)
	logSamples(section+": p99 (ms)", p99s)
	logSamples(section+": proxy CPU per request (µs)", cpus)
	return rps, p99s, cpus
}

// withCPU runs run, a wrk run, and sets its result's cpu to the CPU time
// the processes pids names used meanwhile: the proxy's (tend's daemon,
// nginx's master and workers). pids nil measures nothing.
func withCPU(pids func() ([]int, error), run func() (wrkResult, error)) (wrkResult, error) {
	if pids == nil {
		return run()
	}
	ticks := func() (int64, error) {
		ps, err := pids()
		if err != nil {
			return 0, err
		}
		var sum int64
		for _, pid := range ps {
			t, err := cpuTicks(pid)
			if err != nil {
				return 0, err
			}
			sum += t
		}
		return sum, nil
	}
	before, err := ticks()
	if err != nil {
		return wrkResult{}, err
	}
	r, err := run()
	if err != nil {
		return r, err
	}
	after, err := ticks()
	if err != nil {
		return r, err
	}
	r.cpu = after - before
	return r, nil
}

// withChildren is pid and the children of its main thread: nginx's master
// (one thread) and its workers.
func withChildren(pid int) func() ([]int, error) {
	return func() ([]int, error) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
		if err != nil {
			return nil, err
		}
		pids := []int{pid}
		for _, f := range strings.Fields(string(b)) {
			child, err := strconv.Atoi(f)
			if err != nil {
				return nil, fmt.Errorf("/proc/%d/task/%d/children: %q", pid, pid, f)
			}
			pids = append(pids, child)
		}
		return pids, nil
	}
}

// wrkResult is what one wrk run reports.
type wrkResult struct {
	requests int     // completed, whatever their status
	seconds  float64 // how long wrk ran
	rps      float64
	p99      float64 // ms
	// Socket errors by kind, and responses with a status of 400 or more
	// ("Non-2xx or 3xx responses").
	connect, read, write, timeout, non2xx int
	cpu                                   int64 // USER_HZ ticks the proxy used during the run; 0: not measured
}

// failed is every request that did not get a 2xx or 3xx: wrk counts a
// request on a connection the server closed as a read error, and one slower
// than its 2 s timeout as a timeout; it does not retry.
func (r wrkResult) failed() int {
	return r.connect + r.read + r.write + r.timeout + r.non2xx
}

func (r wrkResult) String() string {
	return fmt.Sprintf("%.0f req/s, p99 %.2f ms, %d requests in %.1f s, errors connect %d read %d write %d timeout %d, non-2xx %d",
		r.rps, r.p99, r.requests, r.seconds, r.connect, r.read, r.write, r.timeout, r.non2xx)
}

// wrkRun is one wrk process. Its goroutine, started by startWrk, is the only
// caller of Wait and closes done; stop or the end of -d ends the process.
type wrkRun struct {
	cmd  *exec.Cmd
	out  bytes.Buffer // stdout, read only after done
	errb tail
	done chan struct{}
	err  error // Wait's result, set before done closes
}

// startWrk starts wrk against url for at most d; the context bounds it
// further, 30 s past d. extra goes to wrk before the URL (-H ...).
func startWrk(ctx context.Context, wrk, url string, env []string, d time.Duration, extra ...string) (*wrkRun, error) {
	secs := int((d + time.Second - 1) / time.Second)
	ctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	args := []string{"-t", strconv.Itoa(wrkThreads), "-c", strconv.Itoa(wrkConns), "-d", strconv.Itoa(secs) + "s", "--latency"}
	args = append(append(args, extra...), url)
	cmd := exec.CommandContext(ctx, wrk, args...)
	cmd.Env = env
	w := &wrkRun{cmd: cmd, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = &w.out, &w.errb
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, fmt.Errorf("start wrk: %w", err)
	}
	go func() {
		defer cancel()
		w.err = cmd.Wait()
		close(w.done)
	}()
	return w, nil
}

// wait waits for wrk to finish on its own and parses what it printed.
func (w *wrkRun) wait() (wrkResult, error) {
	<-w.done
	return w.result()
}

// stop ends wrk early: on SIGINT it stops and prints its results as if its
// time were up.
func (w *wrkRun) stop() (wrkResult, error) {
	w.cmd.Process.Signal(os.Interrupt)
	select {
	case <-w.done:
	case <-time.After(10 * time.Second):
		w.cmd.Process.Kill()
		<-w.done
	}
	return w.result()
}

func (w *wrkRun) result() (wrkResult, error) {
	if w.err != nil {
		return wrkResult{}, fmt.Errorf("wrk: %w: %s", w.err, strings.TrimSpace(w.errb.String()))
	}
	r, err := parseWrk(w.out.String())
	if err != nil {
		return r, fmt.Errorf("wrk: %w; it printed:\n%s", err, w.out.String())
	}
	return r, nil
}

// runWrk runs wrk against url for d.
func runWrk(ctx context.Context, wrk, url string, env []string, d time.Duration, extra ...string) (wrkResult, error) {
	w, err := startWrk(ctx, wrk, url, env, d, extra...)
	if err != nil {
		return wrkResult{}, err
	}
	return w.wait()
}

// parseWrk reads wrk 4's report:
//
//	  Latency Distribution
//	     99%   83.38ms
//	  15301 requests in 3.01s, 3.59MB read
//	  Socket errors: connect 0, read 12, write 0, timeout 0
//	  Non-2xx or 3xx responses: 3
//	Requests/sec:   5081.58
//
// The error lines appear only when there were errors.
func parseWrk(out string) (wrkResult, error) {
	var r wrkResult
	var haveP99, haveRPS, haveCount bool
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		f := strings.Fields(l)
		switch {
		case len(f) == 2 && f[0] == "99%":
			d, err := parseWrkDuration(f[1])
			if err != nil {
				return r, err
			}
			r.p99, haveP99 = millis(d), true
		case strings.HasPrefix(l, "Requests/sec:") && len(f) == 2:
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				return r, fmt.Errorf("requests/sec %q: %w", f[1], err)
			}
			r.rps, haveRPS = v, true
		case len(f) >= 4 && f[1] == "requests" && f[2] == "in":
			n, err := strconv.Atoi(f[0])
			if err != nil {
				return r, fmt.Errorf("request count %q: %w", f[0], err)
			}
			d, err := parseWrkDuration(strings.TrimSuffix(f[3], ","))
			if err != nil {
				return r, err
			}
			r.requests, r.seconds, haveCount = n, d.Seconds(), true
		case strings.HasPrefix(l, "Socket errors:"):
			if _, err := fmt.Sscanf(l, "Socket errors: connect %d, read %d, write %d, timeout %d", &r.connect, &r.read, &r.write, &r.timeout); err != nil {
				return r, fmt.Errorf("%q: %w", l, err)
			}
		case strings.HasPrefix(l, "Non-2xx or 3xx responses:"):
			if _, err := fmt.Sscanf(l, "Non-2xx or 3xx responses: %d", &r.non2xx); err != nil {
				return r, fmt.Errorf("%q: %w", l, err)
			}
		}
	}
	if !haveP99 || !haveRPS || !haveCount {
		return r, errors.New("no latency distribution, request count or requests/sec in its output")
	}
	return r, nil
}

// parseWrkDuration reads wrk's units: 812.00us, 5.52ms, 3.01s, 1.00m, 1.00h.
func parseWrkDuration(s string) (time.Duration, error) {
	units := []struct {
		suffix string
		unit   time.Duration
	}{{"us", time.Microsecond}, {"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseFloat(num, 64)
			if err != nil {
				return 0, fmt.Errorf("wrk duration %q: %w", s, err)
			}
			return time.Duration(v * float64(u.unit)), nil
		}
	}
	return 0, fmt.Errorf("wrk duration %q: unknown unit", s)
}
