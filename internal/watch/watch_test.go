package watch

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const delay = 150 * time.Millisecond

// tree creates files (with empty content) under a new temporary root.
func tree(t *testing.T, files ...string) string {
	t.Helper()
	root := t.TempDir()
	for _, f := range files {
		write(t, root, f)
	}
	return root
}

func write(t *testing.T, root, name string) {
	t.Helper()
	p := filepath.Join(root, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(time.Now().String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// calls records the callbacks of a Watcher.
type calls chan []string

func start(t *testing.T, o Options) (*Watcher, calls) {
	t.Helper()
	c := make(calls, 16)
	w, err := New(o, func(p []string) { c <- p })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := w.Close(); err != nil {
			t.Error(err)
		}
	})
	return w, c
}

func (c calls) next(t *testing.T) []string {
	t.Helper()
	select {
	case p := <-c:
		return p
	case <-time.After(5 * time.Second):
		t.Fatal("no callback")
		return nil
	}
}

// none checks that no callback comes for a while: three debounce delays,
// plenty for changes that would be reported.
func (c calls) none(t *testing.T) {
	t.Helper()
	select {
	case p := <-c:
		t.Fatalf("unexpected callback: %q", p)
	case <-time.After(3 * delay):
	}
}

func TestEditsDebounced(t *testing.T) {
	root := tree(t, "src/app.js", "src/lib/util.js")
	// A longer delay than the other tests use, so that a busy machine does
	// not split the burst of edits.
	const slow = 4 * delay
	_, c := start(t, Options{Root: root, Delay: slow})
	for range 5 {
		write(t, root, "src/app.js")
		time.Sleep(20 * time.Millisecond)
	}
	write(t, root, "src/lib/util.js")
	last := time.Now()
	got := c.next(t)
	if waited := time.Since(last); waited < slow {
		t.Errorf("called %s after the last edit, before the debounce delay %s", waited, slow)
	}
	if want := []string{"src/app.js", "src/lib/util.js"}; !slices.Equal(got, want) {
		t.Errorf("changed %q, want %q", got, want)
	}
	c.none(t)
}

func TestIgnoredPathsNeverTrigger(t *testing.T) {
	root := tree(t, "server.js", "node_modules/express/index.js", ".git/HEAD", "logs/out.log", "app.log", "src/.server.js.swp")
	_, c := start(t, Options{Root: root, Delay: delay})
	for _, f := range []string{"node_modules/express/index.js", "node_modules/new/x.js", ".git/HEAD",
		".git/objects/ab/cdef", "logs/out.log", "app.log", "src/.server.js.swp", "src/other.log"} {
		write(t, root, f)
	}
	c.none(t)
	write(t, root, "server.js")
	// src/other.log was created in src, which was itself created after New.
	if got, want := c.next(t), []string{"server.js"}; !slices.Equal(got, want) {
		t.Errorf("changed %q, want %q", got, want)
	}
}

// A node_modules of 50,000 files is neither walked nor watched.
func TestLargeIgnoredTreeNotWatched(t *testing.T) {
	root := tree(t, "server.js", "src/app.js", "node_modules/.package-lock.json")
	// Hard links: a walk would see 50,000 entries all the same, and they
	// are made fifty times faster than new files.
	src := filepath.Join(root, "node_modules", ".package-lock.json")
	for d := range 500 {
		dir := filepath.Join(root, "node_modules", fmt.Sprintf("pkg%d", d), "lib")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for f := range 100 {
			if err := os.Link(src, filepath.Join(dir, fmt.Sprintf("f%d.js", f))); err != nil {
				t.Fatal(err)
			}
		}
	}
	w, _ := start(t, Options{Root: root, Delay: delay})
	if n := w.Watched(); n != 2 {
		t.Fatalf("watching %d directories, want 2 (the root and src)", n)
	}
	// The same tree with nothing ignored: every directory is watched.
	all, _ := start(t, Options{Root: root, Ignore: []string{}, Delay: delay})
	if n := all.Watched(); n != 2+1+500*2 {
		t.Fatalf("with nothing ignored: watching %d directories, want %d", n, 2+1+500*2)
	}
}

func TestNewDirectories(t *testing.T) {
	root := tree(t, "server.js")
	w, c := start(t, Options{Root: root, Delay: delay})
	if err := os.Mkdir(filepath.Join(root, "routes"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got, want := c.next(t), []string{"routes"}; !slices.Equal(got, want) {
		t.Errorf("changed %q, want %q", got, want)
	}
	write(t, root, "routes/users.js")
	if got, want := c.next(t), []string{"routes/users.js"}; !slices.Equal(got, want) {
		t.Errorf("changed %q, want %q", got, want)
	}
	// A tree made at once (mkdir -p, unpacking): its files are reported
	// even when written before the watch of their directory was in place.
	write(t, root, "a/b/c/deep.js")
	got := c.next(t)
	if !slices.Contains(got, "a/b/c/deep.js") {
		t.Errorf("changed %q, want a/b/c/deep.js among them", got)
	}
	if n := w.Watched(); n != 5 {
		t.Errorf("watching %d directories, want 5", n)
	}
	if err := os.RemoveAll(filepath.Join(root, "a")); err != nil {
		t.Fatal(err)
	}
	c.next(t)
	if n := w.Watched(); n != 2 {
		t.Errorf("after removing a: watching %d directories, want 2", n)
	}
}

// A file given in Paths is watched through its directory, and only it: an
// editor's save by rename counts, a change next to it does not.
func TestFilePath(t *testing.T) {
	root := tree(t, "server.js", "other.js", "src/app.js")
	w, c := start(t, Options{Root: root, Paths: []string{"server.js", "src"}, Delay: delay})
	if n := w.Watched(); n != 2 {
		t.Errorf("watching %d directories, want 2", n)
	}
	write(t, root, "other.js")
	c.none(t)
	write(t, root, "server.js.tmp")
	if err := os.Rename(filepath.Join(root, "server.js.tmp"), filepath.Join(root, "server.js")); err != nil {
		t.Fatal(err)
	}
	if got, want := c.next(t), []string{"server.js"}; !slices.Equal(got, want) {
		t.Errorf("changed %q, want %q", got, want)
	}
	write(t, root, "src/app.js")
	if got, want := c.next(t), []string{"src/app.js"}; !slices.Equal(got, want) {
		t.Errorf("changed %q, want %q", got, want)
	}
}

// Changes made while onChange runs are delivered after it, not lost, and
// Close waits for a call in progress.
func TestSlowCallback(t *testing.T) {
	root := tree(t, "a.js", "b.js")
	release := make(chan struct{})
	c := make(calls, 16)
	w, err := New(Options{Root: root, Delay: delay}, func(p []string) {
		c <- p
		<-release
	})
	if err != nil {
		t.Fatal(err)
	}
	write(t, root, "a.js")
	c.next(t)
	write(t, root, "b.js")
	time.Sleep(3 * delay)
	close(release)
	if got, want := c.next(t), []string{"b.js"}; !slices.Equal(got, want) {
		t.Errorf("changed %q, want %q", got, want)
	}
	write(t, root, "a.js")
	time.Sleep(delay + delay/2) // the callback is likely running now
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestNewErrors(t *testing.T) {
	root := tree(t, "server.js")
	for _, c := range []struct {
		o    Options
		want string
	}{
		{Options{Root: root, Paths: []string{"src"}}, "watch src: "},
		{Options{Root: root, Ignore: []string{"[a-"}}, `watch: ignore pattern "[a-": syntax error in pattern`},
		{Options{Root: root, Ignore: []string{`build\/`}}, `watch: ignore pattern "build\\/": syntax error in pattern`},
		{Options{Root: filepath.Join(root, "nope")}, "watch: root: "},
	} {
		w, err := New(c.o, func([]string) {})
		if err == nil {
			w.Close()
			t.Errorf("%+v: no error", c.o)
		} else if !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %s...", c.o, err, c.want)
		}
	}
}

func TestIgnored(t *testing.T) {
	w := &Watcher{root: "/srv/app"}
	for _, g := range append(DefaultIgnore(), "public/uploads", "src/*.gen.js", "**/build/*.map", "./dist", "/srv/app/secret") {
		w.ignore = append(w.ignore, strings.TrimSuffix(g, "/"))
	}
	for p, want := range map[string]bool{
		"/srv/app/server.js":                  false,
		"/srv/app/node_modules":               true,
		"/srv/app/packages/web/node_modules":  true,
		"/srv/app/.git":                       true,
		"/srv/app/logs":                       true,
		"/srv/app/src/debug.log":              true,
		"/srv/app/src/app.js.swp":             true,
		"/srv/app/src/app.js~":                true,
		"/srv/app/ecosystem.config.js":        true,
		"/srv/app/public/uploads":             true,
		"/srv/app/public/index.html":          false,
		"/srv/app/src/schema.gen.js":          true,
		"/srv/app/src/deep/schema.gen.js":     false, // * does not cross /
		"/srv/app/build/app.js.map":           true,
		"/srv/app/packages/web/build/app.map": true,
		"/srv/app/packages/web/build/app.js":  false,
		"/srv/app/dist":                       true,
		"/srv/app/src/dist":                   false, // ./ anchors to the root
		"/srv/app/secret":                     true,
		"/srv/app/src/secret":                 false,
		"/srv/app/__pycache__":                true,
		"/srv/app/logger.js":                  false,
	} {
		if got := w.ignored(p); got != want {
			t.Errorf("ignored(%s) = %v, want %v", p, got, want)
		}
	}
}
