package app

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tendhq/tend/internal/logs"
	"github.com/tendhq/tend/internal/spec"
)

// LogFiles hands out log files shared by path: instances that merge their
// logs, and an old and a new process during a reload, write through one
// File, which alone may rotate it.
type LogFiles interface {
	Open(cfg logs.FileConfig) (*logs.File, error)
	Release(f *logs.File)
}

// crashLines is how many stderr lines are kept with an unexpected exit.
const crashLines = 50

// sinks are where one process's output goes.
type sinks struct {
	files  LogFiles
	hub    *logs.Hub
	recent *logs.Recent // the last stderr lines, for the crash context

	// mu guards the files and released: the capture goroutine writes
	// through them, the owner goroutine swaps them when the app's log
	// settings name other paths (retarget).
	mu       sync.RWMutex
	out, err *logs.File
	combined *logs.File // log_file, when set
	released bool       // the capture is over: the files went back
}

func (k *sinks) release() {
	k.mu.Lock()
	k.released = true
	files := []*logs.File{k.out, k.err, k.combined}
	k.out, k.err, k.combined = nil, nil, nil
	k.mu.Unlock()
	// A last release closes the file, which writes its queue: not under mu.
	for _, f := range files {
		if f != nil {
			k.files.Release(f)
		}
	}
}

// logTargets are the files one instance writes, by path ("" for none).
type logTargets struct{ out, err, combined string }

// logTargets are the paths of instance index's files under the app's
// settings.
func (a *App) logTargets(index int) logTargets {
	t := logTargets{
		out: a.logPath(a.spec.OutFile, "out", index),
		err: a.logPath(a.spec.ErrorFile, "error", index),
	}
	switch a.spec.LogFile {
	case "":
	case spec.LogFileDefault:
		t.combined = a.logPath(filepath.Join(a.cfg.LogDir, LogName(a.spec.Namespace, a.spec.Name)+".log"), "", index)
	default:
		t.combined = a.logPath(a.spec.LogFile, "", index)
	}
	return t
}

// logSettings name the files of logTargets, for errors.
var logSettings = [3]string{"out_file", "error_file", "log_file"}

