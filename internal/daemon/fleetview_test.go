package daemon

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/tendhq/tend/internal/dashboard"
	"github.com/tendhq/tend/internal/fleet"
)

// The hub's daemon keeps the fleet for the Hosts page from the buckets'
// watchers: a host's status and heartbeat make it alive with its apps;
// its heartbeat key gone makes it lost, its apps kept as last reported.
func TestFleetViewFollowsStatusAndHeartbeats(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	hub, err := fleet.StartHub(ctx, fleet.HubConfig{Dir: t.TempDir(), DontListen: true})
	if err != nil {
		t.Fatal(err)
	}
	defer hub.Close()
	v := newFleetView()
	stop := background(func(ctx context.Context) { v.watch(ctx, hub, slog.New(slog.DiscardHandler)) })
	defer stop()

	nc, err := hub.Connect(fleet.RoleOperator, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	status, err := js.KeyValue(ctx, fleet.StatusBucket)
	if err != nil {
		t.Fatal(err)
	}
	beats, err := js.KeyValue(ctx, fleet.HeartbeatBucket)
	if err != nil {
		t.Fatal(err)
	}
	seen := time.Now().UTC().Truncate(time.Second)
	put := func(kv jetstream.KeyValue, key string, v any) {
		b, _ := json.Marshal(v)
		if _, err := kv.Put(ctx, key, b); err != nil {
			t.Fatal(err)
		}
	}
	put(status, "web-1", fleet.Status{Host: "web-1", Labels: map[string]string{"role": "web"}, Version: "1.0", Time: seen.Add(-time.Second),
		CPUPercent: 3, MemoryBytes: 1 << 20, Apps: []fleet.AppStatus{{Name: "api", Namespace: "default", Status: "online", Instances: 2, Online: 1}}})
	put(beats, "web-1", fleet.Heartbeat{Time: seen, Version: "1.0"})

	await := func(what string, cond func([]dashboard.HostView) bool) []dashboard.HostView {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			hs, err := v.hosts()
			if err == nil && cond(hs) {
				return hs
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 10s; hosts %+v, err %v", what, hs, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	hs := await("web-1 alive", func(hs []dashboard.HostView) bool { return len(hs) == 1 && hs[0].Alive })
	h := hs[0]
	want := dashboard.HostApp{Name: "api", Namespace: "default", Status: "online", Online: 1, Total: 2}
	if h.Name != "web-1" || h.Labels["role"] != "web" || h.Version != "1.0" || h.CPU != 3 || h.Memory != 1<<20 ||
		!h.LastSeen.Equal(seen) || len(h.Apps) != 1 || h.Apps[0] != want {
		t.Fatalf("web-1 in the view: %+v, want its status with the heartbeat's time and api %+v", h, want)
	}

	if err := beats.Delete(ctx, "web-1"); err != nil {
		t.Fatal(err)
	}
	hs = await("web-1 lost", func(hs []dashboard.HostView) bool { return len(hs) == 1 && !hs[0].Alive })
	if len(hs[0].Apps) != 1 {
		t.Errorf("a lost host's apps: %+v, want those it last reported", hs[0].Apps)
	}
}
