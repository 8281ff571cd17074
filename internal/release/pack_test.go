package release

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// need skips a test whose tool is missing, except in CI, where a missing
// tool is a failure.
func need(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is required: %v", tool, err)
			}
			t.Skipf("needs %s: %v", tool, err)
		}
	}
}

// fixture copies testdata/release/web into a git repository with one
// commit, plus what pack must leave out.
func fixture(t *testing.T) string {
	t.Helper()
	need(t, "npm", "git")
	_, file, _, _ := runtime.Caller(0)
	src := filepath.Join(filepath.Dir(file), "..", "..", "testdata", "release", "web")
	dir := filepath.Join(t.TempDir(), "web")
	if out, err := exec.Command("cp", "-r", src, dir).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	for name, body := range map[string]string{
		"npm-debug.log":               "a log\n",
		"logs/app.log":                "a log\n",
		"notes/todo.txt":              "left out by .npmignore\n",
		".npmrc":                      "//registry.example.com/:_authToken=secret\n",
		"node_modules/.cache/x/junk":  "a cache\n",
		"node_modules/stale/index.js": "left from a dev install\n",
		"lib/helper.js":               "module.exports = 1;\n",
		"tend.yaml":                   "apps:\n  - name: web\n    script: app.js\n",
	} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git := func(args ...string) {
		cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.email=t@example.com", "-c", "user.name=t"}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_COMMITTER_DATE=2026-01-02T03:04:05Z", "GIT_AUTHOR_DATE=2026-01-02T03:04:05Z")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v %s", args, err, out)
		}
	}
	git("init", "-q")
	git("add", "-A")
	git("commit", "-qm", "v1")
	return dir
}

func pack(t *testing.T, dir string, env ...string) ([]byte, *Manifest) {
	t.Helper()
	var buf, log bytes.Buffer
	m, err := Pack(context.Background(), dir, &buf, PackOptions{Log: &log, Env: append(os.Environ(), env...)})
	if err != nil {
		t.Fatalf("pack: %v\n%s", err, log.String())
	}
	return buf.Bytes(), m
}

func names(t *testing.T, archive []byte) map[string]*tar.Header {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(archive))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	out := map[string]*tar.Header{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out[h.Name] = h
	}
}

