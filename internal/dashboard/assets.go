package dashboard

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"sync"
)

// assetFS holds the page templates and the files the pages load: the
// dashboard's script and style, and uPlot (MIT, vendor/uPlot.LICENSE),
// the chart library, vendored as built so that go build needs no Node.
//
//go:embed templates/*.html assets
var assetFS embed.FS

// asset is one file served under /assets/, kept gzipped too.
type asset struct {
	plain, gz []byte
	ctype     string
	etag      string
}

// assets are the files of assets/ and assets/vendor/ by base name, read
// and compressed once, when the dashboard first needs them: not at every
// tend command's start (the compression took 50 ms and 5 MB there).
var assets = sync.OnceValue(loadAssets)

func loadAssets() map[string]*asset {
	out := map[string]*asset{}
	_ = fs.WalkDir(assetFS, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := assetFS.ReadFile(p)
		if err != nil {
			return err
		}
		var gz bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
		_, _ = zw.Write(b)
		_ = zw.Close()
		sum := sha256.Sum256(b)
		ctype := mime.TypeByExtension(path.Ext(p))
		if strings.HasSuffix(p, ".LICENSE") {
			ctype = "text/plain; charset=utf-8"
		}
		out[path.Base(p)] = &asset{plain: b, gz: gz.Bytes(), ctype: ctype, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
	return out
}

// version is the hash the pages put in the file's URL.
func (a *asset) version() string { return strings.Trim(a.etag, `"`) }

// assetURL is the URL of an embedded file, with its hash: what the pages
// link to.
func assetURL(name string) string {
	a := assets()[name]
	if a == nil {
		panic("dashboard: no asset " + name) // a template names a file that is not embedded
	}
	return "/assets/" + name + "?v=" + a.version()
}

// serveAsset serves an embedded file, gzipped to a browser that takes it.
func serveAsset(w http.ResponseWriter, r *http.Request) {
	a := assets()[r.PathValue("file")]
	if a == nil {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.ctype)
	if r.URL.Query().Get("v") == a.version() {
		// The pages name each file with its hash: a new tend brings new
		// names, so the browser need not ask again.
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache") // revalidated by ETag
	}
	h.Set("ETag", a.etag)
	h.Set("Vary", "Accept-Encoding")
	if r.Header.Get("If-None-Match") == a.etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := a.plain
	if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		h.Set("Content-Encoding", "gzip")
		body = a.gz
	}
	_, _ = w.Write(body)
}
