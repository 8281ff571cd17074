package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/client"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// startHub runs an in-process hub (no listener) for one test.
func startHub(t *testing.T) *Hub {
	t.Helper()
	h, err := StartHub(context.Background(), HubConfig{Dir: t.TempDir(), DontListen: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

// credsFile writes a credential of role to a file.
func credsFile(t *testing.T, h *Hub, role Role, name string) string {
	t.Helper()
	b, err := h.Keys().Creds(role, name)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), name+".creds")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// control connects the control point with a credential of role.
func control(t *testing.T, h *Hub, role Role) *Control {
	t.Helper()
	c, err := Dial(ControlConfig{Creds: credsFile(t, h, role, "op"), Options: []nats.Option{nats.InProcessServer(h.srv)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// fakeLocal is a daemon with a list of apps that ApplyFleet replaces.
type fakeLocal struct {
	mu      sync.Mutex
	apps    []api.App // guarded by mu
	applied []string  // guarded by mu: the managed lists ApplyFleet got
	// followEnded says a following logs request ended; guarded by mu.
	followEnded bool
	// profileHeld, when not nil, holds a profile until it is closed, and
	// profileIn is told when one is held.
	profileHeld, profileIn chan struct{}
}

func (f *fakeLocal) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/apps", func(w http.ResponseWriter, _ *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		apps := f.apps
		if apps == nil {
			apps = []api.App{}
		}
		json.NewEncoder(w).Encode(apps)
	})
	mux.HandleFunc("GET /v1/ping", func(w http.ResponseWriter, _ *http.Request) {
		json.NewEncoder(w).Encode(api.Ping{Version: "test", StartedAt: time.Now()})
	})
	mux.HandleFunc("GET /v1/logs", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprintf(w, "data: {\"message\":\"backlog\"}\n\n")
		w.(http.Flusher).Flush()
		if r.URL.Query().Get("follow") != "1" {
			return
		}
		for i := 0; ; i++ {
			select {
			case <-r.Context().Done():
				f.mu.Lock()
				f.followEnded = true
				f.mu.Unlock()
				return
			case <-time.After(20 * time.Millisecond):
			}
			fmt.Fprintf(w, "data: {\"message\":\"line %d\"}\n\n", i)
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("POST /v1/apps/{target}/profile", func(w http.ResponseWriter, r *http.Request) {
		var req api.ProfileRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Kind != api.ProfileCPU {
			http.Error(w, `{"error":"bad profile request"}`, http.StatusBadRequest)
			return
		}
		if f.profileHeld != nil {
			f.profileIn <- struct{}{}
			<-f.profileHeld
		}
		w.Header().Set(api.ProfilePIDHeader, "4242")
		w.Header().Add("Trailer", api.ProfileWarningTrailer)
		w.WriteHeader(http.StatusOK)
		rc := http.NewResponseController(w)
		for off := 0; off < len(profileData); off += 64 << 10 {
			if _, err := w.Write(profileData[off:min(off+64<<10, len(profileData))]); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
		}
		w.Header().Set(api.ProfileWarningTrailer, "inspector left open")
	})
	mux.HandleFunc("POST /v1/apps/{target}/reload", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode([]api.App{{Name: r.PathValue("target"), Status: "online"}})
	})
	return mux
}

func (f *fakeLocal) ApplyFleet(_ context.Context, desired []json.RawMessage, managed []string) (api.ApplyResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.applied = append(f.applied, strings.Join(managed, ","))
	// The apps not the fleet's stay.
	var kept []api.App
	for _, a := range f.apps {
		if !slices.Contains(managed, a.Namespace+"/"+a.Name) {
			kept = append(kept, a)
		}
	}
	f.apps = kept
	for _, raw := range desired {
		var a struct {
			Name, Namespace string
			Instances       int
		}
		if err := json.Unmarshal(raw, &a); err != nil {
			return api.ApplyResult{}, err
		}
		f.apps = slices.DeleteFunc(f.apps, func(x api.App) bool { return x.Name == a.Name })
		app := api.App{Name: a.Name, Namespace: "default", Status: "online"}
		for i := range a.Instances {
			app.Instances = append(app.Instances, api.Instance{Index: i, PID: 1000 + i, Status: "online"})
		}
		f.apps = append(f.apps, app)
	}
	return api.ApplyResult{Applied: true, Steps: []api.PlanStep{{Kind: "start", App: "default/x"}}}, nil
}

// runAgent runs an agent of host name until the test ends, or stop.
func runAgent(t *testing.T, h *Hub, name string, labels map[string]string, local Local) (stop func()) {
	t.Helper()
	a, err := NewAgent(AgentConfig{
		Name: name, Labels: labels, Version: "test", Creds: credsFile(t, h, RoleHost, name),
		StateFile: filepath.Join(t.TempDir(), "fleet.json"),
		Options:   []nats.Option{nats.InProcessServer(h.srv)},
	}, local)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	stop = sync.OnceFunc(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent %s: %v", name, err)
		}
	})
	t.Cleanup(stop)
	return stop
}

// eventually polls cond until it holds or 10s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func host(t *testing.T, c *Control, name string) (Host, bool) {
	t.Helper()
	hosts, err := c.Hosts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hosts {
		if h.Host == name {
			return h, true
		}
	}
	return Host{}, false
}

func TestAgentReportsAndAppliesItsDesiredState(t *testing.T) {
	h := startHub(t)
	c := control(t, h, RoleOperator)
	local := &fakeLocal{}
	runAgent(t, h, "web-1", map[string]string{"role": "web"}, local)

	eventually(t, "web-1 alive", func() bool { hs, ok := host(t, c, "web-1"); return ok && hs.Alive })
	hs, _ := host(t, c, "web-1")
	if hs.Labels["role"] != "web" || hs.Version != "test" || hs.Facts.CPUs == 0 {
		t.Fatalf("status = %+v", hs.Status)
	}

	ctx := context.Background()
	rev, err := c.PutDesired(ctx, "web-1", Desired{Apps: []json.RawMessage{json.RawMessage(`{"name":"api","instances":2}`)}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "web-1 converged", func() bool {
		hs, _ := host(t, c, "web-1")
		return hs.Desired.Revision == rev && len(hs.Apps) == 1 && hs.Apps[0].Online == 2 && hs.Apps[0].Fleet
	})

	// Compare-and-set: a write from a stale revision changes nothing.
	if _, err := c.PutDesired(ctx, "web-1", Desired{}, 0); !errors.Is(err, ErrConflict) {
		t.Fatalf("create over an existing key: err = %v, want ErrConflict", err)
	}
	if _, err := c.PutDesired(ctx, "web-1", Desired{}, rev-1+100); !errors.Is(err, ErrConflict) {
		t.Fatalf("update from a wrong revision: err = %v, want ErrConflict", err)
	}
	// The next apply is told what the fleet placed before.
	rev2, err := c.PutDesired(ctx, "web-1", Desired{Apps: []json.RawMessage{}}, rev)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "web-1 emptied", func() bool { hs, _ := host(t, c, "web-1"); return hs.Desired.Revision == rev2 && len(hs.Apps) == 0 })
	local.mu.Lock()
	last := local.applied[len(local.applied)-1]
	local.mu.Unlock()
	if last != "default/api" {
		t.Fatalf("managed at the last apply = %q, want default/api", last)
	}
}

func TestSilentHostIsMarkedLostByItsHeartbeatExpiring(t *testing.T) {
	h := startHub(t)
	c := control(t, h, RoleReader)
	stop := runAgent(t, h, "web-2", nil, &fakeLocal{})
	eventually(t, "web-2 alive", func() bool { hs, ok := host(t, c, "web-2"); return ok && hs.Alive })
	stop()
	eventually(t, "web-2 lost", func() bool { hs, ok := host(t, c, "web-2"); return ok && !hs.Alive })
}

func TestRequestsReachTheHostsOwnAPI(t *testing.T) {
	h := startHub(t)
	runAgent(t, h, "web-1", nil, &fakeLocal{apps: []api.App{{Name: "api", Namespace: "default", Status: "online"}}})
	rw := control(t, h, RoleOperator)
	ro := control(t, h, RoleReader)
	ctx := context.Background()
	var apps []api.App
	eventually(t, "an answer", func() bool {
		var err error
		apps, err = client.NewVia("web-1", rw.Transport("web-1")).List(ctx)
		return err == nil
	})
	if len(apps) != 1 || apps[0].Name != "api" {
		t.Fatalf("apps = %+v", apps)
	}
	if _, err := client.NewVia("web-1", rw.Transport("web-1")).Action(ctx, "api", "reload", api.ActionRequest{}); err != nil {
		t.Fatalf("reload as operator: %v", err)
	}
	// A read-only credential may list, not reload.
	if _, err := client.NewVia("web-1", ro.Transport("web-1")).List(ctx); err != nil {
		t.Fatalf("list as reader: %v", err)
	}
	_, err := client.NewVia("web-1", ro.Transport("web-1")).Action(ctx, "api", "reload", api.ActionRequest{})
	if err == nil || !strings.Contains(strings.ToLower(err.Error()), "permission") {
		t.Fatalf("reload as reader: err = %v, want a permissions violation", err)
	}
	// What ends the daemon, or streams without end, is refused.
	err = client.NewVia("web-1", rw.Transport("web-1")).Kill(ctx)
	if err == nil || !strings.Contains(err.Error(), "not served through the fleet") {
		t.Fatalf("kill through the fleet: err = %v, want a refusal", err)
	}
}

// asHost connects with host name's credential and records the server's
// asynchronous errors (permission violations).
func asHost(t *testing.T, h *Hub, name string) (*nats.Conn, func() []string) {
	t.Helper()
	var mu sync.Mutex
	var errs []string
	nc, err := nats.Connect("", nats.InProcessServer(h.srv), nats.UserCredentials(credsFile(t, h, RoleHost, name)),
		nats.CustomInboxPrefix(inboxPrefix(name)),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			mu.Lock()
			errs = append(errs, err.Error())
			mu.Unlock()
		}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc, func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), errs...) }
}

