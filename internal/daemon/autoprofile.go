package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/spec"
)

// Profiles tend takes by itself: a CPU profile of an instance whose event
// loop stalls (profile_on_stall), a heap snapshot of one that
// max_memory_restart is about to replace (heap_snapshot_on_memory_limit).
// Both are taken through takeProfile, as `tend profile` takes them, so the
// inspector is opened for them only and closed after; one profile of an
// instance at a time, manual or not. They are written to
// $TEND_HOME/profiles (0700, files 0600: a heap snapshot holds the app's
// secrets), as <app>-<instance>-<time><ext>, and the oldest are removed
// beyond maxStoredProfiles files or maxStoredBytes in all, as rotated logs
// are.

const (
	profilesDir       = "profiles"
	maxStoredProfiles = 50
	maxStoredBytes    = 2 << 30
	// memorySnapshotLimit bounds the heap snapshot taken before a memory
	// restart: the replacement waits for it no longer.
	memorySnapshotLimit = time.Minute
	// storedTimeLayout is the time in a stored profile's name (UTC).
	storedTimeLayout = "20060102-150405.000"
)

// stallGate decides when a stall is profiled: once per stall window (the
// reports of an instance above the threshold in a row), at most
// max_per_hour an hour per instance (a sliding window of the profiles
// taken). It is a pure decision object: the caller passes the time.
type stallGate struct {
	mu sync.Mutex // guards the maps
	// stalled are the instances whose last report was above threshold.
	stalled map[string]bool
	// taken are the times of the stall profiles of each instance in the
	// last hour.
	taken map[string][]time.Time
}

// stallVerdict is what to do with a runtime report.
type stallVerdict int

const (
	stallNone    stallVerdict = iota // not a new stall
	stallProfile                     // profile it
	stallSkip                        // a new stall, not profiled: over max_per_hour
)

// report takes one runtime report's longest event-loop delay of the
// instance key; when it says "profile", the caller takes a profile and
// calls took if it did.
func (g *stallGate) report(key string, delay time.Duration, set spec.ProfileOnStall, now time.Time) stallVerdict {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stalled == nil {
		g.stalled, g.taken = map[string]bool{}, map[string][]time.Time{}
	}
	if delay < set.Threshold.D() {
		delete(g.stalled, key)
		return stallNone
	}
	if g.stalled[key] {
		return stallNone
	}
	g.stalled[key] = true
	recent := slices.DeleteFunc(g.taken[key], func(t time.Time) bool { return now.Sub(t) >= time.Hour })
	g.taken[key] = recent
	if len(recent) >= set.MaxPerHour {
		return stallSkip
	}
	return stallProfile
}

// took records a stall profile of the instance key taken at t.
func (g *stallGate) took(key string, t time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.taken[key] = append(g.taken[key], t)
}

// forget drops what the gate knows of the app's instances (app deleted).
func (g *stallGate) forget(appID int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	prefix := strconv.Itoa(appID) + "/"
	for k := range g.stalled {
		if strings.HasPrefix(k, prefix) {
			delete(g.stalled, k)
		}
	}
	for k := range g.taken {
		if strings.HasPrefix(k, prefix) {
			delete(g.taken, k)
		}
	}
}

// onRuntime is app.Config.OnRuntime of app e: it runs on the app's owner
// goroutine, so it decides at once and profiles on a goroutine of its own,
// which d.prof counts (Run waits for it).
func (d *Daemon) onRuntime(e *entry, index, pid int, figs map[string]float64, set *spec.ProfileOnStall) {
	if set == nil {
		return
	}
	delay := time.Duration(figs["eventloop_delay_max_seconds"] * float64(time.Second))
	key := profileKey(e.id, index)
	switch d.stalls.report(key, delay, *set, time.Now()) {
	case stallNone:
		return
	case stallSkip:
		d.profileEvent(e, index, pid, api.ProfileTriggerStall, "", fmt.Errorf("event loop held up %s: not profiled, %d stall profiles of this instance in the last hour already (profile_on_stall.max_per_hour)", delay.Round(time.Millisecond), set.MaxPerHour))
		return
	}
	run, ok := d.prof.begin(key)
	if !ok {
		d.profileEvent(e, index, pid, api.ProfileTriggerStall, "", fmt.Errorf("event loop held up %s: not profiled, the instance is being profiled already", delay.Round(time.Millisecond)))
		return
	}
	d.log.Info("profile: stall", "app", e.name, "instance", index, "pid", pid, "delay", delay)
	go func() {
		defer d.prof.end(key)
		req := api.ProfileRequest{Kind: api.ProfileCPU, Instance: index, DurationMS: set.Duration.D().Milliseconds(), IntervalUS: defaultProfileInterval.Microseconds()}
		file, err := d.storeProfile(d.autoCtx, e, req, run)
		if file != "" {
			d.stalls.took(key, time.Now())
		}
		d.profileEvent(e, index, pid, api.ProfileTriggerStall, file, err)
	}()
}

// beforeMemoryRestart is app.Config.BeforeMemoryRestart of app e: a heap
// snapshot of the instance, waited for at most memorySnapshotLimit.
func (d *Daemon) beforeMemoryRestart(e *entry, index, pid int) {
	key := profileKey(e.id, index)
	run, ok := d.prof.begin(key)
	if !ok {
		d.profileEvent(e, index, pid, api.ProfileTriggerMemory, "", errors.New("no heap snapshot before the memory restart: the instance is being profiled already"))
		return
	}
	done := make(chan struct{})
	go func() {
		defer d.prof.end(key)
		defer close(done)
		file, err := d.storeProfile(d.autoCtx, e, api.ProfileRequest{Kind: api.ProfileHeap, Instance: index}, run)
		d.profileEvent(e, index, pid, api.ProfileTriggerMemory, file, err)
	}()
	// The snapshot is bounded by memorySnapshotLimit; closing the
	// inspector after it may take longer (V8 may still be busy), which the
	// replacement does not wait for: it stops the process, which ends the
	// session.
	t := time.NewTimer(memorySnapshotLimit + 5*time.Second)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	case <-d.autoCtx.Done():
	}
}

