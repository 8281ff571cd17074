// Package tune adjusts the daemon's Go runtime to a machine it shares with
// the apps it runs: how many CPUs it runs Go code on (Procs), how eagerly it
// collects garbage (GC), and which pages of its executable it keeps
// resident (Trimmer). The daemon calls these; none of them knows about apps.
package tune

import (
	"context"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// defaultProcs is how many CPUs the daemon runs Go code on at once
// (GOMAXPROCS) unless told otherwise: half of them, at least one. The
// daemon shares the machine with the apps it runs, and its edge serves
// what they answer: every core it spins on is one they lack. Its work is
// many short goroutines that block and wake on sockets, and with more
// processors than it needs the Go scheduler spends CPU waking threads to
// steal that work (futex, nanosleep); on 2 cores, one processor took
// about 30% less CPU per proxied request than two (97 against 142 µs)
// and the edge served 10% more. A GOMAXPROCS in the environment, or procs
// in daemon.yaml, wins.
func defaultProcs(cpus int) int { return max(1, cpus/2) }

// SetProcs applies procs (defaultProcs when 0) unless GOMAXPROCS is set
// in the environment.
func SetProcs(procs int) {
	if os.Getenv("GOMAXPROCS") != "" {
		return
	}
	if procs <= 0 {
		procs = defaultProcs(runtime.NumCPU())
	}
	runtime.GOMAXPROCS(procs)
}

// The daemon spends most of its life idle, with a heap of a few MB, and
// sometimes carries heavy traffic through its edge. One GOGC cannot serve
// both: 50 keeps the idle heap (and RSS) small, but under load, with a small
// live heap, it runs a collection every megabyte or two of garbage, dozens a
// second, which took about an eighth of the edge's CPU. gcPolicy raises GOGC
// while the allocation rate says the daemon is busy and lowers it again once
// it is quiet, with a gap between the two thresholds so that a rate near one
// of them does not flip the setting every second.
type gcPolicy struct {
	idle, busy int    // GOGC when quiet and when busy
	up, down   uint64 // bytes allocated per second above which it is busy, below which quiet
}

var defaultGCPolicy = gcPolicy{idle: 50, busy: 400, up: 8 << 20, down: 2 << 20}

// next returns the GOGC for an allocation rate (bytes/s), given the current one.
func (p gcPolicy) next(current int, rate uint64) int {
	switch {
	case rate >= p.up:
		return p.busy
	case rate <= p.down:
		return p.idle
	default:
		return current
	}
}

// GC raises and lowers GOGC with the allocation rate (see gcPolicy) every
// second until ctx is done. The daemon's Run starts it and waits for it. It
// does nothing when the user set GOGC: their setting wins.
func GC(ctx context.Context) { tuneGC(ctx, defaultGCPolicy) }

// tuneGC applies p every second until ctx is done.
func tuneGC(ctx context.Context, p gcPolicy) {
	if os.Getenv("GOGC") != "" {
		return
	}
	current := p.idle
	debug.SetGCPercent(current)
	sample := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(sample)
	last := sample[0].Value.Uint64()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		metrics.Read(sample)
		total := sample[0].Value.Uint64()
		if n := p.next(current, total-last); n != current {
			current = n
			debug.SetGCPercent(n)
		}
		last = total
	}
}
