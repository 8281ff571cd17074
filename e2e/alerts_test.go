package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/alert"
	"github.com/tendhq/tend/internal/api"
)

// hook is a webhook receiver on loopback: it records every request and
// answers as answer says (200 when nil).
type hook struct {
	*httptest.Server
	mu     sync.Mutex
	bodies []string // guarded by mu
	answer func(n int, w http.ResponseWriter, r *http.Request)
}

func newHook(t *testing.T, answer func(n int, w http.ResponseWriter, r *http.Request)) *hook {
	h := &hook{answer: answer}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.bodies = append(h.bodies, string(b))
		n := len(h.bodies)
		h.mu.Unlock()
		if h.answer != nil {
			h.answer(n, w, r)
		}
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hook) got() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.bodies...)
}

// waitHook waits until the hook has had n requests, or fails after 20 s.
func waitHook(t *testing.T, h *hook, n int, what string) []string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for len(h.got()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("webhook got %d requests, never %d (%s): %q", len(h.got()), n, what, h.got())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return h.got()
}

func (h *home) writeDaemonYAML(s string) {
	h.t.Helper()
	if err := os.WriteFile(filepath.Join(h.dir, "daemon.yaml"), []byte(s), 0o600); err != nil {
		h.t.Fatal(err)
	}
}

func (h *home) alerts() api.Alerts {
	h.t.Helper()
	var a api.Alerts
	mustJSON(h.t, h.ok("alerts", "ls", "--json"), &a)
	return a
}

func TestACrashLoopAlertsOnceThenOnceWhenFixed(t *testing.T) {
	h := newHome(t)
	hk := newHook(t, nil)
	slack := newHook(t, nil)
	h.writeDaemonYAML(fmt.Sprintf("alerts:\n  - url: %s/hook/SECRET-PATH?token=SECRET-QUERY\n  - url: %s/services/SECRET\n    format: slack\n    events: [crash_loop]\n", hk.URL, slack.URL))
	host, _ := os.Hostname()

	// A crash loop that does not reach errored: restarts keep coming.
	// A min_uptime well above a crash.js's life, even on a loaded machine.
	h.ok("start", "crash.js", "--name", "loop", "--max-restarts", "1000", "--restart-delay", "100", "--min-uptime", "5s")
	bodies := waitHook(t, hk, 1, "the crash loop")
	var first alert.Body
	mustJSON(t, bodies[0], &first)
	if first.Host != host || first.App != "loop" || first.Kind != api.AlertCrashLoop || first.Recovered ||
		!strings.HasPrefix(first.Message, "instance 0 restarted 3 times in a row, each time up less than its min_uptime; last exit: exited with code 1 after ") ||
		!strings.HasSuffix(first.Message, "; error: crash fixture exiting with 1") {
		t.Fatalf("alert = %+v", first)
	}
	// It goes on crashing: no second alert for the same incident.
	h.waitApp("loop", "restarted 8 times", func(a api.App) bool { return a.Instances[0].Restarts >= 8 })

	// Fixed: it stays up, and after its min_uptime (5s) the recovery is
	// told.
	h.ok("set", "loop", "env.CRASH_STAY=1")
	bodies = waitHook(t, hk, 2, "the recovery")
	var second alert.Body
	mustJSON(t, bodies[1], &second)
	if second.App != "loop" || second.Kind != api.AlertCrashLoop || !second.Recovered || second.Message != "online and stable for 5s" ||
		second.Text != "["+host+"] loop: recovered from crash loop: online and stable for 5s" {
		t.Fatalf("recovery = %+v", second)
	}
	if len(bodies) != 2 {
		t.Fatalf("webhook got %d alerts; want the crash loop and its recovery: %q", len(bodies), bodies)
	}
	sl := waitHook(t, slack, 2, "the slack target's two")
	if sl[1] != `{"text":"[`+host+`] loop: recovered from crash loop: online and stable for 5s"}` {
		t.Errorf("slack body %s", sl[1])
	}

	a := h.alerts()
	if len(a.Alerts) != 2 || a.Alerts[0].Kind != api.AlertCrashLoop || a.Alerts[0].Recovered || !a.Alerts[1].Recovered {
		t.Fatalf("alerts ls: %+v", a.Alerts)
	}
	for _, al := range a.Alerts {
		for _, d := range al.Deliveries {
			if d.Status != api.DeliveryDelivered || d.Code != 200 {
				t.Errorf("alert %d delivery %+v", al.ID, d)
			}
		}
	}
	out := h.ok("alerts", "ls")
	if !strings.Contains(out, "crash_loop recovered  delivered") || !strings.Contains(out, "loop") {
		t.Errorf("alerts ls:\n%s", out)
	}
	log, _ := os.ReadFile(filepath.Join(h.dir, "tend.log"))
	for _, s := range []string{out, h.ok("alerts", "ls", "--json"), string(log)} {
		if strings.Contains(s, "SECRET") {
			t.Errorf("a webhook URL's secret shows:\n%s", s)
		}
	}
}