// reconfigureLogs applies the app's log settings to the processes that
// run: a file whose path stays gets the new format and rotation in place
// (logs.File.Configure), a new path is opened and takes the next lines
// while the old file is released. No process is touched. Every new file is
// opened first: when one cannot be, nothing changes and the error names
// the setting. Owner goroutine.
func (a *App) reconfigureLogs() error {
	var moves []*logMove
	var errs []error
	for p := range a.live {
		// A process on its way out keeps its files: its last lines stay
		// with the ones before them.
		if p.sinks != nil && !p.stopping && slices.Contains(a.slots, p.slot) {
			m, err := p.sinks.prepare(a, a.logTargets(p.slot.index))
			if m != nil {
				moves = append(moves, m)
			}
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		for _, m := range moves {
			m.cancel()
		}
		return err
	}
	for _, m := range moves {
		// The config was validated with the spec: not expected.
		if err := m.commit(a); err != nil {
			a.event("log settings not applied: %v", err)
		}
	}
	return nil
}

// logMove is a retarget of one process's sinks, prepared: its new files
// are open.
type logMove struct {
	k         *sinks
	cur, next [3]*logs.File
	paths     [3]string
}

// prepare opens the files of t that the sinks do not have yet. Only the
// owner goroutine calls it and commit, so the files it read stay the
// sinks' until commit swaps them, unless the capture ends meanwhile.
func (k *sinks) prepare(a *App, t logTargets) (*logMove, error) {
	k.mu.RLock()
	done := k.released
	m := &logMove{k: k, cur: [3]*logs.File{k.out, k.err, k.combined}, paths: [3]string{t.out, t.err, t.combined}}
	k.mu.RUnlock()
	if done {
		return nil, nil
	}
	for i, f := range m.cur {
		switch {
		case m.paths[i] == "":
		case f != nil && f.Path() == m.paths[i]:
			m.next[i] = f
		default:
			// commit configures it again: Open may return a file
			// another process opened first, with its own settings.
			nf, err := k.files.Open(a.fileConfig(m.paths[i]))
			if err != nil {
				m.cancel()
				return nil, fmt.Errorf("%s: %w", logSettings[i], err)
			}
			m.next[i] = nf
		}
	}
	return m, nil
}

// cancel releases the files prepare opened.
func (m *logMove) cancel() {
	for i, f := range m.next {
		if f != nil && f != m.cur[i] {
			m.k.files.Release(f)
		}
		m.next[i] = nil
	}
}

// commit configures the files with the app's settings and swaps them in;
// the old files are released after the lines they queued are written.
func (m *logMove) commit(a *App) error {
	var errs []error
	for i, f := range m.next {
		if f != nil {
			errs = append(errs, f.Configure(a.fileConfig(m.paths[i])))
		}
	}
	k := m.k
	k.mu.Lock()
	if k.released {
		// The capture ended meanwhile: what was opened goes back too.
		k.mu.Unlock()
		m.cancel()
		return errors.Join(errs...)
	}
	k.out, k.err, k.combined = m.next[0], m.next[1], m.next[2]
	k.mu.Unlock()
	for i, f := range m.cur {
		if f != nil && f != m.next[i] {
			k.files.Release(f)
		}
	}
	return errors.Join(errs...)
}

// logPath is the file of one stream of one instance: the app's setting or
// $TEND_HOME/logs/<name>-<stream>.log (logs/<namespace>/<name>-... outside
// the default namespace, see LogName), with -<i> before the extension when
// instances write separate files.
func (a *App) logPath(setting, stream string, index int) string {
	return StreamFile(&a.spec, a.cfg.LogDir, setting, stream, index)
}

// StreamFile is the file an instance's stream goes to: setting when the app
// names one, else <logDir>/<name>-<stream>.log; with -<index> before the
// extension when each of several instances writes its own file. The CLI
// names the same files (ls --format pm2).
func StreamFile(s *spec.App, logDir, setting, stream string, index int) string {
	path := setting
	if path == "" {
		path = filepath.Join(logDir, fmt.Sprintf("%s-%s.log", LogName(s.Namespace, s.Name), stream))
	}
	if path == os.DevNull || s.MergeLogs || s.Instances <= 1 {
		return path
	}
	ext := filepath.Ext(path)
	return fmt.Sprintf("%s-%d%s", strings.TrimSuffix(path, ext), index, ext)
}

// fileConfig is the rotation and format of the app's log files.
func (a *App) fileConfig(path string) logs.FileConfig {
	s, def := a.spec, a.cfg.LogDefaults
	c := logs.FileConfig{
		Path:     path,
		Format:   logs.Format{Time: s.Time, DateLayout: s.LogDateFormat, JSON: s.LogType == "json"},
		MaxSize:  def.MaxSize,
		Interval: def.Interval,
		Retain:   def.Retain,
		Compress: s.Compress || def.Compress,
		OnError:  a.logError,
	}
	if s.MaxSize > 0 {
		c.MaxSize = s.MaxSize
	}
	if s.RotateInterval != "" {
		c.Interval = s.RotateInterval
	}
	if s.Retain > 0 {
		c.Retain = s.Retain
	}
	return c
}

// logError reports a log file's trouble (a full disk): the File calls it
// at most once a minute, and the app keeps running regardless.
func (a *App) logError(err error) {
	if a.cfg.Log != nil {
		a.cfg.Log.Error("app log", "app", a.spec.Name, "err", err)
	}
}

// LogName is how an app's output is named in the log hub, by tend logs and
// in its default log file names: its name, and in a namespace other than
// the default one "namespace/name" (a directory of its own under logs/),
// so that two apps of one name in two namespaces keep their lines apart.
// Names and namespaces cannot contain '/' or be "." or "..".
func LogName(namespace, name string) string {
	if namespace == "" || namespace == spec.DefaultNamespace {
		return name
	}
	return namespace + "/" + name
}

// openSinks gets the files of one instance.
func (a *App) openSinks(index int) (*sinks, error) {
	k := &sinks{files: a.cfg.Files, hub: a.cfg.Hub, recent: logs.NewRecent(crashLines)}
	t := a.logTargets(index)
	var err error
	if k.out, err = k.files.Open(a.fileConfig(t.out)); err != nil {
		return nil, err
	}
	if k.err, err = k.files.Open(a.fileConfig(t.err)); err != nil {
		k.release()
		return nil, err
	}
	if t.combined != "" {
		if k.combined, err = k.files.Open(a.fileConfig(t.combined)); err != nil {
			k.release()
			return nil, err
		}
	}
	return k, nil
}

// pipes are the read ends of a process's stdout and stderr, and what a
// hand-over needs of their capture.
type pipes struct {
	out, err *os.File
	carry    [2][]byte // in: the previous daemon's partial lines; out: ours, once stopped
	stop     chan struct{}
	handed   [2]bool // the capture was stopped before EOF: the pipe stays open
}

func newPipes(out, err *os.File, outCarry, errCarry []byte) *pipes {
	return &pipes{out: out, err: err, carry: [2][]byte{outCarry, errCarry}, stop: make(chan struct{})}
}

// capture drains a process's stdout and stderr pipes into its sinks until
// both reach EOF (or the capture is stopped for a hand-over: pp.stop),
// then releases the files and closes done.
func (k *sinks) capture(pp *pipes, app string, index int, done chan<- struct{}) {
	var wg sync.WaitGroup
	// WriteChunk never blocks, so holding the read lock costs the owner
	// goroutine's retarget nothing more than a queue's mutex.
	emit := func(stream string, c logs.Chunk) {
		k.mu.RLock()
		f := k.out
		if stream == logs.StreamErr {
			f = k.err
		}
		if f != nil {
			f.WriteChunk(c)
		}
		if k.combined != nil {
			k.combined.WriteChunk(c)
		}
		k.mu.RUnlock()
		if k.hub != nil {
			k.hub.Publish(c)
		}
	}
	var stopped [2]bool
	run := func(i int, r *os.File, stream string, emit func(logs.Chunk)) {
		carry, ok, _ := logs.CaptureUntil(r, app, index, stream, emit, logs.Handoff{Carry: pp.carry[i], Stop: pp.stop})
		if ok {
			// Stopped at a line boundary: the pipe is the next daemon's.
			pp.carry[i], stopped[i] = carry, true
			return
		}
		pp.carry[i] = nil
		r.Close()
	}
	wg.Go(func() { run(0, pp.out, logs.StreamOut, func(c logs.Chunk) { emit(logs.StreamOut, c) }) })
	wg.Go(func() {
		run(1, pp.err, logs.StreamErr, func(c logs.Chunk) {
			emit(logs.StreamErr, c)
			k.recent.Add(c)
		})
	})
	wg.Wait()
	// A stream at EOF was closed; one stopped is the next daemon's (a
	// process may well have closed its stderr and go on writing stdout).
	pp.handed = stopped
	k.release()
	close(done)
}

// stderrTail returns the last stderr lines of a process, waiting briefly for
// its pipes to drain: they reach EOF as soon as its group is gone.
func (p *proc) stderrTail(wait time.Duration) []string {
	if p.sinks == nil {
		return nil
	}
	select {
	case <-p.captured:
	case <-time.After(wait):
	}
	lines := p.sinks.recent.Lines()
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = l.Text
	}
	return out
}

