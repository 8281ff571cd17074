package doctor

import (
	"fmt"
	"strconv"
	"strings"
)

// version is a semantic version: enough of semver 2.0 to order releases and
// prereleases.
type version struct {
	major, minor, patch int
	pre                 []string // nil for a release
}

// parseVersion reads "1.2.3", "v1.2.3", "1.2.3-beta.3" or "1.2.3+build".
func parseVersion(s string) (version, bool) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "v")
	s, _, _ = strings.Cut(s, "+")
	core, pre, hasPre := strings.Cut(s, "-")
	parts := strings.Split(core, ".")
	if len(parts) != 3 {
		return version{}, false
	}
	var n [3]int
	for i, p := range parts {
		if !isNum(p) {
			return version{}, false
		}
		n[i], _ = strconv.Atoi(p) // isNum: always a number
	}
	v := version{major: n[0], minor: n[1], patch: n[2]}
	if hasPre {
		if pre == "" {
			return version{}, false
		}
		v.pre = strings.Split(pre, ".")
	}
	return v, true
}

func isNum(s string) bool {
	if s == "" || len(s) > 9 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// compare orders versions as semver does: a prerelease comes before its
// release; prerelease identifiers compare numerically when both are numbers,
// as text otherwise, numbers first.
func (v version) compare(w version) int {
	for _, d := range [3]int{v.major - w.major, v.minor - w.minor, v.patch - w.patch} {
		if d != 0 {
			return sign(d)
		}
	}
	switch {
	case v.pre == nil && w.pre == nil:
		return 0
	case v.pre == nil:
		return 1
	case w.pre == nil:
		return -1
	}
	for i := 0; i < len(v.pre) && i < len(w.pre); i++ {
		a, b := v.pre[i], w.pre[i]
		an, bn := isNum(a), isNum(b)
		switch {
		case an && bn:
			if d := len(a) - len(b); d != 0 { // no leading zeros in semver
				return sign(d)
			}
			if a != b {
				return strings.Compare(a, b)
			}
		case an:
			return -1
		case bn:
			return 1
		case a != b:
			return strings.Compare(a, b)
		}
	}
	return sign(len(v.pre) - len(w.pre))
}

func sign(d int) int {
	switch {
	case d < 0:
		return -1
	case d > 0:
		return 1
	}
	return 0
}

func (v version) String() string {
	s := fmt.Sprintf("%d.%d.%d", v.major, v.minor, v.patch)
	if v.pre != nil {
		s += "-" + strings.Join(v.pre, ".")
	}
	return s
}
