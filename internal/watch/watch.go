// Package watch reports changes to an app's source files, so that the
// daemon reloads the app (watch, ignore_watch, watch_delay). It watches
// directories through inotify (fsnotify), one watch per directory, and never
// enters an ignored directory: a node_modules of 50,000 files costs nothing,
// where PM2 (chokidar) walks and watches it all.
package watch

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
)

// DefaultDelay is the debounce of changes when Options.Delay is 0.
const DefaultDelay = time.Second

// Options says what to watch.
type Options struct {
	// Paths are directories (watched with everything under them) or files,
	// relative to Root or absolute, not globs; none means Root. A path
	// given here is watched even if an ignore pattern matches it (what is
	// under it is still subject to them). A missing path is an error.
	Paths []string
	// Root is the app's directory, absolute; "" means the working
	// directory. Ignore patterns and reported paths are relative to it.
	Root string
	// Ignore are glob patterns of paths not to watch; nil means
	// DefaultIgnore(). Callers that add a user's ignore_watch should append
	// it to DefaultIgnore(), not replace it: replacing it, as PM2 does,
	// makes node_modules watched again. Syntax:
	//
	//   - *, ? and [...] as in path.Match; * does not cross a /.
	//   - A pattern without / matches a file or directory name at any depth
	//     (node_modules, *.log).
	//   - A pattern with / matches the path relative to Root (public/uploads,
	//     src/*.gen.js); ./ anchors a name to Root (./build).
	//   - A leading **/ matches at any depth (**/build/*.map); ** elsewhere is
	//     not supported, but an ignored directory is never entered, so
	//     "public/uploads" already ignores everything under it.
	//   - A trailing / is dropped (logs/ is logs).
	//   - An absolute pattern matches the absolute path.
	Ignore []string
	// Delay is how long changes must have stopped before onChange is
	// called; 0 means DefaultDelay. A file written without pause (a log
	// that is not ignored) holds reloads back until it stops.
	Delay time.Duration
}

// DefaultIgnore returns the patterns ignored when Options.Ignore is nil:
// PM2's node_modules and logs, version control, tend's own files (ecosystem
// files too: editing one changes nothing until tend apply), editor swap and
// backup files (vim writes a .swp when a file is merely opened), and what
// apps and tools write while they run (log, tmp, caches, coverage), which
// would otherwise reload an app each time it writes them.
func DefaultIgnore() []string {
	return []string{
		"node_modules", "bower_components", "jspm_packages",
		".git", ".hg", ".svn",
		"logs", "log", "*.log", "tmp", "*.pid",
		".tend", "ecosystem.config.*", "tend.yaml", "tend.yml", "tend.toml", "tend.json",
		"*.swp", "*.swx", "*~", ".#*", "#*#", "4913", ".DS_Store",
		"__pycache__", "*.pyc", ".venv", ".cache", "coverage", ".nyc_output",
	}
}

// Watcher watches directories and calls back when files under them
// change. New starts its two goroutines; Close stops them.
type Watcher struct {
	root      string
	ignore    []string
	delay     time.Duration
	onChange  func(paths []string)
	fw        *fsnotify.Watcher
	batches   chan []string // from loop to deliver
	done      chan struct{} // closed by Close
	wg        sync.WaitGroup
	closeOnce sync.Once

	mu sync.Mutex // guards dirs and files
	// dirs are the watched directories: true when all of a directory's
	// entries count, false when it is watched only for files in files.
	dirs  map[string]bool
	files map[string]bool // files given in Options.Paths
}

// New starts watching. onChange receives the paths that changed (created,
// written, removed, renamed, or touched: attributes count, so touch forces
// a reload), relative to Root, slash-separated (absolute when outside
// Root), sorted, once changes have settled for Delay, so calls are at
// least Delay apart. It runs on a goroutine of the Watcher, one call at a
// time; changes made while it runs are collected for the next call. It
// must not call Close.
func New(o Options, onChange func(paths []string)) (*Watcher, error) {
	root := o.Root
	if root == "" {
		root = "."
	}
	root, err := realpath(root)
	if err != nil {
		return nil, fmt.Errorf("watch: root: %w", err)
	}
	ignore := o.Ignore
	if ignore == nil {
		ignore = DefaultIgnore()
	}
	pats, err := ignorePatterns(ignore)
	if err != nil {
		return nil, err
	}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watch: %w", err)
	}
	w := &Watcher{
		root: root, ignore: pats, delay: o.Delay, onChange: onChange, fw: fw,
		batches: make(chan []string), done: make(chan struct{}),
		dirs: map[string]bool{}, files: map[string]bool{},
	}
	if w.delay <= 0 {
		w.delay = DefaultDelay
	}
	paths := o.Paths
	if len(paths) == 0 {
		paths = []string{"."}
	}
	for _, p := range paths {
		if err := w.add(p); err != nil {
			fw.Close()
			return nil, err
		}
	}
	w.wg.Add(2)
	go w.loop()
	go w.deliver()
	return w, nil
}

