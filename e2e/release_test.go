package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/release"
)

// webApp copies the release fixture (testdata/release/web) to a new
// directory with a tend.yaml of 2 instances on port, at version.
func webApp(t *testing.T, port int, version string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "web")
	if out, err := exec.Command("cp", "-r", filepath.Join(repoRoot, "testdata", "release", "web"), dir).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	yaml := fmt.Sprintf("apps:\n  - name: web\n    script: app.js\n    instances: 2\n    port: %d\n    listen_timeout: 15s\n", port)
	if err := os.WriteFile(filepath.Join(dir, "tend.yaml"), []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	setVersion(t, dir, version)
	return dir
}

func setVersion(t *testing.T, dir, version string) {
	t.Helper()
	p := filepath.Join(dir, "package.json")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var pkg map[string]any
	mustJSON(t, string(b), &pkg)
	pkg["version"] = version
	b, _ = json.MarshalIndent(pkg, "", "  ")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// packed packs dir with tend pack into an archive.
func (h *home) packed(dir string) string {
	h.t.Helper()
	out := filepath.Join(h.t.TempDir(), filepath.Base(dir)+".tar.gz")
	h.ok("pack", dir, "-o", out)
	return out
}

// version asks the app which release serves.
func version(t *testing.T, url string) string {
	t.Helper()
	var v struct{ Version string }
	mustJSON(t, get(t, url), &v)
	return v.Version
}

// waitVersion waits until both instances answer with version: the edge
// balances, so a few requests in a row reach each.
func waitVersion(t *testing.T, url, want string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for n := 0; n < 8; {
		if v := version(t, url); v == want {
			n++
		} else {
			n = 0
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never served version %s only", url, want)
		}
	}
}

func (h *home) releases(app string) []api.Release {
	h.t.Helper()
	var rs []api.Release
	mustJSON(h.t, h.ok("releases", app, "--json"), &rs)
	return rs
}

func (h *home) current(app string) string {
	h.t.Helper()
	link, err := os.Readlink(filepath.Join(h.dir, "releases", app, "current"))
	if err != nil {
		h.t.Fatalf("current of %s: %v", app, err)
	}
	return link
}

func TestDeployAndRollbackFailNoRequest(t *testing.T) {
	h := newHome(t)
	port := freePort(t)
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	dir := webApp(t, port, "1.0.0")
	// The first deploy packs the directory and defines the app from its
	// tend.yaml.
	h.ok("deploy", dir)
	if v := version(t, url); v != "1.0.0" {
		t.Fatalf("serves %s, want 1.0.0", v)
	}
	a := h.app("web")
	if len(a.Instances) != 2 || a.Mode != "proxy" {
		t.Fatalf("app %+v, want 2 instances behind the edge", a)
	}
	l := startLoad(t, url, 8)
	l.waitRequests(t, 200)

	setVersion(t, dir, "2.0.0")
	v2 := h.packed(dir)
	out := h.ok("deploy", v2)
	if !strings.Contains(out, "deployed release 2 of web (web 2.0.0)") {
		t.Errorf("deploy said %q", out)
	}
	waitVersion(t, url, "2.0.0")
	l.waitRequests(t, 200)

	rs := h.releases("web")
	if len(rs) != 2 || rs[0].Seq != 1 || rs[0].Version != "1.0.0" || rs[0].Active || rs[1].Seq != 2 || rs[1].Version != "2.0.0" || !rs[1].Active {
		t.Fatalf("releases %+v, want 1 (1.0.0) and 2 (2.0.0, active)", rs)
	}
	if rs[1].By == "" || rs[1].By == "unknown" || rs[1].DeployedAt.IsZero() || len(rs[1].SHA256) != 64 {
		t.Errorf("release 2 %+v: want who and when deployed it, and the archive's sha256", rs[1])
	}
	table := h.ok("releases", "web")
	if !strings.Contains(table, "SEQ") || !strings.Contains(table, "2.0.0") {
		t.Errorf("releases table:\n%s", table)
	}
	if got := h.current("web"); got != "2-2.0.0" {
		t.Errorf("current -> %s, want 2-2.0.0", got)
	}

	out = h.ok("rollback", "web")
	if !strings.Contains(out, "web runs release 1 (web 1.0.0)") {
		t.Errorf("rollback said %q", out)
	}
	waitVersion(t, url, "1.0.0")
	l.waitRequests(t, 200)
	if got := h.current("web"); got != "1-1.0.0" {
		t.Errorf("current -> %s after rollback, want 1-1.0.0", got)
	}
	// And forward again by number.
	h.ok("rollback", "web", "2")
	waitVersion(t, url, "2.0.0")
	l.waitRequests(t, 200)
	l.check(t, "deploy and rollback")

	// The state names current, so a new daemon runs the active release.
	d := h.app("web")
	if d.Status != api.StatusOnline {
		t.Errorf("status %s", d.Status)
	}
	var desc []api.App
	mustJSON(t, h.ok("describe", "web", "--json"), &desc)
	if want := filepath.Join(h.dir, "releases", "web", "current"); desc[0].Spec.Cwd != want {
		t.Errorf("cwd %s, want %s", desc[0].Spec.Cwd, want)
	}
}

func TestDeployOfAReleaseThatCannotStartKeepsTheOldOne(t *testing.T) {
	h := newHome(t)
	port := freePort(t)
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	dir := webApp(t, port, "1.0.0")
	h.ok("deploy", h.packed(dir))
	waitVersion(t, url, "1.0.0")
	before := pids(h.app("web"))
	l := startLoad(t, url, 8)
	l.waitRequests(t, 200)

	setVersion(t, dir, "2.0.0")
	if err := os.WriteFile(filepath.Join(dir, "BROKEN"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	msg := h.fails("deploy", h.packed(dir))
	for _, want := range []string{"release 2 did not become ready", "this release is broken: 2.0.0", "points back to 1-1.0.0"} {
		if !strings.Contains(msg, want) {
			t.Errorf("deploy error does not say %q:\n%s", want, msg)
		}
	}
	l.waitRequests(t, 200)
	if v := version(t, url); v != "1.0.0" {
		t.Errorf("serves %s, want 1.0.0", v)
	}
	if got := h.current("web"); got != "1-1.0.0" {
		t.Errorf("current -> %s, want 1-1.0.0", got)
	}
	if got := pids(h.app("web")); !slices.Equal(got, before) {
		t.Errorf("pids %v, want the old instances %v, never stopped", got, before)
	}
	if rs := h.releases("web"); len(rs) != 1 {
		t.Errorf("releases %+v, want only release 1", rs)
	}
	if _, err := os.Stat(filepath.Join(h.dir, "releases", "web", "2-2.0.0")); !os.IsNotExist(err) {
		t.Errorf("the failed release's directory is still there: %v", err)
	}
	l.check(t, "failed deploy")
}

// rewrite copies the archive src to a new one, letting edit change its
// entries and manifest; the manifest is written first, as pack does.
func rewrite(t *testing.T, src string, edit func(ents *[]tarEntry, m *release.Manifest)) string {
	t.Helper()
	f, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var ents []tarEntry
	var m release.Manifest
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		if h.Name == release.ManifestName {
			mustJSON(t, string(b), &m)
			continue
		}
		ents = append(ents, tarEntry{h, b})
	}
	edit(&ents, &m)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	mb, _ := json.Marshal(m)
	all := append([]tarEntry{{&tar.Header{Name: release.ManifestName, Mode: 0o644, Size: int64(len(mb)), Typeflag: tar.TypeReg}, mb}}, ents...)
	for _, e := range all {
		if err := tw.WriteHeader(e.h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(e.body); err != nil {
			t.Fatal(err)
		}
	}
	tw.Close()
	zw.Close()
	out := filepath.Join(t.TempDir(), "bad.tar.gz")
	if err := os.WriteFile(out, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return out
}

type tarEntry struct {
	h    *tar.Header
	body []byte
}

// addFile adds a listed file to an archive being rewritten.
func addFile(ents *[]tarEntry, m *release.Manifest, name string, body []byte) {
	sum := sha256.Sum256(body)
	*ents = append(*ents, tarEntry{&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}, body})
	m.Files = append(m.Files, release.File{Path: name, Mode: 0o644, Size: int64(len(body)), SHA256: hex.EncodeToString(sum[:])})
}

// tree lists every path under dir with its size or link target.
func tree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		what := fmt.Sprint(fi.Size())
		if d.Type()&fs.ModeSymlink != 0 {
			what, _ = os.Readlink(p)
		}
		out = append(out, p+" "+what)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDeployRefusesBadArchives(t *testing.T) {
	h := newHome(t)
	if err := os.WriteFile(filepath.Join(h.dir, "daemon.yaml"), []byte("max_upload: 4M\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	dir := webApp(t, port, "1.0.0")
	good := h.packed(dir)
	h.ok("deploy", good)
	waitVersion(t, url, "1.0.0")
	before := pids(h.app("web"))
	l := startLoad(t, url, 4)
	l.waitRequests(t, 100)

	outside := filepath.Join(t.TempDir(), "evil")
	escape := strings.Repeat("../", 12) + strings.TrimPrefix(outside, "/")
	random := make([]byte, 5<<20)
	rand.Read(random)
	tests := []struct {
		name string
		edit func(ents *[]tarEntry, m *release.Manifest)
		want string
	}{
		{"tampered byte", func(ents *[]tarEntry, m *release.Manifest) {
			for _, e := range *ents {
				if e.h.Name == "app.js" {
					e.body[10] ^= 1
				}
			}
		}, "archive refused: app.js: sha256"},
		{"dot-dot entry", func(ents *[]tarEntry, m *release.Manifest) {
			addFile(ents, m, escape, []byte("pwned"))
		}, `a path with ".."`},
		{"absolute path", func(ents *[]tarEntry, m *release.Manifest) {
			addFile(ents, m, outside, []byte("pwned"))
		}, "an absolute path"},
		{"escaping symlink", func(ents *[]tarEntry, m *release.Manifest) {
			*ents = append(*ents, tarEntry{&tar.Header{Name: "lib", Typeflag: tar.TypeSymlink, Linkname: "../../../../../../../../" + filepath.Dir(outside)}, nil})
			m.Files = append(m.Files, release.File{Path: "lib", Link: "../../../../../../../../" + filepath.Dir(outside)})
			addFile(ents, m, "lib/evil", []byte("pwned"))
		}, "outside the release"},
		{"over max_upload", func(ents *[]tarEntry, m *release.Manifest) {
			addFile(ents, m, "public/big.bin", random)
		}, "the archive is larger than max_upload (4M) of this daemon"},
	}
	releases := filepath.Join(h.dir, "releases")
	was := tree(t, releases)
	for _, tt := range tests {
		msg := h.fails("deploy", rewrite(t, good, tt.edit))
		if !strings.Contains(msg, tt.want) {
			t.Errorf("%s: error %q, want %q", tt.name, msg, tt.want)
		}
		if !strings.Contains(msg, "nothing changed") && tt.name != "over max_upload" {
			t.Errorf("%s: error %q does not say nothing changed", tt.name, msg)
		}
		if _, err := os.Lstat(outside); !os.IsNotExist(err) {
			t.Fatalf("%s: %s was written", tt.name, outside)
		}
		if now := tree(t, releases); !slices.Equal(now, was) {
			t.Errorf("%s: the releases changed:\n%s\nwant\n%s", tt.name, strings.Join(now, "\n"), strings.Join(was, "\n"))
		}
		if ents, _ := os.ReadDir(filepath.Join(h.dir, "uploads")); len(ents) != 0 {
			t.Errorf("%s: uploads left behind: %v", tt.name, ents)
		}
	}
	if got := pids(h.app("web")); !slices.Equal(got, before) {
		t.Errorf("pids %v, want %v", got, before)
	}
	l.check(t, "refused deploys")
}

// needRoot skips a test that mounts a file system, except in CI (which
// runs as root), where it is a failure.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("this test mounts a tmpfs and must run as root")
		}
		t.Skip("needs root to mount a tmpfs")
	}
}

func TestDeployOntoAFullDiskFailsCleanly(t *testing.T) {
	needRoot(t)
	h := newHome(t)
	releases := filepath.Join(h.dir, "releases")
	if err := os.MkdirAll(releases, 0o755); err != nil {
		t.Fatal(err)
	}
	// Room for release 1 (about 3 MB in 4 KB pages), not for release 2,
	// which carries 6 MB more.
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", releases).CombinedOutput(); err != nil {
		t.Fatalf("mount a tmpfs on %s: %v %s", releases, err, out)
	}
	// Lazily: the app's processes have their cwd in it until tend kill.
	t.Cleanup(func() { exec.Command("umount", "-l", releases).Run() })
	port := freePort(t)
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	dir := webApp(t, port, "1.0.0")
	h.ok("deploy", h.packed(dir))
	waitVersion(t, url, "1.0.0")
	l := startLoad(t, url, 4)
	l.waitRequests(t, 100)

	setVersion(t, dir, "2.0.0")
	big := make([]byte, 6<<20)
	rand.Read(big)
	if err := os.WriteFile(filepath.Join(dir, "big.bin"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	was := tree(t, releases)
	msg := h.fails("deploy", h.packed(dir))
	if !strings.Contains(msg, "the disk is full") || !strings.Contains(msg, "nothing changed") {
		t.Errorf("deploy error %q, want a full disk and nothing changed", msg)
	}
	if now := tree(t, releases); !slices.Equal(now, was) {
		t.Errorf("the releases changed:\n%s\nwant\n%s", strings.Join(now, "\n"), strings.Join(was, "\n"))
	}
	l.waitRequests(t, 100)
	if v := version(t, url); v != "1.0.0" {
		t.Errorf("serves %s, want 1.0.0", v)
	}
	l.check(t, "deploy onto a full disk")
}

// sshd is an OpenSSH server on 127.0.0.1 that lets this user in with a
// throwaway key.
type sshd struct {
	port        int
	key         string // the client's private key
	knownHosts  string
	cmd         *exec.Cmd
	dir, logTxt string
}

func startSSHD(t *testing.T) *sshd {
	t.Helper()
	needRoot(t) // sshd changes to the logged-in user, and needs /run/sshd
	bin := "/usr/sbin/sshd"
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("sshd is needed (Debian package openssh-server): %v", err)
		}
		t.Skipf("needs sshd (openssh-server): %v", err)
	}
	dir := t.TempDir()
	s := &sshd{port: freePort(t), key: filepath.Join(dir, "client"), knownHosts: filepath.Join(dir, "known_hosts"), dir: dir}
	for _, k := range []string{"host", "client"} {
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(dir, k)).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v %s", err, out)
		}
	}
	pub, err := os.ReadFile(s.key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), pub, 0o600); err != nil {
		t.Fatal(err)
	}
	config := fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
