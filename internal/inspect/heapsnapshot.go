package inspect

import (
	"encoding/json"
	"fmt"
	"slices"
)

// HeapSnapshot is the part of a .heapsnapshot that says which objects it
// holds: the flat node array, the width and fields of one node, and the
// string table the nodes' names index.
type HeapSnapshot struct {
	Snapshot struct {
		Meta struct {
			NodeFields []string `json:"node_fields"`
		} `json:"meta"`
	} `json:"snapshot"`
	Nodes   []int    `json:"nodes"`
	Strings []string `json:"strings"`
}

// Count returns how many nodes named name the snapshot holds (a class's
// instances, say), or why it cannot tell.
func (s HeapSnapshot) Count(name string) (int, error) {
	idx := slices.Index(s.Strings, name)
	if idx < 0 {
		return 0, fmt.Errorf("%s is not among the snapshot's %d strings", name, len(s.Strings))
	}
	fields := s.Snapshot.Meta.NodeFields
	width, at := len(fields), slices.Index(fields, "name")
	if width == 0 || at < 0 {
		return 0, fmt.Errorf("the snapshot's node fields %q have no name", fields)
	}
	n := 0
	for i := at; i < len(s.Nodes); i += width {
		if s.Nodes[i] == idx {
			n++
		}
	}
	return n, nil
}

// CountIn is Count of the snapshot held in b.
func CountIn(b []byte, name string) (int, error) {
	var s HeapSnapshot
	if err := json.Unmarshal(b, &s); err != nil {
		return 0, fmt.Errorf("not a heap snapshot: %w", err)
	}
	return s.Count(name)
}
