package e2e

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/api"
)

// readAll returns the lines of a log file and of its rotated siblings,
// oldest first, decompressing .gz ones.
func readRotated(t *testing.T, path string) []string {
	t.Helper()
	matches, _ := filepath.Glob(path + ".*")
	sort.Strings(matches) // the stamp sorts by time
	var lines []string
	for _, f := range append(matches, path) {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		var r io.Reader = fh
		if strings.HasSuffix(f, ".gz") {
			gz, err := gzip.NewReader(fh)
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			r = gz
		}
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			lines = append(lines, sc.Text())
		}
		fh.Close()
	}
	return lines
}

func TestEveryLineOnceAcrossRotations(t *testing.T) {
	dir := t.TempDir() // made first, so it is removed after the daemon stops
	h := newHome(t)
	const n = 200000
	h.ok("start", "count.js", "--name", "count", "--no-autorestart", "--env", "COUNT="+strconv.Itoa(n))
	h.waitApp("count", "done", func(a api.App) bool { return a.Status == api.StatusStopped })
	// Rotation is per app: restart it with a small max_size and compress.
	h.ok("delete", "count")
	eco := filepath.Join(dir, "tend.yaml")
	out := filepath.Join(dir, "count.log")
	writeEco(t, eco, fmt.Sprintf("apps:\n  - name: count\n    script: %s/count.js\n    out_file: %s\n    max_size: 512K\n    compress: true\n    retain: 100\n    env:\n      COUNT: %d\n      STAY: 1\n", fixtures, out, n))
	h.ok("start", eco)
	// Compression runs behind the writer while the file stays open (the
	// app stays up after its lines): wait for every rotation to be gzipped.
	deadline := time.Now().Add(20 * time.Second)
	for {
		rotated, _ := filepath.Glob(out + ".*")
		gz, _ := filepath.Glob(out + ".*.gz")
		if len(rotated) >= 3 && len(gz) == len(rotated) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d rotations, %d compressed; want several, all compressed", len(rotated), len(gz))
		}
		time.Sleep(20 * time.Millisecond)
	}
	h.ok("delete", "count") // closes the file: everything is on disk
	lines := readRotated(t, out)
	if len(lines) != n {
		t.Fatalf("%d lines stored, want %d", len(lines), n)
	}
	for i, l := range lines {
		if l != "line "+strconv.Itoa(i) {
			t.Fatalf("line %d is %q: lost, doubled or out of order", i, l)
		}
	}
}

func TestStalledFollowerDoesNotSlowTheApp(t *testing.T) {
	h := newHome(t)
	h.ok("start", "idle.js", "--name", "warm") // the daemon is up
	follower := exec.Command(tendBin, "logs", "all")
	follower.Env = h.env
	stdout, _ := follower.StdoutPipe() // never read: the pipe fills and the follower blocks
	if err := follower.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { follower.Process.Kill(); follower.Wait() }()
	// Wait until it is connected, then freeze it.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(h.ok("describe", "warm"), "warm") || followerCount(t, h) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("follower never connected")
		}
		time.Sleep(20 * time.Millisecond)
	}
	syscall.Kill(follower.Process.Pid, syscall.SIGSTOP)
	defer syscall.Kill(follower.Process.Pid, syscall.SIGCONT)
	h.ok("start", "count.js", "--name", "count", "--no-autorestart", "--env", "COUNT=200000")
	a := h.waitApp("count", "finished", func(a api.App) bool { return a.Status == api.StatusStopped })
	if x := a.Instances[0].LastExit; x == nil || x.Code != 0 {
		t.Fatalf("app did not finish cleanly: %+v", x)
	}
	_ = stdout
}

// followerCount reads the daemon's count of log followers from /v1/metrics.
func followerCount(t *testing.T, h *home) int {
	var ms []api.Metric
	mustJSON(t, h.ok("metrics", "--json"), &ms)
	for _, m := range ms {
		if m.Name == "tend_log_followers" {
			return int(m.Value)
		}
	}
	return 0
}

