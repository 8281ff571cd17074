package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/api"
)

// remotePair is two daemons on this machine: b serves its control API on
// remote_addr (127.0.0.1, a free port), a is the CLI of the other
// TEND_HOME, with a config directory of its own for remotes.json.
type remotePair struct {
	a, b   *home
	url    string
	port   int
	config string // a's XDG_CONFIG_HOME
}

func newRemotePair(t *testing.T) *remotePair {
	t.Helper()
	b := newHome(t)
	port := freePort(t)
	if err := os.WriteFile(filepath.Join(b.dir, "daemon.yaml"), fmt.Appendf(nil, "remote_addr: 127.0.0.1:%d\n", port), 0o600); err != nil {
		t.Fatal(err)
	}
	b.ok("ls") // starts b's daemon
	a := newHome(t)
	config := t.TempDir()
	a.env = append(a.env, "XDG_CONFIG_HOME="+config)
	return &remotePair{a: a, b: b, url: fmt.Sprintf("https://127.0.0.1:%d", port), port: port, config: config}
}

// token makes a token on b's host and returns its secret.
func (p *remotePair) token(t *testing.T, name string, readOnly bool) string {
	t.Helper()
	args := []string{"remote", "token", "create", "--name", name}
	if readOnly {
		args = append(args, "--read-only")
	}
	secret := strings.TrimSpace(p.b.ok(args...))
	if !strings.HasPrefix(secret, "tend_") || strings.Contains(secret, "\n") {
		t.Fatalf("token create printed %q, want the secret alone", secret)
	}
	return secret
}

// remote runs tend on a against b with the token (none when "").
func (p *remotePair) remote(token string, args ...string) result {
	p.a.t.Helper()
	env := []string{"-TEND_TOKEN"}
	if token != "" {
		env = []string{"TEND_TOKEN=" + token}
	}
	return p.a.runEnv(env, append([]string{"--host", p.url}, args...)...)
}