func TestHostCredentialReachesOnlyItsOwnKeys(t *testing.T) {
	h := startHub(t)
	op := control(t, h, RoleOperator)
	ctx := context.Background()
	if _, err := op.PutDesired(ctx, "web-2", Desired{Apps: []json.RawMessage{json.RawMessage(`{"name":"secret"}`)}}, 0); err != nil {
		t.Fatal(err)
	}
	nc, asyncErrs := asHost(t, h, "web-1")
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	short := func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, 500*time.Millisecond) }

	// Its own keys: yes.
	c1, cancel := short()
	defer cancel()
	if _, err := js.Publish(c1, kvSubject(StatusBucket, "web-1"), []byte(`{}`)); err != nil {
		t.Fatalf("write own status: %v", err)
	}
	// Another host's desired state: neither write nor read.
	for _, subj := range []string{kvSubject(DesiredBucket, "web-2"), kvSubject(DesiredBucket, "web-1"), kvSubject(StatusBucket, "web-2")} {
		c2, cancel := short()
		_, err := js.Publish(c2, subj, []byte(`{"apps":[]}`))
		cancel()
		if err == nil {
			t.Fatalf("publish to %s: no error", subj)
		}
	}
	c3, cancel3 := short()
	defer cancel3()
	if m, err := nc.RequestWithContext(c3, directGetSubject(DesiredBucket, "web-2"), nil); err == nil {
		t.Fatalf("read web-2's desired state: got %q", m.Data)
	}
	for _, subj := range []string{kvSubject(DesiredBucket, "web-2"), desiredNotice("web-2")} {
		sub, err := nc.SubscribeSync(subj)
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Unsubscribe()
	}
	eventually(t, "the permission errors", func() bool {
		all := strings.Join(asyncErrs(), "\n")
		for _, want := range []string{
			`Permissions Violation for Publish to "$KV.tend_desired.web-2"`,
			`Permissions Violation for Publish to "$KV.tend_desired.web-1"`,
			`Permissions Violation for Publish to "$KV.tend_status.web-2"`,
			`Permissions Violation for Publish to "$JS.API.DIRECT.GET.KV_tend_desired.$KV.tend_desired.web-2"`,
			`Permissions Violation for Subscription to "$KV.tend_desired.web-2"`,
			`Permissions Violation for Subscription to "tend.desired.web-2"`,
		} {
			if !strings.Contains(all, want) {
				return false
			}
		}
		return true
	})
	// Nothing changed: web-2's desired state is the operator's.
	d, _, err := op.Desired(ctx, "web-2")
	if err != nil || len(d.Apps) != 1 {
		t.Fatalf("web-2's desired state = %+v, %v", d, err)
	}
	// The reader may not write desired state either.
	ro := control(t, h, RoleReader)
	c4, cancel4 := short()
	defer cancel4()
	if _, err := ro.PutDesired(c4, "web-2", Desired{}, 1); err == nil || !strings.Contains(err.Error(), `Permissions Violation for Publish to "$KV.tend_desired.web-2"`) {
		t.Fatalf("reader writing a desired state: err = %v, want the permissions violation", err)
	}
}