// ignorePatterns checks the ignore patterns and drops those that match
// nothing ("", ".") and a trailing "/". A pattern is checked as it will
// be matched, without that "/": `x\/` would otherwise pass, and then
// fail every match as `x\`, ignoring nothing without a word.
func ignorePatterns(ignore []string) ([]string, error) {
	var pats []string
	for _, p := range ignore {
		g := strings.TrimSuffix(p, "/")
		if _, err := path.Match(g, ""); err != nil {
			return nil, fmt.Errorf("watch: ignore pattern %q: %w", p, err)
		}
		if g != "" && g != "." {
			pats = append(pats, g)
		}
	}
	return pats, nil
}

// realpath returns the absolute path without symbolic links, since
// inotify reports paths as watched, and a deployed app's directory is
// often a link (current -> releases/42).
func realpath(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	return filepath.EvalSymlinks(abs)
}

// add watches one path of Options.Paths.
func (w *Watcher) add(p string) error {
	abs := p
	if !filepath.IsAbs(p) {
		abs = filepath.Join(w.root, p)
	}
	abs, err := realpath(abs)
	if err != nil {
		return fmt.Errorf("watch %s: %w", p, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return fmt.Errorf("watch %s: %w", p, err)
	}
	if fi.IsDir() {
		_, err = w.addTree(abs)
	} else {
		// A file is watched through its directory: editors save by
		// renaming a new file over the old one, which ends a watch on the
		// file itself.
		dir := filepath.Dir(abs)
		w.mu.Lock()
		w.files[abs] = true
		_, watched := w.dirs[dir]
		w.mu.Unlock()
		if !watched {
			err = w.watchDir(dir, false)
		}
	}
	if err != nil {
		return fmt.Errorf("watch %s: %w", p, err)
	}
	return nil
}

// addTree watches dir and every directory under it that is not ignored,
// and returns the files found under it, which are news when dir was just
// created. Unreadable directories are skipped.
func (w *Watcher) addTree(dir string) ([]string, error) {
	var found []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			if p == dir {
				return err
			}
			return nil // unreadable or gone: what can be read is watched
		case p != dir && w.ignored(p):
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		case d.IsDir():
			return w.watchDir(p, true)
		}
		found = append(found, p)
		return nil
	})
	return found, err
}

func (w *Watcher) watchDir(dir string, all bool) error {
	if err := w.fw.Add(dir); err != nil {
		if errors.Is(err, syscall.ENOSPC) {
			return fmt.Errorf("%s: too many directories to watch (the kernel's limit fs.inotify.max_user_watches is reached): add the large ones to ignore_watch, or raise the limit", dir)
		}
		return err
	}
	w.mu.Lock()
	w.dirs[dir] = w.dirs[dir] || all
	w.mu.Unlock()
	return nil
}

// forget drops the watches of a directory that was removed or renamed, and
// of the directories under it. inotify drops its own; fsnotify may not
// have heard yet.
func (w *Watcher) forget(dir string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.dirs[dir]; !ok {
		return
	}
	for d := range w.dirs {
		if d == dir || strings.HasPrefix(d, dir+string(filepath.Separator)) {
			_ = w.fw.Remove(d) // ErrNonExistentWatch when inotify was first
			delete(w.dirs, d)
		}
	}
}

// Watched returns the number of directories watched, each an inotify watch.
func (w *Watcher) Watched() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.dirs)
}

