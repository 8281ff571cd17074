package release

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
)

// writeArchive writes the release staged in root as a reproducible tar.gz:
// the manifest first, then m.Files in their (sorted) order, every entry
// owned by 0:0 with the manifest's time and a mode of 0644 or 0755, and a
// gzip header without a name or time. The same staging gives the same bytes.
func writeArchive(w io.Writer, root string, m *Manifest) error {
	mb, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	mb = append(mb, '\n')
	zw, err := gzip.NewWriterLevel(w, gzip.DefaultCompression)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(zw)
	hdr := func(name string, mode int64, size int64) *tar.Header {
		return &tar.Header{Name: name, Mode: mode, Size: size, ModTime: m.Created, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
	}
	if err := tw.WriteHeader(hdr(ManifestName, 0o644, int64(len(mb)))); err != nil {
		return err
	}
	if _, err := tw.Write(mb); err != nil {
		return err
	}
	for _, f := range m.Files {
		if f.Link != "" {
			h := hdr(f.Path, 0o777, 0)
			h.Typeflag, h.Linkname = tar.TypeSymlink, f.Link
			if err := tw.WriteHeader(h); err != nil {
				return err
			}
			continue
		}
		if err := tw.WriteHeader(hdr(f.Path, int64(f.Mode), f.Size)); err != nil {
			return err
		}
		if err := copyFile(tw, filepath.Join(root, filepath.FromSlash(f.Path)), f.Size); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return zw.Close()
}

func copyFile(w io.Writer, name string, size int64) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := io.Copy(w, io.LimitReader(f, size))
	if err == nil && n != size {
		err = fmt.Errorf("%s changed while it was packed", name)
	}
	return err
}

// Archive is a release archive on disk whose every file was checked
// against its manifest (Open).
type Archive struct {
	Path     string
	Manifest *Manifest
	lim      Limits
}

// Open reads the archive at name and verifies it whole: the manifest comes
// first; every other entry is a regular file or a symlink the manifest
// lists, with the size and sha256 it says; no entry is absolute, has "..",
// lies under a symlink or is named twice; no symlink points outside the
// release; nothing the manifest lists is missing. It writes nothing.
func Open(name string, lim Limits) (*Archive, error) {
	m, err := walk(name, lim, "")
	if err != nil {
		return nil, err
	}
	return &Archive{Path: name, Manifest: m, lim: lim}, nil
}

// Extract unpacks the archive into dest, which must not exist, checking it
// again as it goes (the file may have changed since Open). On any error,
// a full disk included, dest is removed.
func (a *Archive) Extract(dest string) error {
	if err := os.Mkdir(dest, 0o755); err != nil {
		return fmt.Errorf("unpack: %w", err)
	}
	if _, err := walk(a.Path, a.lim, dest); err != nil {
		if rerr := os.RemoveAll(dest); rerr != nil {
			err = errors.Join(err, fmt.Errorf("remove the partial release %s: %w", dest, rerr))
		}
		if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
			return fmt.Errorf("unpack into %s: the disk is full (%w); free some space (`tend releases` keeps retain_releases old releases) and deploy again", filepath.Dir(dest), err)
		}
		return fmt.Errorf("unpack: %w", err)
	}
	return nil
}

