package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"time"
)

const (
	countScript = "testdata/node/count.js"
	countLines  = 1_000_000
	// lifetimePreload is loaded into the counting app (node --require) to
	// write down its start and run time when it exits.
	lifetimePreload = "bench/lifetime.js"
	// logRunTimeout bounds one run of the counting app, until its file is
	// complete; PM2 takes about 3 s on the results machine.
	logRunTimeout = 2 * time.Minute
	// logPollEvery is how often the log file's size is checked.
	logPollEvery = 2 * time.Millisecond
)

// logRun is one run of the counting app, timed from node's start.
type logRun struct {
	wroteMS  float64 // until its last write to stdout was done
	ranMS    float64 // until it exited
	storedMS float64 // until the last line was in the file
	// daemonCPU is the CPU time the manager's daemon spent from the start
	// until the file was complete, in ms: what storing the lines cost it.
	daemonCPU float64
	lines     linesCheck
}

// linesCheck is what was found in a log file.
type linesCheck struct {
	lines       int    // lines in the file
	inOrder     int    // leading lines that read "line 0", "line 1"... in order
	first, last string // the first and last line
}

func (c linesCheck) complete() bool { return c.lines == countLines && c.inOrder == countLines }

// logsSection runs an app that writes a million numbered lines as fast as
// Node allows: under tend, under PM2, and with its output sent to
// /dev/null, interleaved, rotating who goes first.
func (b *bench) logsSection(ctx context.Context) (result, error) {
	type who struct {
		name string
		m    manager // nil: /dev/null
	}
	whos := []who{{"/dev/null", nil}}
	for _, m := range b.managers() {
		whos = append(whos, who{m.name(), m})
	}
	daemons := map[string]int{}
	for _, m := range b.managers() {
		pid, err := m.daemonPID(ctx)
		if err != nil {
			return result{}, err
		}
		daemons[m.name()] = pid
	}
	runs := map[string][]logRun{}
	logf("logs: %d runs each of %d lines", b.o.loadRuns, countLines)
	// Run 0 is a warm-up, not kept: the first run reads node, the fixture
	// and the managers' code paths from disk. A run lasts as long as the
	// app takes, so the load duration is not used.
	err := b.interleave(len(whos), func(i, k int, _ time.Duration) error {
		w := whos[k]
		var r logRun
		var err error
		if w.m == nil {
			r, err = b.countToDevNull(ctx, i)
		} else {
			r, err = b.countUnder(ctx, w.m, daemons[w.name], i)
		}
		if err != nil {
			return fmt.Errorf("%s, run %d: %w", w.name, i, err)
		}
		logf("logs run %d, %s: wrote %.1f ms, exited %.1f ms, file complete %.1f ms after start; daemon CPU %.0f ms; %d lines, %d in order",
			i, w.name, r.wroteMS, r.ranMS, r.storedMS, r.daemonCPU, r.lines.lines, r.lines.inOrder)
		if i > 0 {
			runs[w.name] = append(runs[w.name], r)
		}
		return nil
	})
	if err != nil {
		return result{}, err
	}

	wrote := map[string][]float64{}
	ran := map[string][]float64{}
	stored := map[string][]float64{}
	rate := map[string][]float64{}
	cpu := map[string][]float64{}
	for name, rs := range runs {
		for _, r := range rs {
			wrote[name] = append(wrote[name], r.wroteMS)
			ran[name] = append(ran[name], r.ranMS)
			if name != "/dev/null" {
				stored[name] = append(stored[name], r.storedMS)
				rate[name] = append(rate[name], countLines/(r.storedMS/1000))
				cpu[name] = append(cpu[name], r.daemonCPU)
			}
		}
	}
	logSamples("logs: app's time to write its lines (ms)", wrote)
	logSamples("logs: app's time to exit (ms)", ran)
	logSamples("logs: time until the file was complete (ms)", stored)
	logSamples("logs: lines stored per second", rate)
	logSamples("logs: daemon CPU while storing (ms)", cpu)

	var r result
	rows := [][]string{{"app's output to", "lines written by (median)", "exited at (median)", "file complete at (median)", "lines stored/s (median)", "daemon CPU (median)"}}
	for _, w := range whos {
		rows = append(rows, []string{w.name, ms1(stat(wrote, w.name, median)), ms1(stat(ran, w.name, median)),
			ms1(stat(stored, w.name, median)), perSec(stat(rate, w.name, median)), cell(stat(cpu, w.name, median), "%.0f ms")})
	}
	r.detail = fmt.Sprintf("%s lines of `%s`, times from node's start.\n\n", thousands(countLines), countScript) + table(rows)

	// The figures are the app's run time, start to exit. The time
	// until its last write is done is given too: under PM2 every app lives
	// about 3 s after its work, which the run time includes and the write
	// time does not.
	rT, rP, rB := stat(ran, "tend", median), stat(ran, "PM2", median), stat(ran, "/dev/null", median)
	r.add(row{"logs, 1M lines: app's run time (start to exit), median", ms1(rT), ms1(rP), ms1(rB) + " (/dev/null)", lower(rT, rP), "", ""})
	ranT, ranP := pairedRatio(ran["tend"], ran["/dev/null"]), pairedRatio(ran["PM2"], ran["/dev/null"])
	r.add(row{"logs: app's run time ÷ its /dev/null run time, paired median", times(ranT), times(ranP), "–", "–", "≤ 1.5×", met(ranT <= 1.5)})
	if b.pm2 != nil {
		vsP := pairedRatio(ran["tend"], ran["PM2"])
		r.add(row{"logs: app's run time under tend ÷ under PM2, paired median", times(vsP), "–", "–", "–", "≤ 0.5×", met(vsP <= 0.5)})
	}
	tT, tP, tB := stat(wrote, "tend", median), stat(wrote, "PM2", median), stat(wrote, "/dev/null", median)
	r.add(row{"logs: app's time to write its lines, median", ms1(tT), ms1(tP), ms1(tB) + " (/dev/null)", lower(tT, tP), "", ""})
	devT, devP := pairedRatio(wrote["tend"], wrote["/dev/null"]), pairedRatio(wrote["PM2"], wrote["/dev/null"])
	r.add(row{"logs: app's time to write ÷ its /dev/null time, paired median", times(devT), times(devP), "–", "–", "", ""})
	if b.pm2 != nil {
		vsP := pairedRatio(wrote["tend"], wrote["PM2"])
		r.add(row{"logs: app's time to write under tend ÷ under PM2, paired median", times(vsP), "–", "–", "–", "", ""})
	}
	sT, sP := stat(rate, "tend", median), stat(rate, "PM2", median)
	r.add(row{"logs: lines stored per second, median", perSec(sT), perSec(sP), "–", higher(sT, sP), "≥ 500,000/s", met(sT >= 500_000)})
	allT, cellT := linesCell(runs["tend"])
	_, cellP := linesCell(runs["PM2"])
	r.add(row{"logs: lines in the file, every run", cellT, cellP, "–", "–", "all, in order", met(allT)})
	return r, nil
}

