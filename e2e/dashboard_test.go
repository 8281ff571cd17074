package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/remote"
)

// chromium returns Debian's headless browser, skipping the test without
// it, except in CI, where a missing browser is a failure (.ci/run
// installs the chromium package).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is needed (Debian package chromium)")
	}
	t.Skip("no chromium")
	return ""
}

// browser starts a headless Chromium for the test; it is stopped at the
// test's end.
func browser(t *testing.T) context.Context {
	t.Helper()
	bin := chromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.NoSandbox, // root in CI
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	ctx, cancelTime := context.WithTimeout(ctx, 5*time.Minute)
	t.Cleanup(func() { cancelTime(); cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// dashboard asks the daemon for the dashboard and returns its URL and a
// one-time login link.
func (h *home) dashboard() (base, link string) {
	h.t.Helper()
	out := h.ok("dashboard", "--no-open")
	m := regexp.MustCompile(`(?m)^dashboard: (\S+)$`).FindStringSubmatch(out)
	l := regexp.MustCompile(`(?m)^login link \(works once, within a minute\): (\S+)$`).FindStringSubmatch(out)
	if m == nil || l == nil {
		h.t.Fatalf("tend dashboard printed no URL and link:\n%s", out)
	}
	return m[1], l[1]
}

// screenshotDir is where the tests write their screenshots:
// $TEND_SCREENSHOTS when set (for a person to look at), else the test's
// temporary directory.
func screenshotDir(t *testing.T) string {
	if d := os.Getenv("TEND_SCREENSHOTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	p := filepath.Join(screenshotDir(t), name)
	if err := os.WriteFile(p, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", p, len(buf))
}

// waitJS waits until the expression is true in the page, or fails after
// d. The page may navigate meanwhile (a form's redirect): polling starts
// again in the new document.
func waitJS(t *testing.T, ctx context.Context, what, expr string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		left := time.Until(deadline)
		_, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(max(left, time.Millisecond))))
		if err == nil {
			return
		}
		if time.Now().Before(deadline) && ctx.Err() == nil && strings.Contains(err.Error(), "(-32000)") {
			continue // the document went away under the poll
		}
		page, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText.slice(0, 3000) : ''`))
		t.Fatalf("%s: not within %s (%v); the page says:\n%s", what, d, err, page)
	}
}

func evalJS[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

func navigate(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("navigate to %s: %v", url, err)
	}
}

// The dashboard in a real browser: the login link, the fixture apps, a
// crash seen live, a reload with new pids, logs followed, CSRF enforced,
// and the charts drawn.
func TestDashboardInBrowserShowsAppsLiveAndActs(t *testing.T) {
	ctx := browser(t)
	h := newHome(t)
	port := freePort(t)
	h.ok("start", "express-app.js", "--name", "web", "-i", "2", "--port", strconv.Itoa(port), "--listen-timeout", "30s")
	h.ok("start", "count.js", "--name", "counter", "--no-autorestart")
	web := h.waitApp("web", "online", allOnline)
	base, link := h.dashboard()

	navigate(t, ctx, link)
	// The Secure cookie was kept on http://127.0.0.1: the overview shows.
	waitJS(t, ctx, "the overview lists both apps",
		`!!document.querySelector('tr[data-app="web"]') && !!document.querySelector('tr[data-app="counter"]')`, 20*time.Second)
	cur := evalJS[string](t, ctx, `location.pathname`)
	if cur != "/" {
		t.Fatalf("after the login link the browser is at %s, want /", cur)
	}
	restartsCell := `document.querySelector('tr[data-app="web"] td.restarts').textContent`
	before := evalJS[string](t, ctx, restartsCell)
	if before != "0" {
		t.Fatalf("web's restarts in the last hour = %q before any crash, want 0", before)
	}

	// A crash, asked for with a request, shows without a reload.
	get(t, fmt.Sprintf("http://127.0.0.1:%d/crash", port))
	waitJS(t, ctx, "the overview shows web's restart", restartsCell+` === "1"`, 2*time.Second)
	// Seen live, not by reloading the page: the navigation is the first.
	navs := evalJS[int](t, ctx, `performance.getEntriesByType('navigation').length`)
	if navs != 1 {
		t.Errorf("%d navigations, want the page as first loaded", navs)
	}
	screenshot(t, ctx, "overview.png")

	// On a phone-sized screen in dark mode: the page does not scroll
	// sideways (wide tables scroll in their box) and the colours follow.
	if err := chromedp.Do(ctx,
		chromedp.EmulateViewport(390, 844),
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
				Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}})
			return err
		}),
	); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the page fits a phone's width", `document.documentElement.scrollWidth <= window.innerWidth`, 5*time.Second)
	if bg := evalJS[string](t, ctx, `getComputedStyle(document.body).backgroundColor`); bg != "rgb(15, 20, 25)" {
		t.Errorf("dark mode background %s, want rgb(15, 20, 25)", bg)
	}
	screenshot(t, ctx, "overview-phone-dark.png")
	if err := chromedp.Do(ctx,
		chromedp.EmulateViewport(1280, 900),
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{})
			return err
		}),
	); err != nil {
		t.Fatal(err)
	}

	// The app page: instances with their pids; a reload brings new ones.
	navigate(t, ctx, fmt.Sprintf("%s/apps/%d", base, web.ID))
	web = h.waitApp("web", "online after the crash", allOnline)
	old := pids(web)
	pidCells := `Array.from(document.querySelectorAll('#instances td.pid')).map(e => e.textContent).join(',')`
	oldText := strings.Trim(strings.ReplaceAll(fmt.Sprint(old), " ", ","), "[]")
	waitJS(t, ctx, "the app page lists web's pids", pidCells+` === `+strconv.Quote(oldText), 10*time.Second)
	waitJS(t, ctx, "the charts are drawn", `document.querySelectorAll('#charts canvas').length >= 3`, 10*time.Second)
	// The crash is listed with what the process printed.
	waitJS(t, ctx, "the crash is listed", `document.querySelector('#crashes').textContent.includes('crash requested')`, 10*time.Second)

	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`button[data-action="reload"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#confirm-yes`)),
		chromedp.Click(chromedp.CSS(`#confirm-yes`)),
	); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the reload is done", `document.querySelector('#progress').textContent === 'reload done'`, 60*time.Second)
	fresh := pids(h.waitApp("web", "online after the reload", allOnline))
	for _, p := range fresh {
		for _, o := range old {
			if p == o {
				t.Fatalf("pid %d survived the reload (old %v, new %v)", p, old, fresh)
			}
		}
	}
	freshText := strings.Trim(strings.ReplaceAll(fmt.Sprint(fresh), " ", ","), "[]")
	waitJS(t, ctx, "the page shows the new pids", pidCells+` === `+strconv.Quote(freshText), 5*time.Second)

	// The charts have drawn: a canvas with coloured pixels.
	drawn := evalJS[int](t, ctx, `(() => {
		let best = 0;
		for (const c of document.querySelectorAll('#charts canvas')) {
			const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
			let n = 0;
			for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
			best = Math.max(best, n);
		}
		return best;
	})()`)
	if drawn < 100 {
		t.Errorf("the chart canvases have %d painted pixels at most: not drawn", drawn)
	}
	screenshot(t, ctx, "app.png")

	// The CPU profile button's request: a download of the profile,
	// recorded by the daemon's profile code.
	prof := evalJS[[]string](t, ctx, fmt.Sprintf(`fetch('/api/apps/%d/profile', {method: 'POST',
		body: new URLSearchParams({csrf: document.body.dataset.csrf, kind: 'cpu', instance: '0', seconds: '1'})})
		.then(async r => [String(r.status), r.headers.get('content-disposition') || '', await r.text()])`, web.ID))
	if prof[0] != "200" || !strings.HasPrefix(prof[1], "attachment;") || !strings.Contains(prof[1], ".cpuprofile") || !strings.Contains(prof[2], `"nodes"`) {
		t.Errorf("CPU profile download: status %s, disposition %q, %d bytes: %.200s", prof[0], prof[1], len(prof[2]), prof[2])
	}

	// An action without the CSRF token is refused.
	code := evalJS[int](t, ctx, fmt.Sprintf(`fetch('/api/apps/%d/restart', {method: 'POST', body: '{}'}).then(r => r.status)`, web.ID))
	if code != http.StatusForbidden {
		t.Errorf("restart without the CSRF token: status %d, want 403", code)
	}
	if got := h.app("web"); !samePIDs(pids(got), fresh) {
		t.Errorf("the refused restart changed the pids: %v, were %v", pids(got), fresh)
	}

	// Logs: the backlog, then a line printed while the page follows.
	navigate(t, ctx, base+"/logs?app=web")
	waitJS(t, ctx, "the log page shows the fixture's start line",
		`document.querySelector('#log').textContent.includes('express fixture listening on')`, 10*time.Second)
	get(t, fmt.Sprintf("http://127.0.0.1:%d/crash", port))
	waitJS(t, ctx, "the log page shows the crash as it happens",
		`document.querySelector('#log').textContent.includes('Error: crash requested')`, 10*time.Second)
}

func samePIDs(a, b []int) bool { return fmt.Sprint(a) == fmt.Sprint(b) }

// A read-only token logs in on the login page and gets a session whose
// action buttons are all disabled, and whose requests change nothing;
// revoking the token ends the session.
func TestDashboardReadOnlyTokenHasNoEnabledActions(t *testing.T) {
	ctx := browser(t)
	h := newHome(t)
	h.ok("start", "express-app.js", "--name", "web", "--port", strconv.Itoa(freePort(t)), "--listen-timeout", "30s")
	web := h.waitApp("web", "online", allOnline)
	base, _ := h.dashboard()
	store, err := remote.Open(h.dir)
	if err != nil {
		t.Fatal(err)
	}
	secret, _, err := store.Create("viewer", remote.ReadOnly)
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS(`#token`)), // no session: the login page
		chromedp.SendKeys(chromedp.CSS(`#token`), secret),
		chromedp.Submit(chromedp.CSS(`#token`)),
	); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the overview after the token login", `!!document.querySelector('tr[data-app="web"]')`, 20*time.Second)
	navigate(t, ctx, fmt.Sprintf("%s/apps/%d", base, web.ID))
	waitJS(t, ctx, "the app page lists web's instance", `document.querySelectorAll('#instances td.pid').length === 1`, 10*time.Second)
	enabled := evalJS[[]string](t, ctx, `Array.from(document.querySelectorAll('button.act, #scale-n')).filter(b => !b.disabled).map(b => b.textContent || b.id)`)
	total := evalJS[int](t, ctx, `document.querySelectorAll('button.act').length`)
	if total < 6 || len(enabled) > 0 {
		t.Errorf("read-only session: %d action buttons, enabled: %v; want them all disabled", total, enabled)
	}
	// With the CSRF token, still refused: the session is read-only.
	code := evalJS[int](t, ctx, fmt.Sprintf(`fetch('/api/apps/%d/stop', {method: 'POST', headers: {'X-CSRF-Token': document.body.dataset.csrf}, body: '{}'}).then(r => r.status)`, web.ID))
	if code != http.StatusForbidden {
		t.Errorf("a read-only session's stop: status %d, want 403", code)
	}
	if a := h.app("web"); a.Status != api.StatusOnline {
		t.Errorf("web is %s after a read-only session's stop, want online", a.Status)
	}
	// The token revoked: the open page is sent to the login, at once.
	h.ok("remote", "token", "revoke", "viewer")
	waitJS(t, ctx, "the page sent to the login after the token's revocation", `location.pathname === '/login' && !!document.querySelector('#token')`, 10*time.Second)
}

// Probes with no browser: what an attacker can try from the network.
func TestDashboardRefusesWhatItShould(t *testing.T) {
	h := newHome(t)
	base, link := h.dashboard()
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	// No cookie: the pages send to the login page, the API answers 401.
	for _, p := range []string{"/", "/logs", "/apps/0", "/hosts"} {
		resp, err := noFollow.Get(base + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
			t.Errorf("GET %s without a cookie: %d to %q, want 303 to /login", p, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	resp, err := noFollow.Get(base + "/api/stream?page=overview")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the stream without a cookie: %d, want 401", resp.StatusCode)
	}

	// A wrong token is refused, and so is a login from another origin.
	form := url.Values{"token": {"tend_wrongwrongwrongwrongwrongwrongwrongwrong12"}}
	req, _ := http.NewRequest(http.MethodPost, base+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	resp, err = noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || hasSession(resp) {
		t.Errorf("a wrong token: %d (session cookie %v), want 401 and no session", resp.StatusCode, hasSession(resp))
	}

	// The login link works once.
	resp, err = noFollow.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || !hasSession(resp) {
		t.Fatalf("the login link: %d, session %v; want 303 with a session", resp.StatusCode, hasSession(resp))
	}
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "tend_session" {
			cookie = c
		}
	}
	if !cookie.HttpOnly || !cookie.Secure || cookie.SameSite != http.SameSiteStrictMode {
		t.Errorf("session cookie %+v: want HttpOnly, Secure, SameSite=Strict", cookie)
	}
	resp, err = noFollow.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || hasSession(resp) {
		t.Errorf("the login link used twice: %d (session %v), want 403 and no session", resp.StatusCode, hasSession(resp))
	}

	// Every page has the strict CSP and no inline script or style.
	scripts := regexp.MustCompile(`(?i)<script([^>]*)>([^<]*)</script>`)
	inline := regexp.MustCompile(`(?i)\son[a-z]+=|\sstyle=|<style|javascript:`)
	for _, p := range []string{"/", "/logs", "/apps/0", "/hosts", "/login"} {
		req, _ := http.NewRequest(http.MethodGet, base+p, nil)
		req.AddCookie(cookie)
		resp, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s with a session: %d", p, resp.StatusCode)
		}
		csp := resp.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "unsafe-inline") {
			t.Errorf("GET %s: CSP %q", p, csp)
		}
		if resp.Header.Get("X-Frame-Options") != "DENY" || resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("GET %s: X-Frame-Options %q, Cache-Control %q", p, resp.Header.Get("X-Frame-Options"), resp.Header.Get("Cache-Control"))
		}
		if m := inline.FindString(string(b)); m != "" {
			t.Errorf("GET %s serves inline script or style: %q", p, m)
		}
		tags := scripts.FindAllStringSubmatch(string(b), -1)
		if strings.Count(strings.ToLower(string(b)), "<script") != len(tags) || len(tags) == 0 {
			t.Errorf("GET %s: %d script tags of the form <script src=...></script>, of %d", p, len(tags), strings.Count(strings.ToLower(string(b)), "<script"))
		}
		for _, m := range tags {
			if !strings.Contains(m[1], `src="/assets/`) || strings.TrimSpace(m[2]) != "" {
				t.Errorf("GET %s: an inline script: %q", p, m[0])
			}
		}
	}

	// A change needs the Origin and the CSRF token: with neither, 403.
	req, _ = http.NewRequest(http.MethodPost, base+"/logout", nil)
	req.AddCookie(cookie)
	resp, err = noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("logout without Origin and CSRF token: %d, want 403", resp.StatusCode)
	}
}

