package dashboard

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/remote"
)

// csp is every response's Content-Security-Policy: nothing but this
// origin's files, no inline script or style, never framed.
const csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// maxForm bounds a request body the dashboard reads itself.
const maxForm = 64 << 10

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", s.login)
	mux.HandleFunc("POST /login", s.loginToken)
	mux.HandleFunc("POST /logout", s.change(false, s.logout))
	mux.HandleFunc("GET /assets/{file}", serveAsset)
	mux.HandleFunc("GET /{$}", s.page("overview"))
	mux.HandleFunc("GET /apps/{id}", s.page("app"))
	mux.HandleFunc("GET /logs", s.page("logs"))
	mux.HandleFunc("GET /hosts", s.page("hosts"))
	mux.HandleFunc("GET /api/stream", s.read(s.stream))
	mux.HandleFunc("GET /api/apps/{id}", s.read(s.appDetail))
	mux.HandleFunc("GET /api/spark", s.read(s.spark))
	mux.HandleFunc("GET /api/apps/{id}/doctor", s.read(s.doctor))
	mux.HandleFunc("POST /api/apps/{id}/profile", s.change(true, s.profile))
	mux.HandleFunc("POST /api/apps/{id}/{action}", s.change(true, s.action))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		// Same-origin only: login links carry a nonce; and "no-referrer" would
		// make browsers send "Origin: null" with the login form.
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		if r.TLS != nil {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		if !strings.HasPrefix(r.URL.Path, "/assets/") {
			h.Set("Cache-Control", "no-store")
		}
		mux.ServeHTTP(w, r)
	})
}

// pageData is what the page templates are given. The page's script
// reads the CSRF token and the rest from the body's data attributes.
type pageData struct {
	Page      string
	Title     string
	AppID     string
	CSRF      string
	CanChange bool
	Who       string
	Version   string
	Error     string
	// Fleet says the Hosts page lists the fleet's hosts; else it says
	// FleetNote, or that there is no fleet.
	Fleet     bool
	FleetNote string
	// Apps are the overview's first rows, drawn by the server so that
	// they show before the script has run; the stream takes over.
	Apps []Summary
}

func (s *Server) page(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ss := s.sess.get(r)
		if ss == nil {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		d := pageData{Page: name, Title: strings.ToUpper(name[:1]) + name[1:], CSRF: ss.csrf, CanChange: ss.canChange(), Who: ss.who, Version: s.cfg.Version}
		if name == "app" {
			if _, err := strconv.Atoi(r.PathValue("id")); err != nil {
				http.NotFound(w, r)
				return
			}
			d.AppID = r.PathValue("id")
		}
		switch name {
		case "overview":
			d.Apps = s.bc.latest().apps
			d.Apps = d.Apps[:min(len(d.Apps), overviewPage)]
		case "logs":
			d.Apps = s.bc.latest().apps // the app menu
		case "hosts":
			d.Fleet, d.FleetNote = s.cfg.Hosts != nil, s.cfg.FleetNote
		}
		render(w, r, http.StatusOK, name+".html", d)
	}
}

// render writes a page, gzipped to a browser that takes it.
func render(w http.ResponseWriter, r *http.Request, code int, name string, d pageData) {
	var b bytes.Buffer
	if err := pages().ExecuteTemplate(&b, name, d); err != nil {
		http.Error(w, "render: "+err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Vary", "Accept-Encoding")
	if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		w.WriteHeader(code)
		_, _ = w.Write(b.Bytes())
		return
	}
	h.Set("Content-Encoding", "gzip")
	w.WriteHeader(code)
	zw := gzip.NewWriter(w)
	_, _ = zw.Write(b.Bytes())
	_ = zw.Close()
}

// login answers a login link (?nonce=), or shows the token form.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	nonce := r.URL.Query().Get("nonce")
	if nonce == "" {
		render(w, r, http.StatusOK, "login.html", pageData{Page: "login", Title: "Log in", Version: s.cfg.Version})
		return
	}
	if !s.sess.useLink(nonce) {
		render(w, r, http.StatusForbidden, "login.html", pageData{Page: "login", Title: "Log in", Version: s.cfg.Version,
			Error: "This login link was used already or has expired (links work once, for a minute): run tend dashboard again, or log in with a token."})
		return
	}
	s.startSession(w, r, remote.Operator, "login link", "")
}

