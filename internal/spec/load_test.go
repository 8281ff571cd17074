package spec

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/golden"
)

// testdata is the absolute fixture directory; goldens spell it $DIR so that
// they do not depend on where the checkout lives.
func testdata(t testing.TB) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "testdata", "spec"))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// needNode skips a test that evaluates JavaScript when node is missing,
// except in CI, where a missing node is a broken setup.
func needNode(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("node is not on PATH; CI must have it")
		}
		t.Skip("node is not on PATH")
	}
}

func isJS(path string) bool {
	return slices.Contains([]string{".js", ".cjs", ".mjs"}, filepath.Ext(path))
}

// cases lists the ecosystem files of a fixture directory.
func cases(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, e := range entries {
		if IsEcosystemFile(e.Name()) {
			files = append(files, filepath.Join(dir, e.Name()))
		}
	}
	if len(files) == 0 {
		t.Fatalf("no cases in %s", dir)
	}
	return files
}

// checkGolden compares got, with the testdata directory written $DIR, with
// the golden file at path.
func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	golden.Check(t, path, bytes.ReplaceAll(got, []byte(testdata(t)), []byte("$DIR")))
}

var goldenOptions = LoadOptions{EnvName: "production", NumCPU: 4}

func TestLoadFileValid(t *testing.T) {
	for _, file := range cases(t, filepath.Join(testdata(t), "valid")) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			if isJS(file) {
				needNode(t)
			}
			apps, warns, err := LoadFile(file, goldenOptions)
			if err != nil {
				t.Fatalf("LoadFile: %v", err)
			}
			out := struct {
				Apps     []App    `json:"apps"`
				Warnings []string `json:"warnings"`
			}{Apps: apps, Warnings: []string{}}
			for _, w := range warns {
				out.Warnings = append(out.Warnings, w.String())
			}
			b, err := json.MarshalIndent(out, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, file+".golden", append(b, '\n'))
		})
	}
}

func TestLoadFileInvalid(t *testing.T) {
	for _, file := range cases(t, filepath.Join(testdata(t), "invalid")) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			if isJS(file) {
				needNode(t)
			}
			apps, _, err := LoadFile(file, goldenOptions)
			if err == nil {
				t.Fatal("LoadFile succeeded, want an error")
			}
			if apps != nil {
				t.Errorf("LoadFile returned %d apps with its error, want none", len(apps))
			}
			var errs Errors
			if !errors.As(err, &errs) {
				t.Errorf("error is %T, want Errors", err)
			}
			checkGolden(t, file+".golden", []byte(err.Error()+"\n"))
		})
	}
}

func TestLoadFileOnly(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "app.js", "")
	file := write(t, dir, "tend.yaml", `apps:
  - script: app.js
  - name: broken
    script: missing.js
  - name: other
    script: app.js
`)
	apps, _, err := LoadFile(file, LoadOptions{Only: []string{"app", "other"}})
	if err != nil {
		t.Fatalf("an unselected broken app must not fail the load: %v", err)
	}
	if len(apps) != 2 || apps[0].Name != "app" || apps[1].Name != "other" {
		t.Errorf("got %+v, want apps app and other", apps)
	}

	_, _, err = LoadFile(file, LoadOptions{Only: []string{"ghost"}})
	want := file + `: no app is named "ghost"; the apps are: app, broken, other`
	if err == nil || err.Error() != want {
		t.Errorf("got error %v, want %s", err, want)
	}
}

func TestLoadFileEnvName(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "app.js", "")
	file := write(t, dir, "tend.yaml", "apps:\n  - script: app.js\n    env: {A: '1'}\n")
	_, warns, err := LoadFile(file, LoadOptions{EnvName: "prod"})
	if err != nil {
		t.Fatal(err)
	}
	want := file + `: no app has an env_prod block, so environment "prod" changes nothing`
	if len(warns) != 1 || warns[0].String() != want {
		t.Errorf("got warnings %v, want %s", warns, want)
	}
}

