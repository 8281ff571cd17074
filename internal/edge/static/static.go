// Package static serves the files of a directory: on its own for `tend
// serve <dir>`, and in front of an app under the edge (edge.static in an
// ecosystem file), where a request for no file goes on to the app. It
// owns the path checks that keep a request inside the directory, hidden
// dot files and a single-page app's fallback to index.html; it knows
// nothing of the front that calls it.
package static

import (
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path"
	"strconv"
	"strings"

	"github.com/tendhq/tend/internal/edge/edgeconf"
)

// Handler serves files on its own (`tend serve <dir>`): what is not a
// file under the prefix is 404, or index.html with SPA. Files are served
// with ETag, Last-Modified and ranges; dot files (but .well-known) are
// hidden; a path with a ".." segment, an encoded slash or a backslash is
// refused with 400, and symbolic links that lead out of Dir are not
// followed.
func Handler(o edgeconf.StaticOptions) http.Handler { return New(o, nil, nil) }

// ServeDir is Handler for a whole directory, for `tend serve <dir>`.
func ServeDir(dir string, spa bool) http.Handler {
	return Handler(edgeconf.StaticOptions{Dir: dir, SPA: spa})
}

// Server serves Dir under prefix. Under the edge, next is the app: a
// request for no file goes on to it, unless SPA has index.html answer
// page requests.
type Server struct {
	prefix string // without a trailing slash; "" for the root
	dir    string
	spa    bool
	next   http.Handler // nil: 404
	// served, if not nil, is told of each response that is a file, before
	// it is written (the edge records the instance as "static").
	served func(http.ResponseWriter, *http.Request)
}

// New serves o's files, passing what is no file on to next (nil: 404).
// served, if not nil, is called before each file is written.
func New(o edgeconf.StaticOptions, next http.Handler, served func(http.ResponseWriter, *http.Request)) *Server {
	return &Server{prefix: strings.TrimSuffix(o.Prefix, "/"), dir: o.Dir, spa: o.SPA, next: next, served: served}
}

// Match says whether r's path is under the prefix.
func (fsrv *Server) Match(r *http.Request) bool {
	p := r.URL.Path
	return fsrv.prefix == "" || strings.HasPrefix(p, fsrv.prefix) && (len(p) == len(fsrv.prefix) || p[len(fsrv.prefix)] == '/')
}

func (fsrv *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !fsrv.Match(r) {
		fsrv.miss(w, r, false)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		if fsrv.next != nil {
			fsrv.next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "405 Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	if !safePath(r) {
		http.Error(w, "400 Bad Request: the path leaves the directory", http.StatusBadRequest)
		return
	}
	rel := strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, fsrv.prefix), "/")
	if hidden(rel) {
		fsrv.miss(w, r, false)
		return
	}
	name := path.Clean("/" + rel)[1:]
	if name == "" {
		name = "."
	}
	f, fi, err := open(fsrv.dir, name)
	if err == nil && fi.IsDir() {
		f.Close()
		if !strings.HasSuffix(r.URL.Path, "/") {
			// Relative links in the index need the slash: ./app/ → app/.
			q := ""
			if r.URL.RawQuery != "" {
				q = "?" + r.URL.RawQuery
			}
			w.Header().Set("Location", "./"+path.Base(r.URL.Path)+"/"+q)
			w.WriteHeader(http.StatusMovedPermanently)
			return
		}
		f, fi, err = open(fsrv.dir, path.Join(name, "index.html"))
	}
	if err != nil {
		fsrv.miss(w, r, true)
		return
	}
	defer f.Close()
	fsrv.serveFile(w, r, f, fi)
}

// miss answers a request that is no file: the app's, index.html for a
// page of a single-page app, or 404.
func (fsrv *Server) miss(w http.ResponseWriter, r *http.Request, under bool) {
	if under && fsrv.spa && fsrv.page(r) {
		if f, fi, err := open(fsrv.dir, "index.html"); err == nil {
			defer f.Close()
			w.Header().Set("Cache-Control", "no-cache")
			fsrv.serveFile(w, r, f, fi)
			return
		}
	}
	if fsrv.next != nil {
		fsrv.next.ServeHTTP(w, r)
		return
	}
	http.Error(w, "404 Not Found", http.StatusNotFound)
}

// page says whether r asks for a page of a single-page app: a GET or HEAD
// whose last segment has no extension; under the edge, only a browser's
// navigation (Accept: text/html), so the app's API stays the app's.
func (fsrv *Server) page(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	if strings.Contains(path.Base(r.URL.Path), ".") {
		return false
	}
	return fsrv.next == nil || strings.Contains(r.Header.Get("Accept"), "text/html")
}

// safePath refuses paths that try to leave the directory: ".." segments
// (as sent or percent-encoded), encoded slashes, backslashes and NULs.
func safePath(r *http.Request) bool {
	p := r.URL.Path
	if strings.ContainsAny(p, "\\\x00") {
		return false
	}
	for seg := range strings.SplitSeq(p, "/") {
		if seg == ".." {
			return false
		}
	}
	raw := strings.ToLower(r.URL.RawPath)
	if raw == "" {
		raw = strings.ToLower(r.RequestURI)
		raw, _, _ = strings.Cut(raw, "?")
	}
	return !strings.Contains(raw, "%2f") && !strings.Contains(raw, "%5c") && !strings.Contains(raw, "%00")
}

// hidden says whether a path has a dot file or directory in it, such as
// .env or .git, which a public directory keeps by accident. .well-known
// is public by definition.
func hidden(rel string) bool {
	for seg := range strings.SplitSeq(rel, "/") {
		if strings.HasPrefix(seg, ".") && seg != ".well-known" && seg != "." {
			return true
		}
	}
	return false
}

// open opens name inside dir, refusing symbolic links that lead out of it.
func open(dir, name string) (*os.File, fs.FileInfo, error) {
	f, err := os.OpenInRoot(dir, name)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !fi.IsDir() && !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, errors.New("not a regular file")
	}
	return f, fi, nil
}

// serveFile answers with f: conditional requests and ranges by
// http.ServeContent, with an ETag of size and modification time, as
// nginx makes it.
func (fsrv *Server) serveFile(w http.ResponseWriter, r *http.Request, f *os.File, fi fs.FileInfo) {
	if fsrv.served != nil {
		fsrv.served(w, r)
	}
	w.Header().Set("Etag", `"`+strconv.FormatInt(fi.ModTime().UnixNano(), 36)+"-"+strconv.FormatInt(fi.Size(), 36)+`"`)
	http.ServeContent(w, r, fi.Name(), fi.ModTime(), f)
}
