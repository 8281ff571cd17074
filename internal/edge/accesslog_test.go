package edge

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/edge/edgeconf"
	"github.com/tendhq/tend/internal/edge/internal/edgetest"
)

// lines collects access log lines.
type lines struct {
	mu sync.Mutex
	l  []string
	c  chan struct{} // a token per line
}

func newLines() *lines { return &lines{c: make(chan struct{}, 1000)} }

func (l *lines) add(b []byte) {
	l.mu.Lock()
	l.l = append(l.l, string(b))
	l.mu.Unlock()
	l.c <- struct{}{}
}

func (l *lines) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.l...)
}

func TestAccessLogJSON(t *testing.T) {
	got := newLines()
	clock := newFakeClock()
	f, url := startFront(t, Config{now: clock.Now, AccessLog: got.add, Options: edgeconf.Options{AccessLog: edgeconf.AccessLogJSON}})
	b, _ := startApp(t, "api#1.g2", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, strings.Repeat("x", 100))
	})
	f.Add(b)
	req, _ := http.NewRequest("GET", url+"/p?q=\"1\"", nil)
	req.Header.Set("User-Agent", "tester \"q\" \xff")
	req.Header.Set("Referer", "https://ref.example/")
	req.Host = "example.test"
	do(t, edgetest.NewClient(t), req)
	// Logged once the response is complete: by the time the client has
	// read it, the line may still be on its way.
	l := waitLines(t, got, 1)
	var e struct {
		Time       string  `json:"time"`
		Client     string  `json:"client"`
		Method     string  `json:"method"`
		Host       string  `json:"host"`
		Path       string  `json:"path"`
		Proto      string  `json:"proto"`
		Status     int     `json:"status"`
		Bytes      int64   `json:"bytes"`
		DurationMS float64 `json:"duration_ms"`
		Instance   string  `json:"instance"`
		Referer    string  `json:"referer"`
		UserAgent  string  `json:"user_agent"`
	}
	dec := json.NewDecoder(strings.NewReader(l[0]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		t.Fatalf("%v: %s", err, l[0])
	}
	if e.Time != "2026-03-01T12:00:00.000Z" || e.Client != "127.0.0.1" || e.Method != "GET" || e.Host != "example.test" ||
		e.Path != `/p?q="1"` || e.Proto != "HTTP/1.1" || e.Status != 200 || e.Bytes != 100 ||
		e.Instance != "api#1.g2" || e.Referer != "https://ref.example/" || e.UserAgent != "tester \"q\" \ufffd" {
		t.Fatalf("line %s\nparsed %+v", l[0], e)
	}
	if strings.Contains(l[0], "\n") {
		t.Fatal("a line has a newline")
	}
}

func TestAccessLogCombined(t *testing.T) {
	got := newLines()
	f, url := startFront(t, Config{AccessLog: got.add, Options: edgeconf.Options{AccessLog: edgeconf.AccessLogCombined, Compression: new(false)}})
	b, _ := startApp(t, "a", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(201)
		io.WriteString(w, "created")
	})
	f.Add(b)
	c := edgetest.NewClient(t)
	req, _ := http.NewRequest("POST", url+"/items?x=1", strings.NewReader("{}"))
	req.Header.Set("User-Agent", `evil" 200 0 "-`)
	do(t, c, req)
	get(t, c, url+"/empty")
	f.Remove("a")
	get(t, c, url+"/down") // 503 from the edge: no instance
	l := waitLines(t, got, 3)
	combined := regexp.MustCompile(`^(\S+) - (\S+) \[(\d{2}/\w{3}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4})\] "([^"\\]*(?:\\.[^"\\]*)*)" (\d{3}) (\d+|-) "([^"\\]*(?:\\.[^"\\]*)*)" "([^"\\]*(?:\\.[^"\\]*)*)" (\d+\.\d{3}) (\S+)$`)
	m := combined.FindStringSubmatch(l[0])
	if m == nil {
		t.Fatalf("not in combined format: %s", l[0])
	}
	if _, err := time.Parse("02/Jan/2006:15:04:05 -0700", m[3]); err != nil {
		t.Error(err)
	}
	if m[1] != "127.0.0.1" || m[4] != "POST /items?x=1 HTTP/1.1" || m[5] != "201" || m[6] != "7" || m[7] != "-" || m[8] != `evil\" 200 0 \"-` || m[10] != "a" {
		t.Fatalf("fields %q", m[1:])
	}
	if m := combined.FindStringSubmatch(l[2]); m == nil || m[5] != "503" || m[10] != "-" {
		t.Fatalf("edge's own 503: %s", l[2])
	}
}

func TestAccessLogOffByDefault(t *testing.T) {
	got := newLines()
	f, url := startFront(t, Config{AccessLog: got.add})
	b, _ := startApp(t, "a", nil)
	f.Add(b)
	get(t, edgetest.NewClient(t), url)
	f.Close(t.Context())
	if l := got.all(); len(l) != 0 {
		t.Fatalf("logged with access_log off: %q", l)
	}
}

// waitLines waits for n lines: a line is made once the response is
// complete, which may be just after the client has read it.
func waitLines(t testing.TB, l *lines, n int) []string {
	t.Helper()
	bound := time.After(10 * time.Second)
	for range n {
		select {
		case <-l.c:
		case <-bound:
			t.Fatalf("%d access log lines, want %d: %q", len(l.all()), n, l.all())
		}
	}
	return l.all()
}
