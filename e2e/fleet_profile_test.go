package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/tendhq/tend/internal/fleet"
)

// TestFleetProfileTravelsThroughTheObjectStore profiles an app on a fleet
// host from the control point: the file arrives whole through the hub's
// object store, and the object is gone after.
func TestFleetProfileTravelsThroughTheObjectStore(t *testing.T) {
	f := newFleet(t, "web-1")
	web := f.agents["web-1"]
	port := freePort(t)
	web.ok("start", "hot.js", "--name", "hot", "--port", strconv.Itoa(port))
	web.waitApp("hot", "online", allOnline)
	l := startLoad(t, fmt.Sprintf("http://127.0.0.1:%d/", port), 2)
	l.waitRequests(t, 10)

	dir := t.TempDir()
	file := filepath.Join(dir, "hot.cpuprofile")
	r := f.control("--host", "web-1", "profile", "cpu", "hot", "--duration", "1s", "-o", file)
	if r.code != 0 {
		t.Fatalf("profile cpu --host web-1: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "wrote "+file) {
		t.Errorf("profile cpu printed:\n%s%s", r.stdout, r.stderr)
	}
	p := readCPUProfile(t, file)
	if top := p.TopSelf(3); !slices.Contains(top, "hotLoopForProfile") {
		t.Errorf("hotLoopForProfile is not among the top self-time functions %q", top)
	}
	l.check(t, "requests during the profile")

	// A read-only credential may profile too: a heap snapshot, megabytes
	// in many chunks.
	out := f.hubHome.ok("hub", "creds", "viewer", "--read-only")
	ro := regexp.MustCompile(`credentials: (\S+)`).FindStringSubmatch(out)[1]
	env := append(slices.Clone(f.ctl), "TEND_HUB_CREDS="+ro)
	snap := filepath.Join(dir, "hot.heapsnapshot")
	r = f.hubHome.runEnv(env, "--host", "web-1", "profile", "heap", "hot", "-o", snap)
	if r.code != 0 {
		t.Fatalf("profile heap --host web-1 (read-only): exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	b, err := os.ReadFile(snap)
	if err != nil {
		t.Fatal(err)
	}
	var hs struct {
		Snapshot struct {
			NodeCount int `json:"node_count"`
		} `json:"snapshot"`
	}
	if err := json.Unmarshal(b, &hs); err != nil || hs.Snapshot.NodeCount == 0 {
		t.Fatalf("%s (%d bytes) is not a heap snapshot: %v", snap, len(b), err)
	}
	// ...but not change anything.
	if r := f.hubHome.runEnv(env, "--host", "web-1", "restart", "hot"); r.code == 0 {
		t.Errorf("restart with a read-only credential succeeded:\n%s", r.stdout)
	}

	// Nothing is left in the bucket.
	if n := profileObjects(t, f); n != 0 {
		t.Errorf("%d objects left in %s", n, fleet.ProfileBucket)
	}
	l.stop()
	l.check(t, "requests after the profiles")
}

// profileObjects counts the objects in the hub's profile bucket.
func profileObjects(t *testing.T, f *testFleet) int {
	t.Helper()
	creds := strings.TrimPrefix(f.ctl[1], "TEND_HUB_CREDS=")
	tc, err := fleet.ClientTLS{Fingerprint: f.fp}.Config()
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect("tls://"+f.addr, nats.UserCredentials(creds), nats.Secure(tc))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	obs, err := js.ObjectStore(ctx, fleet.ProfileBucket)
	if err != nil {
		t.Fatal(err)
	}
	list, err := obs.List(ctx)
	if errors.Is(err, jetstream.ErrNoObjectsFound) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return len(list)
}
