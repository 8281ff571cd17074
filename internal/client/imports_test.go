package client

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// The client and the wire types link no server code: a CLI command, or a
// program of someone else's that drives tend, does not carry the
// supervisor, the apps or the edge. Only the edge's configuration (types,
// decoding, validation) may come along, inside the spec.
func TestClientAndAPILinkNoServer(t *testing.T) {
	const mod = "github.com/tendhq/tend/internal/"
	forbidden := []string{"daemon", "app", "supervise", "edge", "metrics", "logs"}
	allowed := map[string]bool{mod + "edge/edgeconf": true, mod + "edge/httpsyntax": true}
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	for _, pkg := range []string{"./internal/client", "./internal/api"} {
		cmd := exec.Command(gobin, "list", "-deps", "-f", "{{.ImportPath}}", pkg)
		cmd.Dir = filepath.Join("..", "..")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		deps := strings.Fields(string(out))
		if len(deps) < 3 {
			t.Fatalf("go list -deps %s listed only %v", pkg, deps)
		}
		for _, dep := range deps {
			if allowed[dep] {
				continue
			}
			for _, f := range forbidden {
				if dep == mod+f || strings.HasPrefix(dep, mod+f+"/") {
					t.Errorf("%s imports %s", pkg, dep)
				}
			}
		}
	}
}
