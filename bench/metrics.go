package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

const (
	sampledApps     = 5
	sampledPerApp   = 10
	metricsInterval = "1s"
	// cpuWindow is how long the daemon's CPU is measured, in cpuSlices
	// parts whose figures go to stderr to show the spread.
	cpuWindow = 30 * time.Second
	cpuSlices = 3
	// startupSettle lets the daemon finish starting fifty instances (and
	// the garbage collection after) before its CPU is counted.
	startupSettle = 5 * time.Second
	// userHZ is the unit of utime and stime in /proc/<pid>/stat: USER_HZ,
	// 100 on every architecture Linux and Go share but alpha and ia64.
	userHZ = 100
)

// metricsSection runs fifty idle instances under a daemon of its own that
// samples their process trees every second, and measures what that costs
// the daemon: CPU over 30 s and resident memory. Then the edge's p99 with
// the sampler busy, with the edge's request metrics on and off.
func (b *bench) metricsSection(ctx context.Context) (result, error) {
	home := filepath.Join(b.tmp, "tend-metrics")
	if err := os.MkdirAll(home, 0o700); err != nil {
		return result{}, err
	}
	// Said explicitly, so the figure stays at 1 s if the default changes.
	if err := os.WriteFile(filepath.Join(home, "daemon.yaml"), []byte("metrics_interval: "+metricsInterval+"\n"), 0o600); err != nil {
		return result{}, err
	}
	t := newTend(b.tendBin, b.root, home, b.env)
	defer shutdown(ctx, t)

	want := map[string]int{}
	logf("metrics: starting %d apps × %d idle instances", sampledApps, sampledPerApp)
	for i := range sampledApps {
		name := fmt.Sprintf("sampled%d", i)
		want[name] = sampledPerApp
		if err := t.start(ctx, app{name: name, script: idleScript, instances: sampledPerApp}); err != nil {
			return result{}, err
		}
	}
	pid, err := settled(ctx, t, want)
	if err != nil {
		return result{}, err
	}

	logf("metrics: daemon pid %d, CPU over %s", pid, cpuWindow)
	ticks0, err := cpuTicks(pid)
	if err != nil {
		return result{}, err
	}
	start := time.Now()
	prevTicks, prevAt := ticks0, start
	var parts []float64
	for range cpuSlices {
		if err := sleep(ctx, cpuWindow/cpuSlices); err != nil {
			return result{}, err
		}
		ticks, err := cpuTicks(pid)
		if err != nil {
			return result{}, err
		}
		now := time.Now()
		parts = append(parts, cpuPercent(ticks-prevTicks, now.Sub(prevAt)))
		prevTicks, prevAt = ticks, now
	}
	cpu := cpuPercent(prevTicks-ticks0, prevAt.Sub(start))
	logf("metrics: daemon CPU %.2f%% of one core over %s; per %s: %.2f", cpu, prevAt.Sub(start).Round(time.Millisecond), cpuWindow/cpuSlices, parts)

	rss, err := measureRSS(ctx, []manager{t})
	if err != nil {
		return result{}, err
	}
	logSamples("metrics: daemon RSS with 50 instances (MiB)", rss)
	sampled, err := sampledInstances(ctx, t)
	if err != nil {
		return result{}, err
	}
	logf("metrics: %d of %d instances show a sampled memory figure in tend ls --json", sampled, sampledApps*sampledPerApp)

	var r result
	r.add(row{fmt.Sprintf("metrics: daemon CPU, %d instances sampled every %s", sampledApps*sampledPerApp, metricsInterval),
		cell(cpu, "%.2f%% of a core"), "–", "–", "–", "< 1%", met(cpu < 1)})
	rssT := stat(rss, "tend", median)
	r.add(row{fmt.Sprintf("metrics: daemon RSS, %d instances", sampledApps*sampledPerApp), mib(rssT), "–", "–", "–", "≤ 20 MiB", met(rssT <= 20)})

	if b.wrk == "" {
		logf("metrics: edge p99 skipped, wrk is missing (%s)", installHint)
		r.add(skipped("metrics: edge p99, metrics on and off", "wrk"))
		return r, nil
	}
	p99, err := b.edgeP99(ctx, t)
	if err != nil {
		return result{}, err
	}
	on, off := stat(p99, "on", median), stat(p99, "off", median)
	offCell := "–"
	if !math.IsNaN(off) {
		offCell = ms1(off) + " (metrics off)"
	}
	r.add(row{"metrics: edge p99, proxy mode, 32 conns, metrics on", ms1(on), "–", offCell, "–", "", ""})
	if len(p99["off"]) == 0 {
		r.add(row{"metrics: edge p99 on ÷ off", "–", "–", "–", "–", "≤ 1.05×", "pending: this tend cannot turn metrics off"})
		return r, nil
	}
	ratio := pairedRatio(p99["on"], p99["off"])
	r.add(row{"metrics: edge p99 on ÷ off, paired median", times(ratio), "–", "–", "–", "≤ 1.05×", met(ratio <= 1.05)})
	return r, nil
}

// sampledTend is a tend of its own home, tmp/name, whose daemon samples
// every metricsInterval.
func (b *bench) sampledTend(name string) (*tend, error) {
	home := filepath.Join(b.tmp, name)
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, err
	}
	// Said explicitly, so the figure stays at 1 s if the default changes.
	if err := os.WriteFile(filepath.Join(home, "daemon.yaml"), []byte("metrics_interval: "+metricsInterval+"\n"), 0o600); err != nil {
		return nil, err
	}
	return newTend(b.tendBin, b.root, home, b.env), nil
}

