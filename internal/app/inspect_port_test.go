package app

import "testing"

func TestInspectPortOfReadsWhatWithInspectPortWrote(t *testing.T) {
	env, port, err := withInspectPort([]string{"A=1", "NODE_OPTIONS=--max-old-space-size=100"}, "/tmp/p.js")
	if err != nil {
		t.Fatal(err)
	}
	if got := inspectPortOf(env); got != port {
		t.Errorf("inspectPortOf(%q) = %d, want %d", env, got, port)
	}
	if got := inspectPortOf([]string{"NODE_OPTIONS=--inspect-port=0.0.0.0:9229"}); got != 0 {
		t.Errorf("a port not on loopback: got %d, want 0", got)
	}
	if got := inspectPortOf(nil); got != 0 {
		t.Errorf("no NODE_OPTIONS: got %d", got)
	}
}
