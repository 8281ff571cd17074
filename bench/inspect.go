package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

const (
	heapScript = "testdata/node/heap-hog.js"
	// heapMB is the heap the snapshotted instance holds.
	heapMB = 200
	// heapTimeout bounds the wait for that heap to be filled, and the
	// snapshot.
	heapTimeout = 2 * time.Minute
)

// inspectSection measures what looking inside a Node app costs: the
// runtime metrics preload's cost in throughput, and a heap snapshot of a
// big heap (its time, the daemon's peak memory, and whether the other
// instance served meanwhile).
func (b *bench) inspectSection(ctx context.Context) (result, error) {
	home := filepath.Join(b.tmp, "tend-inspect")
	if err := os.MkdirAll(home, 0o700); err != nil {
		return result{}, err
	}
	t := newTend(b.tendBin, b.root, home, b.env)
	defer shutdown(ctx, t)
	var r result
	if b.wrk == "" {
		logf("inspect: runtime metrics cost skipped, wrk is missing (%s)", installHint)
		r.add(skipped("inspect: runtime metrics, requests/s on ÷ off", "wrk"))
		return r, nil
	}
	// The snapshot first: its figure is the daemon's peak RSS, which the
	// proxy's buffers under the runtime-cost load would otherwise set.
	if err := b.heapSnapshot(ctx, t, &r); err != nil {
		return result{}, err
	}
	if err := b.runtimeCost(ctx, t, &r); err != nil {
		return result{}, err
	}
	return r, nil
}

// runtimeCost serves the Express fixture twice, 2 instances each behind
// the edge, one with the runtime preload reporting and one with it off
// (TEND_NODE_RUNTIME=0), and loads them in turn with wrk.
func (b *bench) runtimeCost(ctx context.Context, t *tend, r *result) error {
	ports := map[string]int{}
	for _, state := range []string{"on", "off"} {
		port, err := freePort()
		if err != nil {
			return err
		}
		ports[state] = port
		env := []string{}
		if state == "off" {
			env = []string{"TEND_NODE_RUNTIME=0"}
		}
		if err := startProxied(ctx, t, "rt-"+state, expressScript, port, env); err != nil {
			return err
		}
	}
	if err := waitOnline(ctx, t, map[string]int{"rt-on": clusterInstances, "rt-off": clusterInstances}, onlineTimeout); err != nil {
		return err
	}
	for _, port := range ports {
		if _, _, err := waitServing(ctx, port, func(int) bool { return true }, nil); err != nil {
			return err
		}
	}
	logf("inspect: runtime metrics on (:%d) and off (:%d), wrk %d runs of %s each", ports["on"], ports["off"], b.o.loadRuns, b.o.duration)
	states := []string{"on", "off"}
	rps := map[string][]float64{}
	err := b.interleave(len(states), func(round, i int, d time.Duration) error {
		state := states[i]
		w, err := runWrk(ctx, b.wrk, url(ports[state]), b.env, d)
		if err != nil {
			return err
		}
		logf("inspect: run %d, runtime metrics %s: %s", round, state, w)
		if round > 0 {
			rps[state] = append(rps[state], w.rps)
		}
		return nil
	})
	if err != nil {
		return err
	}
	logSamples("inspect: requests/s, runtime metrics", rps)
	on, off := stat(rps, "on", median), stat(rps, "off", median)
	r.add(row{"inspect: Express, 2 instances behind the edge, runtime metrics on (1 s)", cell(on, "%.0f req/s"), "–", cell(off, "%.0f req/s") + " (off)", "–", "", ""})
	ratio := pairedRatio(rps["on"], rps["off"])
	r.add(row{"inspect: requests/s on ÷ off, paired median", times(ratio), "–", "–", "–", "≥ 0.98×", met(ratio >= 0.98)})
	for _, state := range states {
		if _, err := t.run(ctx, nil, "delete", "rt-"+state); err != nil {
			return err
		}
	}
	return nil
}

