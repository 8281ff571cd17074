// Command bench measures tend against PM2 on the figures someone replacing one
// with the other would ask about: how fast listing answers with apps running,
// how much memory the daemon keeps, and how soon a crashed app serves again.
//
// Run it from the repository root:
//
//	go run ./bench [-runs 15] [-tend bin/tend] [-skip-pm2]
//
// bench/README.md says what each figure means and holds the latest results.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const (
	idleApps      = 10
	idleScript    = "testdata/node/idle.js"
	expressScript = "testdata/node/express-app.js"

	setupTimeout   = 5 * time.Minute // go build, npm ci
	onlineTimeout  = time.Minute
	servingTimeout = 20 * time.Second
	cleanupTimeout = 30 * time.Second

	// settle is how long an app must have been serving before the crash
	// figure crashes it again. Both managers count an exit within min_uptime
	// (1 s by default) as unstable and stop restarting after max_restarts of
	// those; waiting it out measures the ordinary restart of a stable app,
	// the one production sees, without touching PM2's defaults.
	settle = 1500 * time.Millisecond
	// pollEvery and httpTimeout set the crash figure's resolution. Before
	// the new process listens a connection is refused at once, so the
	// timeout only matters for a process that accepted and is slow to
	// answer, and then waiting for it is the right measurement.
	pollEvery   = 2 * time.Millisecond
	httpTimeout = 250 * time.Millisecond

	rssSamples = 5
)

type options struct {
	runs    int
	tend    string
	skipPM2 bool
}

func main() {
	var o options
	flag.IntVar(&o.runs, "runs", 15, "measured runs per figure and manager")
	flag.StringVar(&o.tend, "tend", "", "tend binary to measure (default: build bin/tend with go build)")
	flag.BoolVar(&o.skipPM2, "skip-pm2", false, "measure tend and the bare node baseline only")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "bench: unexpected arguments %q\n", flag.Args())
		os.Exit(2)
	}

	// An interrupt cancels ctx; run's deferred cleanup still stops both
	// managers and sweeps what is left, on a context of its own.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, o)
	interrupted := ctx.Err() != nil
	stop()
	if err != nil {
		if interrupted {
			err = fmt.Errorf("interrupted, cleaned up (%w)", err)
		}
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	if o.runs < 1 {
		return errors.New("-runs must be at least 1")
	}
	root, err := repoRoot()
	if err != nil {
		return err
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return fmt.Errorf("node is needed for the fixtures and PM2: %w", err)
	}
	tendBin, err := tendBinary(ctx, root, o.tend)
	if err != nil {
		return err
	}
	pm2Bin := ""
	if !o.skipPM2 {
		if pm2Bin, err = ensurePM2(ctx, root); err != nil {
			return err
		}
	}

	tmp, err := os.MkdirTemp("", "tend-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	marker := fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano())
	env := childEnv(marker)
	// Deferred before the managers' shutdowns, so it runs after them.
	defer func() {
		if left := sweep(marker); len(left) > 0 {
			logf("killed processes the managers left behind: %s", strings.Join(left, "; "))
		}
	}()

	ms := []manager{newTend(tendBin, root, filepath.Join(tmp, "tend"), env)}
	if !o.skipPM2 {
		ms = append(ms, newPM2(pm2Bin, root, filepath.Join(tmp, "pm2"), env))
	}
	for _, m := range ms {
		defer func() {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
			defer cancel()
			if err := m.shutdown(cctx); err != nil {
				logf("%s: shutdown: %v", m.name(), err)
			}
		}()
	}

	idle := make([]string, idleApps)
	for i := range idle {
		idle[i] = fmt.Sprintf("idle%d", i)
	}
	for _, m := range ms {
		logf("%s: starting %d idle apps", m.name(), idleApps)
		for _, n := range idle {
			if err := m.start(ctx, app{name: n, script: idleScript}); err != nil {
				return err
			}
		}
		if _, err := waitOnline(ctx, m, idle, onlineTimeout); err != nil {
			return err
		}
	}
	logf("ls latency: %d runs each", o.runs)
	ls, err := measureList(ctx, ms, o.runs)
	if err != nil {
		return err
	}
	logf("daemon RSS")
	rss, err := measureRSS(ctx, ms)
	if err != nil {
		return err
	}
	// The crash figure runs alone, so that PM2's per-process monitoring of
	// ten more apps does not weigh on it.
	for _, m := range ms {
		if err := m.deleteAll(ctx); err != nil {
			return err
		}
	}
	crash, err := measureCrash(ctx, ms, node, root, env, o.runs)
	if err != nil {
		return err
	}

	versions := fmt.Sprintf("node %s; PM2 %s; tend %s", firstLine(ctx, node, "--version"), pm2Version(root, o.skipPM2), tendVersion(ctx, ms[0]))
	// The raw samples go to stderr, to judge the noise behind a median.
	for _, f := range []struct {
		name    string
		samples map[string][]float64
	}{{"ls", ls}, {"RSS", rss}, {"crash to serving", crash}} {
		for _, who := range []string{"tend", "PM2", "bare"} {
			if xs := f.samples[who]; len(xs) > 0 {
				logf("%s, %s: %.1f", f.name, who, xs)
			}
		}
	}
	fmt.Print(report(o.runs, versions, ls, rss, crash))
	return nil
}

// measureList times the JSON listing under each manager, interleaved and
// alternating which goes first, so load on this shared machine falls on both
// alike. Samples are in milliseconds.
func measureList(ctx context.Context, ms []manager, runs int) (map[string][]float64, error) {
	samples := map[string][]float64{}
	// Run -1 is a warm-up, not kept: the first exec of each binary reads it
	// from disk, which a user's next call does not.
	for i := -1; i < runs; i++ {
		for j := range ms {
			m := ms[(max(i, 0)+j)%len(ms)]
			d, err := timeList(ctx, m)
			if err != nil {
				return nil, err
			}
			if i >= 0 {
				samples[m.name()] = append(samples[m.name()], millis(d))
			}
		}
	}
	return samples, nil
}

func timeList(ctx context.Context, m manager) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, cmdTimeout)
	defer cancel()
	cmd := m.listCommand(ctx) // no Stdout: os/exec opens /dev/null
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("%s: %s: %w", m.name(), strings.Join(cmd.Args, " "), err)
	}
	return d, nil
}

