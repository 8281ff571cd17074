package app

import (
	"fmt"
	"os"
	"path/filepath"
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
	files    LogFiles
	out, err *logs.File
	combined *logs.File // log_file, when set
	hub      *logs.Hub
	recent   *logs.Recent // the last stderr lines, for the crash context
}

func (k *sinks) release() {
	for _, f := range []*logs.File{k.out, k.err, k.combined} {
		if f != nil {
			k.files.Release(f)
		}
	}
}

// logPath is the file of one stream of one instance: the app's setting or
// $TEND_HOME/logs/<name>-<stream>.log (logs/<namespace>/<name>-... outside
// the default namespace, see LogName), with -<i> before the extension when
// instances write separate files.
func (a *App) logPath(setting, stream string, index int) string {
	path := setting
	if path == "" {
		path = filepath.Join(a.cfg.LogDir, fmt.Sprintf("%s-%s.log", LogName(a.spec.Namespace, a.spec.Name), stream))
	}
	if path == os.DevNull || a.spec.MergeLogs || a.spec.Instances <= 1 {
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
	var err error
	if k.out, err = k.files.Open(a.fileConfig(a.logPath(a.spec.OutFile, "out", index))); err != nil {
		return nil, err
	}
	if k.err, err = k.files.Open(a.fileConfig(a.logPath(a.spec.ErrorFile, "error", index))); err != nil {
		k.release()
		return nil, err
	}
	if a.spec.LogFile != "" {
		if k.combined, err = k.files.Open(a.fileConfig(a.logPath(a.spec.LogFile, "", index))); err != nil {
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
	emit := func(f *logs.File, c logs.Chunk) {
		f.WriteChunk(c)
		if k.combined != nil {
			k.combined.WriteChunk(c)
		}
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
	wg.Go(func() { run(0, pp.out, logs.StreamOut, func(c logs.Chunk) { emit(k.out, c) }) })
	wg.Go(func() {
		run(1, pp.err, logs.StreamErr, func(c logs.Chunk) {
			emit(k.err, c)
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
