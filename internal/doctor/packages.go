package doctor

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/tendhq/tend/internal/spec"
)

// advisory is a known vulnerability of a package: versions in any of its
// spans are affected.
type advisory struct {
	pkg, id, ghsa, what string
	spans               []span
}

// span is the versions from introduced up to, not including, fixed.
type span struct{ introduced, fixed string }

// advisories is a small shipped list of the advisories every Express app of
// their era is exposed to; `tend doctor --audit` asks npm for the rest. The
// spans are the GitHub advisories'.
var advisories = []advisory{
	{"express", "CVE-2024-29041", "GHSA-rv95-896h-c2vc", "open redirect through malformed URLs in res.location and res.redirect",
		[]span{{"0.0.0", "4.19.2"}, {"5.0.0-alpha.1", "5.0.0-beta.3"}}},
	{"express", "CVE-2024-43796", "GHSA-qw6h-vgh9-j6wx", "XSS through res.redirect",
		[]span{{"0.0.0", "4.20.0"}, {"5.0.0-alpha.1", "5.0.0"}}},
	{"body-parser", "CVE-2024-45590", "GHSA-qwcr-r2fm-qrc7", "denial of service with URL-encoded bodies",
		[]span{{"0.0.0", "1.20.3"}}},
	{"body-parser", "CVE-2025-13466", "GHSA-wqch-xfxh-vrr4", "denial of service with URL-encoded bodies",
		[]span{{"2.2.0", "2.2.1"}}},
}

// hit is an advisory that applies to an installed version.
type hit struct {
	advisory
	fixed version
}

func affected(pkg string, v version) []hit {
	var hs []hit
	for _, a := range advisories {
		if a.pkg != pkg {
			continue
		}
		for _, s := range a.spans {
			lo, _ := parseVersion(s.introduced)
			hi, _ := parseVersion(s.fixed)
			if v.compare(lo) >= 0 && v.compare(hi) < 0 {
				hs = append(hs, hit{a, hi})
			}
		}
	}
	return hs
}

// describeHits lists advisories for a Detail, and returns the version that
// fixes them all on v's line.
func describeHits(hs []hit) (string, version) {
	var parts []string
	var fixed version
	for _, h := range hs {
		parts = append(parts, fmt.Sprintf("%s (%s, %s; fixed in %s)", h.id, h.ghsa, h.what, h.fixed))
		if h.fixed.compare(fixed) > 0 {
			fixed = h.fixed
		}
	}
	return strings.Join(parts, ", "), fixed
}

// installedPkg is a package version as the app would load it.
type installedPkg struct {
	version string
	from    string // the file it was read from
	dir     string // the project directory, where npm commands go
}

func (p installedPkg) where() string {
	if filepath.Base(p.from) == "package.json" {
		return "installed in " + filepath.Dir(p.from)
	}
	return "pinned in " + p.from + "; no node_modules found"
}

// packages checks Express and body-parser, when installed.
func (c *checker) packages(starts []string) {
	if p, ok := installed(starts, "express"); ok {
		c.express(p)
	}
	// Express 4 pins body-parser, so a copy nested under express is the one
	// it loads.
	if p, ok := installed(starts, "express/node_modules/body-parser", "body-parser"); ok {
		c.bodyParser(p)
	}
}

func (c *checker) express(p installedPkg) {
	v, ok := parseVersion(p.version)
	if !ok {
		c.add("express", Warn, fmt.Sprintf("Cannot read express's version %q (%s).", p.version, p.where()),
			fmt.Sprintf("Install express from the registry: `npm install express@5` in %s.", p.dir))
		return
	}
	hs := affected("express", v)
	list, fixed := describeHits(hs)
	reload := fmt.Sprintf("then `tend reload %s`", c.name)
	switch {
	case v.major <= 3:
		detail := fmt.Sprintf("express %s (%s): Express %d reached end of life in %s and gets no security fixes.", v, p.where(), v.major, expressEOL(v.major))
		if list != "" {
			detail += " Known advisories: " + list + "."
		}
		c.add("express", Fail, detail, fmt.Sprintf(
			"Move to Express 5 (https://expressjs.com/en/guide/migrating-5.html) and run `npm install express@5` in %s, %s.", p.dir, reload))
	case len(hs) > 0 && v.major == 4:
		c.add("express", Fail, fmt.Sprintf("express %s (%s) is affected by %s.", v, p.where(), list), fmt.Sprintf(
			"Run `npm install express@^%s` in %s (it installs the latest 4.x), %s, and plan the move to Express 5.", fixed, p.dir, reload))
	case len(hs) > 0:
		c.add("express", Fail, fmt.Sprintf("express %s (%s) is affected by %s.", v, p.where(), list), fmt.Sprintf(
			"Run `npm install express@^%d` in %s, %s.", v.major, p.dir, reload))
	case v.major == 4: // not a FAIL: it still gets security fixes
		c.add("express", Warn, fmt.Sprintf("express %s (%s): Express 4 has been in maintenance, security fixes only, since 2025-04-01, and its end of life was planned for 2026-10-01 or later.", v, p.where()), fmt.Sprintf(
			"Move to Express 5 (https://expressjs.com/en/guide/migrating-5.html) and run `npm install express@5` in %s, %s.", p.dir, reload))
	default:
		c.add("express", Pass, fmt.Sprintf("express %s (%s): supported, no known advisory.", v, p.where()), "")
	}
}