HostKey %s/host
AuthorizedKeysFile %s/authorized_keys
PidFile %s/sshd.pid
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
`, s.port, dir, dir, dir)
	if err := os.WriteFile(filepath.Join(dir, "sshd_config"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	s.cmd = exec.Command(bin, "-D", "-e", "-f", filepath.Join(dir, "sshd_config"))
	s.cmd.Stdout, s.cmd.Stderr = &log, &log
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.cmd.Process.Kill()
		s.cmd.Wait()
		if t.Failed() {
			t.Logf("sshd log:\n%s", log.String())
		}
	})
	// Up when it accepts a connection.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", s.port))
		if err == nil {
			c.Close()
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("sshd never listened: %v\n%s", err, log.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// git runs git in dir.
func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.email=t@example.com", "-c", "user.name=t"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestPM2DeploySectionOverSSH(t *testing.T) {
	h := newHome(t)
	s := startSSHD(t)
	port := freePort(t)
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)

	// The app's repository: a work tree pushed to a bare repository the
	// host clones.
	work := webApp(t, port, "1.0.0")
	bare := filepath.Join(t.TempDir(), "web.git")
	git(t, filepath.Dir(bare), "init", "-q", "--bare", bare)
	git(t, work, "init", "-q", "-b", "main")
	remote := filepath.Join(t.TempDir(), "srv")
	// tend on the host's PATH: the directory of the binary under test.
	path := filepath.Dir(tendBin) + ":" + os.Getenv("PATH")
	eco := fmt.Sprintf(`module.exports = {
  apps: [{name: 'web', script: 'app.js', instances: 2, port: %d, listen_timeout: '15s'}],
  deploy: {
    production: {
      user: %q, host: ['127.0.0.1'], port: %d, ref: 'origin/main', repo: %q, path: %q,
      key: %q, ssh_options: ['StrictHostKeyChecking=no', 'UserKnownHostsFile=%s', 'BatchMode=yes'],
      'post-deploy': 'echo post-deploy ran in $PWD',
      env: {TEND_HOME: %q, E2E_HOME: %q, GORACE: 'atexit_sleep_ms=0', PATH: %q},
    },
  },
}
`, port, whoami(t), s.port, bare, remote, s.key, s.knownHosts, h.dir, h.dir, path)
	if err := os.Remove(filepath.Join(work, "tend.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, "ecosystem.config.js"), []byte(eco), 0o644); err != nil {
		t.Fatal(err)
	}
	git(t, work, "add", "-A")
	git(t, work, "commit", "-qm", "v1")
	git(t, work, "remote", "add", "origin", bare)
	git(t, work, "push", "-q", "origin", "main")
	file := filepath.Join(work, "ecosystem.config.js")

	h.ok("deploy", file, "production", "setup")
	if _, err := os.Stat(filepath.Join(remote, "source", ".git")); err != nil {
		t.Fatalf("setup did not clone into %s/source: %v", remote, err)
	}
	r := h.run("deploy", file, "production")
	if r.code != 0 {
		t.Fatalf("deploy update: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "post-deploy ran in "+filepath.Join(h.dir, "releases", "web", "1-1.0.0")) {
		t.Errorf("post-deploy did not run in the release:\n%s", r.stderr)
	}
	waitVersion(t, url, "1.0.0")
	l := startLoad(t, url, 4)
	l.waitRequests(t, 100)

	setVersion(t, work, "2.0.0")
	git(t, work, "commit", "-qam", "v2")
	git(t, work, "push", "-q", "origin", "main")
	h.ok("deploy", file, "production", "update")
	waitVersion(t, url, "2.0.0")
	l.waitRequests(t, 100)
	rs := h.releases("web")
	if len(rs) != 2 || !rs[1].Active || rs[1].Commit != git(t, work, "rev-parse", "HEAD") {
		t.Fatalf("releases %+v, want 2, the second active at commit %s", rs, git(t, work, "rev-parse", "HEAD"))
	}
	if out := h.ok("deploy", file, "production", "list"); !strings.Contains(out, "2.0.0") || !strings.Contains(out, "1.0.0") {
		t.Errorf("list:\n%s", out)
	}
	h.ok("deploy", file, "production", "revert", "1")
	waitVersion(t, url, "1.0.0")
	l.waitRequests(t, 100)
	l.check(t, "PM2 deploy section")

	// PM2's post-deploy that reloads with pm2 is refused before ssh runs.
	bad := strings.Replace(eco, "echo post-deploy ran in $PWD", "npm install && pm2 reload ecosystem.config.js --env production", 1)
	badFile := filepath.Join(work, "pm2.config.js")
	if err := os.WriteFile(badFile, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	if msg := h.fails("deploy", badFile, "production"); !strings.Contains(msg, "calls pm2: tend reloads the app itself") {
		t.Errorf("error %q", msg)
	}
}

func whoami(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("id", "-un").Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

// The two daemons: the first's CLI packs here and deploys to the
// second over its TLS door, under load, with no failed request; the
// release records the token's name; a read-only token cannot deploy.
func TestRemoteDeployOverTLSFailsNoRequest(t *testing.T) {
	p := newRemotePair(t)
	op := p.token(t, "ci", false)
	ro := p.token(t, "viewer", true)
	p.a.ok("remote", "login", p.url, "--token", op)
	port := freePort(t)
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	dir := webApp(t, port, "1.0.0")
	p.remoteOK("", "deploy", dir)
	waitVersion(t, url, "1.0.0")
	l := startLoad(t, url, 8)
	l.waitRequests(t, 200)

	setVersion(t, dir, "2.0.0")
	v2 := p.a.packed(dir)
	// A read-only token, and none, are refused before anything changes.
	for _, tok := range []string{ro, "tend_wrong"} {
		if r := p.remote(tok, "deploy", v2); r.code == 0 || !strings.Contains(r.stderr, "refused") {
			t.Errorf("deploy with token %.10s...: exit %d\n%s", tok, r.code, r.stderr)
		}
	}
	if rs := p.b.releases("web"); len(rs) != 1 {
		t.Fatalf("releases after refused deploys: %+v", rs)
	}
	p.remoteOK("", "deploy", v2)
	waitVersion(t, url, "2.0.0")
	l.waitRequests(t, 200)

	var rs []api.Release
	mustJSON(t, p.remoteOK(ro, "releases", "web", "--json"), &rs)
	if len(rs) != 2 || !rs[1].Active || rs[1].By != "token ci" {
		t.Fatalf("releases %+v, want 2, the second active and deployed by token ci", rs)
	}
	p.remoteOK("", "rollback", "web")
	waitVersion(t, url, "1.0.0")
	l.waitRequests(t, 200)
	l.check(t, "remote deploys and rollback")
	if got := p.b.current("web"); got != "1-1.0.0" {
		t.Errorf("current -> %s, want 1-1.0.0", got)
	}
}
