package ready

import (
	"encoding/json"
	"strconv"
	"strings"
)

// Apps instrumented for PM2 with @pm2/io or tx2 speak PM2's protocol on
// the IPC channel, as JSON objects {type, data}:
//
//   - axm:monitor, data {name: {value, unit, ...}}: the app's metrics,
//     every second (values are numbers, or strings and booleans, which
//     tend skips unless the string is a number);
//   - axm:action, data {action_name, ...}: an action the app offers;
//     PM2 triggers it by sending the bare name, or {msg: name, opts}
//     when it has a parameter;
//   - axm:reply, data {action_name, return}: an action's answer;
//   - process:msg and human:event: messages for whoever listens (PM2's
//     bus);
//   - axm:option:configuration, process:exception and axm:scoped_action:*:
//     understood and ignored.

// PM2 kinds of message, in PM2Message.Kind.
const (
	PM2Metrics = "metrics" // axm:monitor: Metrics
	PM2Action  = "action"  // axm:action: Action
	PM2Reply   = "reply"   // axm:reply: Action, Data (the return value)
	PM2Message = "message" // process:msg or human:event: Type, Data
)

// PM2Msg is one message of an app instrumented for PM2, decoded.
type PM2Msg struct {
	Kind    string
	Type    string // the message's own type, e.g. "process:msg"
	Action  string
	Metrics map[string]float64
	// Data is JSON: an action's return value, or a message's data; at most
	// MaxPM2Data bytes (a longer one is cut and marked truncated).
	Data json.RawMessage
}

// PM2Func receives the PM2 messages ReadIPC reads.
type PM2Func func(PM2Msg)

// Bounds on what one message can make the daemon hold.
const (
	// MaxPM2Metrics is the most metrics taken from one axm:monitor.
	MaxPM2Metrics = 64
	// MaxPM2Data bounds a reply's or a message's data.
	MaxPM2Data = 64 << 10
)

// pm2Message decodes m if it is one of PM2's messages, and reports it.
func pm2Message(m map[string]any, pm2 PM2Func) {
	typ, _ := m["type"].(string)
	if pm2 == nil || typ == "" {
		return
	}
	data := m["data"]
	switch typ {
	case "axm:monitor":
		figs, _ := data.(map[string]any)
		out := map[string]float64{}
		for name, v := range figs {
			if len(out) == MaxPM2Metrics {
				break
			}
			val := v
			if o, ok := v.(map[string]any); ok {
				val = o["value"]
			}
			f, ok := number(val)
			if n := MetricName(name); ok && n != "" {
				out[n] = f
			}
		}
		pm2(PM2Msg{Kind: PM2Metrics, Type: typ, Metrics: out})
	case "axm:action":
		d, _ := data.(map[string]any)
		if name, _ := d["action_name"].(string); validAction(name) {
			pm2(PM2Msg{Kind: PM2Action, Type: typ, Action: name})
		}
	case "axm:reply":
		d, _ := data.(map[string]any)
		if name, _ := d["action_name"].(string); validAction(name) {
			pm2(PM2Msg{Kind: PM2Reply, Type: typ, Action: name, Data: rawJSON(d["return"])})
		}
	case "process:msg", "human:event":
		pm2(PM2Msg{Kind: PM2Message, Type: typ, Data: rawJSON(data)})
	}
}

// number reads a metric's value: a number, or a string that is one.
func number(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		return f, err == nil
	}
	return 0, false
}

// MetricName makes a PM2 metric's name ("Used Heap Size") one of tend's
// ("Used_Heap_Size"): each character a metric name cannot have becomes _.
// "" when nothing is left.
func MetricName(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 64 {
		s = s[:64]
	}
	b := []byte(s)
	for i, c := range b {
		if !(c == '_' || c == '.' || c == '-' || c == ':' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			b[i] = '_'
		}
	}
	if !validMetricName(string(b)) {
		return ""
	}
	return string(b)
}

// validAction accepts an action's name: 1 to 128 bytes of printable text.
func validAction(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, c := range s {
		if c < ' ' || c == 0x7f {
			return false
		}
	}
	return true
}

// rawJSON is v as JSON, cut to MaxPM2Data.
func rawJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		return json.RawMessage("null")
	}
	if len(b) > MaxPM2Data {
		t, _ := json.Marshal(map[string]any{"truncated": true, "bytes": len(b), "start": string(b[:1024])})
		return t
	}
	return b
}

// Trigger is the message that calls an app's action, as PM2 sends it:
// the bare name, or {msg, opts} with a parameter.
func Trigger(action string, param *string) any {
	if param == nil {
		return action
	}
	return map[string]any{"msg": action, "opts": *param}
}

// ShutdownMessage is what shutdown_with_message sends instead of the stop
// signal, as PM2 does.
const ShutdownMessage = "shutdown"
