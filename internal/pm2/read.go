// Package pm2 speaks PM2's formats: it reads what PM2 writes about its
// processes (the dump `pm2 save` writes to ~/.pm2/dump.pm2, or the output
// of `pm2 jlist`) and turns it into tend apps, and it writes tend's apps in
// the shape of `pm2 jlist`, so that scripts written for PM2 keep working.
//
// Both PM2 formats are a JSON array with one entry per process, not per
// app: an app of 4 cluster instances is 4 entries with the same name. A
// dump entry is the process's pm2_env object itself; a jlist entry holds it
// under "pm2_env", next to pid, pm_id and monit.
package pm2

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
)

// Ceilings on what Read accepts. A dump holds each process's whole
// environment, so a few hundred kilobytes per app is ordinary; these are
// far above real dumps and far below what would hurt.
const (
	MaxFileBytes = 32 << 20
	MaxProcesses = 4096
)

// readLimit is MaxFileBytes; a variable for tests.
var readLimit int64 = MaxFileBytes

var errTooLarge = fmt.Errorf("larger than %d MiB: not a PM2 dump", MaxFileBytes>>20)

// Process is one process's entry: its pm2_env object, keys as PM2 wrote
// them (numbers kept as json.Number).
type Process map[string]any

// ReadFile reads a dump or jlist file; errors name the file.
func ReadFile(path string) ([]Process, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read the PM2 dump: %w", err)
	}
	defer f.Close()
	// A file known to be too large is refused before it is read.
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() && st.Size() > readLimit {
		return nil, fmt.Errorf("%s: %w", path, errTooLarge)
	}
	procs, err := Read(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return procs, nil
}

// Read reads a dump or jlist document: at most MaxFileBytes, at most
// MaxProcesses entries, each an object naming a process (name and
// pm_exec_path).
func Read(r io.Reader) ([]Process, error) {
	b, err := io.ReadAll(io.LimitReader(r, readLimit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > readLimit {
		return nil, errTooLarge
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, errors.New("the file is empty: PM2 saved no process (run `pm2 save` while your apps run)")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var top any
	if err := dec.Decode(&top); err != nil {
		return nil, fmt.Errorf("not JSON (want the file `pm2 save` writes, or the output of `pm2 jlist`): %w", err)
	}
	list, ok := top.([]any)
	if !ok {
		return nil, errors.New("want a JSON array of processes, as `pm2 save` and `pm2 jlist` write")
	}
	if len(list) > MaxProcesses {
		return nil, fmt.Errorf("%d processes: more than the %d tend imports at once", len(list), MaxProcesses)
	}
	out := make([]Process, 0, len(list))
	for i, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("[%d]: want an object (one process)", i)
		}
		if env, ok := m["pm2_env"].(map[string]any); ok { // jlist
			m = env
		}
		if s, _ := m["name"].(string); s == "" {
			return nil, fmt.Errorf("[%d]: no name: not a PM2 process entry", i)
		}
		if s, _ := m["pm_exec_path"].(string); s == "" {
			return nil, fmt.Errorf("[%d] (%v): no pm_exec_path: not a PM2 process entry", i, m["name"])
		}
		out = append(out, Process(m))
	}
	if len(out) == 0 {
		return nil, errors.New("no process in the file: PM2 saved an empty list")
	}
	return out, nil
}
