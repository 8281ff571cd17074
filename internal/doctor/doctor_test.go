package doctor

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/startup"

	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/spec"
)

var now = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// fixture is a directory under testdata/doctor.
func fixture(t *testing.T, name string) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "testdata", "doctor", name))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// writeFiles creates files under a temporary directory and returns it.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func lockWith(express, bodyParser string) string {
	return `{"lockfileVersion": 3, "packages": {
		"": {"dependencies": {"express": "` + express + `"}},
		"node_modules/express": {"version": "` + express + `"},
		"node_modules/body-parser": {"version": "` + bodyParser + `"}}}`
}

// page is the app behind the probed URL: by default one that does
// everything right.
type page struct {
	bare      bool   // no security headers
	poweredBy bool   // X-Powered-By: Express
	plain     bool   // never compressed
	size      int    // body bytes; 0: 4 KiB
	noVary    bool   // no Vary: Accept-Encoding
	cookie    string // the session cookie's name; "": app.sid
	noFlags   bool   // the cookie has no Secure, HttpOnly or SameSite
	noCookie  bool
}

func (p page) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	if !p.bare {
		h.Set("Content-Security-Policy", "default-src 'self';frame-ancestors 'self'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		if r.TLS != nil {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
	}
	if p.poweredBy {
		h.Set("X-Powered-By", "Express")
	}
	if !p.noCookie {
		c := &http.Cookie{Name: cmp.Or(p.cookie, "app.sid"), Value: "s%3Aabc", Path: "/"}
		if !p.noFlags {
			c.Secure, c.HttpOnly, c.SameSite = r.TLS != nil, true, http.SameSiteLaxMode
		}
		http.SetCookie(w, c)
	}
	h.Set("Content-Type", "text/html; charset=utf-8")
	if !p.noVary {
		h.Add("Vary", "Accept-Encoding")
	}
	n := cmp.Or(p.size, 4<<10)
	body := bytes.Repeat([]byte("<p>hello</p>\n"), n/13+1)[:n]
	if !p.plain && n >= minCompressible && strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		h.Set("Content-Encoding", "gzip")
		gz := gzip.NewWriter(w)
		gz.Write(body)
		gz.Close()
		return
	}
	w.Write(body)
}

// goodInput is an app that passes every check, served by srv.
func goodInput(dir string, srv *httptest.Server) Input {
	return Input{
		App: api.App{Name: "web", Mode: spec.ModeProxy, Port: 3000,
			Spec: &spec.App{
				Name: "web", Script: filepath.Join(dir, "app.js"), Cwd: dir, Interpreter: "node",
				Env: map[string]string{"NODE_ENV": "production"}, Instances: 2, Port: 3000, Mode: spec.ModeProxy,
				Autorestart: true, MaxMemoryRestart: 512 << 20, MaxSize: 10 << 20, RotateInterval: "daily",
			},
			Instances: []api.Instance{{Index: 0, PID: 10, MemoryBytes: 120 << 20}, {Index: 1, PID: 11, MemoryBytes: 130 << 20}},
		},
		Env:         map[string]string{"NODE_ENV": "production", "PATH": "/usr/bin"},
		NodeVersion: "v24.11.1",
		URL:         srv.URL,
		Startup:     startup.State{Written: true, Enabled: true, SystemdRunning: true},
		Now:         now,
		HTTPClient:  srv.Client(),
	}
}

func crashed(at time.Time, instance int, errorLine string) api.Crash {
	return api.Crash{At: at, Instance: instance, Code: 1, Error: errorLine}
}