// settled waits for the apps of want to be online and the daemon to
// settle, and returns the daemon's pid.
func settled(ctx context.Context, t *tend, want map[string]int) (int, error) {
	if err := waitOnline(ctx, t, want, onlineTimeout); err != nil {
		return 0, err
	}
	if err := sleep(ctx, startupSettle); err != nil {
		return 0, err
	}
	return t.daemonPID(ctx)
}

// edgeP99 serves the Express fixture in proxy mode next to the fifty
// sampled instances and loads it with wrk, request metrics on and off in
// turn (`tend set web edge.metrics=…` changes the edge in place: the same
// instances serve both), rotating which goes first. It returns the p99s of
// the kept runs by state; with a tend that cannot turn request metrics
// off, only "on".
func (b *bench) edgeP99(ctx context.Context, t *tend) (map[string][]float64, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logf("metrics: edge on 127.0.0.1:%d, wrk %d runs of %s with request metrics on and off", port, b.o.loadRuns, b.o.duration)
	if err := t.start(ctx, app{name: "web", script: expressScript, port: port, instances: clusterInstances, mode: "proxy"}); err != nil {
		return nil, err
	}
	if err := waitOnline(ctx, t, map[string]int{"web": clusterInstances}, onlineTimeout); err != nil {
		return nil, err
	}
	if _, _, err := waitServing(ctx, port, func(int) bool { return true }, nil); err != nil {
		return nil, err
	}
	states := []string{"on", "off"}
	current := "on"
	set := func(state string) error {
		if state == current {
			return nil
		}
		v := map[string]string{"on": "true", "off": "false"}[state]
		if _, err := t.run(ctx, nil, "set", "web", "edge.metrics="+v); err != nil {
			return err
		}
		current = state
		return nil
	}
	if err := set("off"); err != nil {
		logf("metrics: cannot turn the edge's request metrics off (%v); measuring with them on only", err)
		states = []string{"on"}
	}
	p99s := map[string][]float64{}
	rps := map[string][]float64{}
	err = b.interleave(len(states), func(round, i int, d time.Duration) error {
		state := states[i]
		if err := set(state); err != nil {
			return err
		}
		before, err := edgeCount(ctx, t)
		if err != nil {
			return err
		}
		r, err := runWrk(ctx, b.wrk, url(port), b.env, d)
		if err != nil {
			return err
		}
		after, err := edgeCount(ctx, t)
		if err != nil {
			return err
		}
		logf("metrics: edge run %d, metrics %s: %s; the edge counted %d requests", round, state, r, after-before)
		if state == "off" && after-before > uint64(r.requests/100) {
			logf("metrics: with metrics off the edge still counted %d of %d requests: the switch did not take", after-before, r.requests)
		}
		if round > 0 {
			p99s[state] = append(p99s[state], r.p99)
			rps[state] = append(rps[state], r.rps)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	logSamples("metrics: edge p99 (ms), metrics", p99s)
	logSamples("metrics: edge requests/s, metrics", rps)
	return p99s, nil
}

// edgeCount is the number of requests the edge has counted for the
// instances of web, as tend ls --json shows.
func edgeCount(ctx context.Context, t *tend) (uint64, error) {
	out, err := t.run(ctx, nil, "ls", "--json")
	if err != nil {
		return 0, err
	}
	var apps []struct {
		Name      string `json:"name"`
		Instances []struct {
			HTTP *struct {
				Count uint64 `json:"count"`
			} `json:"http"`
		} `json:"instances"`
	}
	if err := json.Unmarshal(out, &apps); err != nil {
		return 0, fmt.Errorf("tend ls --json: %w", err)
	}
	var n uint64
	for _, a := range apps {
		for _, in := range a.Instances {
			if a.Name == "web" && in.HTTP != nil {
				n += in.HTTP.Count
			}
		}
	}
	return n, nil
}

// cpuTicks is the CPU time pid has used, user and system, in USER_HZ ticks.
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, field 2, is in parentheses and may hold spaces;
	// utime and stime are fields 14 and 15, the 12th and 13th after it.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields after the name", pid, len(f))
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: utime %q, stime %q", pid, f[11], f[12])
	}
	return utime + stime, nil
}

// cpuPercent is ticks of CPU time over a wall time, as a percentage of one
// core.
func cpuPercent(ticks int64, wall time.Duration) float64 {
	return float64(ticks) / userHZ / wall.Seconds() * 100
}

// sampledInstances counts the instances for which tend ls --json shows a
// memory figure: evidence that the sampler ran over all of them.
func sampledInstances(ctx context.Context, t *tend) (int, error) {
	out, err := t.run(ctx, nil, "ls", "--json")
	if err != nil {
		return 0, err
	}
	var apps []struct {
		Instances []struct {
			MemoryBytes uint64 `json:"memory_bytes"`
		} `json:"instances"`
	}
	if err := json.Unmarshal(out, &apps); err != nil {
		return 0, fmt.Errorf("tend ls --json: %w", err)
	}
	n := 0
	for _, a := range apps {
		for _, in := range a.Instances {
			if in.MemoryBytes > 0 {
				n++
			}
		}
	}
	return n, nil
}
