// Package version says which build of tend this is.
package version

import (
	"runtime/debug"
	"sync"
)

// Base is the release this tree is working towards.
const Base = "0.1.0-dev"

// Override, set at link time (-ldflags "-X .../version.Override=1.2.3"),
// is the version a release build reports instead of Base and a revision.
var Override string

// String returns the version of this binary: Base plus the VCS revision it
// was built from, when the toolchain stamped one, so a daemon left running
// from an older build is told apart from the CLI.
var String = sync.OnceValue(func() string {
	if Override != "" {
		return Override
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Base
	}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev == "" {
		return Base
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	v := Base + "+" + rev
	if modified == "true" {
		v += ".dirty"
	}
	return v
})