// measureRSS reads each daemon's resident set a few times, in MiB. The apps
// are separate processes and not counted: the figure is what the manager
// itself costs.
func measureRSS(ctx context.Context, ms []manager) (map[string][]float64, error) {
	samples := map[string][]float64{}
	for _, m := range ms {
		pid, err := m.daemonPID(ctx)
		if err != nil {
			return nil, err
		}
		var st map[string]int64
		for range rssSamples {
			if st, err = procStatus(pid); err != nil {
				return nil, fmt.Errorf("%s daemon: %w", m.name(), err)
			}
			samples[m.name()] = append(samples[m.name()], float64(st["VmRSS"])/1024)
			if err := sleep(ctx, 200*time.Millisecond); err != nil {
				return nil, err
			}
		}
		// Where the memory is, for whoever sets out to shrink it: anonymous
		// (heap, stacks) or file pages (the mapped executable).
		logf("%s daemon pid %d: VmRSS %.1f MiB = anon %.1f + file %.1f + shmem %.1f; VmHWM %.1f MiB", m.name(), pid,
			float64(st["VmRSS"])/1024, float64(st["RssAnon"])/1024, float64(st["RssFile"])/1024, float64(st["RssShmem"])/1024, float64(st["VmHWM"])/1024)
	}
	return samples, nil
}

// procStatus returns the kB fields of /proc/<pid>/status (VmRSS, RssAnon...)
// in KiB, by name.
func procStatus(pid int) (map[string]int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st := map[string]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if num, isKB := strings.CutSuffix(strings.TrimSpace(v), " kB"); ok && isKB {
			if n, err := strconv.ParseInt(num, 10, 64); err == nil {
				st[k] = n
			}
		}
	}
	if _, ok := st["VmRSS"]; !ok {
		return nil, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
	}
	return st, sc.Err()
}