func TestAFailingWebhookIsRetriedWhileTheDaemonAnswers(t *testing.T) {
	h := newHome(t)
	// The second attempt is held until the test has used the daemon.
	held, release := make(chan struct{}), make(chan struct{})
	// quit ends what the hooks hold, before their servers close (which
	// waits for the requests in flight).
	quit := make(chan struct{})
	failing := newHook(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 2 {
			close(held)
			select {
			case <-release:
			case <-quit:
			}
		}
		w.WriteHeader(http.StatusInternalServerError)
	})
	// This one never answers in time.
	hanging := newHook(t, func(n int, w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-quit:
		}
	})
	t.Cleanup(func() { close(quit) })
	h.writeDaemonYAML(fmt.Sprintf("alerts:\n  - url: %s/a\n    attempts: 3\n  - url: %s/b\n    timeout: 1m\n    attempts: 1\n", failing.URL, hanging.URL))

	// A min_uptime well above a crash.js's life, even on a loaded machine.
	h.ok("start", "crash.js", "--name", "loop", "--max-restarts", "1000", "--restart-delay", "100", "--min-uptime", "5s")
	select {
	case <-held:
	case <-time.After(30 * time.Second):
		t.Fatalf("the failing webhook was not tried a second time; it got %q", failing.got())
	}
	// Retries are under way (one held), a delivery hangs: tend answers.
	if a := h.app("loop"); a.Name != "loop" {
		t.Fatal(a)
	}
	h.ok("ls")
	a := h.alerts()
	if len(a.Alerts) != 1 {
		t.Fatalf("alerts: %+v", a.Alerts)
	}
	if d := a.Alerts[0].Deliveries; d[0].Status != api.DeliveryPending || d[0].Attempts != 1 || d[0].Code != 500 || d[1].Status != api.DeliveryPending {
		t.Fatalf("deliveries while retrying: %+v", d)
	}
	close(release)
	waitHook(t, failing, 3, "the retries")
	deadline := time.Now().Add(20 * time.Second)
	for {
		d := h.alerts().Alerts[0].Deliveries[0]
		if d.Status == api.DeliveryFailed {
			if d.Attempts != 3 || d.Code != 500 || d.Error != "HTTP 500 Internal Server Error" {
				t.Fatalf("delivery %+v", d)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivery never failed: %+v", d)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := len(failing.got()); n != 3 {
		t.Fatalf("the failing webhook got %d requests; want 3 (attempts: 3)", n)
	}
	if n := len(hanging.got()); n != 1 {
		t.Fatalf("the hanging webhook got %d requests; want 1", n)
	}
	h.ok("stop", "loop") // with a delivery still hanging
}

func TestAlertsTestSendsASampleToEveryTarget(t *testing.T) {
	h := newHome(t)
	h.ok("ls") // no targets yet
	if err := h.fails("alerts", "test"); !strings.Contains(err, "no alert targets: add an alerts list to daemon.yaml") {
		t.Fatalf("alerts test with no targets: %s", err)
	}
	h.ok("kill")
	good := newHook(t, nil)
	bad := newHook(t, func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusInternalServerError) })
	h.writeDaemonYAML(fmt.Sprintf("alerts:\n  - url: %s/services/SECRET\n    format: slack\n  - url: %s/hook?key=SECRET\n", good.URL, bad.URL))
	r := h.run("alerts", "test")
	if r.code != 1 || !strings.Contains(r.stderr, "1 of 2 targets did not take the sample") {
		t.Fatalf("alerts test: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	host, _ := os.Hostname()
	for _, want := range []string{good.URL + "/…  slack   200 OK", bad.URL + "/…  json    500 Internal Server Error"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("alerts test printed\n%s\nwant a line with %q", r.stdout, want)
		}
	}
	if strings.Contains(r.stdout, "SECRET") {
		t.Errorf("alerts test shows a secret:\n%s", r.stdout)
	}
	if got := good.got(); len(got) != 1 || got[0] != `{"text":"[`+host+`] tend alerts test: test: a sample alert: this target is reached"}` {
		t.Errorf("sample %q", got)
	}
	var body alert.Body
	mustJSON(t, waitHook(t, bad, 1, "the sample")[0], &body)
	if body.Kind != api.AlertTest || body.Host != host {
		t.Errorf("json sample %+v", body)
	}
	var res []api.AlertTestResult
	r = h.run("alerts", "test", "--json")
	mustJSON(t, r.stdout, &res)
	if len(res) != 2 || res[0].Code != 200 || res[1].Code != 500 {
		t.Errorf("alerts test --json: %+v", res)
	}
}

