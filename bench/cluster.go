package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

const (
	clusterInstances = 2
	reloads          = 3
	// reloadPause separates reloads, as separate deploys would be, and
	// surrounds them, so the load runs before, during and after.
	reloadPause = time.Second
	// reloadLoadMax bounds the load of the reload figure; stop ends it as
	// soon as the reloads are done.
	reloadLoadMax = 3 * time.Minute
	stopGrace     = 5 * time.Second
)

// system is one way of serving the Express fixture that the cluster figures
// compare.
type system struct {
	name string
	port int
	m    manager // reloads it; nil for bare node and nginx
	app  string  // its name under m
	// pids are the processes of the proxy in front of the app, whose CPU
	// per request is measured: tend's daemon, nginx's master and
	// workers; nil for the others.
	pids func() ([]int, error)
}

// Names of the systems, as the tables show them.
const (
	sysBare   = "bare node"
	sysProxy  = "tend proxy"
	sysSocket = "tend socket"
	sysNginx  = "nginx"
	sysPM2    = "PM2 cluster"
)

// clusterSection serves the Express fixture five ways and loads each with
// wrk in turn: one bare node process, and two instances behind tend's edge,
// on a socket tend hands them, behind nginx, and in PM2's cluster mode.
// Then it counts the requests that fail while tend and PM2 reload.
func (b *bench) clusterSection(ctx context.Context) (res result, err error) {
	if b.wrk == "" {
		logf("cluster: skipped, wrk is missing (%s)", installHint)
		var r result
		r.add(skipped("cluster: every figure", "wrk"))
		return r, nil
	}
	var children []*child
	defer func() {
		for _, c := range children {
			if serr := c.stop(stopGrace); serr != nil {
				logf("cluster: %v", serr)
			}
		}
	}()
	spawnNode := func(port int) (*child, error) {
		c, err := spawn("node", b.root, append(slices.Clone(b.env), "PORT="+strconv.Itoa(port)), b.node, expressScript)
		if err != nil {
			return nil, err
		}
		children = append(children, c)
		if _, _, err := waitServing(ctx, port, func(int) bool { return true }, c.exited); err != nil {
			return nil, fmt.Errorf("bare node on %d: %w: %s", port, err, c.output())
		}
		return c, nil
	}

	var systems []*system
	port, err := freePort()
	if err != nil {
		return result{}, err
	}
	logf("cluster: bare node on 127.0.0.1:%d", port)
	if _, err := spawnNode(port); err != nil {
		return result{}, err
	}
	systems = append(systems, &system{name: sysBare, port: port})

	for _, s := range []struct{ name, app, mode string }{{sysProxy, "web-proxy", "proxy"}, {sysSocket, "web-socket", "socket"}} {
		port, err := freePort()
		if err != nil {
			return result{}, err
		}
		logf("cluster: %s on 127.0.0.1:%d", s.name, port)
		if err := b.tend.start(ctx, app{name: s.app, script: expressScript, port: port, instances: clusterInstances, mode: s.mode}); err != nil {
			return result{}, err
		}
		sys := &system{name: s.name, port: port, m: b.tend, app: s.app}
		if s.mode == "proxy" {
			pid, err := b.tend.daemonPID(ctx)
			if err != nil {
				return result{}, err
			}
			sys.pids = func() ([]int, error) { return []int{pid}, nil }
		}
		systems = append(systems, sys)
	}

	if b.nginx != "" {
		var upstreams []int
		for range clusterInstances {
			p, err := freePort()
			if err != nil {
				return result{}, err
			}
			if _, err := spawnNode(p); err != nil {
				return result{}, err
			}
			upstreams = append(upstreams, p)
		}
		port, err := freePort()
		if err != nil {
			return result{}, err
		}
		logf("cluster: nginx on 127.0.0.1:%d over %v", port, upstreams)
		c, err := startNginx(ctx, b.nginx, filepath.Join(b.tmp, "nginx"), b.env, port, upstreams)
		if err != nil {
			return result{}, err
		}
		children = append(children, c)
		if _, _, err := waitServing(ctx, port, func(int) bool { return true }, c.exited); err != nil {
			return result{}, fmt.Errorf("nginx: %w: %s", err, c.output())
		}
		systems = append(systems, &system{name: sysNginx, port: port, pids: withChildren(c.cmd.Process.Pid)})
	} else {
		logf("cluster: nginx skipped, it is missing (%s)", installHint)
	}

	if b.pm2 != nil {
		port, err := freePort()
		if err != nil {
			return result{}, err
		}
		logf("cluster: %s on 127.0.0.1:%d", sysPM2, port)
		if err := b.pm2.start(ctx, app{name: "web", script: expressScript, port: port, instances: clusterInstances}); err != nil {
			return result{}, err
		}
		systems = append(systems, &system{name: sysPM2, port: port, m: b.pm2, app: "web"})
	}

	for _, s := range systems {
		if s.m != nil {
			if err := waitOnline(ctx, s.m, map[string]int{s.app: clusterInstances}, onlineTimeout); err != nil {
				return result{}, err
			}
			if _, _, err := waitServing(ctx, s.port, func(int) bool { return true }, nil); err != nil {
				return result{}, fmt.Errorf("%s: %w", s.name, err)
			}
		}
	}

	logf("cluster: wrk -t%d -c%d, %d runs of %s per system, interleaved", wrkThreads, wrkConns, b.o.loadRuns, b.o.duration)
	load := map[string][]wrkResult{}
	err = b.interleave(len(systems), func(round, i int, d time.Duration) error {
		s := systems[i]
		r, err := withCPU(s.pids, func() (wrkResult, error) { return runWrk(ctx, b.wrk, url(s.port), b.env, d) })
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		logf("cluster run %d, %s: %s", round, s.name, r)
		if round > 0 {
			load[s.name] = append(load[s.name], r)
		}
		return nil
	})
	if err != nil {
		return result{}, err
	}

	reload := map[string]reloadResult{}
	for _, s := range systems {
		if s.m == nil {
			continue
		}
		logf("cluster: %s: wrk during %d reloads", s.name, reloads)
		rr, err := b.reloadUnderLoad(ctx, s)
		if err != nil {
			return result{}, fmt.Errorf("%s: %w", s.name, err)
		}
		logf("cluster reloads, %s: %s; reload error: %v", s.name, rr.load, rr.err)
		reload[s.name] = rr
	}

	for _, s := range systems {
		if s.m != nil {
			if err := s.m.remove(ctx, s.app); err != nil {
				return result{}, err
			}
		}
	}
	return clusterResult(systems, load, reload), nil
}