// target is one thing the crash figure measures: the Express fixture under a
// manager, or (m nil) the fixture started by hand as the baseline.
type target struct {
	name  string
	m     manager
	port  int
	pid   int       // the process serving now
	since time.Time // when pid was first seen serving
}

// measureCrash times, under each manager, how long from sending GET /crash
// until GET / answers 200 from a new process; and, as the floor any manager
// adds to, how long from spawning node by hand until its first 200. Runs
// are interleaved, rotating who goes first. Samples are in milliseconds.
func measureCrash(ctx context.Context, ms []manager, node, root string, env []string, runs int) (map[string][]float64, error) {
	var targets []*target
	for _, m := range ms {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		logf("%s: starting the Express fixture on 127.0.0.1:%d", m.name(), port)
		if err := m.start(ctx, app{name: "express", script: expressScript, port: port}); err != nil {
			return nil, err
		}
		if _, err := waitOnline(ctx, m, []string{"express"}, onlineTimeout); err != nil {
			return nil, err
		}
		pid, at, err := waitServing(ctx, port, func(int) bool { return true }, nil)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m.name(), err)
		}
		targets = append(targets, &target{name: m.name(), m: m, port: port, pid: pid, since: at})
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	targets = append(targets, &target{name: "bare", port: port})

	logf("crash to serving: %d runs each", runs)
	samples := map[string][]float64{}
	// Run -1 is a warm-up, not kept: the first restart after a start is
	// slower for all three (page cache, a cold daemon code path).
	for i := -1; i < runs; i++ {
		for j := range targets {
			t := targets[(max(i, 0)+j)%len(targets)]
			var d time.Duration
			var err error
			if t.m == nil {
				d, err = bareStart(ctx, node, root, env, t.port)
			} else {
				if err := sleep(ctx, time.Until(t.since.Add(settle))); err != nil {
					return nil, err
				}
				d, err = crashToServing(ctx, t)
			}
			if err != nil {
				which := "warm-up run"
				if i >= 0 {
					which = fmt.Sprintf("run %d", i+1)
				}
				return nil, fmt.Errorf("%s: %s: %w", t.name, which, err)
			}
			if i >= 0 {
				samples[t.name] = append(samples[t.name], millis(d))
			}
		}
	}
	return samples, nil
}

func crashToServing(ctx context.Context, t *target) (time.Duration, error) {
	start := time.Now()
	if _, err := get(ctx, fmt.Sprintf("http://127.0.0.1:%d/crash", t.port), time.Second); err != nil {
		return 0, fmt.Errorf("GET /crash: %w", err)
	}
	old := t.pid
	pid, at, err := waitServing(ctx, t.port, func(pid int) bool { return pid != old }, nil)
	if err != nil {
		return 0, fmt.Errorf("after /crash of pid %d: %w", old, err)
	}
	t.pid, t.since = pid, at
	return at.Sub(start), nil
}

// bareStart spawns the fixture with node directly and times it until its
// first 200, then kills it.
func bareStart(ctx context.Context, node, root string, env []string, port int) (time.Duration, error) {
	cmd := exec.Command(node, expressScript)
	cmd.Dir = root
	cmd.Env = append(slices.Clone(env), "PORT="+strconv.Itoa(port))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("spawn node: %w", err)
	}
	// This goroutine is the only caller of Wait; exited is closed once the
	// process is reaped and stderr fully copied. The deferred kill ends it.
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	defer func() {
		cmd.Process.Kill()
		<-exited
	}()
	want := cmd.Process.Pid
	_, at, err := waitServing(ctx, port, func(pid int) bool { return pid == want }, exited)
	if err != nil {
		select {
		case <-exited:
			return 0, fmt.Errorf("node exited before serving: %s", strings.TrimSpace(stderr.String()))
		default:
			return 0, err
		}
	}
	return at.Sub(start), nil
}

// client never keeps a connection: each poll must reach whichever process
// listens now, as a new client would. Proxy nil keeps all traffic on the
// loopback whatever the environment says.
var client = &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}