func TestABadAlertsConfigIsRefusedWithFileKeyAndReason(t *testing.T) {
	h := newHome(t)
	h.writeDaemonYAML("alerts:\n  - url: ftp://example.com/hooks/SECRET\n    events: [errored, crashloop]\n    colour: red\n")
	err := h.fails("ls")
	file := filepath.Join(h.dir, "daemon.yaml")
	for _, want := range []string{
		file + ": alerts[0].colour: unknown key; known keys: url, format, events, min_interval, timeout, attempts",
		file + ": alerts[0].url: want an http:// or https:// URL, got scheme ftp",
		file + `: alerts[0].events[1]: unknown event kind "crashloop" (did you mean crash_loop?)`,
	} {
		if !strings.Contains(err, want) {
			t.Errorf("stderr\n%s\nwant %q", err, want)
		}
	}
	if strings.Contains(err, "SECRET") {
		t.Errorf("the error shows the URL's secret:\n%s", err)
	}
	if r := h.run("ping"); r.code == 0 {
		t.Fatalf("a daemon runs with a bad daemon.yaml: %s", r.stdout)
	}
	// Fixed, it starts.
	h.writeDaemonYAML("alerts:\n  - url: https://example.com/hooks/x\n    events: [errored, crash_loop]\n")
	var a api.Alerts
	mustJSON(t, h.ok("alerts", "ls", "--json"), &a)
	if len(a.Targets) != 1 || a.Targets[0].URL != "https://example.com/…" || strings.Join(a.Targets[0].Events, ",") != "errored,crash_loop" {
		t.Fatalf("targets %+v", a.Targets)
	}
}