// Close stops watching and waits for the Watcher's goroutines, including a
// call of onChange in progress. It is safe to call more than once.
func (w *Watcher) Close() error {
	var err error
	w.closeOnce.Do(func() {
		close(w.done)
		err = w.fw.Close()
		w.wg.Wait()
	})
	return err
}

// loop collects changes and hands them to deliver once they have settled:
// every change restarts the Delay timer, and a batch waits while deliver is
// busy. It never blocks on onChange, so the kernel's event queue is always
// drained.
func (w *Watcher) loop() {
	defer w.wg.Done()
	timer := time.NewTimer(w.delay)
	timer.Stop()
	defer timer.Stop()
	pending := map[string]bool{}
	settled := false
	for {
		var send chan<- []string
		var batch []string
		if settled && len(pending) > 0 {
			send = w.batches
			for p := range pending {
				batch = append(batch, p)
			}
			slices.Sort(batch)
		}
		changed := false
		select {
		case <-w.done:
			return
		case ev, ok := <-w.fw.Events:
			if !ok {
				return
			}
			changed = w.handle(ev, pending)
		case err, ok := <-w.fw.Errors:
			if !ok {
				return
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				// Events were lost, new directories among them maybe:
				// watch again and report the roots as changed.
				changed = w.rescan(pending)
			}
		case <-timer.C:
			settled = true
		case send <- batch:
			clear(pending)
			settled = false
		}
		if changed {
			settled = false
			timer.Reset(w.delay)
		}
	}
}

// deliver calls onChange with each batch.
func (w *Watcher) deliver() {
	defer w.wg.Done()
	for {
		select {
		case <-w.done:
			return
		case b := <-w.batches:
			w.onChange(b)
		}
	}
}

// handle records one event in pending; it reports whether the event counts.
func (w *Watcher) handle(ev fsnotify.Event, pending map[string]bool) bool {
	p := ev.Name
	w.mu.Lock()
	all, inDir := w.dirs[filepath.Dir(p)]
	_, isDir := w.dirs[p]
	explicit := w.files[p]
	w.mu.Unlock()
	switch {
	case explicit:
	case !inDir && !isDir:
		return false // a watched root itself went away, say; its parent is not watched
	case !all && !isDir:
		return false // another file next to a watched file
	case w.ignored(p):
		return false
	}
	if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
		w.forget(p)
	}
	if ev.Has(fsnotify.Create) && all {
		if fi, err := os.Lstat(p); err == nil && fi.IsDir() {
			// Files may have been written before the watch was in place.
			found, _ := w.addTree(p)
			for _, f := range found {
				pending[w.rel(f)] = true
			}
		}
	}
	pending[w.rel(p)] = true
	return true
}

// rescan watches every directory again after lost events.
func (w *Watcher) rescan(pending map[string]bool) bool {
	w.mu.Lock()
	var roots []string
	for d, all := range w.dirs {
		if all && !w.dirs[filepath.Dir(d)] {
			roots = append(roots, d)
		}
	}
	w.mu.Unlock()
	for _, r := range roots {
		_, _ = w.addTree(r)
		pending[w.rel(r)] = true
	}
	return true
}

// ignored reports whether an ignore pattern matches p.
func (w *Watcher) ignored(p string) bool {
	rel, base := w.rel(p), filepath.Base(p)
	for _, g := range w.ignore {
		switch {
		case path.IsAbs(g):
			if ok, _ := path.Match(g, filepath.ToSlash(p)); ok {
				return true
			}
		case strings.HasPrefix(g, "**/"):
			// Match the rest against every tail of the path.
			for tail := rel; ; {
				if ok, _ := path.Match(g[3:], tail); ok {
					return true
				}
				_, next, found := strings.Cut(tail, "/")
				if !found {
					break
				}
				tail = next
			}
		case strings.HasPrefix(g, "./"):
			if ok, _ := path.Match(g[2:], rel); ok {
				return true
			}
		case !strings.Contains(g, "/"):
			if ok, _ := path.Match(g, base); ok {
				return true
			}
		default:
			if ok, _ := path.Match(g, rel); ok {
				return true
			}
		}
	}
	return false
}

// rel returns p relative to the root, slash-separated; p when outside it.
func (w *Watcher) rel(p string) string {
	r, err := filepath.Rel(w.root, p)
	if err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
		return filepath.ToSlash(p)
	}
	return filepath.ToSlash(r)
}
