package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"

	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/logs"
)

// logFiles shares open log files by path between the processes that write
// them, and closes each when its last writer is gone.
type logFiles struct {
	mu    sync.Mutex
	files map[string]*sharedFile // by path; guarded by mu
}

type sharedFile struct {
	f    *logs.File
	refs int
}

func newLogFiles() *logFiles { return &logFiles{files: map[string]*sharedFile{}} }

// Open returns the file at cfg.Path, opening it on first use. A file that
// is open keeps its configuration: an app whose log settings change
// reconfigures its files in place (logs.File.Configure).
func (l *logFiles) Open(cfg logs.FileConfig) (*logs.File, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s, ok := l.files[cfg.Path]; ok {
		s.refs++
		return s.f, nil
	}
	f, err := logs.OpenFile(cfg)
	if err != nil {
		return nil, fmt.Errorf("open log %s: %w", cfg.Path, err)
	}
	l.files[cfg.Path] = &sharedFile{f: f, refs: 1}
	return f, nil
}

// Release gives a file back; the last release closes it.
func (l *logFiles) Release(f *logs.File) {
	l.mu.Lock()
	s, ok := l.files[f.Path()]
	if !ok || s.f != f {
		l.mu.Unlock()
		return
	}
	s.refs--
	if s.refs > 0 {
		l.mu.Unlock()
		return
	}
	delete(l.files, f.Path())
	l.mu.Unlock()
	f.Close() // drains its queue: outside the lock
}

// truncate empties the file at path: through its writer when it is open.
func (l *logFiles) truncate(path string) error {
	l.mu.Lock()
	s, ok := l.files[path]
	l.mu.Unlock()
	if ok {
		return s.f.Truncate()
	}
	if err := os.Truncate(path, 0); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// each calls fn on every open file whose path an app uses.
func (l *logFiles) each(fn func(*logs.File) error) error {
	l.mu.Lock()
	files := make([]*logs.File, 0, len(l.files))
	for _, s := range l.files {
		files = append(files, s.f)
	}
	l.mu.Unlock()
	var errs []error
	for _, f := range files {
		if err := fn(f); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f.Path(), err))
		}
	}
	return errors.Join(errs...)
}

// LogLine is one captured line as the API shows it (/v1/logs, tend run).
func LogLine(l logs.Line) api.LogLine {
	return api.LogLine{Time: l.Time, App: l.App, Instance: l.Instance, Stream: l.Stream, Message: l.Text}
}

// logs answers GET /v1/logs?app=&lines=&follow=&stream=: the last lines
// (from memory, or from the files for output older than this daemon), then,
// with follow, new lines as they come, as server-sent events. A reader that
// falls behind loses lines (it is told how many), never slows an app.
func (d *Daemon) logs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	target := q.Get("app")
	n := 15
	if s := q.Get("lines"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 {
			writeJSON(w, http.StatusBadRequest, api.Error{Error: "lines: want a number ≥ 0"})
			return
		}
		n = v
	}
	stream := q.Get("stream")
	if stream != "" && stream != logs.StreamOut && stream != logs.StreamErr {
		writeJSON(w, http.StatusBadRequest, api.Error{Error: "stream: want out or err"})
		return
	}
	names := map[string]bool{}
	var entries []*entry
	if target != "" && target != "all" {
		m, err := d.match(target)
		if err != nil {
			writeJSON(w, http.StatusNotFound, api.Error{Error: err.Error()})
			return
		}
		entries = m
		for _, e := range m {
			names[e.logName()] = true
		}
	}
	match := func(l logs.Line) bool {
		if len(names) > 0 && !names[l.App] {
			return false
		}
		return stream == "" || l.Stream == stream || l.Stream == logs.StreamTend
	}
	backlog := d.hub.Tail(match, n)
	if len(backlog) < n {
		backlog = append(d.fileBacklog(entries, stream, n-len(backlog), backlog), backlog...)
	}

	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	enc := json.NewEncoder(w)
	send := func(l api.LogLine) error {
		if _, err := w.Write([]byte("data: ")); err != nil {
			return err
		}
		if err := enc.Encode(l); err != nil { // Encode ends the line
			return err
		}
		_, err := w.Write([]byte("\n"))
		return err
	}
	for _, l := range backlog {
		if send(LogLine(l)) != nil {
			return
		}
	}
	if flusher != nil {
		flusher.Flush()
	}
	if q.Get("follow") != "1" {
		return
	}
	lines := d.hub.Follow(r.Context(), match, logs.DefaultFollowBuffer)
	for l := range lines {
		if send(LogLine(l)) != nil {
			return
		}
		// Write what is there now in one go; flush when the follower has
		// caught up.
		if len(lines) == 0 && flusher != nil {
			flusher.Flush()
		}
	}
}

// fileBacklog reads the last lines of the apps' files, for output written
// before this daemon started (the files hold no reading times: those lines
// come first, in file order). The files end with the lines the hub already
// has (recent), which are skipped.
func (d *Daemon) fileBacklog(entries []*entry, stream string, n int, recent []logs.Line) []logs.Line {
	if n <= 0 {
		return nil
	}
	if entries == nil {
		d.mu.Lock()
		entries = slices.Clone(d.apps)
		d.mu.Unlock()
	}
	var out []logs.Line
	for _, e := range entries {
		paths, err := e.app.LogPaths()
		if err != nil {
			continue
		}
		name := e.logName()
		for _, p := range paths {
			if stream != "" && p.Stream != stream {
				continue
			}
			// A file the instances share (Instance -1) ends with the
			// lines of all of them.
			have := 0
			for _, l := range recent {
				if l.App == name && (l.Instance == p.Instance || p.Instance < 0) && l.Stream == p.Stream {
					have++
				}
			}
			lines, err := logs.TailFile(p.Path, n+have)
			if err != nil {
				continue
			}
			lines = lines[:max(len(lines)-have, 0)]
			for _, text := range lines {
				out = append(out, logs.Line{App: name, Instance: p.Instance, Stream: p.Stream, Text: text})
			}
		}
	}
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return out
}

// flushLogs answers POST /v1/logs/flush?app=: empty the apps' log files,
// through their writers when open (so ordering holds), directly otherwise.
func (d *Daemon) flushLogs(r *http.Request) (any, error) {
	target := r.URL.Query().Get("app")
	if target == "" {
		target = "all"
	}
	m, err := d.match(target)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, e := range m {
		paths, _ := e.app.LogPaths()
		for _, p := range paths {
			if err := d.files.truncate(p.Path); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return map[string]string{}, errors.Join(errs...)
}

// reopenLogs answers POST /v1/logs/reopen: reopen every log file at its
// path, after an external logrotate moved it away.
func (d *Daemon) reopenLogs(*http.Request) (any, error) {
	err := d.files.each(func(f *logs.File) error { return f.Reopen() })
	if d.ownLog != nil {
		err = errors.Join(err, d.ownLog.Reopen())
	}
	return map[string]string{}, err
}