// waitServing polls GET / on the loopback port until it answers 200 with a
// pid that accept takes, and returns that pid and when the answer came. It
// gives up after servingTimeout, or when abort closes.
func waitServing(ctx context.Context, port int, accept func(int) bool, abort <-chan struct{}) (int, time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, servingTimeout)
	defer cancel()
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	var lastErr error
	for {
		body, err := get(ctx, url, httpTimeout)
		at := time.Now()
		if err == nil {
			var v struct {
				PID int `json:"pid"`
			}
			err = json.Unmarshal(body, &v)
			if err == nil && v.PID > 0 && accept(v.PID) {
				return v.PID, at, nil
			}
		}
		lastErr = err
		t := time.NewTimer(pollEvery)
		select {
		case <-t.C:
		case <-abort:
			t.Stop()
			return 0, time.Time{}, errors.New("aborted")
		case <-ctx.Done():
			t.Stop()
			return 0, time.Time{}, fmt.Errorf("%s: no 200 from the expected process within %s (last error: %v)", url, servingTimeout, lastErr)
		}
	}
}

func get(ctx context.Context, url string, timeout time.Duration) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %s", resp.Status)
	}
	return body, nil
}

// freePort asks the kernel for a free loopback port. Another process could
// take it before the app binds it; the app would then fail to serve and the
// run fail with a timeout, not a wrong figure.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// report renders the results as a Markdown table, ready for the README.
func report(runs int, versions string, ls, rss, crash map[string][]float64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n### %s\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "%d runs per figure; %d CPUs, %s; Linux %s; %s; %s\n\n",
		runs, runtime.NumCPU(), cpuModel(), readTrim("/proc/sys/kernel/osrelease"), versions, runtime.Version())

	rows := [][]string{{"figure", "tend", "PM2", "baseline", "PM2 ÷ tend", "target", "met"}}
	// withRatio is false where both figures are small differences of noisy
	// measurements, whose ratio means nothing.
	add := func(figure, unit string, tend, pm2, base float64, withRatio bool, target, met string) {
		cell := func(v float64) string {
			if math.IsNaN(v) {
				return "–"
			}
			return fmt.Sprintf("%.1f %s", v, unit)
		}
		ratio := "–"
		if withRatio && !math.IsNaN(pm2) && tend > 0 {
			ratio = fmt.Sprintf("%.1f×", pm2/tend)
		}
		rows = append(rows, []string{figure, cell(tend), cell(pm2), cell(base), ratio, target, met})
	}
	met := func(ok bool) string {
		if ok {
			return "yes"
		}
		return "**no**"
	}
	none := math.NaN()
	stat := func(s map[string][]float64, name string, f func([]float64) float64) float64 {
		if len(s[name]) == 0 {
			return none
		}
		return f(s[name])
	}

	lsT := stat(ls, "tend", median)
	add(fmt.Sprintf("`ls` JSON, %d idle apps: median", idleApps), "ms", lsT, stat(ls, "PM2", median), none, true, "≤ 20 ms", met(lsT <= 20))
	add(fmt.Sprintf("`ls` JSON, %d idle apps: p90", idleApps), "ms", stat(ls, "tend", p90), stat(ls, "PM2", p90), none, true, "", "")
	rssT := stat(rss, "tend", median)
	add(fmt.Sprintf("daemon RSS, %d idle apps", idleApps), "MiB", rssT, stat(rss, "PM2", median), none, true, "≤ 15 MiB", met(rssT <= 15))
	cT, cP, cB := stat(crash, "tend", median), stat(crash, "PM2", median), stat(crash, "bare", median)
	add("crash to serving: median", "ms", cT, cP, cB, true, "", "")
	add("crash to serving: p90", "ms", stat(crash, "tend", p90), stat(crash, "PM2", p90), stat(crash, "bare", p90), true, "", "")
	oT, oP := overhead(crash, "tend"), overhead(crash, "PM2")
	add("restart overhead over bare start: median", "ms", oT, oP, none, false, "≤ 30 ms", met(oT <= 30))

	widths := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, c := range r {
			widths[i] = max(widths[i], len([]rune(c)))
		}
	}
	line := func(r []string) {
		b.WriteString("|")
		for i, c := range r {
			fmt.Fprintf(&b, " %s%s |", c, strings.Repeat(" ", widths[i]-len([]rune(c))))
		}
		b.WriteString("\n")
	}
	line(rows[0])
	sep := make([]string, len(widths))
	for i, w := range widths {
		sep[i] = strings.Repeat("-", w)
	}
	line(sep)
	for _, r := range rows[1:] {
		line(r)
	}
	return b.String()
}

