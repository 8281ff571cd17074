package inspect

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestAppendChunkMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{
		"", "plain", "a\nb\"c\\d/e\bf\fg\rh\ti", "\u00e9\u4e16", "😀 pair", "\x01ctl", "tail\\",
		`{"snapshot":{"meta":{"node_fields":["type","name"]}}}` + "\n,4,3069,",
	} {
		params, _ := json.Marshal(map[string]string{"chunk": s})
		got, err := appendChunk(nil, params)
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		var want struct{ Chunk string }
		_ = json.Unmarshal(params, &want)
		if string(got) != want.Chunk {
			t.Errorf("chunk %q: got %q, want %q", s, got, want.Chunk)
		}
	}
	// Escapes as Node writes them, which encoding/json writes otherwise.
	for raw, want := range map[string]string{
		`{"chunk":"a\/b\u0041\ud83d\ude00"}`: "a/bA😀",
		`{"chunk":"x\ud83dy"}`:               "x\uFFFDy",
		`{"chunk": "spaced"}`:                "spaced",
	} {
		got, err := appendChunk(nil, []byte(raw))
		if err != nil || string(got) != want {
			t.Errorf("%s: got %q, %v; want %q", raw, got, err, want)
		}
	}
	if _, err := appendChunk(nil, []byte(`{"chunk":"bad\q"}`)); err == nil {
		t.Error("want an error for an unknown escape")
	}
}

func TestSplitEvent(t *testing.T) {
	m, p, ok := splitEvent([]byte(`{"method":"HeapProfiler.addHeapSnapshotChunk","params":{"chunk":"x"}}`))
	if !ok || m != "HeapProfiler.addHeapSnapshotChunk" || string(p) != `{"chunk":"x"}` {
		t.Fatalf("got %q %q %v", m, p, ok)
	}
	for _, b := range []string{`{"id":1,"result":{}}`, `{"method":"a\"b","params":{}}`, `{"method":"M"}`, `{"method":"M","params":[]}`} {
		if _, _, ok := splitEvent([]byte(b)); ok {
			t.Errorf("%s: split, want the slow path", b)
		}
	}
}

func TestWaitListFollowsNoURLOffThePort(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `[{"id":"x","type":"node","webSocketDebuggerUrl":"ws://203.0.113.9:9229/x"}]`)
	}))
	defer srv.Close()
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := WaitList(ctx, port); err == nil || !strings.Contains(err.Error(), "not following it") {
		t.Fatalf("got %v, want a refusal", err)
	}
}
