package ready

import (
	"strings"
	"testing"
)

func TestReadIPCRuntimeFigures(t *testing.T) {
	in := strings.Join([]string{
		`{"type":"tend:runtime","figures":{"heap_used_bytes":10,"bad name":1,"eventloop_utilization":0.5,"str":"x"}}`,
		`{"type":"tend:metric","name":"runtime heap_used_bytes","value":99}`,
		`{"type":"tend:runtime","figures":"not an object"}`,
	}, "\n") + "\n"
	var got []string
	ReadIPC(strings.NewReader(in), make(chan string, 1), func(name string, v float64) {
		got = append(got, name)
	}, nil)
	want := []string{"runtime eventloop_utilization", "runtime heap_used_bytes", RuntimeEnd, RuntimeEnd}
	// Figures of one message come in map order: compare as sets per batch.
	if len(got) != len(want) || got[2] != RuntimeEnd || got[3] != RuntimeEnd ||
		!(got[0] == want[0] && got[1] == want[1] || got[0] == want[1] && got[1] == want[0]) {
		t.Fatalf("got %q, want %q (an app's own metric never passes as a runtime figure)", got, want)
	}
}