func TestLogsCommand(t *testing.T) {
	h := newHome(t)
	h.ok("start", "count.js", "--name", "c", "--no-autorestart", "--env", "COUNT=100")
	h.waitApp("c", "done", func(a api.App) bool { return a.Status == api.StatusStopped })
	out := h.ok("logs", "c", "--lines", "5", "--nostream")
	want := "c[0] | line 95\nc[0] | line 96\nc[0] | line 97\nc[0] | line 98\nc[0] | line 99\n"
	if out != want {
		t.Errorf("logs --lines 5:\n%s\nwant:\n%s", out, want)
	}
	out = h.ok("logs", "c", "--lines", "3", "--nostream", "--json")
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var l api.LogLine
		if err := json.Unmarshal([]byte(line), &l); err != nil || l.App != "c" || l.Stream != "out" || l.Time.IsZero() {
			t.Errorf("--json line %q: %+v %v", line, l, err)
		}
	}
	// Backlog from the files survives the daemon.
	h.ok("kill")
	out = h.ok("logs", "c", "--lines", "2", "--nostream")
	if !strings.Contains(out, "line 99") {
		t.Errorf("backlog after a daemon restart:\n%s", out)
	}
	// c ran to completion with autorestart off: the new daemon knows it
	// and does not run it a second time.
	if a := h.app("c"); a.Status != api.StatusStopped || len(pids(a)) != 0 {
		t.Errorf("a finished app after a daemon restart: status %s, pids %v; want stopped, none", a.Status, pids(a))
	}
	if b, _ := os.ReadFile(filepath.Join(h.dir, "logs", "c-out.log")); bytes.Count(b, []byte("\n")) != 100 {
		t.Errorf("c-out.log has %d lines after the daemon restart, want 100 (the app ran again?)", bytes.Count(b, []byte("\n")))
	}
	h.ok("flush", "c")
	if b, _ := os.ReadFile(filepath.Join(h.dir, "logs", "c-out.log")); len(b) != 0 {
		t.Errorf("flush left %d bytes", len(b))
	}
}

func TestJSONLogsAndTimestamps(t *testing.T) {
	h := newHome(t)
	dir := t.TempDir()
	eco := filepath.Join(dir, "tend.yaml")
	writeEco(t, eco, fmt.Sprintf("apps:\n  - name: j\n    script: %s/count.js\n    autorestart: false\n    log_type: json\n    env:\n      COUNT: 50\n  - name: ts\n    script: %s/count.js\n    autorestart: false\n    time: true\n    log_date_format: YYYY-MM-DD HH:mm:ss Z\n    env:\n      COUNT: 5\n", fixtures, fixtures))
	h.ok("start", eco)
	h.waitApp("j", "done", func(a api.App) bool { return a.Status == api.StatusStopped })
	h.waitApp("ts", "done", func(a api.App) bool { return a.Status == api.StatusStopped })
	h.ok("kill") // closes the files
	b, err := os.ReadFile(filepath.Join(h.dir, "logs", "j-out.log"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 50 {
		t.Fatalf("%d JSON lines, want 50", len(lines))
	}
	for i, line := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %d does not parse: %v: %s", i, err, line)
		}
		for _, k := range []string{"timestamp", "app", "instance", "stream", "message"} {
			if _, ok := m[k]; !ok {
				t.Errorf("line %d lacks %s: %s", i, k, line)
			}
		}
	}
	b, _ = os.ReadFile(filepath.Join(h.dir, "logs", "ts-out.log"))
	first := strings.SplitN(string(b), "\n", 2)[0]
	if _, err := time.Parse("2006-01-02 15:04:05 -07:00", strings.SplitN(first, ": ", 2)[0]); err != nil || !strings.HasSuffix(first, ": line 0") {
		t.Errorf("timestamped line %q: %v", first, err)
	}
}

func TestCrashContextShowsTheStack(t *testing.T) {
	h := newHome(t)
	port := freePort(t)
	h.ok("start", "express-app.js", "--name", "web", "--port", strconv.Itoa(port))
	get(t, fmt.Sprintf("http://127.0.0.1:%d/crash", port))
	a := h.waitApp("web", "restarted", func(a api.App) bool { return a.Instances[0].Restarts == 1 && allOnline(a) })
	x := a.Instances[0].LastExit
	if x == nil || !strings.Contains(strings.Join(x.Stderr, "\n"), "Error: crash requested") {
		t.Fatalf("last exit stderr: %+v", x)
	}
	desc := h.ok("describe", "web")
	if !strings.Contains(desc, "Error: crash requested") || !strings.Contains(desc, "express-app.js") {
		t.Errorf("describe does not show the stack:\n%s", desc)
	}
}