func TestAFailedReloadAlertsAndASuccessfulOneRecovers(t *testing.T) {
	h := newHome(t)
	hk := newHook(t, nil)
	h.writeDaemonYAML(fmt.Sprintf("alerts:\n  - url: %s/hook\n", hk.URL))
	port := freePort(t)
	h.ok("start", "late.js", "--name", "late", "--port", fmt.Sprint(port), "--listen-timeout", "2s", "--env", "LATE_MS=0")
	h.waitApp("late", "online", allOnline)
	// The new process would listen only in a minute: the reload fails and
	// the old one serves on.
	if err := h.fails("set", "late", "env.LATE_MS=60000"); !strings.Contains(err, "reload failed") {
		t.Fatalf("set: %s", err)
	}
	h.ok("set", "late", "env.LATE_MS=0")
	bodies := waitHook(t, hk, 2, "the failed reload and the one that succeeded")
	var failed, ok alert.Body
	mustJSON(t, bodies[0], &failed)
	mustJSON(t, bodies[1], &ok)
	if failed.App != "late" || failed.Kind != api.AlertReloadFailed || failed.Recovered ||
		!strings.HasPrefix(failed.Message, "reload failed: late: instance 0: new process ") || !strings.Contains(failed.Message, "within listen_timeout 2s") {
		t.Errorf("alert %+v", failed)
	}
	if ok.App != "late" || ok.Kind != api.AlertReloadFailed || !ok.Recovered || ok.Message != "a reload succeeded" {
		t.Errorf("recovery %+v", ok)
	}
	// Another success tells nothing: the next alert is the next failure.
	h.ok("reload", "late")
	h.fails("set", "late", "env.LATE_MS=60000")
	deadline := time.Now().Add(20 * time.Second)
	a := h.alerts()
	for len(a.Alerts) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("the next failure was never raised: %+v", a.Alerts)
		}
		time.Sleep(50 * time.Millisecond)
		a = h.alerts()
	}
	// Within min_interval (1m) of the first alert of this incident key,
	// it is raised but not sent.
	if next := a.Alerts[2]; len(a.Alerts) != 3 || next.Kind != api.AlertReloadFailed || next.Recovered || next.Deliveries[0].Status != api.DeliverySuppressed {
		t.Fatalf("after a reload that succeeded with nothing open, then one that failed: %+v", a.Alerts)
	}
	if a.Targets[0].Suppressed != 1 || len(hk.got()) != 2 {
		t.Fatalf("target %+v, %d sent; want 1 suppressed, 2 sent", a.Targets[0], len(hk.got()))
	}
}

// An incident open when the daemon is updated in place stays one incident:
// the app still errored after `tend update` is not alerted again, its
// recovery is told once, and `alerts ls` keeps the alerts from before.
func TestAnOpenIncidentIsNotAlertedAgainAfterAnUpdate(t *testing.T) {
	h := newHome(t)
	hk := newHook(t, nil)
	h.writeDaemonYAML(fmt.Sprintf("alerts:\n  - url: %s/hook\n", hk.URL))
	kind := func(b string) (out alert.Body) {
		t.Helper()
		mustJSON(t, b, &out)
		return out
	}
	h.run("start", "crash.js", "--name", "bad", "--max-restarts", "1")
	if b := kind(waitHook(t, hk, 1, "bad errored")[0]); b.App != "bad" || b.Kind != api.AlertErrored || b.Recovered {
		t.Fatalf("first alert = %+v", b)
	}

	h.ok("update")
	if p := h.pingJSON(); p.Updates != 1 {
		t.Fatalf("ping after tend update: %+v", p)
	}
	// Another app errs after the update: its alert is the next one, not a
	// second one of bad, which the new daemon found errored.
	h.run("start", "crash.js", "--name", "other", "--max-restarts", "1")
	if b := kind(waitHook(t, hk, 2, "other errored")[1]); b.App != "other" || b.Kind != api.AlertErrored {
		t.Fatalf("the alert after the update = %+v; want other's (bad's incident was open already)", b)
	}
	// bad fixed: its recovery comes, once.
	h.ok("set", "bad", "env.CRASH_STAY=1")
	h.ok("restart", "bad")
	bodies := waitHook(t, hk, 3, "bad recovered")
	if b := kind(bodies[2]); b.App != "bad" || b.Kind != api.AlertErrored || !b.Recovered {
		t.Fatalf("third alert = %+v; want bad's recovery", b)
	}
	a := h.alerts()
	if len(a.Alerts) != 3 || a.Alerts[0].App != "bad" || a.Alerts[0].ID != 1 || a.Alerts[2].ID != 3 {
		t.Fatalf("alerts ls after the update: %+v", a.Alerts)
	}
	if d := a.Alerts[0].Deliveries; len(d) != 1 || d[0].Status != api.DeliveryDelivered {
		t.Errorf("the alert from before the update: deliveries %+v", d)
	}
}

