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
//
// Memory profiling is off: tend never writes a profile of itself, but
// nats-server links net/http/pprof in, which turns the runtime's sampling
// of allocations on (the linker leaves it off when nothing can read the
// samples). Each sample unwinds the allocating stack, one every 512 KiB
// allocated: work for nothing in a daemon whose edge allocates megabytes
// a second under load.
func init() {
	runtime.LockOSThread()
	runtime.MemProfileRate = 0
}

func main() {
	os.Exit(cli.Main(os.Args[1:]))
}
