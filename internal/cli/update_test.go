package cli

import (
	"os"
	"path/filepath"
	"testing"
)

// `tend __update-check HOME` fails when this build could not start a
// daemon from HOME's daemon.yaml and state.json.
func TestUpdateCheckReadsTheHome(t *testing.T) {
	good := t.TempDir()
	if code := updateCheck([]string{good}); code != 0 {
		t.Errorf("an empty home: exit %d, want 0", code)
	}
	for name, file := range map[string]string{"state.json": "{not json", "daemon.yaml": "procs: [1, 2]\n"} {
		bad := t.TempDir()
		if err := os.WriteFile(filepath.Join(bad, name), []byte(file), 0o600); err != nil {
			t.Fatal(err)
		}
		if code := updateCheck([]string{bad}); code == 0 {
			t.Errorf("a home with a broken %s: exit 0, want 1", name)
		}
	}
}
