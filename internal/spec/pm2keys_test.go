package spec

import (
	"encoding/json"
	"maps"
	"reflect"
	"strings"
	"testing"
)

// decodeApp decodes one app of a node script with extra keys.
func decodeApp(t *testing.T, extra map[string]any) (App, error) {
	t.Helper()
	raw := map[string]any{"script": "/srv/app.js", "cwd": "/srv"}
	maps.Copy(raw, extra)
	a, _, err := Decode(raw, DecodeOptions{SkipFileChecks: true})
	return a, err
}

func TestIncrementAndInstanceVar(t *testing.T) {
	a, err := decodeApp(t, map[string]any{
		"instances": 3, "increment_var": "PORT", "instance_var": "INSTANCE_ID",
		"env": map[string]any{"PORT": 3000, "OTHER": "x"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []map[string]string{
		{"INSTANCE_ID": "0", "PORT": "3000", "OTHER": "x"},
		{"INSTANCE_ID": "1", "PORT": "3001", "OTHER": "x"},
		{"INSTANCE_ID": "2", "PORT": "3002", "OTHER": "x"},
	} {
		env := map[string]string{"PORT": a.Env["PORT"], "OTHER": "x"}
		a.InstanceEnv(env, i)
		if !reflect.DeepEqual(env, want) {
			t.Errorf("instance %d: %v, want %v", i, env, want)
		}
	}
	// The default variable, and a state file round trip.
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	again, _, err := DecodeJSON([]byte("["+string(b)+"]"), DecodeOptions{SkipFileChecks: true})
	if err != nil || !reflect.DeepEqual(again[0], a) {
		t.Errorf("round trip: %v\n%+v\n%+v", err, again, a)
	}
	plain, err := decodeApp(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	plain.InstanceEnv(env, 4)
	if !reflect.DeepEqual(env, map[string]string{"NODE_APP_INSTANCE": "4"}) {
		t.Errorf("default: %v", env)
	}
}

func TestPM2KeysRefuseBadValues(t *testing.T) {
	for _, tc := range []struct {
		extra map[string]any
		want  string
	}{
		{map[string]any{"increment_var": "PORT"}, `increment_var: PORT is not set in env: set env.PORT to the first instance's value`},
		{map[string]any{"increment_var": "PORT", "env": map[string]any{"PORT": "abc"}}, `increment_var: env.PORT is "abc": want an integer`},
		{map[string]any{"increment_var": "PORT", "env": map[string]any{"PORT": "1e300"}}, `want an integer`},
		{map[string]any{"increment_var": "PORT", "port": 8080, "env": map[string]any{"PORT": 3000}}, `increment_var: PORT is the private port tend gives each instance`},
		{map[string]any{"increment_var": "NODE_CHANNEL_FD", "env": map[string]any{"NODE_CHANNEL_FD": 3}}, `set by tend`},
		{map[string]any{"increment_var": 3}, `increment_var: want a string`},
		{map[string]any{"instance_var": "A-B"}, `instance_var: "A-B" is not a variable name`},
		{map[string]any{"instance_var": ""}, `instance_var: "": want a variable name`},
		{map[string]any{"instance_var": "TEND_INSTANCE"}, `set by tend`},
		{map[string]any{"shutdown_with_message": "yes"}, `shutdown_with_message: want true or false`},
		{map[string]any{"source_map_support": true, "interpreter": "python3"}, `source_map_support: needs a Node.js app`},
		{map[string]any{"shutdown_with_message": true, "interpreter": "none"}, `shutdown_with_message: needs a Node.js app`},
	} {
		_, err := decodeApp(t, tc.extra)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.extra, err, tc.want)
		}
	}
	// Asking for what tend does anyway is no error, and no warning.
	for _, extra := range []map[string]any{
		{"shutdown_with_message": false, "interpreter": "none"},
		{"instance_var": "NODE_APP_INSTANCE"},
		{"disable_source_map_support": true},
	} {
		raw := map[string]any{"script": "/srv/app.js", "cwd": "/srv"}
		maps.Copy(raw, extra)
		_, w, err := Decode(raw, DecodeOptions{SkipFileChecks: true})
		if err != nil || len(w) > 0 {
			t.Errorf("%v: %v, warnings %v", extra, err, w)
		}
	}
}

// In PM2 log_date_format alone timestamps the lines; time: false says not.
func TestLogDateFormatImpliesTime(t *testing.T) {
	a, err := decodeApp(t, map[string]any{"log_date_format": "HH:mm"})
	if err != nil || !a.Time {
		t.Errorf("log_date_format alone: time %v, %v", a.Time, err)
	}
	a, err = decodeApp(t, map[string]any{"log_date_format": "HH:mm", "time": false})
	if err != nil || a.Time {
		t.Errorf("time: false: time %v, %v", a.Time, err)
	}
}
