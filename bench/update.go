package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

const (
	// updateBefore is the load measured before each update, and
	// updateLoad the load around it, which begins updateLead before the
	// update: the hand-over falls inside it whatever its length.
	updateBefore = 3 * time.Second
	updateLoad   = 4 * time.Second
	updateLead   = time.Second
)

// updateSection measures `tend update` under load, on the Express fixture
// with two instances behind tend's edge: the time from the command to the
// new daemon serving the control API (as the command reports it, once the
// new program answers ping with the apps adopted), the requests that fail
// while the daemon hands over (wrk's socket errors and statuses ≥ 400),
// and wrk's p99 in a run around the hand-over against one before it.
func (b *bench) updateSection(ctx context.Context) (result, error) {
	var r result
	if b.wrk == "" {
		logf("update: skipped, wrk is missing (%s)", installHint)
		r.add(skipped("update: every figure", "wrk"))
		return r, nil
	}
	port, err := freePort()
	if err != nil {
		return r, err
	}
	const name = "web-update"
	if err := b.tend.start(ctx, app{name: name, script: expressScript, port: port, instances: clusterInstances, mode: "proxy"}); err != nil {
		return r, err
	}
	defer func() {
		if err := b.tend.remove(ctx, name); err != nil {
			logf("update: %v", err)
		}
	}()
	if err := waitOnline(ctx, b.tend, map[string]int{name: clusterInstances}, onlineTimeout); err != nil {
		return r, err
	}
	if _, _, err := waitServing(ctx, port, func(int) bool { return true }, nil); err != nil {
		return r, err
	}
	before, _ := appPIDs(ctx, b.tend, name)
	var took, p99Before, p99During []float64
	failed, requests := 0, 0
	for i := range b.o.loadRuns {
		base, err := runWrk(ctx, b.wrk, url(port), b.env, updateBefore)
		if err != nil {
			return r, err
		}
		w, err := startWrk(ctx, b.wrk, url(port), b.env, updateLoad)
		if err != nil {
			return r, err
		}
		if err := sleep(ctx, updateLead); err != nil {
			w.stop()
			return r, err
		}
		out, err := b.tend.run(ctx, nil, "update", "--json")
		if err != nil {
			w.stop()
			return r, err
		}
		var u struct {
			TookMS float64 `json:"took_ms"`
		}
		if err := json.Unmarshal(out, &u); err != nil {
			w.stop()
			return r, fmt.Errorf("tend update --json: %w: %s", err, out)
		}
		during, err := w.wait()
		if err != nil {
			return r, err
		}
		logf("update %d: %.0f ms; before: %s; around it: %s", i+1, u.TookMS, base, during)
		took = append(took, u.TookMS)
		p99Before = append(p99Before, base.p99)
		p99During = append(p99During, during.p99)
		failed += during.failed()
		requests += during.requests
	}
	after, _ := appPIDs(ctx, b.tend, name)
	kept := fmt.Sprint(before) == fmt.Sprint(after)
	rows := [][]string{
		{"tend update, Express fixture, 2 instances, proxy mode", "median", "max"},
		{"time to the new daemon serving the API", ms1(median(took)), ms1(maxOf(took))},
		{fmt.Sprintf("p99, %s of load before", updateBefore), ms1(median(p99Before)), ms1(maxOf(p99Before))},
		{fmt.Sprintf("p99, %s of load around the hand-over", updateLoad), ms1(median(p99During)), ms1(maxOf(p99During))},
	}
	r.detail = fmt.Sprintf("%d updates under wrk -t%d -c%d; the hand-over starts %s into a %s run. App pids the same after every update: %v.\n\n",
		b.o.loadRuns, wrkThreads, wrkConns, updateLead, updateLoad, kept) + table(rows)
	r.add(row{"update: time to the new daemon serving the API, median", ms1(median(took)), "–", "–", "–", "", ""})
	r.add(row{fmt.Sprintf("update: failed requests during %d updates", b.o.loadRuns), fmt.Sprintf("%s of %s", thousands(int64(failed)), thousands(int64(requests))), "–", "–", "–", "0", met(failed == 0 && kept)})
	r.add(row{"update: p99 around the hand-over ÷ p99 before, median", times(median(p99During) / median(p99Before)), "–", "–", "–", "", ""})
	return r, nil
}

func maxOf(xs []float64) float64 {
	m := 0.0
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}
