package daemon

import (
	"strings"
	"testing"

	"github.com/tendhq/tend/internal/spec"
)

// set refuses keys it does not know, naming the nearest known one, instead
// of answering "applied" for a change that does nothing.
func TestEditRefusesUnknownKeys(t *testing.T) {
	dir := t.TempDir()
	s, _, err := spec.Decode(map[string]any{"script": "sh", "cwd": dir}, spec.DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{
		"bogus":           "bogus: unknown key",
		"a.b.c.d.e":       "a: unknown key",
		"max_restart":     "max_restart: unknown key (did you mean max_restarts?)",
		"vizion":          "vizion: not supported by this version of tend",
		"edge.compresion": "edge.compresion: unknown key (did you mean compression?)",
	} {
		_, err := edit(s, map[string]string{key: "1"}, nil, 0)
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("set %s=1: %v, want an error starting %q", key, err, want)
		}
	}
	got, err := edit(s, map[string]string{"max_restarts": "3", "env.A": "b"}, nil, 0)
	if err != nil || got.MaxRestarts != 3 || got.Env["A"] != "b" {
		t.Errorf("known keys: %+v, %v", got, err)
	}
}