func TestCheck(t *testing.T) {
	passing := fixture(t, "passing")
	for _, tc := range []struct {
		name string
		page page
		http bool // plain HTTP instead of TLS
		dir  string
		edit func(*Input)
		want map[string]Level // the checks asserted; "" cases assert every result
		not  []string         // checks that must not run
	}{
		{name: "passes everything", want: map[string]Level{
			"node_env": Pass, "node_version": Pass, "express": Pass, "body-parser": Pass, "tls": Pass,
			"headers": Pass, "compression": Pass, "cookies": Pass, "session_cookie": Pass, "autorestart": Pass,
			"instances": Pass, "memory_limit": Pass, "log_rotation": Pass, "startup": Pass, "crashes": Pass,
		}},

		// The fixtures of the issue.
		{name: "vulnerable express pinned in package-lock.json", dir: fixture(t, "vulnerable"),
			want: map[string]Level{"express": Fail, "body-parser": Fail, "node_env": Pass}},
		{name: "connect.sid", page: page{cookie: "connect.sid"},
			want: map[string]Level{"session_cookie": Fail, "cookies": Pass}},
		{name: "no NODE_ENV", edit: func(in *Input) { delete(in.Env, "NODE_ENV") },
			want: map[string]Level{"node_env": Fail}},

		{name: "NODE_ENV=development", edit: func(in *Input) { in.Env["NODE_ENV"] = "development" },
			want: map[string]Level{"node_env": Fail}},
		{name: "no instance running: the spec's env", edit: func(in *Input) { in.Env = nil },
			want: map[string]Level{"node_env": Pass}},
		{name: "no instance running, no NODE_ENV in the spec", edit: func(in *Input) { in.Env = nil; in.App.Spec.Env = nil },
			want: map[string]Level{"node_env": Fail}},

		{name: "node 20 is end of life", edit: func(in *Input) { in.NodeVersion = "v20.20.2" },
			want: map[string]Level{"node_version": Fail}},
		{name: "node 12 is older than the table", edit: func(in *Input) { in.NodeVersion = "v12.22.12" },
			want: map[string]Level{"node_version": Fail}},
		{name: "node 22 within 90 days of end of life", edit: func(in *Input) { in.NodeVersion = "v22.12.0"; in.Now = date("2027-03-01") },
			want: map[string]Level{"node_version": Warn}},
		{name: "node 22 before the 90 days", edit: func(in *Input) { in.NodeVersion = "v22.12.0" },
			want: map[string]Level{"node_version": Pass}},
		{name: "node 25 is an odd line", edit: func(in *Input) { in.NodeVersion = "v25.2.1"; in.Now = date("2026-01-10") },
			want: map[string]Level{"node_version": Warn}},
		{name: "node 26 before its LTS", edit: func(in *Input) { in.NodeVersion = "v26.1.0"; in.Now = date("2026-06-01") },
			want: map[string]Level{"node_version": Warn}},
		{name: "node 26 after its LTS", edit: func(in *Input) { in.NodeVersion = "v26.3.0" },
			want: map[string]Level{"node_version": Pass}},
		{name: "node 27 alpha", edit: func(in *Input) { in.NodeVersion = "v27.0.0-alpha.1" },
			want: map[string]Level{"node_version": Warn}},
		{name: "node version unreadable", edit: func(in *Input) { in.NodeVersion = "node" },
			want: map[string]Level{"node_version": Warn}},

		{name: "express 3 is end of life", dir: "express3",
			want: map[string]Level{"express": Fail, "body-parser": Fail}},
		{name: "express 4 without advisories is in maintenance", dir: "express4",
			want: map[string]Level{"express": Warn, "body-parser": Pass}},
		{name: "node_modules wins over the lock file, nested body-parser over the top one", dir: "nested",
			want: map[string]Level{"express": Pass, "body-parser": Fail}},
		{name: "express 5 beta", dir: "express5beta",
			want: map[string]Level{"express": Fail}},

		{name: "plain HTTP on a public address", http: true,
			want: map[string]Level{"tls": Fail, "headers": Pass, "cookies": Pass}},
		{name: "plain HTTP on loopback", http: true, edit: func(in *Input) { in.Loopback = true },
			want: map[string]Level{"tls": Pass}},
		{name: "no security headers", page: page{bare: true},
			want: map[string]Level{"headers": Warn}},
		{name: "X-Powered-By", page: page{poweredBy: true},
			want: map[string]Level{"headers": Warn}},
		{name: "not compressed", page: page{plain: true},
			want: map[string]Level{"compression": Warn}},
		{name: "small page, compression on", page: page{size: 200},
			want: map[string]Level{"compression": Pass}},
		{name: "small page, cannot tell", page: page{size: 200, noVary: true},
			want: map[string]Level{"compression": Warn}},
		{name: "cookie without flags", page: page{noFlags: true},
			want: map[string]Level{"cookies": Warn, "session_cookie": Pass}},
		{name: "Django's session name", page: page{cookie: "sessionid"},
			want: map[string]Level{"session_cookie": Warn}},
		{name: "no cookies", page: page{noCookie: true},
			want: map[string]Level{"cookies": Pass}, not: []string{"session_cookie"}},
		{name: "probe fails", edit: func(in *Input) { in.URL = "https://127.0.0.1:1/" },
			want: map[string]Level{"tls": Pass, "probe": Warn}, not: []string{"headers", "compression", "cookies"}},

		{name: "auto-restart off", edit: func(in *Input) { in.App.Spec.Autorestart = false },
			want: map[string]Level{"autorestart": Fail}},
		{name: "one instance", edit: func(in *Input) { in.App.Spec.Instances = 1 },
			want: map[string]Level{"instances": Warn}},
		{name: "autoscale from one", edit: func(in *Input) { in.App.Spec.Autoscale = &spec.Autoscale{Min: 1, Max: 4} },
			want: map[string]Level{"instances": Warn}},
		{name: "no memory limit", edit: func(in *Input) { in.App.Spec.MaxMemoryRestart = 0 },
			want: map[string]Level{"memory_limit": Warn}},
		{name: "no log rotation", edit: func(in *Input) { in.App.Spec.MaxSize = 0; in.App.Spec.RotateInterval = "" },
			want: map[string]Level{"log_rotation": Warn}},
		{name: "the daemon's log rotation", edit: func(in *Input) {
			in.App.Spec.MaxSize = 0
			in.App.Spec.RotateInterval = ""
			in.LogRotationDefault = true
		}, want: map[string]Level{"log_rotation": Pass}},
		{name: "no boot unit", edit: func(in *Input) { in.Startup.Written = false },
			want: map[string]Level{"startup": Warn}},
		{name: "a boot unit not enabled", edit: func(in *Input) { in.Startup.Enabled = false },
			want: map[string]Level{"startup": Warn}},
		{name: "no systemd", edit: func(in *Input) { in.Startup.SystemdRunning = false },
			want: map[string]Level{"startup": Warn}},
		{name: "crashes", edit: func(in *Input) {
			in.App.Crashes = []api.Crash{
				crashed(now.Add(-2*time.Hour), 1, "TypeError: Cannot read properties of undefined (reading 'id')"),
				crashed(now.Add(-time.Hour), 0, "TypeError: Cannot read properties of undefined (reading 'id')"),
			}
		}, want: map[string]Level{"crashes": Warn}},
		{name: "crashes older than a day do not count", edit: func(in *Input) {
			in.App.Crashes = []api.Crash{crashed(now.Add(-25*time.Hour), 0, "Error: boom")}
		}, want: map[string]Level{"crashes": Pass}},

		{name: "no port", edit: func(in *Input) { in.URL = "" },
			want: map[string]Level{"node_env": Pass}, not: []string{"tls", "probe", "headers", "compression", "cookies"}},
		{name: "not a Node.js app", dir: "empty", edit: func(in *Input) { in.NodeVersion = ""; in.App.Spec.Interpreter = "python3" },
			want: map[string]Level{"autorestart": Pass}, not: []string{"node_env", "node_version", "express", "body-parser"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			newServer := httptest.NewTLSServer
			if tc.http {
				newServer = httptest.NewServer
			}
			srv := newServer(tc.page)
			defer srv.Close()
			dir := passing
			switch tc.dir {
			case "":
			case "express3":
				dir = writeFiles(t, map[string]string{"package-lock.json": lockWith("3.21.2", "1.13.3")})
			case "express4":
				dir = writeFiles(t, map[string]string{"package-lock.json": lockWith("4.22.3", "1.20.4")})
			case "express5beta":
				dir = writeFiles(t, map[string]string{"package-lock.json": lockWith("5.0.0-beta.2", "2.0.0-beta.2")})
			case "nested":
				dir = writeFiles(t, map[string]string{
					"package-lock.json":                                          lockWith("4.18.2", "1.20.1"),
					"node_modules/express/package.json":                          `{"name": "express", "version": "5.3.0"}`,
					"node_modules/body-parser/package.json":                      `{"name": "body-parser", "version": "2.4.0"}`,
					"node_modules/express/node_modules/body-parser/package.json": `{"name": "body-parser", "version": "2.2.0"}`,
				})
			case "empty":
				dir = t.TempDir()
			default:
				dir = tc.dir
			}
			in := goodInput(dir, srv)
			if tc.edit != nil {
				tc.edit(&in)
			}
			rs := Check(context.Background(), in)
			got := map[string]Result{}
			for _, r := range rs {
				if _, dup := got[r.Check]; dup {
					t.Errorf("%s reported twice", r.Check)
				}
				got[r.Check] = r
				if r.App != "web" || r.Detail == "" || (r.Level == Pass) != (r.Fix == "") {
					t.Errorf("malformed result %+v", r)
				}
			}
			for check, level := range tc.want {
				r, ok := got[check]
				switch {
				case !ok:
					t.Errorf("%s: not reported", check)
				case r.Level != level:
					t.Errorf("%s: %s, want %s: %s", check, r.Level, level, r.Detail)
				}
			}
			for _, check := range tc.not {
				if r, ok := got[check]; ok {
					t.Errorf("%s should not run: %+v", check, r)
				}
			}
			if tc.name == "passes everything" {
				if p, w, f := Summary(rs); w+f != 0 || p != len(tc.want) {
					t.Errorf("Summary: %d pass, %d warn, %d fail; want %d pass: %+v", p, w, f, len(tc.want), rs)
				}
			}
			if t.Failed() {
				for _, r := range rs {
					t.Logf("%s %s: %s | %s", r.Level, r.Check, r.Detail, r.Fix)
				}
			}
		})
	}
}

