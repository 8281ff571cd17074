package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

const (
	idleApps   = 10
	idleScript = "testdata/node/idle.js"
	rssSamples = 5
	settleWait = 15 * time.Second
)

// lsSection runs ten idle apps under each manager, then times their JSON
// listing and reads the daemons' memory.
func (b *bench) lsSection(ctx context.Context) (result, error) {
	ms := b.managers()
	want := map[string]int{}
	for i := range idleApps {
		want[fmt.Sprintf("idle%d", i)] = 1
	}
	for _, m := range ms {
		logf("%s: starting %d idle apps", m.name(), idleApps)
		for i := range idleApps {
			if err := m.start(ctx, app{name: fmt.Sprintf("idle%d", i), script: idleScript}); err != nil {
				return result{}, err
			}
		}
		if err := waitOnline(ctx, m, want, onlineTimeout); err != nil {
			return result{}, err
		}
	}
	logf("ls latency: %d runs each", b.o.runs)
	ls, err := measureList(ctx, ms, b.o.runs)
	if err != nil {
		return result{}, err
	}
	logf("daemon RSS, right after the listings")
	busy, err := measureRSS(ctx, ms)
	if err != nil {
		return result{}, err
	}
	// An idle daemon is what runs for months: read it again once nothing
	// has asked either manager anything for a while. tend's daemon drops
	// its mappings of code it no longer runs after 5 s without a command
	// (internal/tune/trim.go); PM2's gets the same wait.
	logf("daemon RSS, after %s without commands", settleWait)
	if err := sleep(ctx, settleWait); err != nil {
		return result{}, err
	}
	rss, err := measureRSS(ctx, ms)
	if err != nil {
		return result{}, err
	}
	logSamples("ls", ls)
	logSamples("RSS right after the listings", busy)
	logSamples("RSS settled", rss)
	// The next sections run alone, so that PM2's per-process monitoring of
	// ten more apps does not weigh on them.
	for _, m := range ms {
		if err := m.deleteAll(ctx); err != nil {
			return result{}, err
		}
	}

	var r result
	lsT, lsP := stat(ls, "tend", median), stat(ls, "PM2", median)
	r.add(row{fmt.Sprintf("`ls` JSON, %d idle apps: median", idleApps), ms1(lsT), ms1(lsP), "–", lower(lsT, lsP), "≤ 20 ms", met(lsT <= 20)})
	p90T, p90P := stat(ls, "tend", p90), stat(ls, "PM2", p90)
	r.add(row{fmt.Sprintf("`ls` JSON, %d idle apps: p90", idleApps), ms1(p90T), ms1(p90P), "–", lower(p90T, p90P), "", ""})
	busyT, busyP := stat(busy, "tend", median), stat(busy, "PM2", median)
	r.add(row{fmt.Sprintf("daemon RSS, %d idle apps, right after the listings", idleApps), mib(busyT), mib(busyP), "–", lower(busyT, busyP), "", ""})
	rssT, rssP := stat(rss, "tend", median), stat(rss, "PM2", median)
	r.add(row{fmt.Sprintf("daemon RSS, %d idle apps, settled", idleApps), mib(rssT), mib(rssP), "–", lower(rssT, rssP), "≤ 15 MiB", met(rssT <= 15)})
	return r, nil
}

// measureList times the JSON listing under each manager, interleaved and
// alternating which goes first, so load on this shared machine falls on both
// alike. Samples are in milliseconds.
func measureList(ctx context.Context, ms []manager, runs int) (map[string][]float64, error) {
	samples := map[string][]float64{}
	// Run -1 is a warm-up, not kept: the first exec of each binary reads it
	// from disk, which a user's next call does not.
	for i := -1; i < runs; i++ {
		for j := range ms {
			m := ms[(max(i, 0)+j)%len(ms)]
			d, err := timeList(ctx, m)
			if err != nil {
				return nil, err
			}
			if i >= 0 {
				samples[m.name()] = append(samples[m.name()], millis(d))
			}
		}
	}
	return samples, nil
}

func timeList(ctx context.Context, m manager) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, cmdTimeout)
	defer cancel()
	cmd := m.listCommand(ctx) // no Stdout: os/exec opens /dev/null
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("%s: %s: %w", m.name(), strings.Join(cmd.Args, " "), err)
	}
	return d, nil
}

// measureRSS reads each daemon's resident set a few times, in MiB. The apps
// are separate processes and not counted: the figure is what the manager
// itself costs.
func measureRSS(ctx context.Context, ms []manager) (map[string][]float64, error) {
	samples := map[string][]float64{}
	for _, m := range ms {
		pid, err := m.daemonPID(ctx)
		if err != nil {
			return nil, err
		}
		var st map[string]int64
		for range rssSamples {
			if st, err = procStatus(pid); err != nil {
				return nil, fmt.Errorf("%s daemon: %w", m.name(), err)
			}
			samples[m.name()] = append(samples[m.name()], float64(st["VmRSS"])/1024)
			if err := sleep(ctx, 200*time.Millisecond); err != nil {
				return nil, err
			}
		}
		// Where the memory is, for whoever sets out to shrink it: anonymous
		// (heap, stacks) or file pages (the mapped executable).
		logf("%s daemon pid %d: VmRSS %.1f MiB = anon %.1f + file %.1f + shmem %.1f; VmHWM %.1f MiB", m.name(), pid,
			float64(st["VmRSS"])/1024, float64(st["RssAnon"])/1024, float64(st["RssFile"])/1024, float64(st["RssShmem"])/1024, float64(st["VmHWM"])/1024)
	}
	return samples, nil
}

// procStatus returns the kB fields of /proc/<pid>/status (VmRSS, RssAnon...)
// in KiB, by name.
func procStatus(pid int) (map[string]int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st := map[string]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if num, isKB := strings.CutSuffix(strings.TrimSpace(v), " kB"); ok && isKB {
			if n, err := strconv.ParseInt(num, 10, 64); err == nil {
				st[k] = n
			}
		}
	}
	if _, ok := st["VmRSS"]; !ok {
		return nil, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
	}
	return st, sc.Err()
}
