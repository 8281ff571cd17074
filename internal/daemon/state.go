package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/tendhq/tend/internal/app"
	"github.com/tendhq/tend/internal/home"
)

// stateVersion is the format of state.json; a daemon refuses a newer one
// rather than dropping what it does not understand.
const stateVersion = 1

// State is the desired state the daemon keeps in $TEND_HOME/state.json.
type State struct {
	Version int          `json:"version"`
	NextID  int          `json:"next_id"`
	Apps    []app.Record `json:"apps"`
}

// loadState reads the state file; a missing file is an empty state.
func loadState(path string) (State, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return State{Version: stateVersion}, nil
	}
	if err != nil {
		return State{}, err
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return State{}, fmt.Errorf("%s: %w (move it aside to start with no apps)", path, err)
	}
	if s.Version > stateVersion {
		return State{}, fmt.Errorf("%s: format version %d is newer than this tend understands (%d); upgrade tend", path, s.Version, stateVersion)
	}
	return s, nil
}

// writeFileAtomic is home.WriteFile: the old file or the new one whole.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	return home.WriteFile(path, data, perm)
}
