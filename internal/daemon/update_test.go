package daemon

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A daemon that cannot exec in place (tend run, this test) refuses an
// update, saying what to do instead, and a relative binary is refused
// before anything is run.
func TestUpdateRefusedWhereItCannotHappen(t *testing.T) {
	c, _ := startDaemon(t)
	code, body := call(t, c, http.MethodPost, "/v1/update", `{"binary": "tend"}`)
	if code != http.StatusBadRequest || !strings.Contains(body, "absolute") {
		t.Errorf("relative binary: %d %s", code, body)
	}
	code, body = call(t, c, http.MethodPost, "/v1/update", `{}`)
	if code != http.StatusConflict || !strings.Contains(body, "cannot update in place") {
		t.Errorf("update of a daemon that cannot: %d %s", code, body)
	}
}

// The new binary is run and must answer as tend does, with a hand-over
// format this daemon writes; the error says what went wrong.
func TestCheckBinary(t *testing.T) {
	dir := t.TempDir()
	script := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name, body, want string
	}{
		{"good", `echo '{"version":"9.9.9","handover":1}'`, ""},
		{"crash", `echo 'bad things' >&2; exit 3`, "exit code 3: bad things"},
		{"mute", `echo hello`, "did not answer as tend does"},
		{"future", `echo '{"version":"9.9.9","handover":2}'`, "hand-over format 2"},
	} {
		c, err := checkBinary(context.Background(), script(tc.name, tc.body), dir)
		switch {
		case tc.want == "" && (err != nil || c.Version != "9.9.9"):
			t.Errorf("%s: %+v, %v", tc.name, c, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: error %v, want one saying %q", tc.name, err, tc.want)
		}
	}
	if _, err := checkBinary(context.Background(), dir, dir); err == nil || !strings.Contains(err.Error(), "not an executable") {
		t.Errorf("a directory: %v", err)
	}
}