// linesCell sums up the line checks of every run: whether every run's file
// held every line in order, and how that reads in the table.
func linesCell(rs []logRun) (bool, string) {
	if len(rs) == 0 {
		return false, "–"
	}
	worst := rs[0].lines
	for _, r := range rs {
		if !r.lines.complete() {
			worst = r.lines
		}
	}
	if worst.complete() {
		return true, fmt.Sprintf("%s of %s, in order (%q…%q)", thousands(countLines), thousands(countLines), worst.first, worst.last)
	}
	return false, fmt.Sprintf("worst run: %s lines, first %s in order", thousands(int64(worst.lines)), thousands(int64(worst.inOrder)))
}

// countToDevNull runs the app with node directly, its stdout on /dev/null:
// what the app costs with nothing reading its output.
func (b *bench) countToDevNull(ctx context.Context, run int) (logRun, error) {
	lifetime := filepath.Join(b.tmp, fmt.Sprintf("lifetime-devnull-%d.json", run))
	ctx, cancel := context.WithTimeout(ctx, logRunTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, b.node, "--require="+filepath.Join(b.root, lifetimePreload), countScript)
	cmd.Dir = b.root
	cmd.Env = append(slices.Clone(b.env), "COUNT="+strconv.Itoa(countLines), "TEND_BENCH_LIFETIME="+lifetime)
	// No Stdout: os/exec opens /dev/null for it, as `> /dev/null` would.
	if out, err := cmd.CombinedOutput(); err != nil {
		return logRun{}, fmt.Errorf("node %s: %w: %s", countScript, err, out)
	}
	lt, err := readLifetime(ctx, lifetime)
	return logRun{wroteMS: lt.WroteMS, ranMS: lt.RanMS}, err
}

