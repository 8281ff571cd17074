package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"
)

const (
	expressScript = "testdata/node/express-app.js"

	// settle is how long an app must have been serving before the crash
	// figure crashes it again. Both managers count an exit within min_uptime
	// (1 s by default) as unstable and stop restarting after max_restarts of
	// those; waiting it out measures the ordinary restart of a stable app,
	// the one production sees, without touching PM2's defaults.
	settle = 1500 * time.Millisecond
)

// crashSection times crash to serving under each manager against a bare
// start of node.
func (b *bench) crashSection(ctx context.Context) (result, error) {
	ms := b.managers()
	crash, err := measureCrash(ctx, ms, b.node, b.root, b.env, b.o.runs)
	if err != nil {
		return result{}, err
	}
	logSamples("crash to serving", crash)
	for _, m := range ms {
		if err := m.deleteAll(ctx); err != nil {
			return result{}, err
		}
	}

	var r result
	cT, cP, cB := stat(crash, "tend", median), stat(crash, "PM2", median), stat(crash, "bare", median)
	r.add(row{"crash to serving: median", ms1(cT), ms1(cP), ms1(cB), lower(cT, cP), "", ""})
	pT, pP, pB := stat(crash, "tend", p90), stat(crash, "PM2", p90), stat(crash, "bare", p90)
	r.add(row{"crash to serving: p90", ms1(pT), ms1(pP), ms1(pB), lower(pT, pP), "", ""})
	// No ratio: both are small differences of noisy measurements.
	oT, oP := overhead(crash, "tend"), overhead(crash, "PM2")
	r.add(row{"restart overhead over bare start: median", ms1(oT), ms1(oP), "–", "–", "≤ 30 ms", met(oT <= 30)})
	return r, nil
}

// target is one thing the crash figure measures: the Express fixture under a
// manager, or (m nil) the fixture started by hand as the baseline.
type target struct {
	name  string
	m     manager
	port  int
	pid   int       // the process serving now
	since time.Time // when pid was first seen serving
}

// measureCrash times, under each manager, how long from sending GET /crash
// until GET / answers 200 from a new process; and, as the floor any manager
// adds to, how long from spawning node by hand until its first 200. Runs
// are interleaved, rotating who goes first. Samples are in milliseconds.
func measureCrash(ctx context.Context, ms []manager, node, root string, env []string, runs int) (map[string][]float64, error) {
	var targets []*target
	for _, m := range ms {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		logf("%s: starting the Express fixture on 127.0.0.1:%d", m.name(), port)
		if err := m.start(ctx, app{name: "express", script: expressScript, port: port}); err != nil {
			return nil, err
		}
		if err := waitOnline(ctx, m, map[string]int{"express": 1}, onlineTimeout); err != nil {
			return nil, err
		}
		pid, at, err := waitServing(ctx, port, func(int) bool { return true }, nil)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m.name(), err)
		}
		targets = append(targets, &target{name: m.name(), m: m, port: port, pid: pid, since: at})
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	targets = append(targets, &target{name: "bare", port: port})

	logf("crash to serving: %d runs each", runs)
	samples := map[string][]float64{}
	// Run -1 is a warm-up, not kept: the first restart after a start is
	// slower for all three (page cache, a cold daemon code path).
	for i := -1; i < runs; i++ {
		for j := range targets {
			t := targets[(max(i, 0)+j)%len(targets)]
			var d time.Duration
			var err error
			if t.m == nil {
				d, err = bareStart(ctx, node, root, env, t.port)
			} else {
				if err := sleep(ctx, time.Until(t.since.Add(settle))); err != nil {
					return nil, err
				}
				d, err = crashToServing(ctx, t)
			}
			if err != nil {
				which := "warm-up run"
				if i >= 0 {
					which = fmt.Sprintf("run %d", i+1)
				}
				return nil, fmt.Errorf("%s: %s: %w", t.name, which, err)
			}
			if i >= 0 {
				samples[t.name] = append(samples[t.name], millis(d))
			}
		}
	}
	return samples, nil
}

func crashToServing(ctx context.Context, t *target) (time.Duration, error) {
	start := time.Now()
	if _, err := get(ctx, fmt.Sprintf("http://127.0.0.1:%d/crash", t.port), time.Second); err != nil {
		return 0, fmt.Errorf("GET /crash: %w", err)
	}
	old := t.pid
	pid, at, err := waitServing(ctx, t.port, func(pid int) bool { return pid != old }, nil)
	if err != nil {
		return 0, fmt.Errorf("after /crash of pid %d: %w", old, err)
	}
	t.pid, t.since = pid, at
	return at.Sub(start), nil
}

// bareStart spawns the fixture with node directly and times it until its
// first 200, then kills it.
func bareStart(ctx context.Context, node, root string, env []string, port int) (time.Duration, error) {
	start := time.Now()
	c, err := spawn("node", root, append(slices.Clone(env), "PORT="+strconv.Itoa(port)), node, expressScript)
	if err != nil {
		return 0, err
	}
	defer c.stop(0)
	want := c.cmd.Process.Pid
	_, at, err := waitServing(ctx, port, func(pid int) bool { return pid == want }, c.exited)
	if err != nil {
		select {
		case <-c.exited:
			return 0, fmt.Errorf("node exited before serving: %s", c.output())
		default:
			return 0, err
		}
	}
	return at.Sub(start), nil
}