func TestPackIsReproducibleAndLean(t *testing.T) {
	dir := fixture(t)
	a, m := pack(t, dir)
	// Touched files and a second npm ci change no byte.
	now := time.Now()
	_ = os.Chtimes(filepath.Join(dir, "app.js"), now, now)
	b, _ := pack(t, dir)
	if sha256.Sum256(a) != sha256.Sum256(b) {
		t.Fatalf("two packs of the same tree differ (%d and %d bytes)", len(a), len(b))
	}

	got := names(t, a)
	for _, want := range []string{ManifestName, "app.js", "package.json", "package-lock.json", "tend.yaml", "lib/helper.js", "node_modules/express/package.json"} {
		if got[want] == nil {
			t.Errorf("%s is not in the archive", want)
		}
	}
	for name, h := range got {
		for _, out := range []string{".git/", "devtool", "node_modules/devtool", "npm-debug.log", "logs/", "notes/", ".npmrc", "node_modules/.cache", "node_modules/stale"} {
			if strings.HasPrefix(name, out) {
				t.Errorf("%s is in the archive", name)
			}
		}
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || !h.ModTime.Equal(m.Created) {
			t.Errorf("%s: owner %d:%d %q, time %v; want 0:0 and %v", name, h.Uid, h.Gid, h.Uname, h.ModTime, m.Created)
		}
	}

	commit, _ := exec.Command("git", "-C", dir, "rev-parse", "HEAD").Output()
	want := Manifest{Format: Format, Name: "web", Version: "1.0.0", App: "web", Commit: strings.TrimSpace(string(commit)),
		Node: ">=18", Created: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	if m.Format != want.Format || m.Name != want.Name || m.Version != want.Version || m.App != want.App ||
		m.Commit != want.Commit || m.Node != want.Node || !m.Created.Equal(want.Created) {
		t.Errorf("manifest %+v\nwant %+v", *m, want)
	}
	// Every file of the archive is in the manifest with its sha256, and
	// only those: Open checks exactly that.
	p := filepath.Join(t.TempDir(), "a.tar.gz")
	if err := os.WriteFile(p, a, 0o600); err != nil {
		t.Fatal(err)
	}
	opened, err := Open(p, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	if len(opened.Manifest.Files) != len(got)-1 {
		t.Errorf("manifest lists %d files, the archive has %d", len(opened.Manifest.Files), len(got)-1)
	}
	if !slices.IsSortedFunc(m.Files, func(a, b File) int { return strings.Compare(a.Path, b.Path) }) {
		t.Error("manifest files are not sorted")
	}

	// SOURCE_DATE_EPOCH sets the time; an edit marks the commit dirty.
	if err := os.WriteFile(filepath.Join(dir, "app.js"), []byte("// changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, m2 := pack(t, dir, "SOURCE_DATE_EPOCH=86400")
	if !m2.Created.Equal(time.Unix(86400, 0)) || m2.Commit != want.Commit+"-dirty" {
		t.Errorf("created %v commit %s; want 1970-01-02 and %s-dirty", m2.Created, m2.Commit, want.Commit)
	}
	if bytes.Equal(a, c) {
		t.Error("a changed tree packed to the same bytes")
	}
}

// A directory with an ecosystem file and no package.json packs without
// npm, and package.json's files keeps only what it names.
func TestPackWithoutNpmAndFiles(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"tend.yaml": "apps:\n  - name: worker\n    script: run.sh\n", "run.sh": "#!/bin/sh\nsleep 1\n", "README.md": "hi\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	m, err := Pack(context.Background(), dir, &buf, PackOptions{Npm: "/nonexistent/npm", Env: []string{"SOURCE_DATE_EPOCH=0", "PATH=" + os.Getenv("PATH")}})
	if err != nil {
		t.Fatal(err)
	}
	if m.App != "worker" || len(m.Files) != 3 || m.Files[1].Path != "run.sh" || m.Files[1].Mode != 0o755 {
		t.Errorf("manifest %+v", m)
	}

	// files: only lib/ and the main file, plus what npm always keeps.
	pkg := `{"name": "@acme/lib", "version": "2.0.0", "main": "index.js", "files": ["lib/"]}`
	for name, body := range map[string]string{"package.json": pkg, "index.js": "", "lib/a.js": "", "test/a.test.js": "", "LICENSE": ""} {
		p := filepath.Join(dir, name)
		_ = os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	m, err = Pack(context.Background(), dir, io.Discard, PackOptions{Npm: "/nonexistent/npm", Env: []string{"SOURCE_DATE_EPOCH=0"}})
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, f := range m.Files {
		paths = append(paths, f.Path)
	}
	want := []string{"LICENSE", "README.md", "index.js", "lib/a.js", "package.json", "tend.yaml"}
	if !slices.Equal(paths, want) {
		t.Errorf("files %v, want %v", paths, want)
	}
}

func TestPackRefusesAnEscapingSymlink(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "tend.yaml"), []byte("apps: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, "passwd")); err != nil {
		t.Fatal(err)
	}
	_, err := Pack(context.Background(), dir, io.Discard, PackOptions{})
	if err == nil || !strings.Contains(err.Error(), "is a symlink to /etc/passwd, outside the app") {
		t.Fatalf("got %v", err)
	}
}

func TestPatterns(t *testing.T) {
	ps := parsePatterns([]byte("# comment\n*.md\n/build\ntmp/\n!keep.md\ndocs/**/*.png\n"))
	tests := []struct {
		path string
		dir  bool
		want bool
	}{
		{"README.md", false, true},
		{"a/b/notes.md", false, true},
		{"keep.md", false, false},
		{"build", true, true},
		{"src/build", true, false},
		{"tmp", true, true},
		{"a/tmp", true, true},
		{"tmp", false, false},
		{"docs/x/y/shot.png", false, true},
		{"docs/shot.png", false, true},
		{"src/app.js", false, false},
	}
	for _, tt := range tests {
		if got := ps.ignored(tt.path, tt.dir); got != tt.want {
			t.Errorf("%s (dir %v): ignored %v, want %v", tt.path, tt.dir, got, tt.want)
		}
	}
}
