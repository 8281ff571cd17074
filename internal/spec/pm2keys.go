package spec

import (
	"fmt"
	"strconv"

	"github.com/tendhq/tend/internal/conf"
)

// DefaultInstanceVar is the variable that carries an instance's index, as
// in PM2; instance_var names another.
const DefaultInstanceVar = "NODE_APP_INSTANCE"

// tendSets are the variables tend sets for each process itself, which
// instance_var and increment_var must not name.
var tendSets = keySet(`PORT TEND_INSTANCE TEND_APP_NAME TEND_APP_ID NODE_CHANNEL_FD
	NODE_CHANNEL_SERIALIZATION_MODE NOTIFY_SOCKET LISTEN_FDS LISTEN_PID LISTEN_FDNAMES NODE_OPTIONS`)

// maxIncrement bounds increment_var's first value, so that the values of
// every instance stay exact integers.
const maxIncrement = 1 << 40

// checkEnvName says why s cannot name an environment variable, "" when it
// can: a letter or _, then letters, digits or _, up to 128 bytes.
func checkEnvName(s string) string {
	if s == "" || len(s) > 128 {
		return fmt.Sprintf("%q: want a variable name of 1 to 128 letters, digits or _", s)
	}
	for i, c := range s {
		if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9') {
			return fmt.Sprintf("%q is not a variable name (letters, digits and _, not starting with a digit)", s)
		}
	}
	return ""
}

func setInstanceVar(d *conf.Decoder, key string, v any, t *target) {
	s, err := conf.String(v)
	switch {
	case err != nil:
		d.Errorf(key, "%v", err)
	case checkEnvName(s) != "":
		d.Errorf(key, "%s", checkEnvName(s))
	case tendSets[s]:
		d.Errorf(key, "%s is set by tend for each process; pick another name", s)
	case s != DefaultInstanceVar:
		t.InstanceVar = s
	}
}

// setIncrementVar reads increment_var: the variable of env whose integer
// value instance i gets plus i (PORT 3000: 3000, 3001, ...).
func setIncrementVar(d *conf.Decoder, key string, v any, t *target) {
	s, err := conf.String(v)
	if err != nil {
		d.Errorf(key, "%v", err)
		return
	}
	if why := checkEnvName(s); why != "" {
		d.Errorf(key, "%s", why)
		return
	}
	if s == "PORT" && t.Port > 0 {
		d.Errorf(key, "PORT is the private port tend gives each instance when the app has a port; leave increment_var out, or port")
		return
	}
	if tendSets[s] && s != "PORT" {
		d.Errorf(key, "%s is set by tend for each process; pick another variable", s)
		return
	}
	first, ok := t.Env[s]
	if !ok {
		d.Errorf(key, "%s is not set in env: set env.%s to the first instance's value (e.g. %s: 3000)", s, s, s)
		return
	}
	n, err := strconv.ParseInt(first, 10, 64)
	if err != nil || n < -maxIncrement || n > maxIncrement {
		d.Errorf(key, "env.%s is %q: want an integer (at most %d) to increment per instance", s, first, int64(maxIncrement))
		return
	}
	t.IncrementVar = s
}

// nodeOnly declares a boolean key that only a Node app can have; why says
// what it is, for the error.
func nodeOnly(field func(*target) *bool, why string) func(d *conf.Decoder, key string, v any, t *target) {
	return func(d *conf.Decoder, key string, v any, t *target) {
		b, err := conf.Bool(v)
		switch {
		case err != nil:
			d.Errorf(key, "%v", err)
		case b && !t.IsNode():
			d.Errorf(key, "needs a Node.js app (interpreter node, got %q): %s", t.Interpreter, why)
		default:
			*field(t) = b
		}
	}
}

// InstanceEnv is what the app's settings add to instance index's
// environment: its index in InstanceVar, and IncrementVar's value plus the
// index. env is the instance's environment so far (the caller's and the
// app's), which it changes.
func (a *App) InstanceEnv(env map[string]string, index int) {
	name := a.InstanceVar
	if name == "" {
		name = DefaultInstanceVar
	}
	env[name] = strconv.Itoa(index)
	if a.IncrementVar != "" {
		if n, err := strconv.ParseInt(a.Env[a.IncrementVar], 10, 64); err == nil {
			env[a.IncrementVar] = strconv.FormatInt(n+int64(index), 10)
		}
	}
}
