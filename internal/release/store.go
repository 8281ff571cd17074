package release

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/home"
)

// DefaultRetain is how many releases of an app are kept when its
// retain_releases is not set.
const DefaultRetain = 5

// Names inside an app's releases directory.
const (
	CurrentName = "current"       // the symlink to the active release
	historyName = "releases.json" // what was deployed, when and by whom
)

// maxHistory bounds an app's history file.
const maxHistory = 16 << 20

// Store is $TEND_HOME/releases: one directory per app, holding its
// releases as <seq>-<version>/, the `current` symlink to the active one,
// and releases.json. The caller serialises changes to one app.
type Store struct {
	Dir string
}

// AppDir is the directory of app's releases.
func (s Store) AppDir(app string) string { return filepath.Join(s.Dir, app) }

// Current is the path of app's current symlink: an app deployed by tend
// has its cwd and script under it.
func (s Store) Current(app string) string { return filepath.Join(s.AppDir(app), CurrentName) }

var unsafeVersion = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`[^A-Za-z0-9._+-]`) })

// dirName is the directory of release seq of version v.
func dirName(seq int, v string) string {
	v = unsafeVersion().ReplaceAllString(v, "_")
	if len(v) > 64 {
		v = v[:64]
	}
	return strconv.Itoa(seq) + "-" + strings.TrimLeft(v, ".")
}

// List returns app's releases, oldest first, with the active one marked.
func (s Store) List(app string) ([]api.Release, error) {
	b, err := os.ReadFile(filepath.Join(s.AppDir(app), historyName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if len(b) > maxHistory {
		return nil, fmt.Errorf("%s: larger than %d bytes", filepath.Join(s.AppDir(app), historyName), maxHistory)
	}
	var rs []api.Release
	if err := json.Unmarshal(b, &rs); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(s.AppDir(app), historyName), err)
	}
	active, _ := os.Readlink(s.Current(app))
	for i := range rs {
		rs[i].Active = active != "" && filepath.Base(rs[i].Dir) == active
	}
	return rs, nil
}

func (s Store) write(app string, rs []api.Release) error {
	for i := range rs {
		rs[i].Active = false
	}
	b, err := json.MarshalIndent(rs, "", "  ")
	if err != nil {
		return err
	}
	return home.WriteFile(filepath.Join(s.AppDir(app), historyName), append(b, '\n'), 0o600)
}

// Install unpacks a into a new release of app, numbered one above the
// highest so far, and records it (not active yet). On error nothing is
// left behind.
func (s Store) Install(a *Archive, app string, r api.Release) (api.Release, error) {
	dir := s.AppDir(app)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return r, fmt.Errorf("create %s: %w", dir, err)
	}
	rs, err := s.List(app)
	if err != nil {
		return r, err
	}
	r.Seq = 1
	for _, x := range rs {
		r.Seq = max(r.Seq, x.Seq+1)
	}
	r.App, r.Name, r.Version, r.Commit = app, a.Manifest.Name, a.Manifest.Version, a.Manifest.Commit
	r.Files = len(a.Manifest.Files)
	r.Dir = filepath.Join(dir, dirName(r.Seq, r.Version))
	// A release of this number left by a daemon that died mid-unpack is
	// not in the history: it goes.
	incoming := filepath.Join(dir, ".incoming-"+strconv.Itoa(r.Seq))
	for _, p := range []string{incoming, r.Dir} {
		if err := os.RemoveAll(p); err != nil {
			return r, err
		}
	}
	if err := a.Extract(incoming); err != nil {
		return r, err
	}
	if err := os.Rename(incoming, r.Dir); err != nil {
		os.RemoveAll(incoming)
		return r, err
	}
	if err := s.write(app, append(rs, r)); err != nil {
		os.RemoveAll(r.Dir)
		return r, fmt.Errorf("record the release: %w", err)
	}
	return r, nil
}

// Forget removes release seq of app, directory and record (a deploy that
// did not go through).
func (s Store) Forget(app string, seq int) error {
	rs, err := s.List(app)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(rs, func(r api.Release) bool { return r.Seq == seq })
	if i < 0 {
		return nil
	}
	if rs[i].Active {
		return fmt.Errorf("release %d of %s is active", seq, app)
	}
	dir := rs[i].Dir
	if err := s.write(app, slices.Delete(rs, i, i+1)); err != nil {
		return err
	}
	return os.RemoveAll(dir)
}

// Active returns the directory current points to ("" for none).
func (s Store) Active(app string) string {
	link, err := os.Readlink(s.Current(app))
	if err != nil {
		return ""
	}
	return filepath.Join(s.AppDir(app), link)
}

// Switch points app's current symlink at dir ("" removes it), atomically:
// a new symlink renamed over the old one.
func (s Store) Switch(app, dir string) error {
	cur := s.Current(app)
	if dir == "" {
		if err := os.Remove(cur); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return home.SyncDir(s.AppDir(app))
	}
	tmp := cur + ".tmp"
	_ = os.Remove(tmp)
	if err := os.Symlink(filepath.Base(dir), tmp); err != nil {
		return fmt.Errorf("switch %s to %s: %w", cur, dir, err)
	}
	if err := os.Rename(tmp, cur); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("switch %s to %s: %w", cur, dir, err)
	}
	return home.SyncDir(s.AppDir(app))
}

// Prune removes the oldest releases of app beyond keep, never the active
// one, and returns their numbers.
func (s Store) Prune(app string, keep int) ([]int, error) {
	rs, err := s.List(app)
	if err != nil || len(rs) <= keep {
		return nil, err
	}
	slices.SortFunc(rs, func(a, b api.Release) int { return a.Seq - b.Seq })
	var gone []int
	var dirs []string
	var kept []api.Release
	extra := len(rs) - keep
	for _, r := range rs {
		if extra > 0 && !r.Active {
			extra--
			gone = append(gone, r.Seq)
			dirs = append(dirs, r.Dir)
			continue
		}
		kept = append(kept, r)
	}
	// The record goes first: a release listed is one that exists.
	if err := s.write(app, kept); err != nil {
		return nil, err
	}
	for _, d := range dirs {
		if err := os.RemoveAll(d); err != nil {
			return gone, err
		}
	}
	return gone, nil
}
