// Command tend is a production process manager: CLI and daemon in one binary.
package main

import (
	"os"
	"runtime"

	"github.com/tendhq/tend/internal/cli"
)

// The daemon forks every app process and executes its next program (tend
// update) on the main thread, which survives an exec: see
// internal/supervise/adopt.go. Locking it in init keeps main, and the
// daemon's Run, on it.
func init() { runtime.LockOSThread() }

func main() {
	os.Exit(cli.Main(os.Args[1:]))
}
