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

// A key's other name sets the key, even when the app has the key set:
// tend set api out=... does what out_file=... does, and unset takes either.
func TestEditTakesAliases(t *testing.T) {
	dir := t.TempDir()
	s, _, err := spec.Decode(map[string]any{"script": "sh", "cwd": dir, "out_file": "/tmp/a.log", "node_args": []any{"--x"}}, spec.DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := edit(s, map[string]string{"out": "/tmp/b.log", "exec_interpreter": "python3"}, nil, 0)
	if err != nil || got.OutFile != "/tmp/b.log" || got.Interpreter != "python3" {
		t.Errorf("set out, exec_interpreter: out_file %q, interpreter %q, %v", got.OutFile, got.Interpreter, err)
	}
	got, err = edit(s, nil, []string{"out", "node_args"}, 0)
	if err != nil || got.OutFile != "" || len(got.InterpreterArgs) != 0 {
		t.Errorf("unset out, node_args: out_file %q, interpreter_args %q, %v", got.OutFile, got.InterpreterArgs, err)
	}
	if _, err := edit(s, map[string]string{"out": "/tmp/b.log", "out_file": "/tmp/c.log"}, nil, 0); err == nil || !strings.Contains(err.Error(), "out and out_file name the same setting") {
		t.Errorf("set out and out_file: %v", err)
	}
}
