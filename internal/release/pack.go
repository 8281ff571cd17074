package release

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tendhq/tend/internal/spec"
)

// EcosystemFiles are the names of a release's ecosystem file, in the
// order deploy looks for them.
var EcosystemFiles = []string{"tend.yaml", "tend.yml", "tend.json", "tend.toml",
	"ecosystem.config.js", "ecosystem.config.cjs", "ecosystem.json", "ecosystem.yaml", "ecosystem.yml"}

// FindEcosystem returns the name of dir's ecosystem file, or "".
func FindEcosystem(dir string) string {
	for _, n := range EcosystemFiles {
		if fi, err := os.Stat(filepath.Join(dir, n)); err == nil && fi.Mode().IsRegular() {
			return n
		}
	}
	return ""
}

// PackOptions configure Pack.
type PackOptions struct {
	// Log gets npm's output and what Pack does; nil discards it.
	Log io.Writer
	// Npm is the npm program; "" is "npm" on PATH.
	Npm string
	// Env is the environment of npm and git, and where SOURCE_DATE_EPOCH
	// is read; nil is os.Environ().
	Env    []string
	Limits Limits
	// Skip is an absolute path left out of the release (the archive being
	// written, when it is inside the directory).
	Skip string
}

// packageJSON is what pack reads of package.json.
type packageJSON struct {
	Name         string            `json:"name"`
	Version      string            `json:"version"`
	Main         string            `json:"main"`
	Files        []string          `json:"files"`
	Dependencies map[string]string `json:"dependencies"`
	Engines      struct {
		Node string `json:"node"`
	} `json:"engines"`
}

// alwaysOut are left out of every release: version control, dependencies
// (installed again without the dev ones), npm's credentials and logs.
func alwaysOut(rel string, dir bool) bool {
	base := path.Base(rel)
	switch {
	case base == ".git" || base == ".hg" || base == ".svn" || base == "node_modules" || base == ".DS_Store":
		return true
	case rel == ".npmrc" || rel == "logs" && dir || rel == ".tend":
		return true
	case !dir && (strings.HasSuffix(base, ".log") || base == ManifestName):
		return true
	}
	return false
}