// expressEOL is when an old Express major stopped being supported
// (expressjs.com/en/support).
func expressEOL(major int) string {
	switch major {
	case 3:
		return "July 2015"
	case 2:
		return "July 2012"
	case 1:
		return "March 2011"
	}
	return "December 2010"
}

func (c *checker) bodyParser(p installedPkg) {
	v, ok := parseVersion(p.version)
	if !ok {
		c.add("body-parser", Warn, fmt.Sprintf("Cannot read body-parser's version %q (%s).", p.version, p.where()),
			fmt.Sprintf("Install body-parser from the registry: `npm update body-parser` in %s.", p.dir))
		return
	}
	hs := affected("body-parser", v)
	if len(hs) == 0 {
		c.add("body-parser", Pass, fmt.Sprintf("body-parser %s (%s): no known advisory.", v, p.where()), "")
		return
	}
	list, fixed := describeHits(hs)
	how := "`npm update body-parser`"
	if v.major == 1 {
		// Express 4 before 4.20.0 pins body-parser exactly, which npm update
		// cannot move.
		how = "`npm install express@^4.20.0` (which brings body-parser 1.20.3 or later) or `npm update body-parser`"
	}
	c.add("body-parser", Fail, fmt.Sprintf("body-parser %s (%s) is affected by %s.", v, p.where(), list), fmt.Sprintf(
		"Raise body-parser to %s or later with %s in %s, then `tend reload %s`.", fixed, how, p.dir, c.name))
}

// searchDirs are the directories the app's packages resolve from: the
// script's directory first (require resolves from the requiring file), then
// the app's cwd.
func searchDirs(sp *spec.App) []string {
	if sp == nil {
		return nil
	}
	var dirs []string
	if filepath.IsAbs(sp.Script) {
		dirs = append(dirs, filepath.Dir(sp.Script))
	}
	if sp.Cwd != "" && (len(dirs) == 0 || dirs[0] != sp.Cwd) {
		dirs = append(dirs, sp.Cwd)
	}
	return dirs
}

// ProjectDir is the app's npm project: the nearest directory holding a
// package-lock.json, else a package.json, above the script or the cwd; ""
// when there is none. Audit runs there.
func ProjectDir(sp *spec.App) string {
	for _, name := range []string{"package-lock.json", "package.json"} {
		for _, start := range searchDirs(sp) {
			for d := range up(start) {
				if isFile(filepath.Join(d, name)) {
					return d
				}
			}
		}
	}
	return ""
}

// installed finds the version of a package the app loads: keys are paths
// under node_modules ("express", "express/node_modules/body-parser"), tried
// in order. node_modules is searched as Node's resolution does, up from each
// start; failing that, the nearest package-lock.json says what npm would
// install.
func installed(starts []string, keys ...string) (installedPkg, bool) {
	for _, start := range starts {
		for d := range up(start) {
			for _, k := range keys {
				file := filepath.Join(d, "node_modules", k, "package.json")
				var pj struct{ Version string }
				if readJSON(file, &pj) == nil && pj.Version != "" {
					return installedPkg{version: pj.Version, from: file, dir: d}, true
				}
			}
		}
	}
	for _, start := range starts {
		for d := range up(start) {
			file := filepath.Join(d, "package-lock.json")
			if !isFile(file) {
				continue
			}
			var lock struct {
				Packages     map[string]struct{ Version string }
				Dependencies map[string]struct{ Version string } // lockfileVersion 1
			}
			if readJSON(file, &lock) != nil {
				break
			}
			for _, k := range keys {
				if p, ok := lock.Packages["node_modules/"+k]; ok && p.Version != "" {
					return installedPkg{version: p.Version, from: file, dir: d}, true
				}
				if p, ok := lock.Dependencies[k]; ok && p.Version != "" {
					return installedPkg{version: p.Version, from: file, dir: d}, true
				}
			}
			break // the nearest lock file is the project's; a parent's is another project
		}
	}
	return installedPkg{}, false
}

// up yields dir and each of its parents up to the root.
func up(dir string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for d := filepath.Clean(dir); ; {
			if !yield(d) {
				return
			}
			parent := filepath.Dir(d)
			if parent == d {
				return
			}
			d = parent
		}
	}
}

func isFile(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}