// The findings name what the user needs: advisories, the most frequent
// error, the command that fixes it.
func TestCheckDetails(t *testing.T) {
	srv := httptest.NewTLSServer(page{cookie: "connect.sid", bare: true})
	defer srv.Close()
	in := goodInput(fixture(t, "vulnerable"), srv)
	delete(in.Env, "NODE_ENV")
	// One instance crashing twice counts twice: LastExit alone would show
	// two crashes here.
	in.App.Crashes = []api.Crash{
		crashed(now.Add(-5*time.Hour), 0, "Error: connect ECONNREFUSED 127.0.0.1:5432"),
		crashed(now.Add(-3*time.Hour), 1, "RangeError [ERR_OUT_OF_RANGE]: bad offset"),
		crashed(now.Add(-time.Hour), 0, "Error: connect ECONNREFUSED 127.0.0.1:5432"),
	}
	got := map[string]Result{}
	for _, r := range Check(context.Background(), in) {
		got[r.Check] = r
	}
	for check, want := range map[string][]string{
		"express":        {"4.18.2", "CVE-2024-29041", "CVE-2024-43796", "package-lock.json", "npm install express@^4.20.0", "tend reload web"},
		"body-parser":    {"1.20.1", "CVE-2024-45590", "1.20.3"},
		"node_env":       {"tend set web env.NODE_ENV=production"},
		"session_cookie": {"connect.sid", "edge.cookies.rename.to=web.sid"},
		"headers":        {"Content-Security-Policy", "Strict-Transport-Security", "X-Frame-Options", "tend unset web edge.headers"},
		"crashes":        {"3 crashes", "(2×): Error: connect ECONNREFUSED 127.0.0.1:5432", "tend logs web --err"},
	} {
		text := got[check].Detail + " | " + got[check].Fix
		for _, w := range want {
			if !strings.Contains(text, w) {
				t.Errorf("%s: %q lacks %q", check, text, w)
			}
		}
	}
}

