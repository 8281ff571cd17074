package release

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzOpen feeds Open any tar (gzipped here, so that mutations reach the
// tar and the manifest rather than die on gzip's checksum): it must never
// panic, and what it accepts must unpack entirely inside the release
// directory: nothing next to it, no symlink out of it.
func FuzzOpen(f *testing.F) {
	for _, ents := range [][]entry{
		{{name: "app.js", body: "x"}},
		{{name: "lib/a.js", body: "a"}, {name: "node_modules/.bin/t", typ: tar.TypeSymlink, link: "../t/cli.js"}, {name: "node_modules/t/cli.js", body: "c"}},
		{{name: "up", typ: tar.TypeSymlink, link: "../x"}},
	} {
		b, err := os.ReadFile(craft(f, ents, nil))
		if err != nil {
			f.Fatal(err)
		}
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			f.Fatal(err)
		}
		raw, err := io.ReadAll(zr)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	lim := Limits{Files: 1000, Bytes: 1 << 20, Path: 256}
	f.Fuzz(func(t *testing.T, raw []byte) {
		dir := t.TempDir()
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(raw)
		zw.Close()
		p := filepath.Join(dir, "in.tar.gz")
		if err := os.WriteFile(p, buf.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		a, err := Open(p, lim)
		if err != nil {
			return
		}
		dest := filepath.Join(dir, "release")
		if err := a.Extract(dest); err != nil {
			return
		}
		ents, _ := os.ReadDir(dir)
		if len(ents) != 2 {
			t.Fatalf("extract wrote next to the release: %v", ents)
		}
		filepath.WalkDir(dest, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.Type()&fs.ModeSymlink == 0 {
				return err
			}
			link, _ := os.Readlink(p)
			target := filepath.Join(filepath.Dir(p), link)
			if filepath.IsAbs(link) || target != dest && !strings.HasPrefix(target, dest+"/") {
				t.Fatalf("%s links to %s, outside %s", p, link, dest)
			}
			return nil
		})
	})
}
