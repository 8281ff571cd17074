package app

import (
	"strconv"
	"strings"
	"testing"
)

func TestWithInspectPortMergesNodeOptions(t *testing.T) {
	for _, c := range []struct {
		env  []string
		want string // NODE_OPTIONS without the port
	}{
		{[]string{"A=1"}, "--inspect-port=127.0.0.1:"},
		{[]string{"NODE_OPTIONS=--max-old-space-size=512", "Z=2"}, "--max-old-space-size=512 --inspect-port=127.0.0.1:"},
		{[]string{"NODE_OPTIONS=  "}, "--inspect-port=127.0.0.1:"},
	} {
		env, port, err := withInspectPort(append([]string(nil), c.env...), "")
		if err != nil || port <= 0 {
			t.Fatalf("%q: port %d, %v", c.env, port, err)
		}
		n := 0
		for _, kv := range env {
			if v, ok := strings.CutPrefix(kv, "NODE_OPTIONS="); ok {
				n++
				if v != c.want+strconv.Itoa(port) {
					t.Errorf("%q: NODE_OPTIONS=%q, want %q", c.env, v, c.want+strconv.Itoa(port))
				}
			}
		}
		if n != 1 || len(env) != len(c.env)+btoi(!strings.Contains(strings.Join(c.env, "\n"), "NODE_OPTIONS=")) {
			t.Errorf("%q: got %q", c.env, env)
		}
	}
}

func TestWithInspectPortRequiresThePreload(t *testing.T) {
	env, port, err := withInspectPort([]string{"NODE_OPTIONS=--trace-warnings"}, `/run/tend dir/runtime.js`)
	want := "NODE_OPTIONS=--trace-warnings --inspect-port=127.0.0.1:" + strconv.Itoa(port) + ` --require "/run/tend dir/runtime.js"`
	if err != nil || len(env) != 1 || env[0] != want {
		t.Fatalf("got %q, %v; want %q", env, err, want)
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
