package spec

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/tendhq/tend/internal/conf"
)

// Deploy is one environment of an ecosystem file's deploy section (PM2's
// `deploy: {production: {...}}`): where tend deploy FILE ENV takes the app
// over ssh, and what it runs there.
type Deploy struct {
	Env   string   // the section's name
	User  string   // ssh user; "" is ssh's default
	Hosts []string // one or more; "host" or "host:port"
	Port  int      // ssh port for every host; 0 is ssh's default
	Ref   string   // the git ref to deploy: "origin/main", a branch, a tag
	Repo  string   // the git repository the hosts clone
	Path  string   // on the host: the clone is Path/source
	// Commands run on the host: PreSetup before the clone, PostSetup after;
	// PreDeploy in the clone after the checkout, before tend deploy;
	// PostDeploy is the release's post_deploy (run in the release before it
	// becomes current). PreDeployLocal runs here before anything.
	PreSetup, PostSetup, PreDeploy, PostDeploy, PreDeployLocal string
	// SSHOptions are ssh -o options ("StrictHostKeyChecking=no"); Key is
	// an identity file (ssh -i).
	SSHOptions []string
	Key        string
	// Vars are exported on the host before each command (PM2's env).
	Vars map[string]string
}

// maxHosts bounds a deploy section's host list.
const maxHosts = 1000

var deployKeys = conf.Table[Deploy]{
	Lenient: true,
	Fields: []conf.Field[Deploy]{
		conf.StringField("user", nil, func(t *Deploy) *string { return &t.User }),
		conf.Custom("host", func(d *conf.Decoder, key string, v any, t *Deploy) {
			t.Hosts = d.Strings(key, v, maxHosts, checkHost)
		}).Else(func(d *conf.Decoder, _ *Deploy) {
			d.Errorf("host", "required: the host (or list of hosts) to deploy to")
		}),
		conf.IntField("port", 1, 65535, func(t *Deploy) *int { return &t.Port }),
		conf.StringField("ref", nil, func(t *Deploy) *string { return &t.Ref }).Else(func(d *conf.Decoder, t *Deploy) { t.Ref = "origin/HEAD" }),
		conf.StringField("repo", nil, func(t *Deploy) *string { return &t.Repo }).Else(func(d *conf.Decoder, _ *Deploy) { d.Errorf("repo", "required: the git repository the hosts clone") }),
		conf.StringField("path", checkDeployPath, func(t *Deploy) *string { return &t.Path }).Else(func(d *conf.Decoder, _ *Deploy) { d.Errorf("path", "required: the directory on the hosts") }),
		conf.StringField("pre-setup", nil, func(t *Deploy) *string { return &t.PreSetup }),
		conf.StringField("post-setup", nil, func(t *Deploy) *string { return &t.PostSetup }),
		conf.StringField("pre-deploy", nil, func(t *Deploy) *string { return &t.PreDeploy }),
		conf.StringField("post-deploy", nil, func(t *Deploy) *string { return &t.PostDeploy }),
		conf.StringField("pre-deploy-local", nil, func(t *Deploy) *string { return &t.PreDeployLocal }),
		conf.StringsField("ssh_options", 100, nil, func(t *Deploy) *[]string { return &t.SSHOptions }),
		conf.StringField("key", nil, func(t *Deploy) *string { return &t.Key }),
		conf.Custom("env", func(d *conf.Decoder, key string, v any, t *Deploy) {
			m, ok := d.Map(key, v, "{NODE_ENV: production}")
			if !ok {
				return
			}
			t.Vars = map[string]string{}
			for k, x := range m {
				s, ok := conf.Scalar(x)
				if !ok || !envVarName().MatchString(k) {
					d.Errorf(conf.Join(key, k), "want a variable name and a scalar value, got %s", conf.Describe(x))
					continue
				}
				t.Vars[k] = s
			}
		}),
	},
}

func checkHost(s string) string {
	if s == "" || strings.ContainsAny(s, " \t\n'\"`$;&|<>") || strings.HasPrefix(s, "-") {
		return fmt.Sprintf("%q is not a host name", s)
	}
	return ""
}

func checkDeployPath(s string) string {
	if !strings.HasPrefix(s, "/") && !strings.HasPrefix(s, "~") {
		return fmt.Sprintf("%q: want an absolute path on the host", s)
	}
	return ""
}

// LoadDeploy reads environment env of the deploy section of an ecosystem
// file.
func LoadDeploy(path, env string) (Deploy, []Warning, error) {
	var out Deploy
	m, err := readTop(path)
	if err != nil {
		return out, nil, err
	}
	sec, ok := m["deploy"].(map[string]any)
	if !ok {
		return out, nil, Errors{{File: path, Path: "deploy", Reason: "no deploy section: add deploy: {production: {user, host, ref, repo, path}} as PM2 has it"}}
	}
	raw, ok := sec[env].(map[string]any)
	if !ok {
		var names []string
		for k := range sec {
			names = append(names, k)
		}
		slices.Sort(names)
		return out, nil, Errors{{File: path, Path: "deploy." + env, Reason: fmt.Sprintf("no such environment (the file has: %s)", strings.Join(names, ", "))}}
	}
	d := conf.NewDecoder(path, "deploy."+env, raw)
	deployKeys.Decode(d, &out)
	out.Env = env
	if errs := d.Errs(); len(errs) > 0 {
		return Deploy{}, d.Warns(), errs
	}
	return out, d.Warns(), nil
}

var envVarName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`) })
