package startup

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tendhq/tend/internal/golden"
)

var sample = Unit{User: "deploy", Home: "/home/deploy/.tend", Exe: "/usr/local/bin/tend", Path: "/home/deploy/.nvm/versions/node/v20/bin:/usr/bin:/bin"}

func TestUnitGolden(t *testing.T) {
	got, err := sample.Render()
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, filepath.Join("..", "..", "testdata", "startup", "tend-deploy.service"), got)
	for _, line := range []string{"Type=notify", "Restart=always", "KillMode=mixed", `Environment="TEND_HOME=/home/deploy/.tend"`, "ExecStart=/usr/local/bin/tend daemon", "ExecReload=/bin/kill -HUP $MAINPID"} {
		if !strings.Contains(string(got), line+"\n") {
			t.Errorf("unit lacks %q", line)
		}
	}
}

// systemd-analyze verify checks the unit as systemd would load it.
func TestUnitVerifies(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("systemd-analyze is needed (Debian package systemd)")
		}
		t.Skip("no systemd-analyze")
	}
	dir := t.TempDir()
	exe := filepath.Join(dir, "tend")
	os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755)
	u := Unit{User: "root", Home: filepath.Join(dir, "home"), Exe: exe, Path: "/usr/bin:/bin"}
	path, err := Write(dir, u, false)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	// Lines about the unit itself are errors; lines about other units of
	// the host (its own configuration) are not ours to judge.
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, u.Name()) {
			t.Errorf("systemd-analyze: %s", line)
		}
	}
}

func TestNeverOverwritesAForeignUnit(t *testing.T) {
	dir := t.TempDir()
	foreign := filepath.Join(dir, sample.Name())
	os.WriteFile(foreign, []byte("[Service]\nExecStart=/bin/true\n"), 0o644)
	if _, err := Write(dir, sample, false); !errors.Is(err, ErrNotOurs) {
		t.Fatalf("Write over a foreign unit: %v", err)
	}
	if b, _ := os.ReadFile(foreign); !strings.HasPrefix(string(b), "[Service]") {
		t.Fatal("foreign unit changed")
	}
	if _, err := Remove(dir, sample); !errors.Is(err, ErrNotOurs) {
		t.Fatalf("Remove of a foreign unit: %v", err)
	}
	if _, err := Write(dir, sample, true); err != nil {
		t.Fatalf("Write --force: %v", err)
	}
	// Ours now: rewriting and removing need no force.
	if _, err := Write(dir, sample, false); err != nil {
		t.Fatal(err)
	}
	if _, err := Remove(dir, sample); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(foreign); !os.IsNotExist(err) {
		t.Errorf("unit still there after Remove")
	}
}

func TestRenderRefusesBadInput(t *testing.T) {
	for _, u := range []Unit{{User: "", Home: "/h", Exe: "/t"}, {User: "u", Home: "rel", Exe: "/t"}, {User: "u\nx", Home: "/h", Exe: "/t"}} {
		if _, err := u.Render(); err == nil {
			t.Errorf("Render(%+v): want an error", u)
		}
	}
}
