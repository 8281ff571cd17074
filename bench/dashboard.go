package main

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/chromedp/chromedp"
)

const (
	// dashApps apps of dashInstances instances in all: the first render
	// shows the apps, the watching costs scale with the instances.
	dashApps      = 20
	dashInstances = 50
	dashRenders   = 10
	dashCPUWindow = 20 * time.Second
)

// dashboardSection runs 20 idle apps, 50 instances in all, under a daemon
// of its own and measures the web dashboard: the overview's weight (HTML
// and every asset it loads, gzipped as served), the time from navigation
// to the first render of the 20 apps in headless Chromium (median of 10),
// and the daemon's CPU and RSS with no dashboard, then with one overview
// open in the browser.
func (b *bench) dashboardSection(ctx context.Context) (result, error) {
	bin, err := chromiumPath()
	if err != nil {
		if b.o.requireTools {
			return result{}, err
		}
		logf("dashboard: skipped, %v", err)
		var r result
		r.add(skipped("dashboard: page weight, first render, daemon cost", "chromium"))
		return r, nil
	}
	t, err := b.sampledTend("tend-dashboard")
	if err != nil {
		return result{}, err
	}
	defer shutdown(ctx, t)
	want := map[string]int{}
	for i := range dashApps {
		n := dashInstances / dashApps
		if i < dashInstances%dashApps {
			n++
		}
		name := fmt.Sprintf("dash%02d", i)
		want[name] = n
		if err := t.start(ctx, app{name: name, script: idleScript, instances: n}); err != nil {
			return result{}, err
		}
	}
	load, _ := os.ReadFile("/proc/loadavg")
	logf("dashboard: %d apps, %d instances; load average %s", dashApps, dashInstances, strings.Join(strings.Fields(string(load))[:3], " "))
	pid, err := settled(ctx, t, want)
	if err != nil {
		return result{}, err
	}
	cpuNone, err := daemonCPU(ctx, pid, dashCPUWindow)
	if err != nil {
		return result{}, err
	}
	rssNone, err := measureRSS(ctx, []manager{t})
	if err != nil {
		return result{}, err
	}
	logf("dashboard: no dashboard: daemon CPU %.2f%%, RSS %.1f MiB", cpuNone, median(rssNone["tend"]))

	out, err := t.run(ctx, nil, "dashboard", "--no-open")
	if err != nil {
		return result{}, err
	}
	base := regexp.MustCompile(`(?m)^dashboard: (\S+)$`).FindSubmatch(out)
	link := regexp.MustCompile(`(?m)^login link[^:]*: (\S+)$`).FindSubmatch(out)
	if base == nil || link == nil {
		return result{}, fmt.Errorf("tend dashboard printed no URL and link: %s", out)
	}
	weight, files, err := pageWeight(ctx, string(base[1]), string(link[1]))
	if err != nil {
		return result{}, err
	}
	logf("dashboard: overview weight %.1f KB gzipped: %s", float64(weight)/1000, strings.Join(files, ", "))

	bctx, stop, err := headless(ctx, bin)
	if err != nil {
		return result{}, err
	}
	defer stop()
	out, err = t.run(ctx, nil, "dashboard", "--no-open")
	if err != nil {
		return result{}, err
	}
	link = regexp.MustCompile(`(?m)^login link[^:]*: (\S+)$`).FindSubmatch(out)
	if link == nil {
		return result{}, fmt.Errorf("tend dashboard printed no link: %s", out)
	}
	if err := chromedp.Do(bctx, chromedp.Navigate(string(link[1]))); err != nil {
		return result{}, err
	}
	var renders []float64
	for i := range dashRenders + 1 {
		if err := chromedp.Do(bctx, chromedp.Navigate(string(base[1])+"/")); err != nil {
			return result{}, err
		}
		if err := pollPage(bctx, `document.querySelectorAll('#apps tbody tr').length === `+fmt.Sprint(dashApps)+
			` && performance.getEntriesByName('tend:rendered').length > 0`, 20*time.Second); err != nil {
			return result{}, fmt.Errorf("the overview did not show %d apps: %v", dashApps, err)
		}
		// Rows the server drew were on the first contentful paint; else
		// the script drew them from the stream's first message.
		ms, err := chromedp.Run(bctx, chromedp.Evaluate[float64](`(() => {
			const server = performance.getEntriesByName('tend:server-rendered').length > 0;
			const fcp = performance.getEntriesByName('first-contentful-paint')[0];
			return server && fcp ? fcp.startTime : performance.getEntriesByName('tend:rendered')[0].startTime;
		})()`))
		if err == nil {
			script, _ := chromedp.Run(bctx, chromedp.Evaluate[float64](`performance.getEntriesByName('tend:rendered')[0].startTime`))
			logf("dashboard: render %d: first paint with the rows %.1f ms; the script's first draw %.1f ms", i, ms, script)
		}
		if err != nil {
			return result{}, err
		}
		if i > 0 { // the first warms the browser's cache
			renders = append(renders, ms)
		}
	}
	logSamples("dashboard: first render of 20 apps (ms)", map[string][]float64{"tend": renders})
	// The floor on this machine at this moment: the login page, the same
	// stylesheet and script and no data, to its first contentful paint.
	var floor []float64
	for i := range dashRenders + 1 {
		if err := chromedp.Do(bctx, chromedp.Navigate(string(base[1])+"/login")); err != nil {
			return result{}, err
		}
		if err := pollPage(bctx, `performance.getEntriesByName('first-contentful-paint').length > 0`, 20*time.Second); err != nil {
			return result{}, fmt.Errorf("the login page did not paint: %v", err)
		}
		ms, err := chromedp.Run(bctx, chromedp.Evaluate[float64](`performance.getEntriesByName('first-contentful-paint')[0].startTime`))
		if err != nil {
			return result{}, err
		}
		if i > 0 {
			floor = append(floor, ms)
		}
	}
	logSamples("dashboard: first paint of the login page (ms)", map[string][]float64{"tend": floor})
	if err := chromedp.Do(bctx, chromedp.Navigate(string(base[1])+"/")); err != nil {
		return result{}, err
	}
	// One overview stays open, watching.
	if err := sleep(ctx, startupSettle); err != nil {
		return result{}, err
	}
	cpuOpen, err := daemonCPU(ctx, pid, dashCPUWindow)
	if err != nil {
		return result{}, err
	}
	rssOpen, err := measureRSS(ctx, []manager{t})
	if err != nil {
		return result{}, err
	}
	logf("dashboard: one overview open: daemon CPU %.2f%%, RSS %.1f MiB", cpuOpen, median(rssOpen["tend"]))

	var r result
	r.add(row{"dashboard: overview weight, all assets, gzip", cell(float64(weight)/1000, "%.1f KB"), "–", "–", "–", "≤ 150 KB", met(weight <= 150_000)})
	render := median(renders)
	r.add(row{fmt.Sprintf("dashboard: first render of %d apps, headless Chromium, median of %d", dashApps, dashRenders), ms1(render), "–",
		ms1(median(floor)) + " (login page)", "–", "≤ 300 ms", met(render <= 300)})
	r.add(row{fmt.Sprintf("dashboard: daemon CPU, %d instances, no dashboard", dashInstances), cell(cpuNone, "%.2f%% of a core"), "–", "–", "–", "", ""})
	r.add(row{fmt.Sprintf("dashboard: daemon CPU, %d instances, one overview open", dashInstances), cell(cpuOpen, "%.2f%% of a core"), "–", "–", "–", "", ""})
	r.add(row{"dashboard: daemon RSS, no dashboard", mib(median(rssNone["tend"])), "–", "–", "–", "", ""})
	r.add(row{"dashboard: daemon RSS, one overview open", mib(median(rssOpen["tend"])), "–", "–", "–", "", ""})
	return r, nil
}