func TestLoadFileNeedsNode(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	file := filepath.Join(testdata(t), "valid", "ecosystem.config.js")
	_, _, err := LoadFile(file, LoadOptions{})
	want := file + ": evaluating a JavaScript ecosystem file needs node on PATH (install Node.js, or convert the file to tend.yaml)"
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

func TestLoadFileJSFailures(t *testing.T) {
	needNode(t)
	defer func(d time.Duration) { jsTimeout = d }(jsTimeout)
	// Only the endless file waits for the timeout: the others keep the
	// real one, which a loaded machine's node start-up never reaches.
	endless, real := time.Second, jsTimeout
	tests := []struct{ js, want string }{
		{"process.exit(0)", "node evaluated the file but produced nothing; does the file call process.exit?"},
		{"for (;;) {}", "node did not finish evaluating the file within 1s; does it start a server or wait for input?"},
		{"module.exports = 42", `want a mapping with an "apps" list at the top level, got number 42`},
		{"module.exports = {apps: [{script: 'app.js'}], deploy: {}}", ""},
	}
	dir := t.TempDir()
	write(t, dir, "app.js", "")
	for _, tt := range tests {
		file := write(t, dir, "ecosystem.config.js", tt.js)
		jsTimeout = real
		if strings.HasPrefix(tt.js, "for") {
			jsTimeout = endless
		}
		_, warns, err := LoadFile(file, LoadOptions{})
		want := ""
		if tt.want != "" {
			want = file + ": " + tt.want
		}
		if got := errString(err); got != want {
			t.Errorf("%s: got error %q, want %q", tt.js, got, want)
		}
		// PM2's deploy section is tend deploy's (LoadDeploy): no warning.
		if err == nil && len(warns) != 0 {
			t.Errorf("%s: got warnings %v, want none", tt.js, warns)
		}
	}
}

func TestLoadFileNotFound(t *testing.T) {
	_, _, err := LoadFile("nowhere/tend.yaml", LoadOptions{})
	want := "nowhere/tend.yaml: cannot read the file: no such file or directory"
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
	_, _, err = LoadFile("app.js", LoadOptions{})
	if err == nil || !strings.Contains(err.Error(), "not an ecosystem file") {
		t.Errorf("got %v, want a refusal of a plain script", err)
	}
}

func TestIsEcosystemFile(t *testing.T) {
	for path, want := range map[string]bool{
		"tend.yaml":                 true,
		"dir/tend.yml":              true,
		"app.json":                  true,
		"app.toml":                  true,
		"ecosystem.config.js":       true,
		"/x/ecosystem.config.cjs":   true,
		"ecosystem.config.mjs":      true,
		"TEND.YAML":                 true,
		"app.js":                    false,
		"server.mjs":                false,
		".config.js":                false,
		"tend.yaml.golden":          false,
		"ecosystem.config.js/other": false,
		"Makefile":                  false,
	} {
		if got := IsEcosystemFile(path); got != want {
			t.Errorf("IsEcosystemFile(%q) = %v, want %v", path, got, want)
		}
	}
}

func TestDecodeJSON(t *testing.T) {
	dir := t.TempDir()
	script := write(t, dir, "app.js", "")
	tests := []struct{ body, want string }{
		{`[{"script": "` + script + `", "cwd": "` + dir + `"}]`, ""},
		{`[{"script": "app.js", "cwd": "` + dir + `"}]`, ""},
		{`[{"script": "` + script + `"}]`, "apps[0].cwd: required: the absolute directory to run the app in"},
		{`[{"script": "app.js", "cwd": "tmp"}]`, `apps[0].cwd: "tmp" is relative; give an absolute path`},
		{`{"apps": []}`, "want a JSON array of apps, got a mapping"},
		{`[]`, "apps: is empty; add at least one app"},
		{`[1]`, "apps[0]: want a mapping (one app), got number 1"},
		{`[{]`, "line 1, column 3: invalid character ']' looking for beginning of object key string"},
		{"[\n{}\n] x", "line 3, column 3: unexpected data after the JSON value"},
		{``, "no JSON value: the input is empty"},
		{`[{"a":`, "unexpected end of JSON input"},
	}
	for _, tt := range tests {
		_, _, err := DecodeJSON([]byte(tt.body), DecodeOptions{BaseDir: dir})
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tt.want {
			t.Errorf("DecodeJSON(%s)\n got error %q\nwant error %q", tt.body, got, tt.want)
		}
	}
}

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
