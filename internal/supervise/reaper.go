package supervise

import (
	"context"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/tendhq/tend/internal/metrics"
	"golang.org/x/sys/unix"
)

// reaper tracks the group leaders whose exit status belongs to their
// Process.wait, so that the orphan reaper leaves them alone.
var reaper = struct {
	mu      sync.Mutex
	leaders map[int]bool // guarded by mu
}{leaders: map[int]bool{}}

// ReapOrphans makes the calling process a child subreaper: a process that an
// app forks and abandons is re-parented to us instead of to PID 1 (which, in
// containers and sandboxes, often never reaps), and we reap it when it exits.
// It runs until ctx is done; the daemon starts it once and cancels it on exit.
func ReapOrphans(ctx context.Context) error {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return err
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGCHLD)
	defer signal.Stop(sigs)
	reapZombies()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-sigs:
			reapZombies()
		}
	}
}

// reapZombies waits for every zombie child that is not a supervised leader.
// It reads /proc rather than calling wait4(-1), which would steal the exit
// status of leaders from their own wait goroutines.
func reapZombies() {
	self := os.Getpid()
	reaper.mu.Lock()
	defer reaper.mu.Unlock()
	for _, st := range metrics.Stats() {
		if st.PPID == self && st.State == 'Z' && !reaper.leaders[st.PID] {
			var ws unix.WaitStatus
			_, _ = unix.Wait4(st.PID, &ws, unix.WNOHANG, nil)
		}
	}
}

// GroupAlive lists the members of process group pgid that are still
// running (zombies do not count: they hold no resources but a pid).
func GroupAlive(pgid int) []int {
	var pids []int
	for _, st := range metrics.Stats() {
		if st.PGrp == pgid && st.State != 'Z' && st.State != 'X' {
			pids = append(pids, st.PID)
		}
	}
	return pids
}

// killGroup SIGKILLs every member of the group and waits, up to limit, until
// none is running. SIGKILL is delivered asynchronously, so without the wait a
// caller that reports "stopped" could race the kernel.
//
// It waits by probing the group with signal 0, which fails with ESRCH once
// no member is left, rather than reading all of /proc: the probe is one
// system call, and it runs after every exit of every instance. A killed
// member leaves the group only once it is reaped; the daemon is the
// subreaper of the apps' orphans and reaps them at once (ReapOrphans), but a
// zombie whose parent never waits (PID 1 in some containers, when we could
// not become the subreaper) would keep the probe true until limit, so every
// zombieCheck the group is read from /proc once to see whether only zombies
// are left.
func killGroup(pgid int, limit time.Duration) {
	if err := unix.Kill(-pgid, unix.SIGKILL); err == unix.ESRCH {
		return
	}
	const (
		probeEvery  = 2 * time.Millisecond
		zombieCheck = 100 * time.Millisecond
	)
	start := time.Now()
	nextCheck := start.Add(zombieCheck)
	for unix.Kill(-pgid, 0) != unix.ESRCH {
		now := time.Now()
		if now.Sub(start) >= limit {
			return
		}
		if now.After(nextCheck) {
			if len(GroupAlive(pgid)) == 0 {
				return
			}
			nextCheck = now.Add(zombieCheck)
		}
		time.Sleep(probeEvery)
	}
}

// KillStaleGroup kills what is left of a process group that a previous
// daemon started: members that began no earlier than the leader's recorded
// start time (so a recycled pid of an unrelated process is left alone). It
// returns how many processes it killed.
func KillStaleGroup(pgid int, leaderStart uint64) int {
	n := 0
	for _, st := range metrics.Stats() {
		if st.PGrp == pgid && st.State != 'Z' && st.Start >= leaderStart && st.PID != os.Getpid() {
			if unix.Kill(st.PID, unix.SIGKILL) == nil {
				n++
			}
		}
	}
	if n > 0 {
		killGroup(pgid, time.Second)
	}
	return n
}