func url(port int) string { return fmt.Sprintf("http://127.0.0.1:%d/", port) }

// reloadResult is the load seen during the reloads of one system; err is
// the first reload that failed, which is a finding, not a benchmark error.
type reloadResult struct {
	load wrkResult
	err  error
}

// reloadUnderLoad runs wrk against s while reloading it three times through
// its manager's CLI. A reload command may return before the instances it
// replaced have exited (tend stops them in the background: signal, then
// SIGKILL after kill_timeout), and what happens to their connections then
// is part of the figure; so the load goes on until every process that served
// before or between the reloads is gone, and a pause more.
func (b *bench) reloadUnderLoad(ctx context.Context, s *system) (reloadResult, error) {
	w, err := startWrk(ctx, b.wrk, url(s.port), b.env, reloadLoadMax)
	if err != nil {
		return reloadResult{}, err
	}
	stopped := false
	defer func() {
		if !stopped {
			w.stop()
		}
	}()
	var old []int
	var rerr error
	for i := range reloads {
		if err := sleep(ctx, reloadPause); err != nil {
			return reloadResult{}, err
		}
		pids, err := appPIDs(ctx, s.m, s.app)
		if err != nil {
			return reloadResult{}, err
		}
		old = append(old, pids...)
		start := time.Now()
		if err := s.m.reload(ctx, s.app); err != nil {
			rerr = fmt.Errorf("reload %d: %w", i+1, err)
			break
		}
		logf("cluster: %s: reload %d took %s", s.name, i+1, time.Since(start).Round(time.Millisecond))
	}
	start := time.Now()
	if err := waitGone(ctx, old, oldExitTimeout); err != nil {
		logf("cluster: %s: %v", s.name, err)
	}
	logf("cluster: %s: the replaced processes were gone %s after the last reload returned", s.name, time.Since(start).Round(time.Millisecond))
	if err := sleep(ctx, reloadPause); err != nil {
		return reloadResult{}, err
	}
	stopped = true
	r, err := w.stop()
	if err != nil {
		return reloadResult{}, err
	}
	if rerr == nil {
		// The next figure must not see the end of this one.
		rerr = waitOnline(ctx, s.m, map[string]int{s.app: clusterInstances}, onlineTimeout)
	}
	return reloadResult{load: r, err: rerr}, nil
}

// oldExitTimeout bounds the wait for replaced instances to exit: two
// kill_timeouts (drain, then signal to SIGKILL) are 3.2 s by default.
const oldExitTimeout = 30 * time.Second

// appPIDs lists the pids of name's running instances.
func appPIDs(ctx context.Context, m manager, name string) ([]int, error) {
	ins, err := m.list(ctx)
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, in := range ins {
		if in.app == name && in.pid > 0 {
			pids = append(pids, in.pid)
		}
	}
	return pids, nil
}