func hasSession(resp *http.Response) bool {
	for _, c := range resp.Cookies() {
		if c.Name == "tend_session" && c.Value != "" {
			return true
		}
	}
	return false
}

// The Hosts page of the daemon that runs the fleet's hub lists every host
// and its apps, live: an agent daemon joined to it shows with its app,
// and turns lost on the open page when it is killed, with no reload.
func TestDashboardHostsPageShowsTheFleetLive(t *testing.T) {
	ctx := browser(t)
	hub := newHome(t)
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	if err := os.WriteFile(filepath.Join(hub.dir, "daemon.yaml"), []byte("hub: {listen: \""+addr+"\"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	hub.ok("ls") // starts the daemon, and its hub
	await(t, "the daemon's hub made its keys and certificate", 20*time.Second, func() bool {
		_, err := os.Stat(filepath.Join(hub.dir, "hub", "cert.pem"))
		return err == nil
	})
	snippet := hub.ok("hub", "add-host", "agent-1", "--labels", "role=web", "--url", "tls://"+addr)
	agent := newHome(t)
	if err := os.WriteFile(filepath.Join(agent.dir, "daemon.yaml"), []byte(snippet), 0o600); err != nil {
		t.Fatal(err)
	}
	agent.ok("start", "express-app.js", "--name", "web", "--port", strconv.Itoa(freePort(t)), "--listen-timeout", "30s")
	agent.waitApp("web", "online", allOnline)

	base, link := hub.dashboard()
	navigate(t, ctx, link)
	waitJS(t, ctx, "the overview after the login link", `document.body.dataset.page === 'overview'`, 10*time.Second)
	navigate(t, ctx, base+"/hosts")
	row := `document.querySelector('#hosts tr[data-host="agent-1"]')`
	waitJS(t, ctx, "agent-1 alive with web online 1/1 on the Hosts page",
		`(() => { const r = `+row+`; if (!r || r.dataset.state !== 'alive') return false;
		  const a = r.querySelector('li[data-app="web"]'); return !!a && a.textContent.includes('online') && a.textContent.includes('1/1') &&
		  r.textContent.includes('role=web'); })()`, 20*time.Second)
	screenshot(t, ctx, "hosts.png")
	// The page stays this document from here on: what changes comes
	// through its stream.
	evalJS[bool](t, ctx, `(window.__sameDocument = true)`)

	// The agent daemon dies: its heartbeat expires and the open page
	// shows it lost.
	if err := syscall.Kill(agent.daemonPID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "agent-1 lost on the open Hosts page", row+`?.dataset.state === 'lost' && window.__sameDocument === true`, 10*time.Second)
	if txt := evalJS[string](t, ctx, row+`.querySelector('.badge').textContent`); txt != "lost" {
		t.Errorf("agent-1's state badge says %q, want lost", txt)
	}
	// Back, it is alive again (and its new daemon stops the old one's
	// leftovers).
	agent.ok("ls")
	waitJS(t, ctx, "agent-1 alive again on the open Hosts page", row+`?.dataset.state === 'alive' && window.__sameDocument === true`, 20*time.Second)
	agent.waitApp("web", "online", allOnline)
}

// tend update with a dashboard page open: the page stays logged in at the
// same address, its stream reconnects to the new daemon and goes on live
// (a restart's new pid shows without a reload), and its charts keep the
// figures from before the update.
func TestDashboardStaysLoggedInAndKeepsItsChartsAcrossAnUpdate(t *testing.T) {
	ctx := browser(t)
	h := newHome(t)
	h.ok("start", "idle.js", "--name", "idle")
	a := h.waitApp("idle", "online", allOnline)
	base, link := h.dashboard()
	navigate(t, ctx, link)
	navigate(t, ctx, fmt.Sprintf("%s/apps/%d", base, a.ID))
	pidCell := `(document.querySelector('#instances td.pid') || {}).textContent`
	waitJS(t, ctx, "the app page shows the instance", fmt.Sprintf(`%s === "%d"`, pidCell, a.Instances[0].PID), 20*time.Second)
	firstPoint := fmt.Sprintf(`fetch('/api/apps/%d').then(r => r.json()).then(d => d.history && d.history.t.length >= 3 ? d.history.t[0] : 0)`, a.ID)
	var t0 int64
	await(t, "three points of history", 20*time.Second, func() bool {
		t0 = evalJS[int64](t, ctx, firstPoint)
		return t0 > 0
	})

	h.ok("update")
	if p := h.pingJSON(); p.Updates != 1 {
		t.Fatalf("ping after tend update: %+v", p)
	}
	base2, _ := h.dashboard()
	if base2 != base {
		t.Errorf("the dashboard moved from %s to %s at the update", base, base2)
	}
	h.ok("restart", "idle")
	b := h.waitApp("idle", "online", allOnline)
	if b.Instances[0].PID == a.Instances[0].PID {
		t.Fatal("the restart kept the pid")
	}
	waitJS(t, ctx, "the page shows the new pid, live", fmt.Sprintf(`%s === "%d"`, pidCell, b.Instances[0].PID), 20*time.Second)
	if path := evalJS[string](t, ctx, `location.pathname`); path != fmt.Sprintf("/apps/%d", a.ID) {
		t.Errorf("the page is at %s after the update, want the app page (no login)", path)
	}
	if navs := evalJS[int](t, ctx, `performance.getEntriesByType('navigation').length`); navs != 1 {
		t.Errorf("%d navigations, want the page as first loaded", navs)
	}
	if got := evalJS[int64](t, ctx, firstPoint); got != t0 {
		t.Errorf("the charts' first point is at %d after the update, want %d from before it", got, t0)
	}
}