func (p *remotePair) remoteOK(token string, args ...string) string {
	p.a.t.Helper()
	r := p.remote(token, args...)
	if r.code != 0 {
		p.a.t.Fatalf("tend --host %s %s: exit %d\nstdout: %s\nstderr: %s", p.url, strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// raw sends one request to b's remote API as any HTTPS client would,
// without checking the certificate, and returns the status and body.
func (p *remotePair) raw(t *testing.T, method, path, token string) (int, string) {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, Timeout: 30 * time.Second}
	defer c.CloseIdleConnections()
	req, err := http.NewRequest(method, p.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestRemoteCommandsWorkFromAnotherHomeOverTLS(t *testing.T) {
	p := newRemotePair(t)
	op := p.token(t, "ci", false)
	fp := strings.TrimSpace(p.b.ok("remote", "fingerprint"))

	out := p.a.ok("remote", "login", p.url, "--token", op)
	if !strings.Contains(out, fp) {
		t.Errorf("login does not print the fingerprint %s that `tend remote fingerprint` prints:\n%s", fp, out)
	}
	remotes := filepath.Join(p.config, "tend", "remotes.json")
	if fi, err := os.Stat(remotes); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("remotes.json: %v, mode %v; want 0600", err, fi)
	}
	if b, _ := os.ReadFile(remotes); !strings.Contains(string(b), fp) {
		t.Errorf("remotes.json does not pin %s:\n%s", fp, b)
	}

	// From here the stored token is used (no TEND_TOKEN).
	port := freePort(t)
	p.remoteOK("", "start", filepath.Join(fixtures, "express-app.js"), "--name", "web", "-i", "2", "--port", strconv.Itoa(port), "--listen-timeout", "30s") // a loaded machine starts express slowly
	p.remoteOK("", "start", filepath.Join(fixtures, "counter.js"), "--name", "counter")
	web := p.b.waitApp("web", "online", allOnline)
	p.b.waitApp("counter", "online", allOnline)
	if web.Spec == nil && p.b.app("web").Instances[0].PID == 0 {
		t.Fatal("web has no process on b")
	}

	var apps []api.App
	mustJSON(t, p.remoteOK("", "ls", "--json"), &apps)
	if len(apps) != 2 || apps[0].Name != "web" || apps[1].Name != "counter" {
		t.Errorf("remote ls: %+v", apps)
	}
	if d := p.remoteOK("", "describe", "web"); !strings.Contains(d, filepath.Join(fixtures, "express-app.js")) {
		t.Errorf("remote describe does not name the script:\n%s", d)
	}

	// logs (following, as by default) over TLS sees lines as they come.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, tendBin, "--host", p.url, "logs", "counter", "--lines", "0") // follows, as logs does by default
	cmd.Env, cmd.Dir = p.a.env, fixtures
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	seen := false
	for sc.Scan() {
		if strings.Contains(sc.Text(), "tick ") {
			seen = true
			break
		}
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if !seen {
		t.Errorf("logs over --host saw no tick line")
	}

	// reload replaces every instance.
	before := pids(p.b.app("web"))
	p.remoteOK("", "reload", "web")
	after := pids(p.b.waitApp("web", "online", allOnline))
	for _, pid := range after {
		if slices.Contains(before, pid) {
			t.Errorf("reload over --host kept pid %d (before %v, after %v)", pid, before, after)
		}
	}

	// apply reads the file here and sends it; its paths are b's.
	file := filepath.Join(t.TempDir(), "tend.yaml")
	yaml := fmt.Sprintf("apps:\n  - name: idle\n    cwd: %s\n    script: idle.js\n", fixtures)
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	p.remoteOK("", "apply", file)
	p.b.waitApp("idle", "online", allOnline)

	// profile writes the file here.
	prof := filepath.Join(t.TempDir(), "web.cpuprofile")
	p.remoteOK("", "profile", "cpu", "web", "--duration", "300ms", "-o", prof)
	readCPUProfile(t, prof)

	// scale and set work too.
	p.remoteOK("", "scale", "web", "3")
	if n := len(p.b.waitApp("web", "3 instances online", func(a api.App) bool { return len(a.Instances) == 3 && allOnline(a) }).Instances); n != 3 {
		t.Errorf("web has %d instances after remote scale 3", n)
	}

	// The CLI on a never started a daemon of its own.
	if r := p.a.run("ping"); r.code == 0 {
		t.Errorf("a's own daemon is running: the client started one with --host:\n%s", r.stdout)
	}

	// An update of b hands the listener over: same certificate, same
	// token, no new pin.
	p.b.ok("update")
	var again []api.App
	mustJSON(t, p.remoteOK("", "ls", "--json"), &again)
	if len(again) != 3 {
		t.Errorf("remote ls after b's update: %d apps, want 3", len(again))
	}
	if f := strings.TrimSpace(p.b.ok("remote", "fingerprint")); f != fp {
		t.Errorf("fingerprint after update %s, want %s", f, fp)
	}
	if log, _ := os.ReadFile(filepath.Join(p.b.dir, "tend.log")); !strings.Contains(string(log), "remote control API serving") {
		t.Errorf("tend.log of b does not say the remote API serves")
	}
}

func TestRemoteRefusesWhatTheTokenDoesNotAllow(t *testing.T) {
	p := newRemotePair(t)
	op := p.token(t, "ci", false)
	ro := p.token(t, "viewer", true)
	p.b.ok("start", "express-app.js", "--name", "web", "-i", "2", "--port", strconv.Itoa(freePort(t)), "--listen-timeout", "30s", "--env", "SECRET_KEY=s3cr3t-value")
	before := pids(p.b.waitApp("web", "online", allOnline))

	// Plain HTTP to the TLS port gets nothing of the API.
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/v1/apps", p.port))
	if err != nil {
		t.Fatalf("plain HTTP: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "HTTPS server") || strings.Contains(string(body), "web") {
		t.Errorf("plain HTTP to the TLS port: %d %q, want 400 from the TLS server and nothing of the API", resp.StatusCode, body)
	}

	// No token, a wrong one: 401, through the CLI and as raw requests.
	if code, body := p.raw(t, "GET", "/v1/apps", ""); code != http.StatusUnauthorized || strings.Contains(body, "web") {
		t.Errorf("no token: %d %s", code, body)
	}
	if r := p.remote("", "ls"); r.code == 0 || !strings.Contains(r.stderr, "needs a token") {
		t.Errorf("ls without a token: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := p.remote("tend_not-a-real-token", "ls"); r.code == 0 || !strings.Contains(r.stderr, "not valid") {
		t.Errorf("ls with a wrong token: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// A read-only token reads, but changes nothing and sees no secret.
	if out := p.remoteOK(ro, "ls"); !strings.Contains(out, "web") {
		t.Errorf("read-only ls:\n%s", out)
	}
	if d := p.remoteOK(ro, "describe", "web"); strings.Contains(d, "s3cr3t-value") {
		t.Errorf("read-only describe shows the app's secret:\n%s", d)
	}
	file := filepath.Join(t.TempDir(), "tend.yaml")
	if err := os.WriteFile(file, fmt.Appendf(nil, "apps:\n  - name: idle\n    cwd: %s\n    script: idle.js\n", fixtures), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"restart", "web"}, {"delete", "web"}, {"scale", "web", "3"}, {"apply", file}, {"env", "web"}, {"stop", "all"},
	} {
		r := p.remote(ro, args...)
		if r.code == 0 || !strings.Contains(r.stderr, "the token is read-only") {
			t.Errorf("read-only %v: exit %d, want refused as read-only\n%s%s", args, r.code, r.stdout, r.stderr)
		}
		if strings.Contains(r.stdout+r.stderr, "s3cr3t-value") {
			t.Errorf("read-only %v printed the secret", args)
		}
	}
	if code, _ := p.raw(t, "POST", "/v1/apps/web/restart", ro); code != http.StatusForbidden {
		t.Errorf("read-only restart: %d, want 403", code)
	}
	if code, _ := p.raw(t, "GET", "/v1/fleet/hosts", ro); code != http.StatusForbidden {
		t.Errorf("read-only GET of a route the table does not know: %d, want 403", code)
	}
	web := p.b.app("web")
	if got := pids(web); !slices.Equal(got, before) || !allOnline(web) {
		t.Errorf("pids %v after the read-only attempts, want %v online", got, before)
	}
	if apps := p.b.ls(); len(apps) != 1 {
		t.Errorf("b runs %d apps after the read-only attempts, want 1", len(apps))
	}

	// Local-only: token management and update, refused by the CLI and by
	// the daemon, even to an operator.
	if r := p.remote(op, "remote", "token", "create", "--name", "sneaky"); r.code == 0 || !strings.Contains(r.stderr, "works on this host only") {
		t.Errorf("token create over --host: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if strings.Contains(p.b.ok("remote", "token", "ls"), "sneaky") {
		t.Errorf("a token was created over --host")
	}
	for _, path := range []string{"/v1/update", "/v1/kill", "/v1/tokens"} {
		if code, body := p.raw(t, "POST", path, op); code != http.StatusForbidden || !strings.Contains(body, "not served beyond the unix socket") {
			t.Errorf("operator POST %s: %d %s, want 403 local only", path, code, body)
		}
	}
	if r := p.remote(op, "kill"); r.code == 0 {
		t.Errorf("kill over --host succeeded")
	}
	p.b.ok("ping")

	// A revoked token is refused at its next request.
	tmp := p.token(t, "temp", false)
	p.remoteOK(tmp, "ls")
	p.b.ok("remote", "token", "revoke", "temp")
	if r := p.remote(tmp, "ls"); r.code == 0 || !strings.Contains(r.stderr, "not valid") {
		t.Errorf("revoked token: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// A certificate other than the pinned one is refused, naming both.
	p.remoteOK(op, "ls") // pinned on first use
	old := strings.TrimSpace(p.b.ok("remote", "fingerprint"))
	p.b.ok("kill")
	if err := os.RemoveAll(filepath.Join(p.b.dir, "remote")); err != nil {
		t.Fatal(err)
	}
	p.b.ok("ls")
	fresh := strings.TrimSpace(p.b.ok("remote", "fingerprint"))
	if fresh == old {
		t.Fatal("b kept its certificate")
	}
	r := p.remote(op, "restart", "web")
	if r.code == 0 || !strings.Contains(r.stderr, "IDENTIFICATION HAS CHANGED") || !strings.Contains(r.stderr, old) || !strings.Contains(r.stderr, fresh) ||
		!strings.Contains(r.stderr, "tend remote login "+p.url+" --fingerprint") {
		t.Errorf("changed certificate: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	restored := pids(p.b.waitApp("web", "online", allOnline))
	if r := p.a.runEnv(nil, "remote", "login", p.url, "--token", op, "--fingerprint", strings.Repeat("AB", 32)); r.code == 0 {
		t.Errorf("login with a wrong --fingerprint succeeded")
	}
	p.a.ok("remote", "login", p.url, "--token", op, "--fingerprint", fresh)
	p.remoteOK("", "ls")
	// TEND_FINGERPRINT is the one certificate to accept, whatever is pinned.
	if r := p.a.runEnv([]string{"TEND_FINGERPRINT=" + old}, "--host", p.url, "ls"); r.code == 0 || !strings.Contains(r.stderr, "not the one given") {
		t.Errorf("TEND_FINGERPRINT of the old certificate: exit %d\n%s", r.code, r.stderr)
	}
	if r := p.a.runEnv([]string{"TEND_FINGERPRINT=" + fresh}, "--host", p.url, "ls"); r.code != 0 {
		t.Errorf("TEND_FINGERPRINT of the certificate served: exit %d\n%s", r.code, r.stderr)
	}
	if got := pids(p.b.app("web")); !slices.Equal(got, restored) {
		t.Errorf("the refused restart restarted web: pids %v, want %v", got, restored)
	}

	// Guessing: after 10 failures from one address, 429, even for a good
	// token, until the window passes.
	for i := 1; i <= 11; i++ {
		code, _ := p.raw(t, "GET", "/v1/apps", "tend_guess"+strconv.Itoa(i))
		want := http.StatusUnauthorized
		if i == 11 {
			want = http.StatusTooManyRequests
		}
		if code != want {
			t.Errorf("wrong token %d: %d, want %d", i, code, want)
		}
	}
	if code, _ := p.raw(t, "GET", "/v1/apps", op); code != http.StatusTooManyRequests {
		t.Errorf("good token after 11 wrong ones: %d, want 429", code)
	}
	if r := p.remote(op, "ls"); r.code == 0 || !strings.Contains(r.stderr, "too many failed logins") {
		t.Errorf("CLI after 11 wrong tokens: exit %d\n%s", r.code, r.stderr)
	}
}