// waitGone waits until none of pids is a live process (a zombie counts as
// gone: it no longer holds a connection).
func waitGone(ctx context.Context, pids []int, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		left := slices.DeleteFunc(slices.Clone(pids), func(pid int) bool { return !alive(pid) })
		if len(left) == 0 {
			return nil
		}
		if err := sleep(ctx, 10*time.Millisecond); err != nil {
			return fmt.Errorf("replaced processes %v still running after %s", left, timeout)
		}
	}
}

func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] != 'Z'
}

// clusterResult renders the cluster's own table and its summary rows.
func clusterResult(systems []*system, load map[string][]wrkResult, reload map[string]reloadResult) result {
	rps, p99s, cpus := loadSamples("cluster", load)

	failedCell := func(name string) string {
		rr, ok := reload[name]
		switch {
		case !ok:
			return "–"
		case rr.err != nil:
			return fmt.Sprintf("%s of %s; %v", thousands(int64(rr.load.failed())), thousands(int64(rr.load.requests)), rr.err)
		default:
			return fmt.Sprintf("%s of %s", thousands(int64(rr.load.failed())), thousands(int64(rr.load.requests)))
		}
	}
	rows := [][]string{{"system (Express fixture)", "requests/s, median", "p99, median", fmt.Sprintf("failed during %d reloads", reloads)}}
	for _, s := range systems {
		what := fmt.Sprintf("%s, %d instances", s.name, clusterInstances)
		if s.name == sysBare {
			what = "bare node, 1 process"
		}
		rows = append(rows, []string{what, perSec(stat(rps, s.name, median)), ms1(stat(p99s, s.name, median)), failedCell(s.name)})
	}
	var r result
	r.detail = fmt.Sprintf("wrk -t%d -c%d --latency, median of the runs; failed = socket errors (connect, read, write, timeout) + responses ≥ 400.\n\n", wrkThreads, wrkConns) + table(rows)

	base := func(name string, v float64, f func(float64) string) string {
		if len(load[name]) == 0 {
			return "–"
		}
		return f(v) + " (" + name + ")"
	}
	pxR, skR, pmR := stat(rps, sysProxy, median), stat(rps, sysSocket, median), stat(rps, sysPM2, median)
	r.add(row{"cluster, 2 instances, 32 conns: requests/s, proxy mode", perSec(pxR), perSec(pmR), base(sysNginx, stat(rps, sysNginx, median), perSec), higher(pxR, pmR), "", ""})
	pxP, pmP := stat(p99s, sysProxy, median), stat(p99s, sysPM2, median)
	r.add(row{"cluster: p99, proxy mode", ms1(pxP), ms1(pmP), base(sysNginx, stat(p99s, sysNginx, median), ms1), lower(pxP, pmP), "", ""})
	r.add(row{"cluster: requests/s, socket mode", perSec(skR), perSec(pmR), base(sysBare, stat(rps, sysBare, median), perSec), higher(skR, pmR), "", ""})
	skP := stat(p99s, sysSocket, median)
	r.add(row{"cluster: p99, socket mode", ms1(skP), ms1(pmP), base(sysBare, stat(p99s, sysBare, median), ms1), lower(skP, pmP), "", ""})
	if len(rps[sysNginx]) > 0 {
		v := pairedRatio(rps[sysProxy], rps[sysNginx])
		r.add(row{"cluster: proxy ÷ nginx requests/s, paired median", times(v), "–", "–", "–", "≥ 1.0×", met(v >= 1.0)})
	} else {
		r.add(skipped("cluster: proxy ÷ nginx requests/s", "nginx"))
	}
	if len(cpus[sysNginx]) > 0 && len(cpus[sysProxy]) > 0 {
		r.add(row{"cluster: proxy's CPU per request (tend's daemon; nginx's workers), median", us(stat(cpus, sysProxy, median)), "–", us(stat(cpus, sysNginx, median)) + " (nginx)", "–", "", ""})
		v := pairedRatio(cpus[sysProxy], cpus[sysNginx])
		r.add(row{"cluster: proxy's CPU per request, tend ÷ nginx, paired median", times(v), "–", "–", "–", "", ""})
	}
	if len(rps[sysPM2]) > 0 {
		v := pairedRatio(rps[sysSocket], rps[sysPM2])
		r.add(row{"cluster: socket ÷ PM2 cluster requests/s, paired median", times(v), "–", "–", "–", "≥ 1.0×", met(v >= 1.0)})
	}
	for _, mode := range []struct{ figure, name string }{{"proxy", sysProxy}, {"socket", sysSocket}} {
		rr, ok := reload[mode.name]
		if !ok {
			continue
		}
		pm2Cell := "–"
		if mode.name == sysProxy {
			pm2Cell = failedCell(sysPM2)
		}
		r.add(row{fmt.Sprintf("cluster: failed requests during %d reloads, %s mode", reloads, mode.figure), failedCell(mode.name), pm2Cell, "–", "–", "0", met(rr.err == nil && rr.load.failed() == 0)})
	}
	return r
}
