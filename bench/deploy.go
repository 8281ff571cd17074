package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	deployApp   = "web-deploy"
	deployConns = 8
)

// deploySection measures a deploy of the release fixture
// (testdata/release/web: Express, 2 instances behind tend's edge) end to
// end: `tend deploy DIR` packs it (npm ci --omit=dev), sends it to the
// daemon, which verifies, unpacks and reloads from it. Its wall time and
// the requests that fail meanwhile are set against what `pm2 deploy` does
// on the host in the same rounds: git fetch and checkout in a clone, npm ci
// --omit=dev, and a reload (PM2's, or tend's with -skip-pm2).
func (b *bench) deploySection(ctx context.Context) (result, error) {
	var r result
	dir := filepath.Join(b.tmp, "deploy")
	work, source, bare := filepath.Join(dir, "web"), filepath.Join(dir, "source"), filepath.Join(dir, "origin.git")
	port, err := freePort()
	if err != nil {
		return r, err
	}
	basePort, err := freePort()
	if err != nil {
		return r, err
	}
	sh := func(dir string, argv ...string) error {
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Dir, cmd.Env = dir, append(b.env, "GIT_AUTHOR_NAME=bench", "GIT_AUTHOR_EMAIL=bench@example.com", "GIT_COMMITTER_NAME=bench", "GIT_COMMITTER_EMAIL=bench@example.com")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, lastLine(string(out)))
		}
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return r, err
	}
	if err := sh(dir, "cp", "-r", filepath.Join(b.root, "testdata", "release", "web"), work); err != nil {
		return r, err
	}
	eco := fmt.Sprintf("apps:\n  - name: %s\n    script: app.js\n    instances: %d\n    port: %d\n    listen_timeout: 15s\n", deployApp, clusterInstances, port)
	if err := os.WriteFile(filepath.Join(work, "tend.yaml"), []byte(eco), 0o644); err != nil {
		return r, err
	}
	version := func(v string) error { return setPackageVersion(filepath.Join(work, "package.json"), v) }
	for _, step := range [][]string{{"git", "init", "-q", "-b", "main"}, {"git", "add", "-A"}, {"git", "commit", "-qm", "v0"},
		{"git", "init", "-q", "--bare", "-b", "main", bare}, {"git", "push", "-q", bare, "main"}, {"git", "clone", "-q", bare, source}} {
		if err := sh(work, step...); err != nil {
			return r, err
		}
	}
	if err := sh(source, "npm", "ci", "--omit=dev", "--no-audit", "--no-fund", "--prefer-offline"); err != nil {
		return r, err
	}

	// tend: the first deploy defines and starts the app.
	if _, err := b.tend.run(ctx, nil, "deploy", work); err != nil {
		return r, err
	}
	defer func() {
		if err := b.tend.remove(ctx, deployApp); err != nil {
			logf("deploy: %v", err)
		}
	}()
	if _, _, err := waitServing(ctx, port, func(int) bool { return true }, nil); err != nil {
		return r, err
	}
	// The baseline: the clone, run by PM2 in cluster mode (or by tend).
	var baseline manager = b.tend
	if b.pm2 != nil {
		baseline = b.pm2
	}
	const baseApp = "web-git"
	if err := baseline.start(ctx, app{name: baseApp, script: filepath.Join(source, "app.js"), port: basePort, instances: clusterInstances, mode: "proxy"}); err != nil {
		return r, err
	}
	defer func() {
		if err := baseline.remove(ctx, baseApp); err != nil {
			logf("deploy: %v", err)
		}
	}()
	if _, _, err := waitServing(ctx, basePort, func(int) bool { return true }, nil); err != nil {
		return r, err
	}

	var tendTook, baseTook []float64
	var tendLoad, baseLoad hammerCount
	for i := range b.o.loadRuns {
		v := fmt.Sprintf("1.0.%d", i+1)
		if err := version(v); err != nil {
			return r, err
		}
		if err := sh(work, "git", "commit", "-qam", v); err != nil {
			return r, err
		}
		if err := sh(work, "git", "push", "-q", bare, "main"); err != nil {
			return r, err
		}
		// tend deploy DIR.
		h := startHammer(ctx, fmt.Sprintf("http://127.0.0.1:%d/", port))
		t0 := time.Now()
		_, err := b.tend.run(ctx, nil, "deploy", work)
		took := time.Since(t0)
		c := h.stop()
		if err != nil {
			return r, err
		}
		tendTook = append(tendTook, millis(took))
		tendLoad.add(c)
		// What pm2 deploy runs on the host.
		h = startHammer(ctx, fmt.Sprintf("http://127.0.0.1:%d/", basePort))
		t0 = time.Now()
		err = sh(source, "git", "fetch", "-q", "origin")
		if err == nil {
			err = sh(source, "git", "checkout", "-q", "--force", "--detach", "origin/main")
		}
		if err == nil {
			err = sh(source, "npm", "ci", "--omit=dev", "--no-audit", "--no-fund", "--prefer-offline")
		}
		if err == nil {
			err = baseline.reload(ctx, baseApp)
		}
		baseT := time.Since(t0)
		bc := h.stop()
		if err != nil {
			return r, err
		}
		baseTook = append(baseTook, millis(baseT))
		baseLoad.add(bc)
		logf("deploy %d: tend %.1f s (%d of %d requests failed); git fetch + npm ci + %s reload %.1f s (%d of %d failed)",
			i+1, took.Seconds(), c.failed, c.ok+c.failed, baseline.name(), baseT.Seconds(), bc.failed, bc.ok+bc.failed)
	}
	secs := func(v float64) string { return cell(v/1000, "%.1f s") }
	rows := [][]string{
		{"deploy of the Express fixture, 2 instances", "wall time, median", "max", "failed requests"},
		{"tend deploy DIR (pack with npm ci, upload, verify, unpack, reload)", secs(median(tendTook)), secs(maxOf(tendTook)), fmt.Sprintf("%s of %s", thousands(tendLoad.failed), thousands(tendLoad.ok+tendLoad.failed))},
		{fmt.Sprintf("git fetch + checkout + npm ci + %s reload", baseline.name()), secs(median(baseTook)), secs(maxOf(baseTook)), fmt.Sprintf("%s of %s", thousands(baseLoad.failed), thousands(baseLoad.ok+baseLoad.failed))},
	}
	r.detail = fmt.Sprintf("%d deploys each, interleaved, under %d keep-alive clients sending POST / (never retried by the client).\n\n", b.o.loadRuns, deployConns) + table(rows)
	pm2Col, vs := "–", "–"
	if baseline != b.tend {
		pm2Col = secs(median(baseTook)) + " (git + npm ci + reload)"
		vs = times(median(tendTook) / median(baseTook))
	}
	r.add(row{"deploy: wall time, pack + upload + unpack + reload, median", secs(median(tendTook)), pm2Col, "–", vs, "", ""})
	r.add(row{fmt.Sprintf("deploy: failed requests during %d deploys", b.o.loadRuns), fmt.Sprintf("%s of %s", thousands(tendLoad.failed), thousands(tendLoad.ok+tendLoad.failed)),
		fmt.Sprintf("%s of %s", thousands(baseLoad.failed), thousands(baseLoad.ok+baseLoad.failed)), "–", "–", "0", met(tendLoad.failed == 0)})
	return r, nil
}