func TestVersionOrder(t *testing.T) {
	// Ascending, per semver 2.0's example and the versions in advisories.
	order := []string{"0.0.0", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
		"1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "4.18.2", "4.19.2", "4.20.0", "5.0.0-alpha.1", "5.0.0-alpha.8",
		"5.0.0-beta.1", "5.0.0-beta.3", "5.0.0", "v5.3.0+build.7"}
	for i, a := range order {
		va, ok := parseVersion(a)
		if !ok {
			t.Fatalf("parseVersion(%q) failed", a)
		}
		for j, b := range order {
			vb, _ := parseVersion(b)
			if got, want := va.compare(vb), sign(i-j); got != want {
				t.Errorf("compare(%s, %s) = %d, want %d", a, b, got, want)
			}
		}
	}
	for _, bad := range []string{"", "4", "4.18", "4.18.x", "^4.18.2", "4.18.2-", "latest", "file:../express"} {
		if v, ok := parseVersion(bad); ok {
			t.Errorf("parseVersion(%q) = %v, want failure", bad, v)
		}
	}
}

func TestAdvisories(t *testing.T) {
	for _, tc := range []struct {
		pkg, version string
		want         []string
	}{
		{"express", "4.18.2", []string{"CVE-2024-29041", "CVE-2024-43796"}},
		{"express", "4.19.1", []string{"CVE-2024-29041", "CVE-2024-43796"}},
		{"express", "4.19.2", []string{"CVE-2024-43796"}},
		{"express", "4.20.0", nil},
		{"express", "5.0.0-alpha.1", []string{"CVE-2024-29041", "CVE-2024-43796"}},
		{"express", "5.0.0-beta.2", []string{"CVE-2024-29041", "CVE-2024-43796"}},
		{"express", "5.0.0-beta.3", []string{"CVE-2024-43796"}},
		{"express", "5.0.0", nil},
		{"body-parser", "1.20.2", []string{"CVE-2024-45590"}},
		{"body-parser", "1.20.3", nil},
		{"body-parser", "2.0.0", nil},
		{"body-parser", "2.2.0", []string{"CVE-2025-13466"}},
		{"body-parser", "2.2.1", nil},
	} {
		v, _ := parseVersion(tc.version)
		var got []string
		for _, h := range affected(tc.pkg, v) {
			got = append(got, h.id)
		}
		if strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("%s %s: %v, want %v", tc.pkg, tc.version, got, tc.want)
		}
	}
}

func TestNodeEOLTable(t *testing.T) {
	for i, l := range nodeEOL {
		if i > 0 && l.major != nodeEOL[i-1].major+1 {
			t.Errorf("line %d follows %d", l.major, nodeEOL[i-1].major)
		}
		if (l.major%2 == 0) == l.lts.IsZero() || !l.lts.IsZero() && !l.lts.Before(l.end) {
			t.Errorf("line %d: LTS %v, end %v", l.major, l.lts, l.end)
		}
	}
	if got := recommendedNode(now); !strings.Contains(got, "Node.js 26") {
		t.Errorf("recommendedNode = %q", got)
	}
}

func TestProjectDir(t *testing.T) {
	dir := writeFiles(t, map[string]string{"package-lock.json": "{}", "package.json": "{}", "src/server.js": ""})
	sp := &spec.App{Script: filepath.Join(dir, "src", "server.js"), Cwd: filepath.Join(dir, "src")}
	if got := ProjectDir(sp); got != dir {
		t.Errorf("ProjectDir = %q, want %q", got, dir)
	}
	if got := ProjectDir(&spec.App{Script: "python3", Cwd: t.TempDir()}); got != "" {
		t.Errorf("ProjectDir without a project = %q", got)
	}
}