func TestAllowedRequests(t *testing.T) {
	for _, c := range []struct {
		method, path string
		write        bool
		refused      string
	}{
		{"GET", "/apps", false, ""},
		{"GET", "/logs?app=api&lines=5", false, ""},
		{"POST", "/apps/api/reload", true, ""},
		{"POST", "/apps/api/reload", false, "may only read"},
		{"GET", "/logs?app=api&follow=1", false, "needs a stream subject"},
		{"GET", "/events", false, "not served through the fleet"},
		{"POST", "/kill", true, "not served through the fleet"},
		{"POST", "/update", true, "not served through the fleet"},
		{"POST", "/apps/api/profile", true, ""},
		{"POST", "/apps/api/profile", false, ""},
		{"POST", "/apps/api/profile/stop", false, ""},
		{"GET", "/apps/api/profile", false, ""},
		{"GET", "/../x", false, "bad path"},
		{"GET", "apps", false, "bad path"},
	} {
		err := allowed(Request{Method: c.method, Path: c.path}, c.write)
		if c.refused == "" && err != nil || c.refused != "" && (err == nil || !strings.Contains(err.Error(), c.refused)) {
			t.Errorf("%s %s (write %t): err = %v, want %q", c.method, c.path, c.write, err, c.refused)
		}
	}
}

