package fleet

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFleetFile(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "fleet.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

var known = map[string]map[string]string{
	"web-1": {"role": "web", "zone": "a"},
	"web-2": {"role": "web", "zone": "b"},
	"db-1":  {"role": "db", "zone": "a"},
}

func TestPlaceGivesEachHostExactlyTheAppsThatSelectIt(t *testing.T) {
	p := writeFleetFile(t, `apps:
  - name: api
    script: /srv/api/server.js
    selector: {role: web}
    per_host: 3
  - name: cron
    script: /srv/cron.js
    hosts: [db-1, web-2]
  - name: edge
    script: /srv/edge.js
    selector: {role: web, zone: a}
`)
	apps, err := LoadFile(p, 0)
	if err != nil {
		t.Fatal(err)
	}
	placed, err := Place(p, apps, known)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for h, list := range placed {
		var names []string
		for _, raw := range list {
			var a struct {
				Name      string `json:"name"`
				Instances int    `json:"instances"`
				Cwd       string `json:"cwd"`
			}
			if err := json.Unmarshal(raw, &a); err != nil {
				t.Fatal(err)
			}
			if a.Name == "api" && a.Instances != 3 {
				t.Errorf("%s: api has %d instances, want per_host 3", h, a.Instances)
			}
			if a.Name == "api" && a.Cwd != "/srv/api" {
				t.Errorf("%s: api's cwd is %q, want the script's directory", h, a.Cwd)
			}
			names = append(names, a.Name)
		}
		got[h] = strings.Join(names, ",")
	}
	want := map[string]string{"web-1": "api,edge", "web-2": "api,cron", "db-1": "cron"}
	for h, w := range want {
		if got[h] != w {
			t.Errorf("%s gets %q, want %q", h, got[h], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("placed on %v, want every known host once", got)
	}
}

// Two apps may use one port when no host runs both.
func TestAppsOnDifferentHostsMayShareAPort(t *testing.T) {
	p := writeFleetFile(t, `apps:
  - {name: api, script: /srv/api.js, port: 8080, selector: {role: web}}
  - {name: reports, script: /srv/reports.js, port: 8080, hosts: [db-1]}
`)
	apps, err := LoadFile(p, 0)
	if err != nil {
		t.Fatal(err)
	}
	placed, err := Place(p, apps, known)
	if err != nil {
		t.Fatal(err)
	}
	if len(placed["web-1"]) != 1 || len(placed["web-2"]) != 1 || len(placed["db-1"]) != 1 {
		t.Errorf("placed %v", placed)
	}
}

func TestBadFleetFilesSayWhereAndWhy(t *testing.T) {
	for _, c := range []struct{ name, text, want string }{
		{"unknown host", "apps:\n  - {name: a, script: /a.js, hosts: [web-9]}\n", `apps[0].hosts[0]: unknown host "web-9": the hosts the hub knows are db-1, web-1, web-2`},
		{"selector matching nothing", "apps:\n  - {name: a, script: /a.js, selector: {role: cache}}\n", "apps[0].selector: role=cache matches no host"},
		{"no placement", "apps:\n  - {name: a, script: /a.js}\n", "apps[0]: placement: give hosts: [names] or selector: {label: value}"},
		{"both placements", "apps:\n  - {name: a, script: /a.js, hosts: [web-1], selector: {role: web}}\n", "apps[0].hosts: give hosts or selector, not both"},
		{"bad per_host", "apps:\n  - {name: a, script: /a.js, hosts: [web-1], per_host: 0}\n", "apps[0].per_host: want instances on each host"},
		{"host listed twice", "apps:\n  - {name: a, script: /a.js, hosts: [web-1, web-1]}\n", "apps[0].hosts[1]: web-1 is listed twice"},
		{"bad host name", "apps:\n  - {name: a, script: /a.js, hosts: [Web_1!]}\n", `apps[0].hosts[0]: host name "Web_1!"`},
		{"invalid app", "apps:\n  - {name: a, script: /a.js, hosts: [web-1], instances: many}\n", "apps[0].instances"},
		{"relative script", "apps:\n  - {name: a, script: a.js, hosts: [web-1]}\n", "apps[0]"},
		{"no apps", "apps: []\n", "apps: required"},
		{"one port twice on a host", "apps:\n  - {name: a, script: /a.js, port: 8080, selector: {role: web}}\n  - {name: b, script: /b.js, port: 8080, hosts: [db-1, web-2]}\n",
			"apps[1].port: 8080 is also the port of apps[0] (a) on host web-2; two apps on one host cannot listen on one port"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := writeFleetFile(t, c.text)
			apps, err := LoadFile(p, 0)
			if err == nil {
				_, err = Place(p, apps, known)
			}
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), p) {
				t.Fatalf("err = %v\nwant it to name %s and say %q", err, p, c.want)
			}
		})
	}
}

func TestIsFleetFileOnlyWithAPlacement(t *testing.T) {
	if IsFleetFile(writeFleetFile(t, "apps:\n  - {name: a, script: a.js}\n")) {
		t.Error("an ecosystem file with no placement is a fleet file")
	}
	if !IsFleetFile(writeFleetFile(t, "apps:\n  - {name: a, script: /a.js, selector: {role: web}}\n")) {
		t.Error("a file with a selector is not a fleet file")
	}
}
