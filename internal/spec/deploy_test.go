package spec

import (
	"reflect"
	"testing"
)

func TestLoadDeploy(t *testing.T) {
	needNode(t)
	dir := t.TempDir()
	write(t, dir, "app.js", "")
	file := write(t, dir, "ecosystem.config.js", `module.exports = {
  apps: [{name: 'api', script: 'app.js'}],
  deploy: {
    production: {
      user: 'node', host: ['10.0.0.1', 'web2.example.com'], ref: 'origin/main',
      repo: 'git@github.com:acme/api.git', path: '/var/www/api',
      'pre-setup': 'apt-get install git', 'post-deploy': 'npm run migrate',
      ssh_options: 'StrictHostKeyChecking=no', key: '~/.ssh/deploy', env: {NODE_ENV: 'production'},
      forward_agent: true,
    },
    staging: {host: 'staging', repo: 'r', path: 'relative'},
  },
}`)
	d, warns, err := LoadDeploy(file, "production")
	if err != nil {
		t.Fatal(err)
	}
	want := Deploy{Env: "production", User: "node", Hosts: []string{"10.0.0.1", "web2.example.com"}, Ref: "origin/main",
		Repo: "git@github.com:acme/api.git", Path: "/var/www/api", PreSetup: "apt-get install git", PostDeploy: "npm run migrate",
		SSHOptions: []string{"StrictHostKeyChecking=no"}, Key: "~/.ssh/deploy", Vars: map[string]string{"NODE_ENV": "production"}}
	if !reflect.DeepEqual(d, want) {
		t.Errorf("got %+v\nwant %+v", d, want)
	}
	if len(warns) != 1 || warns[0].Path != "deploy.production.forward_agent" {
		t.Errorf("warnings %v, want one about forward_agent", warns)
	}
	for env, msg := range map[string]string{
		"staging": file + `: deploy.staging.path: "relative": want an absolute path on the host`,
		"qa":      file + ": deploy.qa: no such environment (the file has: production, staging)",
	} {
		if _, _, err := LoadDeploy(file, env); errString(err) != msg {
			t.Errorf("%s: got %v, want %s", env, err, msg)
		}
	}
	// The apps of the file load as before: the deploy section is no
	// warning.
	if _, warns, err := LoadFile(file, LoadOptions{}); err != nil || len(warns) != 0 {
		t.Errorf("LoadFile: %v %v", warns, err)
	}
}
