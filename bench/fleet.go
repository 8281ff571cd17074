package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/fleet"
)

const (
	// fleetHosts is how many light agents join the hub; fleetApplies how
	// many applies, and fleetKills how many killed hosts, are timed.
	fleetHosts   = 100
	fleetApplies = 5
	fleetKills   = 3
	fleetRest    = 10 * time.Second
)

// fleetSection measures a fleet of fleetHosts light agents (fleet.Agent
// goroutines in this process, each with a connection of its own over TLS,
// its own credentials and a stand-in daemon that applies a desired state
// at once: the fleet's cost, not the apps') against one embedded hub, a
// tend hub process: the time from tend apply to every host converged, the
// time for a host that stops to be flagged lost, the hub's RSS and CPU at
// rest, and what one agent adds to the memory of the process it runs in.
func (b *bench) fleetSection(ctx context.Context) (result, error) {
	var r result
	dir := filepath.Join(b.tmp, "fleet")
	port, err := freePort()
	if err != nil {
		return r, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	env := append(append([]string(nil), b.env...), "TEND_HOME="+dir)
	hub := exec.CommandContext(ctx, b.tendBin, "hub", "--listen", addr)
	hub.Env = env
	out, err := hub.StdoutPipe()
	if err != nil {
		return r, err
	}
	if err := hub.Start(); err != nil {
		return r, err
	}
	defer func() {
		_ = hub.Process.Signal(syscall.SIGTERM)
		_ = hub.Wait()
	}()
	fp, err := fingerprint(out)
	if err != nil {
		return r, err
	}
	keys, err := fleet.LoadKeys(filepath.Join(dir, "hub"), false)
	if err != nil {
		return r, err
	}
	opCreds, err := writeFile(dir, "operator.creds", keys, fleet.RoleOperator, "bench")
	if err != nil {
		return r, err
	}
	ctlEnv := []string{"TEND_HOME=" + dir, "TEND_HUB=tls://" + addr, "TEND_HUB_CREDS=" + opCreds, "TEND_HUB_FINGERPRINT=" + fp}
	ctl, err := fleet.Dial(fleet.ControlConfig{URL: "tls://" + addr, Creds: opCreds, TLS: fleet.ClientTLS{Fingerprint: fp}})
	if err != nil {
		return r, err
	}
	defer ctl.Close()

	runtime.GC()
	rss0, err := selfRSS()
	if err != nil {
		return r, err
	}
	agents := make([]*benchAgent, fleetHosts)
	for i := range agents {
		name := fmt.Sprintf("host-%03d", i)
		creds, err := writeFile(dir, name+".creds", keys, fleet.RoleHost, name)
		if err != nil {
			return r, err
		}
		role := "web"
		if i%2 == 1 {
			role = "db"
		}
		a, err := startAgent(ctx, fleet.AgentConfig{URL: "tls://" + addr, Creds: creds, TLS: fleet.ClientTLS{Fingerprint: fp},
			Name: name, Labels: map[string]string{"role": role}, Version: "bench"})
		if err != nil {
			return r, err
		}
		agents[i] = a
	}
	defer func() {
		for _, a := range agents {
			if a != nil {
				a.stop()
			}
		}
	}()
	if err := awaitFleet(ctx, ctl, func(hs []fleet.Host) bool { return aliveHosts(hs) == fleetHosts }); err != nil {
		return r, fmt.Errorf("agents joining: %w", err)
	}
	runtime.GC()
	rss1, err := selfRSS()
	if err != nil {
		return r, err
	}
	perAgent := (rss1 - rss0) / fleetHosts
	logf("fleet: %d agents joined; this process's RSS %.1f -> %.1f MiB", fleetHosts, rss0, rss1)

	// At rest: only heartbeats and status.
	ticks0, err := cpuTicks(hub.Process.Pid)
	if err != nil {
		return r, err
	}
	t0 := time.Now()
	if err := sleep(ctx, fleetRest); err != nil {
		return r, err
	}
	ticks1, err := cpuTicks(hub.Process.Pid)
	if err != nil {
		return r, err
	}
	hubCPU := cpuPercent(ticks1-ticks0, time.Since(t0))
	st, err := procStatus(hub.Process.Pid)
	if err != nil {
		return r, err
	}
	hubRSS := float64(st["VmRSS"]) / 1024
	logf("fleet: hub at rest with %d agents: CPU %.2f%% of a core, RSS %.1f MiB", fleetHosts, hubCPU, hubRSS)

	// tend apply, every host's desired state changed, until all applied.
	var applies []float64
	for i := range fleetApplies {
		file := filepath.Join(dir, "fleet.yaml")
		text := fmt.Sprintf(`apps:
  - name: api
    script: /srv/api/server.js
    selector: {role: web}
    per_host: 2
    env: {RUN: "%[1]d"}
  - name: worker
    script: /srv/worker/main.js
    selector: {role: db}
    env: {RUN: "%[1]d"}
`, i)
		if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
			return r, err
		}
		start := time.Now()
		if _, err := b.tend.run(ctx, ctlEnv, "apply", file); err != nil {
			return r, err
		}
		applies = append(applies, millis(time.Since(start)))
	}
	logf("fleet: tend apply to %d hosts converged (ms): %.0f", fleetHosts, applies)

	// A host stops: the time until its heartbeat key expires and the hub
	// marks it (a watcher sees the marker).
	beats, err := ctl.KeyValue(ctx, fleet.HeartbeatBucket)
	if err != nil {
		return r, err
	}
	var flags []float64
	for i := range fleetKills {
		a := agents[i]
		w, err := beats.Watch(ctx, a.name, jetstream.UpdatesOnly())
		if err != nil {
			return r, err
		}
		start := time.Now()
		a.stop()
		took, err := awaitMarker(ctx, w, start)
		w.Stop()
		if err != nil {
			return r, fmt.Errorf("%s lost: %w", a.name, err)
		}
		flags = append(flags, millis(took))
	}
	logf("fleet: a stopped host flagged lost after (ms): %.0f", flags)

	r.detail = fmt.Sprintf("%d light agents (fleet.Agent goroutines in the bench process, each with its own TLS connection, credentials and a stand-in daemon that applies at once) against one `tend hub` process on loopback. Applies: %d, each changing every host's desired state; killed hosts: %d.\n\n",
		fleetHosts, fleetApplies, fleetKills)
	applyMed := median(applies)
	r.add(row{fmt.Sprintf("fleet: tend apply to %d hosts converged, median", fleetHosts), ms1(applyMed), "–", "–", "–", "≤ 2 s", met(applyMed <= 2000)})
	flagMed := median(flags)
	r.add(row{"fleet: a stopped host flagged lost, median", ms1(flagMed), "–", "–", "–", "≤ 5 s", met(flagMed <= 5000)})
	r.add(row{fmt.Sprintf("fleet: hub RSS at rest, %d hosts", fleetHosts), mib(hubRSS), "–", "–", "–", "", ""})
	r.add(row{fmt.Sprintf("fleet: hub CPU at rest, %d hosts", fleetHosts), cell(hubCPU, "%.2f%% of a core"), "–", "–", "–", "", ""})
	r.add(row{"fleet: RSS one agent adds (light agents, one process)", mib(perAgent), "–", "–", "–", "≤ 5 MiB", met(perAgent <= 5)})
	return r, nil
}

