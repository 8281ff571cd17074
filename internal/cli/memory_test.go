package cli

import (
	"strings"
	"testing"

	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/spec"
)

// The estimate: the mean RSS of an app's running instances for the ones
// it adds, tend's stated default for a Node app that has not run, nothing
// for any other app that has not run.
func TestMemoryWarning(t *testing.T) {
	node := func(name string, n int) spec.App {
		return spec.App{Name: name, Namespace: "default", Interpreter: "node", Instances: n}
	}
	running := []api.App{{Name: "api", Namespace: "default", Instances: []api.Instance{
		{PID: 10, MemoryBytes: 100 << 20}, {PID: 11, MemoryBytes: 200 << 20}, {PID: 0},
	}}}
	for _, c := range []struct {
		name  string
		apps  []spec.App
		avail uint64
		want  string // a prefix of the warning; "" for none
	}{
		{name: "new node app beyond", apps: []spec.App{node("web", 10)}, avail: 400 << 20,
			want: "instances: 10 new instances need about 500M (50M each, tend's figure for a Node instance that has not run yet) but 400M is available (MemAvailable): when memory runs out the kernel kills processes; start fewer instances or free memory"},
		{name: "new node app within", apps: []spec.App{node("web", 10)}, avail: 500 << 20},
		{name: "running app: only the added instances, at their mean", apps: []spec.App{node("api", 12)}, avail: 1 << 30,
			want: "instances: 10 new instances need about 1.5G (150M each, measured on api's running instances) but 1.0G is available"},
		{name: "running app scaled down", apps: []spec.App{node("api", 1)}, avail: 0},
		{name: "unknown binary that has not run", apps: []spec.App{{Name: "bin", Namespace: "default", Interpreter: "none", Instances: 100}}, avail: 0},
		{name: "several apps", apps: []spec.App{node("web", 4), node("api", 4)}, avail: 300 << 20,
			want: "instances: 6 new instances need about 500M (web: 4 × 50M, tend's figure for a Node instance that has not run yet; api: 2 × 150M, measured on api's running instances) but 300M is available"},
		{name: "same name, other namespace", apps: []spec.App{{Name: "api", Namespace: "other", Interpreter: "node", Instances: 3}}, avail: 100 << 20,
			want: "instances: 3 new instances need about 150M (50M each, tend's figure"},
	} {
		got := memoryWarning(memoryNeeds(c.apps, running), c.avail)
		if (c.want == "") != (got == "") || !strings.HasPrefix(got, c.want) {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}