func TestLogsFollowStreamsThroughTheHubUntilTheReaderStops(t *testing.T) {
	h := startHub(t)
	local := &fakeLocal{}
	runAgent(t, h, "web-1", nil, local)
	for _, role := range []Role{RoleOperator, RoleReader} {
		c := control(t, h, role)
		var remote *client.Client
		eventually(t, "an answer", func() bool {
			remote = client.NewVia("web-1", c.Transport("web-1"))
			_, err := remote.List(context.Background())
			return err == nil
		})
		local.mu.Lock()
		local.followEnded = false
		local.mu.Unlock()
		ctx, cancel := context.WithCancel(context.Background())
		var got []string
		err := remote.Logs(ctx, client.LogsRequest{Follow: true}, func(l api.LogLine) error {
			got = append(got, l.Message)
			if len(got) == 4 {
				cancel()
			}
			return nil
		})
		cancel()
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Fatalf("%s: logs -f: %v", role, err)
		}
		if len(got) < 4 || got[0] != "backlog" || got[1] != "line 0" || got[3] != "line 2" {
			t.Fatalf("%s: lines = %q", role, got)
		}
		eventually(t, "the agent to stop following", func() bool {
			local.mu.Lock()
			defer local.mu.Unlock()
			return local.followEnded
		})
	}
}