// pollPage waits until expr is true in the page, polling again in a new
// document when the page navigated under the poll.
func pollPage(ctx context.Context, expr string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		_, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(max(time.Until(deadline), time.Millisecond))))
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil || !strings.Contains(err.Error(), "(-32000)") {
			return err
		}
	}
}

func chromiumPath() (string, error) {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no chromium (apt-get install chromium)")
}

// headless starts a headless Chromium; stop ends it.
func headless(ctx context.Context, bin string) (context.Context, func(), error) {
	dir, err := os.MkdirTemp("", "bench-chromium")
	if err != nil {
		return nil, nil, err
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(bin), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.UserDataDir(dir), chromedp.WindowSize(1280, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancel := chromedp.NewContext(actx)
	stop := func() { cancel(); cancelAlloc(); os.RemoveAll(dir) }
	if err := chromedp.Do(bctx); err != nil {
		stop()
		return nil, nil, fmt.Errorf("start chromium: %w", err)
	}
	return bctx, stop, nil
}

// pageWeight logs in with link and adds up the bytes, as sent with gzip,
// of the overview's HTML and of every file it loads.
func pageWeight(ctx context.Context, base, link string) (int, []string, error) {
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableCompression: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	// The session cookie is Secure: Go's cookie jar would not send it over
	// http://127.0.0.1, as browsers do, so it is carried by hand.
	var session *http.Cookie
	get := func(u string) ([]byte, int, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, 0, err
		}
		req.Header.Set("Accept-Encoding", "gzip")
		if session != nil {
			req.AddCookie(session)
		}
		resp, err := c.Do(req)
		if err != nil {
			return nil, 0, err
		}
		defer resp.Body.Close()
		for _, ck := range resp.Cookies() {
			if ck.Name == "tend_session" {
				session = ck
			}
		}
		raw, err := io.ReadAll(resp.Body)
		if err != nil {
			return nil, 0, err
		}
		if resp.StatusCode != http.StatusOK && !(session != nil && resp.StatusCode == http.StatusSeeOther && strings.Contains(u, "nonce=")) {
			return nil, 0, fmt.Errorf("GET %s: %s", u, resp.Status)
		}
		body := raw
		if resp.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(strings.NewReader(string(raw)))
			if err != nil {
				return nil, 0, err
			}
			if body, err = io.ReadAll(zr); err != nil {
				return nil, 0, err
			}
		}
		return body, len(raw), nil
	}
	if _, _, err := get(link); err != nil {
		return 0, nil, err
	}
	if session == nil {
		return 0, nil, errors.New("the login link set no session cookie")
	}
	html, total, err := get(base + "/")
	if err != nil {
		return 0, nil, err
	}
	files := []string{fmt.Sprintf("overview HTML %d B", total)}
	var refs []string
	for _, m := range regexp.MustCompile(`(?:src|href)="(/assets/[^"]+)"`).FindAllStringSubmatch(string(html), -1) {
		if !slices.Contains(refs, m[1]) {
			refs = append(refs, m[1])
		}
	}
	if len(refs) == 0 {
		return 0, nil, fmt.Errorf("the overview loads no assets: %s", html)
	}
	for _, ref := range refs {
		_, n, err := get(base + ref)
		if err != nil {
			return 0, nil, err
		}
		total += n
		files = append(files, fmt.Sprintf("%s %d B", ref, n))
	}
	return total, files, nil
}

// daemonCPU is the CPU pid uses over window, in percent of one core.
func daemonCPU(ctx context.Context, pid int, window time.Duration) (float64, error) {
	t0, err := cpuTicks(pid)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	if err := sleep(ctx, window); err != nil {
		return 0, err
	}
	t1, err := cpuTicks(pid)
	if err != nil {
		return 0, err
	}
	return cpuPercent(t1-t0, time.Since(start)), nil
}
