package release

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/tendhq/tend/internal/spec"
)

func TestRemoteScript(t *testing.T) {
	d := spec.Deploy{Env: "production", Hosts: []string{"h"}, Ref: "origin/main", Repo: "git@example.com:acme/it's.git",
		Path: "~/apps/api", PreSetup: "echo pre", PostDeploy: "npm run migrate", Vars: map[string]string{"NODE_ENV": "production", "A": "x y"}}
	setup, err := RemoteScript(d, ActionSetup, 0, "api")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"set -e\nexport A='x y'\nexport NODE_ENV='production'\n", "echo pre\n", `mkdir -p "$HOME"/'apps/api'`,
		`git clone 'git@example.com:acme/it'\''s.git' "$HOME"/'apps/api'/source`} {
		if !strings.Contains(setup, want) {
			t.Errorf("setup script lacks %q:\n%s", want, setup)
		}
	}
	update, err := RemoteScript(d, ActionUpdate, 0, "api")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`cd "$HOME"/'apps/api'/source`, "git fetch --prune --tags origin", "ref='origin/main'",
		`exec tend deploy "$HOME"/'apps/api'/source --app 'api' --post-deploy 'npm run migrate'`} {
		if !strings.Contains(update, want) {
			t.Errorf("update script lacks %q:\n%s", want, update)
		}
	}
	if s, _ := RemoteScript(d, ActionRevert, 2, "api"); !strings.HasSuffix(s, "exec tend rollback 'api' --back 2\n") {
		t.Errorf("revert: %s", s)
	}
	if s, _ := RemoteScript(d, ActionList, 0, "api"); !strings.HasSuffix(s, "exec tend releases 'api'\n") {
		t.Errorf("list: %s", s)
	}
	for _, tt := range []struct {
		action string
		n      int
		post   string
		want   string
	}{
		{ActionRevert, 0, "", "revert 0: want how many releases to go back"},
		{"rollout", 0, "", `unknown deploy action "rollout"`},
		{ActionUpdate, 0, "npm install && pm2 reload ecosystem.config.js --env production", "calls pm2: tend reloads the app itself"},
	} {
		d := d
		d.PostDeploy = tt.post
		if _, err := RemoteScript(d, tt.action, tt.n, "api"); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want %q", tt.action, err, tt.want)
		}
	}
	// The scripts are valid sh.
	if _, err := exec.LookPath("sh"); err == nil {
		for _, s := range []string{setup, update} {
			if out, err := exec.Command("sh", "-n", "-c", s).CombinedOutput(); err != nil {
				t.Errorf("sh -n: %v %s\n%s", err, out, s)
			}
		}
	}
}

func TestSSHArgs(t *testing.T) {
	home, _ := os.UserHomeDir()
	d := spec.Deploy{User: "deploy", Key: "~/.ssh/id", SSHOptions: []string{"StrictHostKeyChecking=no"}, Port: 2222}
	got := SSHArgs(d, "web1:2200", "echo hi")
	want := []string{"-i", home + "/.ssh/id", "-p", "2200", "-o", "StrictHostKeyChecking=no", "deploy@web1", "sh -c 'echo hi'"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
	got = SSHArgs(spec.Deploy{Port: 2222}, "web2", "x")
	if want := []string{"-p", "2222", "web2", "sh -c 'x'"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}