func TestLogsBacklogHasNoDuplicates(t *testing.T) {
	h := newHome(t)
	h.ok("start", "count.js", "--name", "d", "--no-autorestart", "--env", "COUNT=3")
	h.waitApp("d", "done", func(a api.App) bool { return a.Status == api.StatusStopped })
	out := h.ok("logs", "d", "--lines", "10", "--nostream")
	if want := "d[0] | line 0\nd[0] | line 1\nd[0] | line 2\n"; out != want {
		t.Errorf("backlog:\n%s\nwant:\n%s", out, want)
	}
}

// With merge_logs, instances share one file: tend logs shows each line once,
// with the instance that wrote it (not every line as instance 0, and not
// the file's timestamped copy beside the line in memory).
func TestMergedLogsShowEachLineOnceWithItsInstance(t *testing.T) {
	h := newHome(t)
	dir := t.TempDir()
	eco := filepath.Join(dir, "tend.yaml")
	writeEco(t, eco, fmt.Sprintf("apps:\n  - name: m\n    script: %s/count.js\n    instances: 2\n    merge_logs: true\n    time: true\n    env:\n      COUNT: 3\n      STAY: 1\n", fixtures))
	h.ok("start", eco)
	var out string
	h.waitApp("m", "every line in the backlog", func(api.App) bool {
		out = h.ok("logs", "m", "--lines", "20", "--nostream")
		return strings.Count(out, "| line ") >= 6
	})
	for i := range 2 {
		for n := range 3 {
			if line := fmt.Sprintf("m[%d] | line %d\n", i, n); strings.Count(out, line) != 1 {
				t.Errorf("%q appears %d times, want once:\n%s", line, strings.Count(out, line), out)
			}
		}
	}
	if n := strings.Count(out, "| "); n != 6 {
		t.Errorf("%d lines shown, want 6:\n%s", n, out)
	}
}

// Two apps of one name in two namespaces keep their output apart: in the
// files, in the backlog and in what tend logs shows.
func TestLogsKeepNamespacesApart(t *testing.T) {
	h := newHome(t)
	h.ok("start", "count.js", "--name", "w", "--namespace", "a", "--no-autorestart", "--env", "COUNT=3")
	h.ok("start", "count.js", "--name", "w", "--namespace", "b", "--no-autorestart", "--env", "COUNT=5")
	for _, ns := range []string{"a", "b"} {
		h.waitApp("w", ns+"/w done", func(a api.App) bool { return a.Namespace == ns && a.Status == api.StatusStopped })
	}
	out := h.ok("logs", "a", "--nostream", "--lines", "20")
	if want := "a/w[0] | line 0\na/w[0] | line 1\na/w[0] | line 2\n"; out != want {
		t.Errorf("tend logs a:\n%s\nwant:\n%s", out, want)
	}
	// A stopped daemon has written and closed every file.
	h.ok("kill")
	for ns, want := range map[string]int{"a": 3, "b": 5} {
		b, err := os.ReadFile(filepath.Join(h.dir, "logs", ns, "w-out.log"))
		if err != nil || bytes.Count(b, []byte("\n")) != want {
			t.Errorf("logs/%s/w-out.log: %d lines (%v), want %d", ns, bytes.Count(b, []byte("\n")), err, want)
		}
	}
	// After a daemon restart the backlog comes from the files.
	out = h.ok("logs", "b", "--nostream", "--lines", "2")
	if want := "b/w[0] | line 3\nb/w[0] | line 4\n"; out != want {
		t.Errorf("tend logs b after a restart:\n%s\nwant:\n%s", out, want)
	}
}

// PM2's bare -l: both streams combined in $TEND_HOME/logs/<name>.log,
// besides the two files of their own.
func TestBareLogFlagCombinesTheStreamsUnderTheHome(t *testing.T) {
	h := newHome(t)
	h.ok("start", "count.js", "--name", "c", "--no-autorestart", "--env", "COUNT=100", "-l")
	h.waitApp("c", "done", func(a api.App) bool { return a.Status == api.StatusStopped })
	for _, name := range []string{"c.log", "c-out.log"} {
		if b, err := os.ReadFile(filepath.Join(h.dir, "logs", name)); err != nil || bytes.Count(b, []byte("\n")) != 100 {
			t.Errorf("%s: %d lines (%v), want 100", name, bytes.Count(b, []byte("\n")), err)
		}
	}
}