func (s *Server) startSession(w http.ResponseWriter, r *http.Request, scope remote.Scope, who, token string) {
	id, _ := s.sess.start(scope, who, token)
	http.SetCookie(w, sessionCookie(id, int(SessionTTL/time.Second)))
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// loginToken logs in with a token of the remote token store.
func (s *Server) loginToken(w http.ResponseWriter, r *http.Request) {
	fail := func(code int, msg string) {
		render(w, r, code, "login.html", pageData{Page: "login", Title: "Log in", Version: s.cfg.Version, Error: msg})
	}
	if !sameOrigin(r) {
		fail(http.StatusForbidden, "This login did not come from this dashboard's page.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	secret := strings.TrimSpace(r.PostFormValue("token"))
	if s.cfg.Tokens == nil {
		fail(http.StatusUnauthorized, "Token logins are not available here: run tend dashboard on the host for a login link.")
		return
	}
	addr := r.RemoteAddr
	if h, _, err := net.SplitHostPort(addr); err == nil {
		addr = h
	}
	t, err := s.guard.CheckSecret(addr, secret, false)
	if err != nil {
		s.cfg.Log.Warn("dashboard login refused", "addr", addr, "err", err)
		fail(remote.Status(err), "Login refused: "+err.Error()+".")
		return
	}
	s.startSession(w, r, t.Scope, t.Name, t.Hash)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, _ *session) {
	s.sess.end(r)
	http.SetCookie(w, sessionCookie("", -1))
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// read wraps a handler of the dashboard's API that changes nothing: it
// needs a session.
func (s *Server) read(h func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ss := s.sess.get(r)
		if ss == nil {
			writeJSON(w, http.StatusUnauthorized, api.Error{Error: "log in first"})
			return
		}
		h(w, r, ss)
	}
}

// change wraps a handler that changes something: a session, a request
// from this dashboard's own page (Origin) carrying the session's CSRF
// token, and, when operator, a session that may change what runs.
func (s *Server) change(operator bool, h func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ss := s.sess.get(r)
		if ss == nil {
			writeJSON(w, http.StatusUnauthorized, api.Error{Error: "log in first"})
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		switch {
		case !sameOrigin(r):
			writeJSON(w, http.StatusForbidden, api.Error{Error: "refused: the request did not come from this dashboard (Origin)"})
		case !validCSRF(r, ss):
			writeJSON(w, http.StatusForbidden, api.Error{Error: "refused: missing or wrong CSRF token (reload the page)"})
		case operator && !ss.canChange():
			writeJSON(w, http.StatusForbidden, api.Error{Error: remote.ErrReadOnly.Error()})
		default:
			h(w, r, ss)
		}
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// call calls the control API in process and returns its status and body.
func (s *Server) call(ctx context.Context, method, path string, body any) (int, []byte) {
	var rd io.Reader = http.NoBody
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return http.StatusInternalServerError, nil
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, api.Prefix+path, rd)
	if err != nil {
		return http.StatusBadRequest, nil
	}
	rec := &recorder{h: http.Header{}, code: http.StatusOK}
	s.cfg.API.ServeHTTP(rec, req)
	return rec.code, rec.b.Bytes()
}

// recorder is the ResponseWriter of an in-process call.
type recorder struct {
	h     http.Header
	code  int
	b     bytes.Buffer
	wrote bool
}

func (r *recorder) Header() http.Header { return r.h }
func (r *recorder) Write(p []byte) (int, error) {
	r.wrote = true
	return r.b.Write(p)
}
func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.code, r.wrote = code, true
	}
}

// appDetail answers the app page: the app as describe returns it (spec,
// events, crashes) and its history.
func (s *Server) appDetail(w http.ResponseWriter, r *http.Request, _ *session) {
	id, err := strconv.Atoi(r.PathValue("id"))
	if err != nil {
		writeJSON(w, http.StatusNotFound, api.Error{Error: "no such app"})
		return
	}
	code, body := s.call(r.Context(), http.MethodGet, "/apps/"+strconv.Itoa(id), nil)
	if code != http.StatusOK {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = w.Write(body)
		return
	}
	var apps []api.App
	if err := json.Unmarshal(body, &apps); err != nil || len(apps) != 1 {
		writeJSON(w, http.StatusNotFound, api.Error{Error: "no such app"})
		return
	}
	writeJSON(w, http.StatusOK, struct {
		App     api.App `json:"app"`
		History *Series `json:"history"`
	}{apps[0], s.hist.series(id, s.cfg.Now().Add(-HistoryWindow))})
}

// sparkWindow is how far back the overview's sparklines reach.
const sparkWindow = 15 * time.Minute

// spark answers the sparklines of the apps ?ids= (one page of the
// overview) over the last sparkWindow.
func (s *Server) spark(w http.ResponseWriter, r *http.Request, _ *session) {
	ids := strings.Split(r.URL.Query().Get("ids"), ",")
	if len(ids) > 200 {
		writeJSON(w, http.StatusBadRequest, api.Error{Error: "ids: at most 200 apps at once"})
		return
	}
	out := map[string]*Series{}
	from := s.cfg.Now().Add(-sparkWindow)
	for _, v := range ids {
		id, err := strconv.Atoi(v)
		if err != nil {
			continue
		}
		if sr := s.hist.series(id, from); sr != nil {
			out[v] = &Series{T: sr.T, V: map[string][]float32{"cpu": sr.V["cpu"], "memory": sr.V["memory"], "rps": sr.V["rps"]}}
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// actions the page may ask for, as the control API names them.
var actions = map[string]bool{"start": true, "stop": true, "restart": true, "reload": true, "scale": true}

// action runs start, stop, restart, reload or scale (?instances= or a
// JSON body {"instances": "3"}) through the control API.
func (s *Server) action(w http.ResponseWriter, r *http.Request, ss *session) {
	act := r.PathValue("action")
	id := r.PathValue("id")
	if _, err := strconv.Atoi(id); err != nil || !actions[act] {
		writeJSON(w, http.StatusNotFound, api.Error{Error: fmt.Sprintf("no action %q on app %q", act, id)})
		return
	}
	var req api.ActionRequest
	if act == "scale" {
		req.Instances = r.URL.Query().Get("instances")
		if req.Instances == "" {
			var body struct {
				Instances string `json:"instances"`
			}
			if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
				writeJSON(w, http.StatusBadRequest, api.Error{Error: "scale: want {\"instances\": \"N\"}"})
				return
			}
			req.Instances = body.Instances
		}
	}
	s.cfg.Log.Info("dashboard action", "app", id, "action", act, "by", ss.who)
	code, body := s.call(r.Context(), http.MethodPost, "/apps/"+id+"/"+act, req)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

// profile records a CPU profile or heap snapshot of one instance through
// the control API's profile endpoint and hands it to the browser as a
// download. The form sends kind (cpu, heap), instance and seconds.
func (s *Server) profile(w http.ResponseWriter, r *http.Request, ss *session) {
	id := r.PathValue("id")
	if _, err := strconv.Atoi(id); err != nil {
		writeJSON(w, http.StatusNotFound, api.Error{Error: "no such app"})
		return
	}
	req := api.ProfileRequest{Kind: r.PostFormValue("kind")}
	ext := map[string]string{api.ProfileCPU: ".cpuprofile", api.ProfileHeap: ".heapsnapshot"}[req.Kind]
	if ext == "" {
		writeJSON(w, http.StatusBadRequest, api.Error{Error: "kind: want cpu or heap"})
		return
	}
	if v := r.PostFormValue("instance"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeJSON(w, http.StatusBadRequest, api.Error{Error: "instance: want 0 or more"})
			return
		}
		req.Instance = n
	}
	if v := r.PostFormValue("seconds"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 600 {
			writeJSON(w, http.StatusBadRequest, api.Error{Error: "seconds: want 1 to 600"})
			return
		}
		req.DurationMS = int64(n) * 1000
	}
	b, _ := json.Marshal(req)
	in, err := http.NewRequestWithContext(r.Context(), http.MethodPost, api.Prefix+"/apps/"+id+"/profile", bytes.NewReader(b))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, api.Error{Error: err.Error()})
		return
	}
	s.cfg.Log.Info("dashboard profile", "app", id, "kind", req.Kind, "instance", req.Instance, "by", ss.who)
	name := fmt.Sprintf("app%s-%d-%s%s", id, req.Instance, s.cfg.Now().UTC().Format("20060102T150405Z"), ext)
	s.cfg.API.ServeHTTP(&download{ResponseWriter: w, name: name}, in)
}

// download makes a successful answer of the profile endpoint a file to
// save; an error stays JSON.
type download struct {
	http.ResponseWriter
	name string
}

func (d *download) WriteHeader(code int) {
	if code == http.StatusOK {
		d.Header().Set("Content-Disposition", `attachment; filename="`+d.name+`"`)
		d.Header().Set("Content-Type", "application/octet-stream")
	}
	d.ResponseWriter.WriteHeader(code)
}

func (d *download) Write(p []byte) (int, error) { return d.ResponseWriter.Write(p) }

// Unwrap lets the profile endpoint flush and set trailers through it.
func (d *download) Unwrap() http.ResponseWriter { return d.ResponseWriter }

// doctor runs doctor's checks on one app.
func (s *Server) doctor(w http.ResponseWriter, r *http.Request, _ *session) {
	if s.cfg.Doctor == nil {
		writeJSON(w, http.StatusNotFound, api.Error{Error: "doctor is not available here: run tend doctor"})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	res, err := s.cfg.Doctor(ctx, r.PathValue("id"))
	if err != nil {
		code := http.StatusInternalServerError
		if errors.Is(err, context.DeadlineExceeded) {
			code = http.StatusGatewayTimeout
		}
		writeJSON(w, code, api.Error{Error: err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// overviewPage is how many apps a page of the overview shows; the
// script pages the same way.
const overviewPage = 50

// pages are the page templates, parsed when the dashboard first serves
// one.
var pages = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("").Funcs(pageFuncs).ParseFS(assetFS, "templates/*.html"))
})

var pageFuncs = template.FuncMap{
	"asset": assetURL,
	"bytes": lsBytes,
	"pct":   func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) + "%" },
	"num": func(v float64) string {
		if v >= 100 {
			return strconv.FormatFloat(v, 'f', 0, 64)
		}
		return strconv.FormatFloat(v, 'f', 1, 64)
	},
	"msf": func(v float64) string {
		if v == 0 {
			return "-"
		}
		return strconv.FormatFloat(v, 'f', 1, 64) + "ms"
	},
}

// lsBytes writes a size as tend ls does (and the page's script).
func lsBytes(b uint64) string {
	switch {
	case b < 1<<10:
		return strconv.FormatUint(b, 10) + "b"
	case b < 1<<20:
		return strconv.FormatFloat(float64(b)/(1<<10), 'f', 1, 64) + "kb"
	case b < 1<<30:
		return strconv.FormatFloat(float64(b)/(1<<20), 'f', 1, 64) + "mb"
	default:
		return strconv.FormatFloat(float64(b)/(1<<30), 'f', 2, 64) + "gb"
	}
}