// heapSnapshot starts 2 instances of the heap fixture, one of which fills
// its heap with heapMB MiB, and takes its heap snapshot with tend profile
// heap while wrk loads the other instance directly. It measures the
// snapshot's wall time, the daemon's peak RSS over it (VmHWM, reset before
// where the kernel allows) and the requests the other instance failed.
func (b *bench) heapSnapshot(ctx context.Context, t *tend, r *result) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	claim := filepath.Join(b.tmp, "heap-claim")
	if err := os.WriteFile(claim, nil, 0o600); err != nil {
		return err
	}
	if err := startProxied(ctx, t, "heap", heapScript, port, []string{"HOG_FILE=" + claim, "HOG_MB=" + strconv.Itoa(heapMB)}); err != nil {
		return err
	}
	if err := waitOnline(ctx, t, map[string]int{"heap": clusterInstances}, onlineTimeout); err != nil {
		return err
	}
	// Which instance holds the heap: the runtime figures say.
	big, other, heap := -1, -1, 0.0
	deadline := time.Now().Add(heapTimeout)
	for big < 0 {
		out, err := t.run(ctx, nil, "ls", "--json")
		if err != nil {
			return err
		}
		var apps []struct {
			Name      string `json:"name"`
			Instances []struct {
				Index int                `json:"index"`
				Node  map[string]float64 `json:"node"`
			} `json:"instances"`
		}
		if err := json.Unmarshal(out, &apps); err != nil {
			return fmt.Errorf("tend ls --json: %w", err)
		}
		for _, ap := range apps {
			for _, in := range ap.Instances {
				if ap.Name == "heap" && in.Node["heap_used_bytes"] >= heapMB*(1<<20)*0.9 {
					big, other, heap = in.Index, 1-in.Index, in.Node["heap_used_bytes"]
				}
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("inspect: no instance of heap reported a %d MiB heap within %s", heapMB, heapTimeout)
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
	otherPort, err := instancePort(ctx, t, "heap", other)
	if err != nil {
		return err
	}
	pid, err := t.daemonPID(ctx)
	if err != nil {
		return err
	}
	// Writing 5 to clear_refs resets VmHWM to the current RSS (Linux 4.0+).
	reset := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
	hwmBefore, _ := vmHWM(pid)
	logf("inspect: instance %d holds %.0f MiB of heap; snapshot it while wrk loads instance %d on :%d; daemon VmHWM %.1f MiB before (reset: %v)",
		big, heap/(1<<20), other, otherPort, hwmBefore, reset)

	w, err := startWrk(ctx, b.wrk, url(otherPort), b.env, heapTimeout)
	if err != nil {
		return err
	}
	file := filepath.Join(b.tmp, "heap.heapsnapshot")
	start := time.Now()
	_, perr := t.run(ctx, nil, "profile", "heap", "heap", "--instance", strconv.Itoa(big), "-o", file)
	wall := time.Since(start)
	wr, werr := w.stop()
	if perr != nil {
		return fmt.Errorf("inspect: tend profile heap: %w", perr)
	}
	if werr != nil {
		return werr
	}
	hwm, err := vmHWM(pid)
	if err != nil {
		return err
	}
	st, _ := os.Stat(file)
	size := 0.0
	if st != nil {
		size = float64(st.Size()) / (1 << 20)
	}
	logf("inspect: snapshot of %.0f MiB in %s (file %.1f MiB); daemon VmHWM %.1f MiB; other instance: %s", heap/(1<<20), wall.Round(time.Millisecond), size, hwm, wr)
	hwmNote := ""
	if reset != nil {
		hwmNote = " (peak of the daemon's life: VmHWM could not be reset)"
	}
	r.add(row{fmt.Sprintf("inspect: heap snapshot of a %d MiB heap (%.0f MiB file), wall time", heapMB, size), cell(wall.Seconds(), "%.1f s"), "–", "–", "–", "", ""})
	r.add(row{"inspect: daemon peak RSS (VmHWM) over the snapshot" + hwmNote, mib(hwm), "–", "–", "–", "≤ 30 MiB", met(hwm <= 30)})
	r.add(row{"inspect: requests failed by the other instance meanwhile", fmt.Sprintf("%d of %d", wr.failed(), wr.requests), "–", "–", "–", "0", met(wr.failed() == 0)})
	_, err = t.run(ctx, nil, "delete", "heap")
	return err
}

// startProxied starts clusterInstances of script behind tend's edge on
// port, with a listen_timeout long enough for a machine that other jobs
// load (Express can take more than the default 3 s to start there).
func startProxied(ctx context.Context, t *tend, name, script string, port int, env []string) error {
	args := []string{"start", script, "--name", name, "--port", strconv.Itoa(port), "-i", strconv.Itoa(clusterInstances), "--listen-timeout", "60s"}
	for _, kv := range env {
		args = append(args, "--env", kv)
	}
	_, err := t.run(ctx, nil, args...)
	return err
}

// instancePort is the private port (PORT) of instance index of app.
func instancePort(ctx context.Context, t *tend, app string, index int) (int, error) {
	out, err := t.run(ctx, nil, "env", app, "--json")
	if err != nil {
		return 0, err
	}
	var envs []struct {
		Instances []struct {
			Index int               `json:"index"`
			Env   map[string]string `json:"env"`
		} `json:"instances"`
	}
	if err := json.Unmarshal(out, &envs); err != nil {
		return 0, fmt.Errorf("tend env --json: %w", err)
	}
	for _, e := range envs {
		for _, in := range e.Instances {
			if in.Index == index {
				return strconv.Atoi(in.Env["PORT"])
			}
		}
	}
	return 0, fmt.Errorf("tend env %s: no instance %d", app, index)
}

// vmHWM is the peak resident memory of pid, in MiB.
func vmHWM(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/%d/status: VmHWM %q", pid, v)
			}
			return kb / 1024, nil
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no VmHWM", pid)
}
