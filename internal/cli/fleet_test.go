package cli

import (
	"bytes"
	"strings"
	"testing"
)

func TestHostFlagOnlyOnCommandsItCarries(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		// With --hub, a bare name is a fleet host; without, a daemon's
		// remote address (remote.go), where local-only commands stop too.
		{[]string{"--host", "web-1", "--hub", "tls://127.0.0.1:1", "kill"}, "--host: tend kill does not run on a fleet host"},
		{[]string{"--host", "web-1", "--hub", "tls://127.0.0.1:1", "hub", "add-host", "x"}, "--host: tend hub does not run on a fleet host"},
		{[]string{"--host", "web-1", "kill"}, "`tend kill` works on this host only"},
		{[]string{"--host", "web-1", "hub", "add-host", "x"}, "`tend hub add-host` works on this host only"},
		{[]string{"--host", "Web 1", "--hub", "tls://127.0.0.1:1", "describe", "api"}, `--host: host name "Web 1"`},
	} {
		t.Setenv("TEND_HOME", t.TempDir())
		t.Setenv("TEND_HUB", "")
		var out bytes.Buffer
		e := &env{stdout: &out, stderr: &out}
		root := newRoot(e)
		root.SetArgs(c.args)
		err := root.Execute()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("tend %s: err = %v, want %q", strings.Join(c.args, " "), err, c.want)
		}
	}
}
