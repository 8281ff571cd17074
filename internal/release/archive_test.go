package release

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// entry is one entry of a crafted archive.
type entry struct {
	name     string
	typ      byte
	body     string
	link     string
	unlisted bool // left out of the manifest
}

// craft writes an archive of entries whose manifest lists them honestly
// (unless unlisted), then lets edit change the manifest.
func craft(t testing.TB, entries []entry, edit func(*Manifest)) string {
	t.Helper()
	m := &Manifest{Format: Format, Name: "x", Version: "1.0.0", Created: time.Unix(0, 0).UTC()}
	for _, e := range entries {
		if e.unlisted {
			continue
		}
		f := File{Path: e.name, Mode: 0o644, Size: int64(len(e.body))}
		if e.typ == tar.TypeSymlink {
			f = File{Path: e.name, Link: e.link}
		} else {
			s := sha256.Sum256([]byte(e.body))
			f.SHA256 = hex.EncodeToString(s[:])
		}
		m.Files = append(m.Files, f)
	}
	if edit != nil {
		edit(m)
	}
	mb, _ := json.Marshal(m)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(tw.WriteHeader(&tar.Header{Name: ManifestName, Mode: 0o644, Size: int64(len(mb)), Typeflag: tar.TypeReg}))
	_, err := tw.Write(mb)
	must(err)
	for _, e := range entries {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		h := &tar.Header{Name: e.name, Mode: 0o644, Typeflag: typ, Linkname: e.link}
		if typ == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		must(tw.WriteHeader(h))
		if typ == tar.TypeReg {
			_, err := tw.Write([]byte(e.body))
			must(err)
		}
	}
	must(tw.Close())
	must(zw.Close())
	p := filepath.Join(t.TempDir(), "release.tar.gz")
	must(os.WriteFile(p, buf.Bytes(), 0o600))
	return p
}

func TestOpenRefuses(t *testing.T) {
	ok := entry{name: "app.js", body: "console.log(1)\n"}
	tests := []struct {
		name    string
		entries []entry
		edit    func(*Manifest)
		want    string
	}{
		{"dot-dot", []entry{ok, {name: "../evil.js", body: "x"}}, nil, `../evil.js: a path with ".."`},
		{"dot-dot inside", []entry{ok, {name: "lib/../../evil.js", body: "x"}}, nil, `a path with ".."`},
		{"absolute", []entry{ok, {name: "/etc/evil", body: "x"}}, nil, "/etc/evil: an absolute path"},
		{"escaping symlink", []entry{ok, {name: "lib/up", typ: tar.TypeSymlink, link: "../../etc"}}, nil, "lib/up: a symlink to ../../etc, outside the release"},
		{"absolute symlink", []entry{ok, {name: "passwd", typ: tar.TypeSymlink, link: "/etc/passwd"}}, nil, "passwd: a symlink to /etc/passwd, outside the release"},
		{"entry under a symlink", []entry{ok, {name: "lib", typ: tar.TypeSymlink, link: "."}, {name: "lib/x.js", body: "x"}}, nil, "lib/x.js: an entry under the symlink lib"},
		{"device", []entry{ok, {name: "null", typ: tar.TypeChar}}, func(m *Manifest) {}, "null: a character device, not a file or symlink"},
		{"fifo", []entry{ok, {name: "pipe", typ: tar.TypeFifo}}, nil, "pipe: a named pipe"},
		{"hard link", []entry{ok, {name: "hl", typ: tar.TypeLink, link: "app.js"}}, nil, "hl: a hard link"},
		{"twice", []entry{ok, ok}, func(m *Manifest) { m.Files = m.Files[:1] }, "app.js: named twice in the archive"},
		{"unlisted", []entry{ok, {name: "extra.js", body: "x", unlisted: true}}, nil, "extra.js: in the archive but not in its manifest"},
		{"missing", []entry{ok}, func(m *Manifest) {
			m.Files = append(m.Files, File{Path: "gone.js", Size: 1, SHA256: "00"})
		}, "gone.js: in the manifest but not in the archive"},
		{"changed content", []entry{ok}, func(m *Manifest) {
			s := sha256.Sum256([]byte("console.log(2)\n"))
			m.Files[0].SHA256 = hex.EncodeToString(s[:])
		}, "app.js: sha256 "},
		{"changed size", []entry{ok}, func(m *Manifest) { m.Files[0].Size++ }, "app.js: 15 bytes, but the manifest says 16"},
		{"newer format", []entry{ok}, func(m *Manifest) { m.Format = 2 }, "format 2, this tend reads format 1"},
		{"too many files", []entry{ok}, func(m *Manifest) {
			for i := range 200_001 {
				m.Files = append(m.Files, File{Path: "f" + strings.Repeat("x", i%3) + string(rune('a'+i%26))})
			}
		}, "more than the 200000 a release may have"},
		{"long path", []entry{ok, {name: strings.Repeat("d/", 2100) + "x", body: "x"}}, nil, "more than 4096"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := craft(t, tt.entries, tt.edit)
			_, err := Open(p, DefaultLimits)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error with %q", err, tt.want)
			}
		})
	}
}

func TestOpenRefusesADamagedArchive(t *testing.T) {
	p := craft(t, []entry{{name: "app.js", body: strings.Repeat("console.log(1)\n", 1000)}}, nil)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x40
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(p, DefaultLimits); err == nil {
		t.Fatal("a damaged archive was accepted")
	}
}

func TestExtract(t *testing.T) {
	p := craft(t, []entry{
		{name: "app.js", body: "x"},
		{name: "node_modules/.bin/tool", typ: tar.TypeSymlink, link: "../tool/cli.js"},
		{name: "node_modules/tool/cli.js", body: "#!/usr/bin/env node\n"},
	}, func(m *Manifest) { m.Files[2].Mode = 0o755 })
	a, err := Open(p, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(t.TempDir(), "r")
	if err := a.Extract(dest); err != nil {
		t.Fatal(err)
	}
	if link, err := os.Readlink(filepath.Join(dest, "node_modules/.bin/tool")); err != nil || link != "../tool/cli.js" {
		t.Errorf("symlink: %q %v", link, err)
	}
	fi, err := os.Stat(filepath.Join(dest, "node_modules/tool/cli.js"))
	if err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("cli.js: %v %v, want mode 0755", fi.Mode(), err)
	}
	// A dest that exists is refused: an unpack never writes into a
	// directory it did not make.
	if err := a.Extract(dest); err == nil {
		t.Error("extract into an existing directory succeeded")
	}
}

// An archive that changes between Open and Extract fails the second check,
// and nothing of it stays.
func TestExtractChecksAgain(t *testing.T) {
	p := craft(t, []entry{{name: "a.js", body: "x"}, {name: "b.js", body: "y"}}, nil)
	a, err := Open(p, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	q := craft(t, []entry{{name: "a.js", body: "x"}, {name: "b.js", body: "z"}}, func(m *Manifest) { m.Files = a.Manifest.Files })
	b, _ := os.ReadFile(q)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(t.TempDir(), "r")
	if err := a.Extract(dest); err == nil || !strings.Contains(err.Error(), "b.js: sha256") {
		t.Fatalf("got %v, want a sha256 mismatch of b.js", err)
	}
	if _, err := os.Stat(dest); !os.IsNotExist(err) {
		t.Errorf("the partial release is still there: %v", err)
	}
}
