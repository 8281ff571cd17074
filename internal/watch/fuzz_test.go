package watch

import (
	"path"
	"strings"
	"testing"
)

// FuzzIgnore: an ignore pattern New accepts never fails when it is
// matched (ignored drops a match's error, so such a pattern would ignore
// nothing, silently), no path makes matching panic, and a plain name or
// clean relative path as a pattern ignores exactly what it names.
func FuzzIgnore(f *testing.F) {
	for _, s := range []string{
		"node_modules", "*.log", "./dist", "**/build/*.map", "src/*.gen.js", "/srv/app/secret", "logs/",
		".", "", "[", "a[", "\\", "**/", "./", "**/[a-", "[]a]", "[^a]", "a/**/b", "./../x", "a//b",
	} {
		f.Add(s, "src/app.js")
	}
	f.Add("*.js", "src/app.js")
	f.Add("**/x", "a/b/x")
	f.Fuzz(func(t *testing.T, pattern, rel string) {
		pats, err := ignorePatterns([]string{pattern})
		if err != nil {
			return
		}
		for _, g := range pats {
			sub := g
			switch {
			case path.IsAbs(g):
			case strings.HasPrefix(g, "**/"):
				sub = g[3:]
			case strings.HasPrefix(g, "./"):
				sub = g[2:]
			}
			if _, err := path.Match(sub, "x"); err != nil {
				t.Fatalf("pattern %q accepted, but %q does not match: %v", pattern, sub, err)
			}
		}
		const root = "/srv/app"
		w := &Watcher{root: root, ignore: pats}
		w.ignored(path.Join(root, rel))
		w.ignored("/" + rel)

		// A literal pattern ignores what it names.
		if len(pats) != 1 || strings.ContainsAny(pattern, `*?[\`) {
			return
		}
		name := strings.TrimPrefix(strings.TrimPrefix(pats[0], "**/"), "./")
		if name == "" || path.IsAbs(name) || path.Clean(name) != name || name == ".." || strings.HasPrefix(name, "../") {
			return
		}
		in := path.Join(root, "deep", "er", name)
		if !strings.Contains(pats[0], "/") || strings.HasPrefix(pats[0], "**/") {
			if !w.ignored(in) {
				t.Fatalf("pattern %q does not ignore %s", pattern, in)
			}
		}
		if !strings.HasPrefix(pats[0], "**/") && strings.Contains(pats[0], "/") && w.ignored(in) {
			t.Fatalf("pattern %q, anchored to the root, ignores %s", pattern, in)
		}
		if at := path.Join(root, name); !w.ignored(at) {
			t.Fatalf("pattern %q does not ignore %s", pattern, at)
		}
	})
}
