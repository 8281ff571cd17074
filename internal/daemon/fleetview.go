package daemon

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/tendhq/tend/internal/dashboard"
	"github.com/tendhq/tend/internal/fleet"
)

// fleetView is the fleet as the dashboard's Hosts page lists it, kept by
// a daemon that runs the hub: watchers of the status and heartbeat
// buckets, on an in-process operator connection, fill it as the agents
// write, so that the page reads memory and never the buckets. A
// heartbeat key that expires (the bucket's TTL leaves a marker) makes its
// host lost at once.
type fleetView struct {
	mu sync.Mutex // guards status, beats and ready
	// status is each host's last status; beats the last heartbeat of the
	// hosts whose heartbeat key lives.
	status map[string]fleet.Status
	beats  map[string]time.Time
	// ready says both watchers have had the buckets' current values.
	ready int
}

func newFleetView() *fleetView {
	return &fleetView{status: map[string]fleet.Status{}, beats: map[string]time.Time{}}
}

// run watches the buckets until ctx is done. startFleet starts it on a
// goroutine of its own and stops it before the hub.
func (v *fleetView) run(ctx context.Context, hub *fleet.Hub) error {
	v.mu.Lock()
	clear(v.status)
	clear(v.beats)
	v.ready = 0
	v.mu.Unlock()
	nc, err := hub.Connect(fleet.RoleOperator, "dashboard")
	if err != nil {
		return fmt.Errorf("connect to the hub: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for _, bucket := range []string{fleet.StatusBucket, fleet.HeartbeatBucket} {
		kv, err := js.KeyValue(ctx, bucket)
		if err != nil {
			return fmt.Errorf("bucket %s: %w", bucket, err)
		}
		w, err := kv.WatchAll(ctx)
		if err != nil {
			return fmt.Errorf("watch bucket %s: %w", bucket, err)
		}
		wg.Go(func() {
			defer func() { _ = w.Stop() }()
			errs <- v.follow(ctx, bucket, w)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
	}
	return nil
}

// watch runs the view until ctx is done, again a second after it failed.
func (v *fleetView) watch(ctx context.Context, hub *fleet.Hub, log *slog.Logger) {
	for {
		err := v.run(ctx, hub)
		if ctx.Err() != nil {
			return
		}
		log.Warn("dashboard: fleet view failed, watching again", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

// follow applies a watcher's updates until ctx is done or it ends.
func (v *fleetView) follow(ctx context.Context, bucket string, w jetstream.KeyWatcher) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e, ok := <-w.Updates():
			if !ok {
				return fmt.Errorf("watcher of %s ended", bucket)
			}
			v.apply(bucket, e)
		}
	}
}

// apply records one update of bucket; nil says the current values are in.
func (v *fleetView) apply(bucket string, e jetstream.KeyValueEntry) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if e == nil {
		v.ready++
		return
	}
	host := e.Key()
	put := e.Operation() == jetstream.KeyValuePut
	switch bucket {
	case fleet.StatusBucket:
		if !put {
			delete(v.status, host)
			return
		}
		var s fleet.Status
		if json.Unmarshal(e.Value(), &s) != nil {
			return
		}
		if _, known := v.status[host]; !known && len(v.status) >= fleet.MaxHosts {
			return
		}
		s.Host = host
		v.status[host] = s
	case fleet.HeartbeatBucket:
		if !put {
			delete(v.beats, host)
			return
		}
		if _, known := v.beats[host]; !known && len(v.beats) >= fleet.MaxHosts {
			return
		}
		var b fleet.Heartbeat
		if json.Unmarshal(e.Value(), &b) != nil || b.Time.IsZero() {
			b.Time = e.Created()
		}
		v.beats[host] = b.Time
	}
}

// hosts lists every host that reported a status, by name.
func (v *fleetView) hosts() ([]dashboard.HostView, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.ready < 2 {
		return nil, errors.New("reading the fleet's buckets")
	}
	out := make([]dashboard.HostView, 0, len(v.status))
	for name, s := range v.status {
		h := dashboard.HostView{Name: name, Labels: s.Labels, LastSeen: s.Time, Version: s.Version,
			CPU: s.CPUPercent, Memory: s.MemoryBytes, Apps: make([]dashboard.HostApp, 0, len(s.Apps))}
		if beat, ok := v.beats[name]; ok {
			h.Alive = true
			if beat.After(h.LastSeen) {
				h.LastSeen = beat
			}
		}
		for _, a := range s.Apps {
			h.Apps = append(h.Apps, dashboard.HostApp{Name: a.Name, Namespace: a.Namespace, Status: a.Status, Online: a.Online, Total: a.Instances})
		}
		out = append(out, h)
	}
	slices.SortFunc(out, func(a, b dashboard.HostView) int { return cmp.Compare(a.Name, b.Name) })
	return out, nil
}