// unreadyLines is how many stderr lines an unready instance shows.
const unreadyLines = 10

// recentStderr returns the last n stderr lines of a running process,
// without waiting.
func (p *proc) recentStderr(n int) []string {
	if p.sinks == nil {
		return nil
	}
	lines := p.sinks.recent.Lines()
	lines = lines[max(0, len(lines)-n):]
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = l.Text
	}
	return out
}

// LogPath is one log file of the app.
type LogPath struct {
	Path     string
	Stream   string // out or err
	Instance int    // -1: the instances share the file (merge_logs)
}

// LogPaths lists the app's log files (not /dev/null), for backlogs read
// from disk and for flush.
func (a *App) LogPaths() ([]LogPath, error) {
	var out []LogPath
	err := a.do(func() {
		seen := map[string]int{} // path -> its index in out
		for _, s := range a.slots {
			for _, f := range []struct{ setting, name, stream string }{
				{a.spec.OutFile, "out", logs.StreamOut},
				{a.spec.ErrorFile, "error", logs.StreamErr},
			} {
				p := a.logPath(f.setting, f.name, s.index)
				if p == os.DevNull {
					continue
				}
				if i, ok := seen[p]; ok {
					out[i].Instance = -1
					continue
				}
				seen[p] = len(out)
				out = append(out, LogPath{Path: p, Stream: f.stream, Instance: s.index})
			}
		}
	})
	return out, err
}