// fingerprint reads tend hub's output until it prints the fingerprint.
func fingerprint(out interface{ Read([]byte) (int, error) }) (string, error) {
	re := regexp.MustCompile(`fingerprint ([0-9a-f]{64})`)
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			// The rest of its output is not read: a few lines fit the pipe.
			return m[1], nil
		}
	}
	return "", errors.New("tend hub exited before printing its fingerprint")
}

func writeFile(dir, name string, keys fleet.Keys, role fleet.Role, who string) (string, error) {
	creds, err := keys.Creds(role, who)
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, name)
	return p, os.WriteFile(p, creds, 0o600)
}

func aliveHosts(hs []fleet.Host) int {
	n := 0
	for _, h := range hs {
		if h.Alive {
			n++
		}
	}
	return n
}

func awaitFleet(ctx context.Context, ctl *fleet.Control, cond func([]fleet.Host) bool) error {
	deadline := time.Now().Add(onlineTimeout)
	for {
		hs, err := ctl.Hosts(ctx)
		if err == nil && cond(hs) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %s (last: %v)", onlineTimeout, err)
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}

// awaitMarker waits for the watcher to see the key deleted (its TTL's
// marker) and returns the time since start.
func awaitMarker(ctx context.Context, w jetstream.KeyWatcher, start time.Time) (time.Duration, error) {
	timeout := time.After(30 * time.Second)
	for {
		select {
		case e := <-w.Updates():
			if e != nil && e.Operation() != jetstream.KeyValuePut {
				return time.Since(start), nil
			}
		case <-timeout:
			return 0, errors.New("no expiry marker within 30s")
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

func selfRSS() (float64, error) {
	st, err := procStatus(os.Getpid())
	if err != nil {
		return 0, err
	}
	return float64(st["VmRSS"]) / 1024, nil
}

// benchAgent is a light agent: fleet.Agent with a stand-in daemon.
type benchAgent struct {
	name string
	stop func()
}

func startAgent(ctx context.Context, cfg fleet.AgentConfig) (*benchAgent, error) {
	a, err := fleet.NewAgent(cfg, &standIn{})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := a.Run(ctx); err != nil {
			logf("fleet: agent %s: %v", cfg.Name, err)
		}
	}()
	return &benchAgent{name: cfg.Name, stop: sync.OnceFunc(func() { cancel(); <-done })}, nil
}

// standIn is a daemon whose apps are what it was last told to run.
type standIn struct {
	mu   sync.Mutex
	apps []api.App // guarded by mu
}

func (s *standIn) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/apps", func(w http.ResponseWriter, _ *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		apps := s.apps
		if apps == nil {
			apps = []api.App{}
		}
		_ = json.NewEncoder(w).Encode(apps)
	})
	started := time.Now()
	mux.HandleFunc("GET /v1/ping", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(api.Ping{Version: "bench", StartedAt: started})
	})
	return mux
}

func (s *standIn) ApplyFleet(_ context.Context, desired []json.RawMessage, _ []string) (api.ApplyResult, error) {
	var apps []api.App
	var res api.ApplyResult
	for _, raw := range desired {
		var a struct {
			Name      string `json:"name"`
			Instances int    `json:"instances"`
		}
		if err := json.Unmarshal(raw, &a); err != nil {
			return res, err
		}
		app := api.App{Name: a.Name, Namespace: "default", Status: api.StatusOnline}
		for i := range a.Instances {
			app.Instances = append(app.Instances, api.Instance{Index: i, PID: 1 + i, Status: api.StatusOnline})
		}
		apps = append(apps, app)
		res.Steps = append(res.Steps, api.PlanStep{Kind: "reload", App: "default/" + a.Name})
	}
	s.mu.Lock()
	s.apps = apps
	s.mu.Unlock()
	res.Applied = true
	return res, nil
}