func setPackageVersion(path, v string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var pkg map[string]any
	if err := json.Unmarshal(b, &pkg); err != nil {
		return err
	}
	pkg["version"] = v
	b, err = json.MarshalIndent(pkg, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// hammerCount is what a hammer counted.
type hammerCount struct{ ok, failed int64 }

func (c *hammerCount) add(x hammerCount) { c.ok += x.ok; c.failed += x.failed }

// hammer sends POST requests from deployConns keep-alive clients until
// stopped (at most 10 minutes and 10 million requests), counting failures.
type hammer struct {
	ok, failed atomic.Int64
	cancel     context.CancelFunc
	wg         sync.WaitGroup
}

func startHammer(ctx context.Context, url string) *hammer {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	h := &hammer{cancel: cancel}
	for range deployConns {
		h.wg.Go(func() {
			c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
			defer c.CloseIdleConnections()
			for ctx.Err() == nil && h.ok.Load()+h.failed.Load() < 10_000_000 {
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
				resp, err := c.Do(req)
				if ctx.Err() != nil {
					return
				}
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode/100 != 2 {
						err = fmt.Errorf("status %s", resp.Status)
					}
				}
				if err != nil {
					h.failed.Add(1)
					continue
				}
				h.ok.Add(1)
			}
		})
	}
	return h
}

func (h *hammer) stop() hammerCount {
	h.cancel()
	h.wg.Wait()
	return hammerCount{h.ok.Load(), h.failed.Load()}
}
