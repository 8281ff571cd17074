package edge

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/edge/edgeconf"
	"github.com/tendhq/tend/internal/edge/internal/edgetest"
)

// testdata is the absolute fixture directory of the edge blocks, whose
// decoding internal/edge/edgeconf tests against goldens.
func testdata(t testing.TB) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "testdata", "edge"))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// What decodes, runs: each testdata/edge/*.yaml that decodes compiles.
func TestDecodedOptionsCompile(t *testing.T) {
	dir := testdata(t)
	edgetest.EdgeBlocks(t, dir, func(t *testing.T, _ string, block any) {
		o, errs := edgeconf.DecodeOptions(block, dir)
		if len(errs) > 0 {
			return // the refusals are edgeconf's goldens
		}
		if _, err := compile(o, nil, compileEnv{stateDir: t.TempDir(), now: time.Now, log: edgetest.Discard()}); err != nil {
			t.Fatalf("compile: %v", err)
		}
	})
}

// DefaultOptions spelt out, for `tend describe`; decoding them gives a
// front that behaves as the zero Options.
func TestDefaultOptions(t *testing.T) {
	d := edgeconf.DefaultOptions()
	b, _ := json.Marshal(d)
	var raw any
	json.Unmarshal(b, &raw)
	o, errs := edgeconf.DecodeOptions(raw, "")
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	env := compileEnv{now: time.Now, log: edgetest.Discard()}
	zero, _ := compile(edgeconf.Options{}, nil, env)
	def, _ := compile(o, nil, env)
	zb, _ := json.Marshal(zero.o)
	db, _ := json.Marshal(def.o)
	if zero.compress != def.compress {
		t.Errorf("defaults differ from the zero Options:\n%s\n%s", zb, db)
	}
	if zero.server() != def.server() || zero.upstream() != def.upstream() {
		t.Errorf("timeouts differ: %+v %+v", zero.server(), def.server())
	}
}

func TestListenRefusesInvalidOptions(t *testing.T) {
	_, err := Listen(Config{App: "api", Addr: "127.0.0.1:0", Options: edgeconf.Options{
		TLS:        &edgeconf.TLSOptions{Cert: "relative.pem", Key: "/nope.pem"},
		AccessLog:  "xml",
		RateLimits: []edgeconf.RateLimit{{Path: "/x"}},
	}})
	if err == nil {
		t.Fatal("Listen took invalid options")
	}
	for _, want := range []string{"edge.tls.cert: relative.pem is relative", "edge.access_log", "edge.rate_limits[0].per_minute"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%v lacks %q", err, want)
		}
	}
}
