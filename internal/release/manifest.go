// Package release builds, checks and installs release archives: `tend pack`
// makes a reproducible tar.gz of an app with its production dependencies
// and a manifest (tend-release.json) that names every file and its sha256;
// the daemon verifies an archive against its manifest before anything
// changes, unpacks it into $TEND_HOME/releases/<app>/<seq>-<version>/ and
// switches the app's `current` symlink atomically (Store).
package release

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"
)

// ManifestName is the manifest's name inside an archive and a release
// directory.
const ManifestName = "tend-release.json"

// Format is the manifest's format version.
const Format = 1

// Manifest describes a release: what it is and every file in it.
type Manifest struct {
	Format  int    `json:"format"`
	Name    string `json:"name"`
	Version string `json:"version"`
	// App is the app the release defines when its ecosystem file has
	// exactly one; deploy uses it before Name.
	App    string `json:"app,omitempty"`
	Commit string `json:"commit,omitempty"` // git HEAD, "-dirty" when the tree had changes
	// Node is package.json's engines.node.
	Node string `json:"node_engine,omitempty"`
	// Created is SOURCE_DATE_EPOCH, else the git commit's time, else the
	// newest source file's mtime: the same input gives the same archive.
	Created time.Time `json:"created"`
	Files   []File    `json:"files"`
}

// File is one entry of a release: a regular file with its size and sha256,
// or a symlink with its target.
type File struct {
	Path   string `json:"path"`
	Mode   uint32 `json:"mode,omitempty"` // 0644 or 0755
	Size   int64  `json:"size,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
	Link   string `json:"link,omitempty"`
}

// Limits are the ceilings on an archive's contents.
type Limits struct {
	Files int   // entries
	Bytes int64 // total size of the files, unpacked
	Path  int   // bytes of one path
}

// DefaultLimits bound what pack writes and what the daemon unpacks.
var DefaultLimits = Limits{Files: 200_000, Bytes: 4 << 30, Path: 4096}

// maxManifest bounds the manifest's size: 200,000 entries fit.
const maxManifest = 64 << 20

// decodeManifest reads and checks a manifest.
func decodeManifest(b []byte, lim Limits) (*Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", ManifestName, err)
	}
	if m.Format != Format {
		return nil, fmt.Errorf("%s: format %d, this tend reads format %d: pack it with this version of tend", ManifestName, m.Format, Format)
	}
	if len(m.Files) > lim.Files {
		return nil, fmt.Errorf("%s: %d files, more than the %d a release may have", ManifestName, len(m.Files), lim.Files)
	}
	if m.Version == "" {
		return nil, fmt.Errorf("%s: no version", ManifestName)
	}
	seen := make(map[string]bool, len(m.Files))
	var total int64
	for _, f := range m.Files {
		if err := checkPath(f.Path, lim); err != nil {
			return nil, fmt.Errorf("%s: %w", ManifestName, err)
		}
		if seen[f.Path] {
			return nil, fmt.Errorf("%s: %s listed twice", ManifestName, f.Path)
		}
		seen[f.Path] = true
		if f.Size < 0 {
			return nil, fmt.Errorf("%s: %s: negative size", ManifestName, f.Path)
		}
		total += f.Size
	}
	if total > lim.Bytes {
		return nil, fmt.Errorf("%s: %d bytes of files, more than the %d a release may have", ManifestName, total, lim.Bytes)
	}
	return &m, nil
}

// checkPath says why p cannot name an entry of a release: it must be
// relative, clean, without "..", and within the limits.
func checkPath(p string, lim Limits) error {
	switch {
	case p == "" || p == ".":
		return errors.New("an entry with an empty name")
	case len(p) > lim.Path:
		return fmt.Errorf("%.60s...: a path of %d bytes, more than %d", p, len(p), lim.Path)
	case strings.HasPrefix(p, "/"):
		return fmt.Errorf("%s: an absolute path", p)
	case strings.ContainsRune(p, 0) || strings.Contains(p, "\\"):
		return fmt.Errorf("%q: a NUL or backslash in a path", p)
	}
	for _, part := range strings.Split(p, "/") {
		if part == ".." {
			return fmt.Errorf("%s: a path with \"..\"", p)
		}
		if len(part) > 255 {
			return fmt.Errorf("%.60s...: a name longer than 255 bytes", p)
		}
	}
	if path.Clean(p) != p {
		return fmt.Errorf("%s: not a clean path", p)
	}
	return nil
}

// escapes says whether a symlink at p with target link points outside the
// release's root.
func escapes(p, link string) bool {
	if link == "" || strings.HasPrefix(link, "/") {
		return true
	}
	t := path.Join(path.Dir(p), link)
	return t == ".." || strings.HasPrefix(t, "../")
}
