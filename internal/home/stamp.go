package home

import (
	"io/fs"
	"syscall"
	"time"
)

// Stamp tells versions of a file apart, for a reader that reads it again
// only when it changed: WriteFile renames a new file into place, so the
// inode changes even within the clock's grain.
type Stamp struct {
	mod  time.Time
	size int64
	ino  uint64
}

// StampOf is the stamp of the file fi describes.
func StampOf(fi fs.FileInfo) Stamp {
	st := Stamp{mod: fi.ModTime(), size: fi.Size()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.ino = sys.Ino
	}
	return st
}
