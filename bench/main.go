// Command bench measures tend against PM2 on the figures someone replacing one
// with the other would ask about: how fast listing answers with apps running,
// how much memory the daemon keeps, how soon a crashed app serves again, what
// logging costs an app that prints a lot, how much traffic a two-instance
// cluster serves and whether a reload fails requests, what the edge serves
// with TLS, gzip and security headers next to nginx, and what sampling the
// metrics of fifty instances costs the daemon. nginx and bare node are the
// baselines where they make sense.
//
// Run it from the repository root:
//
//	go run ./bench [-only ls,crash,logs,cluster,edge,metrics,update,inspect,dashboard,fleet,deploy] [-quick] [-runs 15]
//	               [-load-runs 5] [-duration 10s] [-tend bin/tend] [-skip-pm2]
//	               [-require-tools]
//
// bench/README.md says what each figure means and holds the latest results.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

const (
	setupTimeout   = 5 * time.Minute // go build, npm ci
	onlineTimeout  = time.Minute
	servingTimeout = 20 * time.Second
	cleanupTimeout = 30 * time.Second

	installHint = "apt-get install wrk nginx-light"
)

// section is one group of figures, selectable with -only.
type section struct {
	name    string
	needPM2 bool
	run     func(*bench, context.Context) (result, error)
}

// sections in the order they run.
var sections = []section{
	{"ls", true, (*bench).lsSection},
	{"crash", true, (*bench).crashSection},
	{"logs", true, (*bench).logsSection},
	{"cluster", true, (*bench).clusterSection},
	{"edge", false, (*bench).edgeSection},
	{"metrics", false, (*bench).metricsSection},
	{"update", false, (*bench).updateSection},
	{"inspect", false, (*bench).inspectSection},
	{"dashboard", false, (*bench).dashboardSection},
	{"fleet", false, (*bench).fleetSection},
	{"deploy", true, (*bench).deploySection},
}

type options struct {
	runs         int           // ls and crash
	loadRuns     int           // logs, and wrk per system
	duration     time.Duration // one wrk run
	tend         string
	skipPM2      bool
	requireTools bool
	only         map[string]bool
}

func main() {
	var o options
	var only string
	var quick bool
	flag.IntVar(&o.runs, "runs", 15, "measured runs of the ls and crash figures (-quick: 5)")
	flag.IntVar(&o.loadRuns, "load-runs", 5, "measured runs of the logs figures, and wrk runs per system (-quick: 3)")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "length of one wrk run (-quick: 5s)")
	flag.StringVar(&only, "only", "", "comma-separated sections to run: ls, crash, logs, cluster, edge, metrics, update, inspect, dashboard, fleet, deploy (default all)")
	flag.BoolVar(&quick, "quick", false, "fewer and shorter runs, for a first look")
	flag.StringVar(&o.tend, "tend", "", "tend binary to measure (default: build bin/tend with scripts/build.sh)")
	flag.BoolVar(&o.skipPM2, "skip-pm2", false, "measure tend and the baselines only")
	flag.BoolVar(&o.requireTools, "require-tools", false, "fail, rather than skip the figures that need them, when wrk or nginx is missing")
	flag.Parse()
	if flag.NArg() > 0 {
		fail(fmt.Errorf("unexpected arguments %q", flag.Args()), 2)
	}
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if quick {
		if !set["runs"] {
			o.runs = 5
		}
		if !set["load-runs"] {
			o.loadRuns = 3
		}
		if !set["duration"] {
			o.duration = 5 * time.Second
		}
	}
	o.only = map[string]bool{}
	for _, s := range sections {
		o.only[s.name] = only == ""
	}
	for n := range strings.SplitSeq(only, ",") {
		if n = strings.TrimSpace(n); n == "" {
			continue
		}
		if _, ok := o.only[n]; !ok {
			fail(fmt.Errorf("-only: unknown section %q (sections: ls, crash, logs, cluster, edge, metrics, update, inspect, dashboard, fleet, deploy)", n), 2)
		}
		o.only[n] = true
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
		fail(err, 1)
	}
}

func fail(err error, code int) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(code)
}

// bench is what every section shares.
type bench struct {
	o       options
	root    string   // the repository
	node    string   // node's path
	env     []string // every child's environment: this run's marker, no manager home, no PORT
	tmp     string   // removed at the end
	tendBin string
	tend    *tend // in tmp/tend
	pm2     *pm2  // in tmp/pm2; nil with -skip-pm2 or when no section needs it
	// wrk and nginx are their paths, or "" when missing: the figures that
	// need them are skipped.
	wrk, nginx string
}

// managers are tend and, unless skipped, PM2, in that order.
func (b *bench) managers() []manager {
	if b.pm2 == nil {
		return []manager{b.tend}
	}
	return []manager{b.tend, b.pm2}
}

