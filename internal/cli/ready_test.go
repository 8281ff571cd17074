package cli

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tendhq/tend/internal/api"
)

func TestNotReadyNamesEachInstanceNotServing(t *testing.T) {
	crash := &api.Exit{Code: 1, Reason: "exited with code 1; not restarting", Stderr: []string{"Error: boom", "", "Node.js v20.20.2"}}
	apps := []api.App{{
		Name: "web",
		Instances: []api.Instance{
			{Index: 0, Status: api.StatusOnline},
			{Index: 1, Status: api.StatusUnready, Reason: "listening on 3000, not on PORT=4100", RecentStderr: []string{"listening on 3000"}},
			{Index: 2, Status: api.StatusErrored, LastExit: crash},
			{Index: 3, Status: api.StatusLaunching, LastExit: crash},                                       // again, after a crash
			{Index: 4, Status: api.StatusLaunching, LastExit: &api.Exit{Expected: true}},                   // a restart tend asked for
			{Index: 5, Status: api.StatusWaiting, LastExit: &api.Exit{Reason: "restarting in 10s"}},        // backing off
			{Index: 6, Status: api.StatusStopped, LastExit: &api.Exit{Code: 0, Reason: "autorestart off"}}, // a job that ran
		},
	}}
	err := notReady(apps)
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	for _, want := range []string{
		"4 instances are not ready",
		"web:1 is unready: listening on 3000, not on PORT=4100\n    last stderr lines:\n      listening on 3000",
		"web:2 is errored: exited with code 1; not restarting\n    last stderr lines:\n      Error: boom\n  web:3",
		"web:3 is launching: exited with code 1",
		"web:5 is waiting: restarting in 10s",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	for _, not := range []string{"web:0", "web:4", "web:6"} {
		if strings.Contains(msg, not) {
			t.Errorf("error names %s, which is not failing:\n%s", not, msg)
		}
	}
	apps[0].Instances = apps[0].Instances[:1]
	if err := notReady(apps); err != nil {
		t.Errorf("every instance online: %v", err)
	}
}

func TestAnswersCountsAnyStatusBelow500(t *testing.T) {
	for _, tc := range []struct {
		code int
		want bool
	}{{200, true}, {404, true}, {302, true}, {503, false}, {502, false}} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "x", tc.code)
		}))
		ok, why := answers(context.Background(), srv.URL+"/")
		srv.Close()
		if ok != tc.want {
			t.Errorf("status %d: answers %v (%s), want %v", tc.code, ok, why, tc.want)
		}
		if !ok && why != fmt.Sprintf("answered %d %s", tc.code, http.StatusText(tc.code)) {
			t.Errorf("status %d: why %q", tc.code, why)
		}
	}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	if ok, why := answers(context.Background(), srv.URL+"/"); !ok {
		t.Errorf("a TLS port with a self-signed certificate: %s", why)
	}
}