// median and p90 (nearest rank) of samples.
func median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func p90(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	return s[int(math.Ceil(0.9*float64(len(s))))-1]
}

// overhead is the median over runs of name's crash-to-serving minus the bare
// start of the same run. Pairing within a run cancels the slow swings in load
// of a shared machine, which a difference of two medians keeps.
func overhead(crash map[string][]float64, name string) float64 {
	m, b := crash[name], crash["bare"]
	if len(m) == 0 || len(m) != len(b) {
		return math.NaN()
	}
	d := make([]float64, len(m))
	for i := range m {
		d[i] = m[i] - b[i]
	}
	return median(d)
}

func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// repoRoot finds tend's module root from the working directory up, so the
// program also runs from a subdirectory.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.HasPrefix(b, []byte("module github.com/tendhq/tend\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the tend repository: run `go run ./bench` from its root")
		}
		dir = parent
	}
}

// tendBinary builds bin/tend from this checkout unless -tend names one, so a
// plain run always measures the code in front of you.
func tendBinary(ctx context.Context, root, path string) (string, error) {
	if path != "" {
		if !strings.ContainsRune(path, filepath.Separator) {
			return exec.LookPath(path)
		}
		abs, err := filepath.Abs(path)
		if err != nil {
			return "", err
		}
		if _, err := os.Stat(abs); err != nil {
			return "", fmt.Errorf("-tend: %w", err)
		}
		return abs, nil
	}
	logf("building bin/tend")
	if err := setupCommand(ctx, root, "bash", "scripts/build.sh"); err != nil {
		return "", fmt.Errorf("build tend: %w", err)
	}
	return filepath.Join(root, "bin", "tend"), nil
}

// ensurePM2 installs the PM2 pinned by bench/package-lock.json when it is
// missing, so every machine compares against the same PM2.
func ensurePM2(ctx context.Context, root string) (string, error) {
	bin := filepath.Join(root, "bench", "node_modules", ".bin", "pm2")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	logf("installing PM2 with npm ci --prefix bench")
	if err := setupCommand(ctx, root, "npm", "ci", "--prefix", "bench", "--no-audit", "--no-fund"); err != nil {
		return "", fmt.Errorf("install PM2 (or pass -skip-pm2): %w", err)
	}
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("npm ci did not install PM2: %w", err)
	}
	return bin, nil
}

// setupCommand runs a build or install step with its output on stderr.
func setupCommand(ctx context.Context, dir, name string, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	return cmd.Run()
}

// childEnv is this environment for every process the benchmark starts, with
// the run's marker and without the variables that would point a manager or
// an app at something other than this run's homes and ports.
func childEnv(marker string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "TEND_HOME", "PM2_HOME", "PORT", markerVar:
			continue
		}
		env = append(env, kv)
	}
	return append(env, markerVar+"="+marker)
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for l := range strings.Lines(string(b)) {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

// tendVersion asks through the manager, so that its TEND_HOME is this run's.
func tendVersion(ctx context.Context, m manager) string {
	t, ok := m.(*tend)
	if !ok {
		return "unknown"
	}
	out, err := t.run(ctx, nil, "version")
	if f := strings.Fields(string(out)); err == nil && len(f) >= 2 { // "cli  0.1.0-dev ..."
		return f[1]
	}
	return "unknown"
}

func pm2Version(root string, skipped bool) string {
	if skipped {
		return "skipped"
	}
	var p struct {
		Version string `json:"version"`
	}
	b, _ := os.ReadFile(filepath.Join(root, "bench", "node_modules", "pm2", "package.json"))
	if json.Unmarshal(b, &p) != nil {
		return "unknown"
	}
	return p.Version
}

func firstLine(ctx context.Context, name string, args ...string) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).Output()
	if err != nil {
		return "unknown"
	}
	l, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(l)
}

func readTrim(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}
