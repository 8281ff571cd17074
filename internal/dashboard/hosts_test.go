package dashboard

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeHosts is a fleet whose hosts a test sets.
type fakeHosts struct {
	mu    sync.Mutex // guards hosts and err
	hosts []HostView
	err   error
}

func (f *fakeHosts) set(hs []HostView, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hosts, f.err = hs, err
}

func (f *fakeHosts) list(context.Context) ([]HostView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]HostView(nil), f.hosts...), f.err
}

func startWith(t *testing.T, cfg Config) *Server {
	t.Helper()
	s, _, _ := startOn(t, "127.0.0.1:0", cfg)
	return s
}

func getPage(t *testing.T, s *Server, c *http.Client, cookie *http.Cookie, path string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.URL()+path, nil)
	req.AddCookie(cookie)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d\n%s", path, resp.StatusCode, b)
	}
	return string(b)
}

// hostsMsg is the hosts page's stream message.
type hostsMsg struct {
	Hosts []HostView `json:"hosts"`
	Error string     `json:"error"`
}

// nextHosts reads the stream's hosts messages until one satisfies cond.
func nextHosts(t *testing.T, sc *bufio.Scanner, cond func(hostsMsg) bool) hostsMsg {
	t.Helper()
	event := ""
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "event: "); ok {
			event = v
			continue
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok || event != "hosts" {
			continue
		}
		var m hostsMsg
		if err := json.Unmarshal([]byte(data), &m); err != nil {
			t.Fatalf("hosts message %s: %v", data, err)
		}
		if cond(m) {
			return m
		}
	}
	t.Fatalf("the stream ended without the hosts awaited: %v", sc.Err())
	return hostsMsg{}
}

func TestHostsPageListsTheFleetLive(t *testing.T) {
	f := &fakeHosts{}
	seen := time.Unix(1_000_000, 0).UTC()
	web := HostView{Name: "web-1", Labels: map[string]string{"role": "web"}, Alive: true, LastSeen: seen, Version: "1.2.3",
		CPU: 12.5, Memory: 64 << 20, Apps: []HostApp{{Name: "api", Namespace: "default", Status: "online", Online: 2, Total: 2}}}
	f.set([]HostView{web}, nil)
	s := startWith(t, Config{Hosts: f.list})
	c := noRedirect()
	cookie, _ := login(t, s, c)

	page := getPage(t, s, c, cookie, "/hosts")
	if !strings.Contains(page, `<table id="hosts"`) || strings.Contains(page, "not configured") {
		t.Fatalf("the hosts page of a hub's daemon has no hosts table:\n%s", page)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL()+"/api/stream?page=hosts", nil)
	req.AddCookie(cookie)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	m := nextHosts(t, sc, func(m hostsMsg) bool { return len(m.Hosts) == 1 })
	got := m.Hosts[0]
	if got.Name != "web-1" || !got.Alive || got.Labels["role"] != "web" || got.Version != "1.2.3" || got.CPU != 12.5 ||
		got.Memory != 64<<20 || !got.LastSeen.Equal(seen) || len(got.Apps) != 1 || got.Apps[0] != web.Apps[0] {
		t.Fatalf("host sent as %+v, want %+v", got, web)
	}

	// The host goes silent: the open page hears it is lost, no reload.
	lost := web
	lost.Alive = false
	f.set([]HostView{lost}, nil)
	nextHosts(t, sc, func(m hostsMsg) bool { return len(m.Hosts) == 1 && !m.Hosts[0].Alive })

	// A fleet that cannot be read says why.
	f.set(nil, errors.New("hub unreachable"))
	nextHosts(t, sc, func(m hostsMsg) bool { return m.Error == "hub unreachable" && len(m.Hosts) == 0 })
}

func TestHostsPageWithoutAFleetViewSaysWhy(t *testing.T) {
	for _, tc := range []struct {
		name, note, want string
	}{
		{"no fleet", "", "The fleet is not configured"},
		{"an agent", "This host, web-1, belongs to the fleet of the hub at tls://hub:4222.", "belongs to the fleet of the hub at tls://hub:4222"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startWith(t, Config{FleetNote: tc.note})
			c := noRedirect()
			cookie, _ := login(t, s, c)
			page := getPage(t, s, c, cookie, "/hosts")
			if !strings.Contains(page, tc.want) || strings.Contains(page, `<table id="hosts"`) {
				t.Errorf("hosts page without a fleet view: want %q and no table:\n%s", tc.want, page)
			}
		})
	}
}