func run(ctx context.Context, o options) error {
	if o.runs < 1 || o.loadRuns < 1 {
		return errors.New("-runs and -load-runs must be at least 1")
	}
	if o.duration < time.Second {
		return errors.New("-duration must be at least 1s")
	}
	b := &bench{o: o}
	var err error
	if b.root, err = repoRoot(); err != nil {
		return err
	}
	if b.node, err = exec.LookPath("node"); err != nil {
		return fmt.Errorf("node is needed for the fixtures and PM2: %w", err)
	}
	if err := b.findTools(); err != nil {
		return err
	}
	if b.tendBin, err = tendBinary(ctx, b.root, o.tend); err != nil {
		return err
	}
	pm2Bin := ""
	if !o.skipPM2 && slices.ContainsFunc(sections, func(s section) bool { return s.needPM2 && o.only[s.name] }) {
		if pm2Bin, err = ensurePM2(ctx, b.root); err != nil {
			return err
		}
	}

	if b.tmp, err = os.MkdirTemp("", "tend-bench-"); err != nil {
		return err
	}
	defer os.RemoveAll(b.tmp)
	marker := fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano())
	b.env = childEnv(marker)
	// Deferred before the managers' shutdowns, so it runs after them.
	defer func() {
		if left := sweep(marker); len(left) > 0 {
			logf("killed processes the managers left behind: %s", strings.Join(left, "; "))
		}
	}()

	b.tend = newTend(b.tendBin, b.root, filepath.Join(b.tmp, "tend"), b.env)
	if pm2Bin != "" {
		b.pm2 = newPM2(pm2Bin, b.root, filepath.Join(b.tmp, "pm2"), b.env)
	}
	for _, m := range b.managers() {
		defer shutdown(ctx, m)
	}

	var results []result
	for _, s := range sections {
		if !o.only[s.name] {
			continue
		}
		logf("section %s", s.name)
		r, err := s.run(b, ctx)
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		results = append(results, r)
	}
	fmt.Print(report(b.about(ctx), results))
	return nil
}

// shutdown stops m's apps and daemon on a context of its own, so that it
// also runs after an interrupt.
func shutdown(ctx context.Context, m manager) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if err := m.shutdown(ctx); err != nil {
		logf("%s: shutdown: %v", m.name(), err)
	}
}

// findTools looks for wrk and nginx where the cluster and metrics sections
// need them, and says how to install what is missing.
func (b *bench) findTools() error {
	if !b.o.only["cluster"] && !b.o.only["edge"] && !b.o.only["metrics"] && !b.o.only["update"] && !b.o.only["inspect"] {
		return nil
	}
	var missing []string
	if p, err := exec.LookPath("wrk"); err == nil {
		b.wrk = p
	} else {
		missing = append(missing, "wrk")
	}
	if b.o.only["cluster"] || b.o.only["edge"] {
		// Debian puts nginx in /usr/sbin, which a user's PATH may lack.
		if p, err := exec.LookPath("nginx"); err == nil {
			b.nginx = p
		} else if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
			b.nginx = "/usr/sbin/nginx"
		} else {
			missing = append(missing, "nginx")
		}
	}
	if len(missing) == 0 {
		return nil
	}
	msg := fmt.Sprintf("%s not found: install with `%s`", strings.Join(missing, " and "), installHint)
	if b.o.requireTools {
		return errors.New(msg)
	}
	logf("%s; skipping the figures that need them (-require-tools makes this an error)", msg)
	return nil
}

// about is the line under the report's date: what ran, where, with what.
func (b *bench) about(ctx context.Context) string {
	var runs []string
	if b.o.only["ls"] || b.o.only["crash"] {
		runs = append(runs, fmt.Sprintf("`ls` and crash %d runs", b.o.runs))
	}
	if b.o.only["logs"] {
		runs = append(runs, fmt.Sprintf("logs %d runs", b.o.loadRuns))
	}
	if (b.o.only["cluster"] || b.o.only["edge"] || b.o.only["metrics"] || b.o.only["update"] || b.o.only["inspect"]) && b.wrk != "" {
		runs = append(runs, fmt.Sprintf("wrk %d × %s per system", b.o.loadRuns, b.o.duration))
	}
	tools := []string{
		"node " + firstLine(ctx, b.node, "--version"),
		"PM2 " + pm2Version(b.root, b.pm2 != nil, b.o.skipPM2),
		"tend " + tendVersion(ctx, b.tend),
	}
	if b.wrk != "" {
		tools = append(tools, "wrk "+toolVersion(ctx, b.wrk, "--version"))
	}
	if b.nginx != "" {
		tools = append(tools, "nginx "+toolVersion(ctx, b.nginx, "-v"))
	}
	about := fmt.Sprintf("%d CPUs, %s; Linux %s; %s; %s",
		runtime.NumCPU(), cpuModel(), readTrim("/proc/sys/kernel/osrelease"), strings.Join(tools, "; "), runtime.Version())
	if len(runs) > 0 {
		about = strings.Join(runs, ", ") + "; " + about
	}
	return about
}

// toolVersion picks the version out of "wrk debian/4.1.0-3+b2 [epoll] ..."
// or "nginx version: nginx/1.22.1"; both print it and more, wrk with a
// non-zero status.
func toolVersion(ctx context.Context, path string, arg string) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, path, arg).CombinedOutput()
	for f := range strings.FieldsSeq(string(out)) {
		if _, v, ok := strings.Cut(f, "/"); ok && v != "" && v[0] >= '0' && v[0] <= '9' {
			return v
		}
	}
	return "unknown"
}

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

// tendVersion asks the CLI with this run's TEND_HOME.
func tendVersion(ctx context.Context, t *tend) string {
	out, err := t.run(ctx, nil, "version")
	if f := strings.Fields(string(out)); err == nil && len(f) >= 2 { // "cli  0.1.0-dev ..."
		return f[1]
	}
	return "unknown"
}

func pm2Version(root string, used, skipped bool) string {
	switch {
	case skipped:
		return "skipped"
	case !used:
		return "not run"
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
