package release

import (
	"bufio"
	"bytes"
	"path"
	"regexp"
	"strings"
)

// patterns is a list of .gitignore/.npmignore patterns: later ones win, "!"
// re-includes, a trailing "/" matches directories only, a pattern with a
// "/" elsewhere is anchored at the top, "**" crosses directories.
type patterns []pattern

type pattern struct {
	re      *regexp.Regexp
	negate  bool
	dirOnly bool
}

// maxPatterns bounds an ignore file.
const maxPatterns = 10_000

func parsePatterns(b []byte) patterns {
	var out patterns
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() && len(out) < maxPatterns {
		line := strings.TrimRight(sc.Text(), " \t\r")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		var p pattern
		if strings.HasPrefix(line, "!") {
			p.negate, line = true, line[1:]
		}
		if strings.HasSuffix(line, "/") {
			p.dirOnly, line = true, strings.TrimRight(line, "/")
		}
		anchored := strings.Contains(line, "/")
		line = strings.TrimPrefix(line, "/")
		if line == "" {
			continue
		}
		p.re = globRegexp(line, anchored)
		out = append(out, p)
	}
	return out
}

// globRegexp turns a glob into a regexp over a slash-separated path; an
// unanchored one matches at any depth. A match also covers everything
// below the matched path.
func globRegexp(g string, anchored bool) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	if !anchored {
		b.WriteString("(?:.*/)?")
	}
	for i := 0; i < len(g); i++ {
		c := g[i]
		switch {
		case c == '*' && strings.HasPrefix(g[i:], "**/"):
			b.WriteString("(?:.*/)?")
			i += 2
		case c == '*' && strings.HasPrefix(g[i:], "**"):
			b.WriteString(".*")
			i++
		case c == '*':
			b.WriteString("[^/]*")
		case c == '?':
			b.WriteString("[^/]")
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("(?:/.*)?$")
	re, err := regexp.Compile(b.String())
	if err != nil {
		return regexp.MustCompile(`^\b$`) // matches nothing
	}
	return re
}

// ignored says whether the patterns leave out rel (a directory when dir).
func (ps patterns) ignored(rel string, dir bool) bool {
	out := false
	for _, p := range ps {
		if p.dirOnly && !dir && !p.re.MatchString(path.Dir(rel)) {
			continue
		}
		if p.re.MatchString(rel) {
			out = !p.negate
		}
	}
	return out
}
