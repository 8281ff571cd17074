package ready

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// The messages as @pm2/io 6 and tx2 1 send them (IPCTransport.setMetrics,
// addAction, the reply of ActionService; tx2's send).
func TestReadIPCUnderstandsPM2Messages(t *testing.T) {
	in := strings.Join([]string{
		`{"type":"axm:monitor","data":{"jobs done":{"historic":true,"type":"counter","value":3},"Heap Usage":{"value":"72.5","unit":"%"},"Flag":{"value":true},"Name":{"value":"x"}}}`,
		`{"type":"axm:monitor","data":{"queue":{"value":7,"agg_type":"avg"}}}`,
		`{"type":"axm:action","data":{"action_name":"ping","action_type":"custom","arity":1}}`,
		`{"type":"axm:action","data":{"action_name":""}}`,
		`{"type":"axm:reply","data":{"at":1,"action_name":"ping","return":{"pong":true}}}`,
		`{"type":"axm:reply","data":{"return":1}}`,
		`{"type":"process:msg","data":{"hello":"bus"}}`,
		`{"type":"axm:option:configuration","data":{"metrics":{}}}`,
		`{"type":"tend:metric","name":"served","value":2}`,
		`"ready"`,
	}, "\n") + "\n"
	var got []PM2Msg
	metrics := map[string]float64{}
	signals := make(chan string, 1)
	ReadIPC(strings.NewReader(in), signals, func(n string, v float64) { metrics[n] = v }, func(m PM2Msg) { got = append(got, m) })
	want := []PM2Msg{
		{Kind: PM2Metrics, Type: "axm:monitor", Metrics: map[string]float64{"jobs_done": 3, "Heap_Usage": 72.5}},
		{Kind: PM2Metrics, Type: "axm:monitor", Metrics: map[string]float64{"queue": 7}},
		{Kind: PM2Action, Type: "axm:action", Action: "ping"},
		{Kind: PM2Reply, Type: "axm:reply", Action: "ping", Data: json.RawMessage(`{"pong":true}`)},
		{Kind: PM2Message, Type: "process:msg", Data: json.RawMessage(`{"hello":"bus"}`)},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	if !reflect.DeepEqual(metrics, map[string]float64{"served": 2}) || <-signals != Ready {
		t.Errorf("tend's own messages: %v", metrics)
	}
}

func TestPM2MessagesAreBounded(t *testing.T) {
	figs := map[string]any{}
	for i := range 3 * MaxPM2Metrics {
		figs[fmt.Sprintf("m%d", i)] = map[string]any{"value": float64(i)}
	}
	big := strings.Repeat("x", MaxPM2Data)
	var got []PM2Msg
	pm2Message(map[string]any{"type": "axm:monitor", "data": figs}, func(m PM2Msg) { got = append(got, m) })
	pm2Message(map[string]any{"type": "process:msg", "data": big}, func(m PM2Msg) { got = append(got, m) })
	pm2Message(map[string]any{"type": "axm:action", "data": map[string]any{"action_name": strings.Repeat("a", 129)}}, func(m PM2Msg) { got = append(got, m) })
	if len(got) != 2 || len(got[0].Metrics) != MaxPM2Metrics || len(got[1].Data) > 2048 || !strings.Contains(string(got[1].Data), `"truncated":true`) {
		t.Errorf("got %d messages: %d metrics, data of %d bytes", len(got), len(got[0].Metrics), len(got[1].Data))
	}
	if n := MetricName("  Event Loop Latency p95 "); n != "Event_Loop_Latency_p95" {
		t.Errorf("MetricName: %q", n)
	}
	if n := MetricName("   "); n != "" {
		t.Errorf("MetricName of blanks: %q", n)
	}
}

// Concurrent sends arrive whole, one JSON value per line, as Node reads
// them; a trigger is the bare name, or {msg, opts} with a parameter.
func TestSenderWritesWholeLines(t *testing.T) {
	parent, child, err := SocketPair()
	if err != nil {
		t.Fatal(err)
	}
	defer parent.Close()
	c, err := net.FileConn(child)
	child.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := NewSender(parent)
	param := strings.Repeat("p", 100_000)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if err := s.Send(Trigger("echo", &param)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Go(func() { _ = s.Send(Trigger("ping", nil)) })
	sc := bufio.NewScanner(c)
	sc.Buffer(nil, 1<<20)
	n, bare := 0, 0
	for n+bare < 9 && sc.Scan() {
		var v any
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("line %d is not one JSON value: %v", n, err)
		}
		switch m := v.(type) {
		case string:
			if m == "ping" {
				bare++
			}
		case map[string]any:
			if m["msg"] == "echo" && m["opts"] == param {
				n++
			}
		}
	}
	wg.Wait()
	if n != 8 || bare != 1 {
		t.Errorf("read %d {msg, opts} and %d bare names, want 8 and 1", n, bare)
	}
}