// keptFiles are kept whatever package.json's files says, as npm does.
var keptFiles = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^(package\.json|package-lock\.json|npm-shrinkwrap\.json|(?i:readme|license|licence|changelog)(\..*)?)$`)
})

// Pack builds the release archive of the app in dir and writes it to w: a
// staging copy of its files (package.json's files, or all but what
// .npmignore, else .gitignore, leaves out), its production dependencies
// (npm ci --omit=dev with a lockfile, npm install --omit=dev without), and
// a manifest. A directory with an ecosystem file and no package.json packs
// without npm.
func Pack(ctx context.Context, dir string, w io.Writer, o PackOptions) (*Manifest, error) {
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.Env == nil {
		o.Env = os.Environ()
	}
	if o.Limits == (Limits{}) {
		o.Limits = DefaultLimits
	}
	if o.Npm == "" {
		o.Npm = "npm"
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	var pkg *packageJSON
	b, err := os.ReadFile(filepath.Join(dir, "package.json"))
	switch {
	case err == nil:
		pkg = &packageJSON{}
		if err := json.Unmarshal(b, pkg); err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "package.json"), err)
		}
	case errors.Is(err, fs.ErrNotExist):
		if FindEcosystem(dir) == "" {
			return nil, fmt.Errorf("%s has no package.json and no ecosystem file (%s): nothing says how to run the app", dir, strings.Join(EcosystemFiles[:5], ", "))
		}
	default:
		return nil, err
	}

	sel, err := selectFiles(dir, pkg, o)
	if err != nil {
		return nil, err
	}
	stage, err := os.MkdirTemp("", "tend-pack-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(stage)
	var newest time.Time
	for _, rel := range sel {
		fi, err := copyInto(dir, stage, rel)
		if err != nil {
			return nil, err
		}
		if fi.ModTime().After(newest) {
			newest = fi.ModTime()
		}
	}
	if pkg != nil {
		if err := npmInstall(ctx, dir, stage, pkg, o); err != nil {
			return nil, err
		}
	}
	m := &Manifest{Format: Format, Name: filepath.Base(dir)}
	if pkg != nil {
		m.Name, m.Version, m.Node = pkg.Name, pkg.Version, pkg.Engines.Node
	}
	m.Commit, m.Created = gitInfo(ctx, dir, o.Env)
	if epoch, ok := envValue(o.Env, "SOURCE_DATE_EPOCH"); ok {
		n, err := strconv.ParseInt(epoch, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("SOURCE_DATE_EPOCH %q: want seconds since 1970", epoch)
		}
		m.Created = time.Unix(n, 0)
	}
	if m.Created.IsZero() {
		m.Created = newest
	}
	m.Created = m.Created.UTC().Truncate(time.Second)
	if m.Version == "" {
		m.Version = m.Created.Format("20060102150405")
	}
	if f := FindEcosystem(stage); f != "" {
		// The app's name, when the file defines one app, names its
		// releases; a file that does not load is deploy's to report.
		if apps, _, err := spec.LoadFile(filepath.Join(stage, f), spec.LoadOptions{}); err == nil && len(apps) == 1 {
			m.App = apps[0].Name
		}
	}
	if m.Files, err = listFiles(stage, o.Limits); err != nil {
		return nil, err
	}
	if err := writeArchive(w, stage, m); err != nil {
		return nil, fmt.Errorf("write the archive: %w", err)
	}
	return m, nil
}

// selectFiles lists the files of dir that go into the release, relative
// and slash-separated.
func selectFiles(dir string, pkg *packageJSON, o PackOptions) ([]string, error) {
	var ignore patterns
	for _, n := range []string{".npmignore", ".gitignore"} {
		if b, err := os.ReadFile(filepath.Join(dir, n)); err == nil {
			ignore = parsePatterns(b)
			break
		}
	}
	var only patterns
	if pkg != nil && len(pkg.Files) > 0 {
		for _, f := range pkg.Files {
			f = strings.TrimPrefix(strings.TrimPrefix(f, "./"), "/")
			if f = strings.TrimRight(f, "/"); f != "" {
				only = append(only, pattern{re: globRegexp(f, true)})
			}
		}
		if pkg.Main != "" {
			only = append(only, pattern{re: globRegexp(path.Clean(strings.TrimPrefix(pkg.Main, "./")), true)})
		}
		for _, n := range EcosystemFiles {
			only = append(only, pattern{re: globRegexp(n, true)})
		}
	}
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == dir {
			return nil
		}
		rel := filepath.ToSlash(p[len(dir)+1:])
		isDir := d.IsDir()
		if alwaysOut(rel, isDir) || p == o.Skip || ignore.ignored(rel, isDir) && !keptFiles().MatchString(rel) {
			if isDir {
				return filepath.SkipDir
			}
			return nil
		}
		if isDir {
			return nil
		}
		if !d.Type().IsRegular() && d.Type()&fs.ModeSymlink == 0 {
			return nil // sockets, pipes: not part of an app
		}
		if only != nil && !keptFiles().MatchString(rel) && !only.ignored(rel, false) {
			return nil
		}
		if err := checkPath(rel, o.Limits); err != nil {
			return fmt.Errorf("pack %s: %w", dir, err)
		}
		if len(out) >= o.Limits.Files {
			return fmt.Errorf("pack %s: more than %d files; leave some out with .npmignore or package.json's files", dir, o.Limits.Files)
		}
		out = append(out, rel)
		return nil
	})
	return out, err
}

// copyInto copies dir/rel to stage/rel, a symlink as a symlink.
func copyInto(dir, stage, rel string) (fs.FileInfo, error) {
	src, dst := filepath.Join(dir, rel), filepath.Join(stage, rel)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return nil, err
	}
	fi, err := os.Lstat(src)
	if err != nil {
		return nil, err
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		link, err := os.Readlink(src)
		if err != nil {
			return nil, err
		}
		if escapes(rel, link) {
			return nil, fmt.Errorf("pack: %s is a symlink to %s, outside the app: copy the file in instead", src, link)
		}
		return fi, os.Symlink(link, dst)
	}
	in, err := os.Open(src)
	if err != nil {
		return nil, err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fi.Mode().Perm()|0o600)
	if err != nil {
		return nil, err
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return fi, err
}

// npmInstall installs the production dependencies into stage.
func npmInstall(ctx context.Context, dir, stage string, pkg *packageJSON, o PackOptions) error {
	lock := false
	for _, n := range []string{"package-lock.json", "npm-shrinkwrap.json"} {
		if _, err := os.Stat(filepath.Join(stage, n)); err == nil {
			lock = true
		}
	}
	if !lock && len(pkg.Dependencies) == 0 {
		return nil // nothing to install
	}
	args := []string{"install", "--omit=dev", "--no-package-lock"}
	if lock {
		args = []string{"ci", "--omit=dev"}
	}
	args = append(args, "--no-audit", "--no-fund", "--prefer-offline")
	// The app's .npmrc (a private registry, its token) serves the install
	// but stays out of the release.
	if b, err := os.ReadFile(filepath.Join(dir, ".npmrc")); err == nil {
		if err := os.WriteFile(filepath.Join(stage, ".npmrc"), b, 0o600); err != nil {
			return err
		}
		defer os.Remove(filepath.Join(stage, ".npmrc"))
	}
	fmt.Fprintf(o.Log, "npm %s\n", strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, o.Npm, args...)
	cmd.Dir, cmd.Env = stage, o.Env
	cmd.Stdout, cmd.Stderr = o.Log, o.Log
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("npm %s in a copy of %s: %w (its output is above)", args[0], dir, err)
	}
	for _, junk := range []string{"node_modules/.cache", "node_modules/.package-lock.json"} {
		if err := os.RemoveAll(filepath.Join(stage, junk)); err != nil {
			return err
		}
	}
	return nil
}

// listFiles hashes every file under stage, sorted by path.
func listFiles(stage string, lim Limits) ([]File, error) {
	var out []File
	var total int64
	err := filepath.WalkDir(stage, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel := filepath.ToSlash(p[len(stage)+1:])
		if err := checkPath(rel, lim); err != nil {
			return fmt.Errorf("pack: %w", err)
		}
		if len(out) >= lim.Files {
			return fmt.Errorf("pack: more than %d files with the dependencies; leave some out with .npmignore or package.json's files", lim.Files)
		}
		if d.Type()&fs.ModeSymlink != 0 {
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if escapes(rel, link) {
				return fmt.Errorf("pack: %s is a symlink to %s, outside the release", rel, link)
			}
			out = append(out, File{Path: rel, Link: link})
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if total += fi.Size(); total > lim.Bytes {
			return fmt.Errorf("pack: more than %d bytes of files with the dependencies", lim.Bytes)
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		h := sha256.New()
		n, err := io.Copy(h, f)
		if err != nil {
			return err
		}
		mode := uint32(0o644)
		if fi.Mode()&0o111 != 0 {
			mode = 0o755
		}
		out = append(out, File{Path: rel, Mode: mode, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))})
		return nil
	})
	slices.SortFunc(out, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	return out, err
}

// gitInfo returns dir's git HEAD ("-dirty" when the work tree has changes)
// and its commit time; nothing when dir is not in a git work tree.
func gitInfo(ctx context.Context, dir string, env []string) (string, time.Time) {
	git := func(args ...string) (string, bool) {
		cmd := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...)
		cmd.Env = env
		out, err := cmd.Output()
		return string(bytes.TrimSpace(out)), err == nil
	}
	out, ok := git("log", "-1", "--format=%H %ct")
	if !ok {
		return "", time.Time{}
	}
	hash, ct, _ := strings.Cut(out, " ")
	secs, err := strconv.ParseInt(ct, 10, 64)
	if err != nil || hash == "" {
		return "", time.Time{}
	}
	if st, ok := git("status", "--porcelain", "--untracked-files=no", "--", "."); ok && st != "" {
		hash += "-dirty"
	}
	return hash, time.Unix(secs, 0)
}

func envValue(env []string, key string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], key+"="); ok {
			return v, true
		}
	}
	return "", false
}