// An alert whose delivery is under way when the daemon is updated in place
// is delivered by the new daemon, not lost with the old one's queue.
func TestAnAlertInFlightDuringAnUpdateIsDeliveredAfterIt(t *testing.T) {
	h := newHome(t)
	held := make(chan struct{})
	quit := make(chan struct{})
	hk := newHook(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 { // held until the old daemon gives up on it
			close(held)
			select {
			case <-r.Context().Done():
			case <-quit:
			}
		}
	})
	t.Cleanup(func() { close(quit) })
	h.writeDaemonYAML(fmt.Sprintf("alerts:\n  - url: %s/hook\n    timeout: 1m\n", hk.URL))
	h.run("start", "crash.js", "--name", "bad", "--max-restarts", "1")
	select {
	case <-held:
	case <-time.After(30 * time.Second):
		t.Fatal("the alert of bad never reached the webhook")
	}
	h.ok("update")
	bodies := waitHook(t, hk, 2, "the alert again, from the new daemon")
	var first, again alert.Body
	mustJSON(t, bodies[0], &first)
	mustJSON(t, bodies[1], &again)
	if first.App != "bad" || first.Kind != api.AlertErrored || again.ID != first.ID || again.Message != first.Message {
		t.Fatalf("before the update %+v, after %+v; want the same alert", first, again)
	}
	var d api.Delivery
	await(t, "the delivery recorded", 10*time.Second, func() bool {
		a := h.alerts()
		if len(a.Alerts) != 1 || len(a.Alerts[0].Deliveries) != 1 {
			t.Fatalf("alerts after the update: %+v", a.Alerts)
		}
		d = a.Alerts[0].Deliveries[0]
		return d.Status == api.DeliveryDelivered
	})
	if d.Attempts != 1 || d.Code != 200 {
		t.Errorf("delivery %+v; want delivered at the first attempt that counted", d)
	}
	if got := h.alerts().Targets[0]; got.Delivered != 1 || got.Queued != 0 {
		t.Errorf("target after the update: %+v", got)
	}
}

// tend run (container mode) reads the alerts of the home's daemon.yaml, and
// the alert of the errored app that ends the container has gone out by
// the time tend run has exited. A bad daemon.yaml stops it before anything
// starts.
func TestRunSendsTheAlertOfTheAppThatEndsIt(t *testing.T) {
	h := newHome(t)
	hk := newHook(t, nil)
	h.writeDaemonYAML(fmt.Sprintf("alerts:\n  - url: %s/hook\n", hk.URL))
	_, out, exited := runTend(t, h, "crash.js", "--name", "job", "--max-restarts", "1")
	go func() {
		for out.Scan() {
		}
	}()
	select {
	case err := <-exited:
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
			t.Fatalf("tend run with an errored app: %v, want exit 1", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("tend run did not exit when its app errored")
	}
	got := hk.got()
	if len(got) != 1 {
		t.Fatalf("the webhook got %d alerts by the time tend run exited, want 1: %q", len(got), got)
	}
	var b alert.Body
	mustJSON(t, got[0], &b)
	if b.App != "job" || b.Kind != api.AlertErrored || b.Recovered {
		t.Errorf("alert = %+v", b)
	}

	h.writeDaemonYAML("alerts:\n  - url: ftp://example.com/\n")
	r := h.run("run", "crash.js", "--name", "job2")
	if r.code == 0 || !strings.Contains(r.stderr, "daemon.yaml") || !strings.Contains(r.stderr, "alerts") {
		t.Errorf("tend run with a bad daemon.yaml: exit %d, %s", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(h.dir, "tend.sock")); err == nil {
		t.Errorf("a daemon started with a bad daemon.yaml")
	}
}
