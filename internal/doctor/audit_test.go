package doctor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMain lets the test binary stand in for npm: linked as "npm" on PATH,
// it checks its arguments, prints $FAKE_NPM_OUT and exits with
// $FAKE_NPM_EXIT, as npm audit does.
func TestMain(m *testing.M) {
	if filepath.Base(os.Args[0]) == "npm" {
		if got := strings.Join(os.Args[1:], " "); got != "audit --omit=dev --json" {
			fmt.Fprintf(os.Stderr, "unexpected arguments %q\n", got)
			os.Exit(3)
		}
		fmt.Print(os.Getenv("FAKE_NPM_OUT"))
		fmt.Fprint(os.Stderr, os.Getenv("FAKE_NPM_ERR"))
		code := 1
		fmt.Sscan(os.Getenv("FAKE_NPM_EXIT"), &code)
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// fakeNPM puts the test binary on PATH as npm, printing stdout.
func fakeNPM(t *testing.T, stdout, stderr string, exit int) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	if err := os.Symlink(exe, filepath.Join(bin, "npm")); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin)
	t.Setenv("FAKE_NPM_OUT", stdout)
	t.Setenv("FAKE_NPM_ERR", stderr)
	t.Setenv("FAKE_NPM_EXIT", fmt.Sprint(exit))
	t.Setenv("GORACE", "atexit_sleep_ms=0") // under -race, a child exiting 0 would wait a second
}

func TestAuditFolds(t *testing.T) {
	// npm 11's report for the vulnerable fixture, trimmed, plus one made-up
	// package that has no fix.
	report, err := os.ReadFile(filepath.Join(fixture(t, ""), "npm-audit.json"))
	if err != nil {
		t.Fatal(err)
	}
	fakeNPM(t, string(report), "", 1)
	dir := fixture(t, "vulnerable")
	rs, err := Audit(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		level       Level
		detail, fix string
	}{
		{Fail, "body-parser <1.20.3 (high): body-parser vulnerable to denial of service when url encoding is enabled (GHSA-qwcr-r2fm-qrc7).", "npm audit fix --omit=dev"},
		{Fail, "express <=4.21.1 || 5.0.0-alpha.1 - 5.0.0 (high): Express.js Open Redirect in malformed URLs (GHSA-rv95-896h-c2vc); express vulnerable to XSS via response.redirect() (GHSA-qw6h-vgh9-j6wx); through body-parser, cookie.", "npm audit fix --omit=dev"},
		{Warn, "abandoned-example * (moderate)", "No fixed version is published: replace abandoned-example"},
		{Warn, "cookie <0.7.0 (low)", "npm install express@5.3.0` in " + dir + " (a major upgrade"},
	}
	if len(rs) != len(want) {
		t.Fatalf("%d results, want %d: %+v", len(rs), len(want), rs)
	}
	for i, w := range want {
		r := rs[i]
		if r.Check != "npm_audit" || r.Level != w.level || !strings.HasPrefix(r.Detail, w.detail) || !strings.Contains(r.Fix, w.fix) {
			t.Errorf("result %d: %+v\nwant %s %q… fix containing %q", i, r, w.level, w.detail, w.fix)
		}
	}
}

func TestAuditClean(t *testing.T) {
	fakeNPM(t, `{"auditReportVersion": 2, "vulnerabilities": {}, "metadata": {"dependencies": {"prod": 69}}}`, "", 0)
	rs, err := Audit(context.Background(), t.TempDir())
	if err != nil || len(rs) != 1 || rs[0].Level != Pass || !strings.Contains(rs[0].Detail, "69 production dependencies") {
		t.Fatalf("Audit = %+v, %v", rs, err)
	}
}

func TestAuditErrors(t *testing.T) {
	for _, tc := range []struct {
		name, stdout, stderr string
		code, message        string
		registry             bool
	}{
		{name: "audit endpoint refuses", // what a GET-only mirror answers
			stdout: `{"message": "405 Method Not Allowed - POST https://registry.npmjs.org/-/npm/v1/security/advisories/bulk",
				"method": "POST", "statusCode": 405, "body": "", "error": {"summary": "", "detail": ""}}`,
			stderr: "npm error audit endpoint returned an error\n",
			code:   "E405", message: "405 Method Not Allowed", registry: true},
		{name: "offline",
			stdout: `{"message": "request to https://registry.npmjs.org/-/npm/v1/security/advisories/bulk failed, reason: getaddrinfo ENOTFOUND registry.npmjs.org",
				"code": "ENOTFOUND", "error": {"code": "ENOTFOUND", "summary": "request to https://registry.npmjs.org/-/npm/v1/security/advisories/bulk failed, reason: getaddrinfo ENOTFOUND registry.npmjs.org", "detail": ""}}`,
			code: "ENOTFOUND", message: "getaddrinfo ENOTFOUND", registry: true},
		{name: "no lock file",
			stdout: `{"error": {"code": "ENOLOCK", "summary": "This command requires an existing lockfile.", "detail": "Try creating one first with: npm i --package-lock-only"}}`,
			code:   "ENOLOCK", message: "npm i --package-lock-only"},
		{name: "not JSON", stdout: "Segmentation fault", stderr: "npm crashed\n", message: "npm crashed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fakeNPM(t, tc.stdout, tc.stderr, 1)
			dir := t.TempDir()
			rs, err := Audit(context.Background(), dir)
			var ae *AuditError
			if !errors.As(err, &ae) {
				t.Fatalf("Audit = %+v, %v; want an *AuditError", rs, err)
			}
			if ae.Code != tc.code || ae.Registry != tc.registry || !strings.Contains(err.Error(), tc.message) || !strings.Contains(err.Error(), dir) {
				t.Errorf("error %q: code %q, registry %v; want %q, %v, containing %q", err, ae.Code, ae.Registry, tc.code, tc.registry, tc.message)
			}
		})
	}
}

func TestAuditWithoutNPM(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := Audit(context.Background(), t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "npm is not on PATH") {
		t.Fatalf("err = %v", err)
	}
}

// TestAuditNPM runs the real npm on the vulnerable fixture. The audit needs
// the registry: when it cannot be had, the test is skipped, except in CI.