// storeProfile takes a profile of e for the store and returns its file,
// "" when none was written.
func (d *Daemon) storeProfile(ctx context.Context, e *entry, req api.ProfileRequest, run *profileRun) (string, error) {
	dir := filepath.Join(d.home, profilesDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("profiles directory: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return "", fmt.Errorf("profiles directory: %w", err)
	}
	ext := ".cpuprofile"
	if req.Kind == api.ProfileHeap {
		ext = ".heapsnapshot"
	}
	name := fmt.Sprintf("%s-%d-%s%s", e.name, req.Instance, time.Now().UTC().Format(storedTimeLayout), ext)
	var tmp *os.File
	warn, err := d.takeProfile(ctx, e, req, run, recordOptions{
		snapshotLimit: memorySnapshotLimit,
		start: func(int) (io.Writer, error) {
			f, err := os.CreateTemp(dir, "."+name+".tmp*")
			if err != nil {
				return nil, fmt.Errorf("create the profile's file: %w", err)
			}
			tmp = f // CreateTemp makes it 0600
			return f, nil
		},
	})
	if warn != nil {
		d.log.Warn("profile: inspector not closed", "app", e.name, "instance", req.Instance, "err", warn)
	}
	if tmp == nil {
		return "", err
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	final := filepath.Join(dir, name)
	if err == nil {
		err = os.Rename(tmp.Name(), final)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return "", err
	}
	d.pruneProfiles(dir)
	return final, nil
}

// profileEvent publishes what tend did of its own: the profile written to
// file, or why none was.
func (d *Daemon) profileEvent(e *entry, index, pid int, trigger, file string, err error) {
	ev := api.StreamEvent{Type: api.EventProfile, App: e.name, Namespace: e.namespace, AppID: e.id, Instance: index, PID: pid, Action: trigger, Message: file}
	if err != nil {
		ev.Error = err.Error()
		d.log.Warn("profile: automatic profile not taken", "app", e.name, "instance", index, "trigger", trigger, "err", err)
	} else {
		d.log.Info("profile: automatic profile written", "app", e.name, "instance", index, "trigger", trigger, "file", file)
	}
	d.events.Publish(ev)
}

// storedProfiles lists the profiles in dir, oldest first; app, if not "",
// keeps that app's only. Files of other names are not tend's, and left out.
func storedProfiles(dir, app string) ([]api.StoredProfile, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []api.StoredProfile
	for _, de := range ents {
		p, ok := parseStoredName(de.Name())
		if !ok || app != "" && p.App != app || !de.Type().IsRegular() {
			continue
		}
		info, err := de.Info()
		if err != nil {
			continue // removed meanwhile
		}
		p.File, p.Size = filepath.Join(dir, de.Name()), info.Size()
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b api.StoredProfile) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		return strings.Compare(a.File, b.File)
	})
	return out, nil
}

// parseStoredName reads <app>-<instance>-<time><ext>; the app's name may
// hold dashes.
func parseStoredName(name string) (api.StoredProfile, bool) {
	var p api.StoredProfile
	base, ok := strings.CutSuffix(name, ".cpuprofile")
	p.Trigger = api.ProfileTriggerStall
	if !ok {
		if base, ok = strings.CutSuffix(name, ".heapsnapshot"); !ok {
			return p, false
		}
		p.Trigger = api.ProfileTriggerMemory
	}
	if len(base) < len(storedTimeLayout)+4 || strings.HasPrefix(name, ".") {
		return p, false
	}
	when := base[len(base)-len(storedTimeLayout):]
	t, err := time.Parse(storedTimeLayout, when)
	if err != nil {
		return p, false
	}
	rest, ok := strings.CutSuffix(base[:len(base)-len(storedTimeLayout)], "-")
	if !ok {
		return p, false
	}
	i := strings.LastIndexByte(rest, '-')
	if i <= 0 {
		return p, false
	}
	n, err := strconv.Atoi(rest[i+1:])
	if err != nil || n < 0 {
		return p, false
	}
	p.App, p.Instance, p.Time = rest[:i], n, t
	return p, true
}

// pruneProfiles removes the oldest profiles of dir beyond the ceilings.
func (d *Daemon) pruneProfiles(dir string) {
	all, err := storedProfiles(dir, "")
	if err != nil {
		d.log.Warn("profile: list stored profiles", "err", err)
		return
	}
	var total int64
	for _, p := range all {
		total += p.Size
	}
	for len(all) > 0 && (len(all) > maxStoredProfiles || total > maxStoredBytes) {
		if err := os.Remove(all[0].File); err != nil && !errors.Is(err, os.ErrNotExist) {
			d.log.Warn("profile: remove an old profile", "file", all[0].File, "err", err)
		}
		total -= all[0].Size
		all = all[1:]
	}
}

// listProfiles handles GET /v1/profiles?app=NAME.
func (d *Daemon) listProfiles(r *http.Request) (any, error) {
	app := r.URL.Query().Get("app")
	out, err := storedProfiles(filepath.Join(d.home, profilesDir), app)
	if err != nil {
		return nil, &httpError{http.StatusInternalServerError, fmt.Sprintf("list profiles: %v", err)}
	}
	if out == nil {
		out = []api.StoredProfile{}
	}
	return out, nil
}
