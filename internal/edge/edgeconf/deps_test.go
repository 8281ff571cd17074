package edgeconf

import (
	"os/exec"
	"strings"
	"testing"
)

// edgeconf is what the spec, the API's wire types and the client link of
// the edge: it must stay free of the edge's runtime. Of tend's packages
// it may import only these leaves.
var allowedDeps = map[string]bool{
	"github.com/tendhq/tend/internal/edge/edgeconf":   true,
	"github.com/tendhq/tend/internal/edge/httpsyntax": true,
	"github.com/tendhq/tend/internal/conf":            true,
}

func TestImportsNoRuntime(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for dep := range strings.FieldsSeq(string(out)) {
		if strings.HasPrefix(dep, "github.com/tendhq/tend/") && !allowedDeps[dep] {
			t.Errorf("edgeconf depends on %s", dep)
		}
	}
}
