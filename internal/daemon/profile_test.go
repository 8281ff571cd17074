package daemon

import (
	"strings"
	"testing"

	"github.com/tendhq/tend/internal/api"
)

func TestCheckProfile(t *testing.T) {
	for _, c := range []struct {
		req  api.ProfileRequest
		want string // error text, or "" for valid
	}{
		{api.ProfileRequest{Kind: "cpu"}, ""},
		{api.ProfileRequest{Kind: "heap-sampling", DurationMS: 600000}, ""},
		{api.ProfileRequest{Kind: "heap", Instance: 3}, ""},
		{api.ProfileRequest{Kind: "mem"}, `kind "mem": want cpu, heap or heap-sampling`},
		{api.ProfileRequest{Kind: "cpu", Instance: -1}, "instance -1: want 0 or more"},
		{api.ProfileRequest{Kind: "cpu", DurationMS: 600001}, "duration 10m0.001s: want more than 0 and at most 10m0s"},
		{api.ProfileRequest{Kind: "cpu", DurationMS: -5}, "duration -5ms: want more than 0"},
		{api.ProfileRequest{Kind: "cpu", IntervalUS: 49}, "interval 49µs: want 50µs to 1s"},
		{api.ProfileRequest{Kind: "cpu", IntervalUS: 1000001}, "interval 1.000001s: want 50µs to 1s"},
	} {
		req := c.req
		err := checkProfile(&req)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%+v: %v", c.req, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%+v: %v, want %q", c.req, err, c.want)
		}
		if c.want == "" && (req.DurationMS <= 0 || req.IntervalUS <= 0) {
			t.Errorf("%+v: defaults not filled: %+v", c.req, req)
		}
	}
}

func TestOneProfilePerInstance(t *testing.T) {
	var p profiles
	r, ok := p.begin(profileKey(1, 0))
	if !ok {
		t.Fatal("first profile refused")
	}
	if _, ok := p.begin(profileKey(1, 0)); ok {
		t.Fatal("second profile of the same instance allowed")
	}
	if _, ok := p.begin(profileKey(1, 1)); !ok {
		t.Fatal("profile of another instance refused")
	}
	if !p.stopEarly(profileKey(1, 0)) {
		t.Fatal("stopEarly found no profile")
	}
	p.stopEarly(profileKey(1, 0)) // twice is fine
	select {
	case <-r.stop:
	default:
		t.Fatal("stopEarly did not close the stop channel")
	}
	p.end(profileKey(1, 0))
	if p.stopEarly(profileKey(1, 0)) {
		t.Fatal("stopEarly found an ended profile")
	}
	if _, ok := p.begin(profileKey(1, 0)); !ok {
		t.Fatal("a profile after the first ended was refused")
	}
}