// countUnder runs the app under m with autorestart off and waits until its
// log file holds every byte and the manager shows it stopped; then checks
// every line and removes the app and its files.
func (b *bench) countUnder(ctx context.Context, m manager, daemon, run int) (logRun, error) {
	ctx, cancel := context.WithTimeout(ctx, logRunTimeout)
	defer cancel()
	name := fmt.Sprintf("count%d", run)
	lifetime := filepath.Join(b.tmp, fmt.Sprintf("lifetime-%s-%d.json", m.name(), run))
	path := m.logPath(name)
	want := countBytes(countLines)
	a := app{
		name:     name,
		script:   countScript,
		env:      []string{"COUNT=" + strconv.Itoa(countLines), "TEND_BENCH_LIFETIME=" + lifetime},
		once:     true,
		nodeArgs: "--require=" + filepath.Join(b.root, lifetimePreload),
	}
	cpu0, err := cpuTicks(daemon)
	if err != nil {
		return logRun{}, fmt.Errorf("%s daemon: %w", m.name(), err)
	}
	if err := m.start(ctx, a); err != nil {
		return logRun{}, err
	}
	// The file's size is polled rather than watched: a stat every 2 ms
	// costs nothing next to the app, and fsnotify would be a dependency.
	var stored time.Time
	for {
		st, err := os.Stat(path)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return logRun{}, err
		}
		if err == nil && st.Size() >= want {
			stored = time.Now()
			break
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", daemon)); err != nil {
			return logRun{}, fmt.Errorf("%s daemon (pid %d) is gone", m.name(), daemon)
		}
		if err := sleep(ctx, logPollEvery); err != nil {
			size := int64(0)
			if st != nil {
				size = st.Size()
			}
			return logRun{}, fmt.Errorf("%s holds %d of %d bytes after %s", path, size, want, logRunTimeout)
		}
	}
	cpu1, err := cpuTicks(daemon)
	if err != nil {
		return logRun{}, fmt.Errorf("%s daemon: %w", m.name(), err)
	}
	lt, err := readLifetime(ctx, lifetime)
	if err != nil {
		return logRun{}, err
	}
	if err := waitStatus(ctx, m, name, "stopped", logRunTimeout); err != nil {
		return logRun{}, err
	}
	check, err := checkLines(path)
	if err != nil {
		return logRun{}, err
	}
	if !check.complete() {
		logf("%s: %s: %d lines, %d in order; first %q, last %q", m.name(), path, check.lines, check.inOrder, check.first, check.last)
	}
	if err := m.remove(ctx, name); err != nil {
		return logRun{}, err
	}
	os.Remove(path)
	return logRun{
		wroteMS:   lt.WroteMS,
		ranMS:     lt.RanMS,
		storedMS:  millis(stored.Sub(lt.origin())),
		daemonCPU: float64(cpu1-cpu0) * 1000 / userHZ,
		lines:     check,
	}, nil
}

// countBytes is the size of "line 0\n" … "line n-1\n".
func countBytes(n int) int64 {
	var size int64
	lo := 0
	for digits, hi := 1, 10; lo < n; digits, hi = digits+1, hi*10 {
		end := min(n, hi)
		size += int64(end-lo) * int64(len("line \n")+digits)
		lo = end
	}
	return size
}

// lifetime is what the preload writes as the app exits.
type lifetime struct {
	OriginMS float64 `json:"origin_ms"` // when node started, Unix ms
	WroteMS  float64 `json:"wrote_ms"`  // its last stdout write was done, ms after start
	RanMS    float64 `json:"ran_ms"`    // it exited, ms after start
}

func (l lifetime) origin() time.Time {
	sec, frac := math.Modf(l.OriginMS / 1000)
	return time.Unix(int64(sec), int64(frac*1e9))
}

// readLifetime waits for the preload's file, which it writes as the process
// exits.
func readLifetime(ctx context.Context, path string) (lifetime, error) {
	for {
		b, err := os.ReadFile(path)
		if err == nil && len(b) > 0 {
			var l lifetime
			if err := json.Unmarshal(b, &l); err != nil {
				return l, fmt.Errorf("%s: %w", path, err)
			}
			return l, nil
		}
		if err := sleep(ctx, 5*time.Millisecond); err != nil {
			return lifetime{}, fmt.Errorf("the app never wrote %s (did it exit?): %w", path, err)
		}
	}
}

// checkLines reads a log file and counts its lines and how many of them,
// from the first, read "line 0", "line 1"... in order.
func checkLines(path string) (linesCheck, error) {
	f, err := os.Open(path)
	if err != nil {
		return linesCheck{}, err
	}
	defer f.Close()
	var c linesCheck
	ordered := true
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		if c.lines == 0 {
			c.first = l
		}
		c.last = l
		if ordered && l == "line "+strconv.Itoa(c.lines) {
			c.inOrder++
		} else {
			ordered = false
		}
		c.lines++
	}
	return c, sc.Err()
}