// walk reads and checks the archive at name; with dest, it also writes each
// entry there.
func walk(name string, lim Limits, dest string) (*Manifest, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(bufio.NewReaderSize(f, 1<<16))
	if err != nil {
		return nil, fmt.Errorf("not a gzip archive (%w): give a file made by `tend pack`", err)
	}
	tr := tar.NewReader(zr)
	h, err := tr.Next()
	if err != nil {
		return nil, fmt.Errorf("read the archive: %w", err)
	}
	if h.Name != ManifestName || h.Typeflag != tar.TypeReg || h.Size > maxManifest {
		return nil, fmt.Errorf("the archive does not begin with %s: give a file made by `tend pack`", ManifestName)
	}
	mb, err := io.ReadAll(io.LimitReader(tr, maxManifest))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", ManifestName, err)
	}
	m, err := decodeManifest(mb, lim)
	if err != nil {
		return nil, err
	}
	want := make(map[string]*File, len(m.Files))
	for i := range m.Files {
		f := &m.Files[i]
		if f.Link != "" && escapes(f.Path, f.Link) {
			return nil, fmt.Errorf("%s: a symlink to %s, outside the release", f.Path, f.Link)
		}
		want[f.Path] = f
	}
	underLink := func(p string) string {
		for d := path.Dir(p); d != "."; d = path.Dir(d) {
			if w := want[d]; w != nil && w.Link != "" {
				return d
			}
		}
		return ""
	}
	seen := make(map[string]bool, len(m.Files))
	buf := make([]byte, 1<<16)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read the archive: %w", err)
		}
		p := strings.TrimSuffix(h.Name, "/")
		if err := checkPath(p, lim); err != nil {
			return nil, err
		}
		if h.Typeflag == tar.TypeDir {
			continue // directories are made as their files need them
		}
		if d := underLink(p); d != "" {
			return nil, fmt.Errorf("%s: an entry under the symlink %s", p, d)
		}
		w := want[p]
		switch {
		case seen[p]:
			return nil, fmt.Errorf("%s: named twice in the archive", p)
		case h.Typeflag != tar.TypeReg && h.Typeflag != tar.TypeSymlink:
			return nil, fmt.Errorf("%s: a %s, not a file or symlink; a release holds only those", p, kind(h.Typeflag))
		case w == nil:
			return nil, fmt.Errorf("%s: in the archive but not in its manifest", p)
		case h.Typeflag == tar.TypeSymlink:
			if escapes(p, h.Linkname) {
				return nil, fmt.Errorf("%s: a symlink to %s, outside the release", p, h.Linkname)
			}
			if w.Link != h.Linkname {
				return nil, fmt.Errorf("%s: a symlink to %s, but the manifest says %q", p, h.Linkname, w.Link)
			}
		case w.Link != "":
			return nil, fmt.Errorf("%s: a file, but the manifest says a symlink", p)
		case h.Size != w.Size:
			return nil, fmt.Errorf("%s: %d bytes, but the manifest says %d: the archive was changed or damaged", p, h.Size, w.Size)
		}
		seen[p] = true
		if h.Typeflag == tar.TypeSymlink {
			if dest != "" {
				if err := mkParent(dest, p); err != nil {
					return nil, err
				}
				if err := os.Symlink(h.Linkname, filepath.Join(dest, filepath.FromSlash(p))); err != nil {
					return nil, err
				}
			}
			continue
		}
		out := io.Discard
		var file *os.File
		if dest != "" {
			if err := mkParent(dest, p); err != nil {
				return nil, err
			}
			mode := os.FileMode(0o644)
			if w.Mode&0o111 != 0 {
				mode = 0o755
			}
			file, err = os.OpenFile(filepath.Join(dest, filepath.FromSlash(p)), os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, mode)
			if err != nil {
				return nil, err
			}
			out = file
		}
		sum := sha256.New()
		_, err = io.CopyBuffer(io.MultiWriter(sum, out), tr, buf)
		if file != nil {
			if cerr := file.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		if got := hex.EncodeToString(sum.Sum(nil)); got != w.SHA256 {
			return nil, fmt.Errorf("%s: sha256 %s, but the manifest says %s: the archive was changed or damaged", p, got, w.SHA256)
		}
	}
	for _, f := range m.Files {
		if !seen[f.Path] {
			return nil, fmt.Errorf("%s: in the manifest but not in the archive", f.Path)
		}
	}
	return m, nil
}

func mkParent(dest, p string) error {
	d := path.Dir(p)
	if d == "." {
		return nil
	}
	return os.MkdirAll(filepath.Join(dest, filepath.FromSlash(d)), 0o755)
}

func kind(t byte) string {
	switch t {
	case tar.TypeLink:
		return "hard link"
	case tar.TypeChar:
		return "character device"
	case tar.TypeBlock:
		return "block device"
	case tar.TypeFifo:
		return "named pipe"
	}
	return fmt.Sprintf("entry of type %q", t)
}
