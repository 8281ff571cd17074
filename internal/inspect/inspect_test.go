package inspect

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// node is a fixture app run by `node` with its inspector port set, as tend
// runs an instance.
type node struct {
	cmd      *exec.Cmd
	port     int // the app's HTTP port
	inspPort int
	stderr   *bytes.Buffer
}

func fixture(name string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata", "node", name)
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startNode runs the fixture, waits until it serves HTTP (so that Node's
// SIGUSR1 handler is in place) and opens its inspector with SIGUSR1.
func startNode(t *testing.T, name string) *node {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("node is required: %v", err)
		}
		t.Skipf("needs node: %v", err)
	}
	n := &node{port: freePort(t), inspPort: freePort(t), stderr: &bytes.Buffer{}}
	n.cmd = exec.Command("node", fixture(name))
	n.cmd.Env = append(os.Environ(), fmt.Sprintf("PORT=%d", n.port), fmt.Sprintf("NODE_OPTIONS=--inspect-port=127.0.0.1:%d", n.inspPort))
	n.cmd.Stderr = n.stderr
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = n.cmd.Process.Kill()
		_ = n.cmd.Wait()
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", n.port))
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never served on %d: %v\n%s", name, n.port, err, n.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := n.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	return n
}

// kept asks leaky.js how many widgets it keeps.
func (n *node) kept(t *testing.T) int {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", n.port))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var k int
	if _, err := fmt.Fscanf(resp.Body, "ok %d", &k); err != nil {
		t.Fatal(err)
	}
	return k
}

func (n *node) waitKept(t *testing.T, want int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for n.kept(t) < want {
		if time.Now().After(deadline) {
			t.Fatalf("leaky.js never kept %d widgets", want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (n *node) dial(t *testing.T) *Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := Dial(ctx, n.inspPort)
	if err != nil {
		t.Fatalf("dial: %v\n%s", err, n.stderr)
	}
	return c
}

// closeAndCheck closes the inspector and checks its port refuses
// connections afterwards.
func (n *node) closeAndCheck(t *testing.T, c *Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.CloseInspector(ctx); err != nil {
		t.Fatalf("close inspector: %v", err)
	}
	if err := WaitClosed(ctx, n.inspPort); err != nil {
		t.Fatal(err)
	}
	if _, err := net.DialTimeout("tcp", Addr(n.inspPort), time.Second); err == nil {
		t.Fatalf("inspector port %d accepts connections after CloseInspector", n.inspPort)
	}
}

func TestCPUProfileShowsTheHotFunction(t *testing.T) {
	n := startNode(t, "hot.js")
	c := n.dial(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.StartCPU(ctx, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	// Record until the profile must hold enough samples: about 300 at 1 ms.
	time.Sleep(300 * time.Millisecond)
	var buf bytes.Buffer
	if err := c.StopCPU(ctx, &buf); err != nil {
		t.Fatal(err)
	}
	var p CPUProfile
	if err := json.Unmarshal(buf.Bytes(), &p); err != nil {
		t.Fatalf("cpu profile is not JSON: %v", err)
	}
	if len(p.Nodes) == 0 || len(p.Samples) == 0 || len(p.TimeDeltas) != len(p.Samples) {
		t.Fatalf("cpu profile has %d nodes, %d samples, %d timeDeltas", len(p.Nodes), len(p.Samples), len(p.TimeDeltas))
	}
	if top := p.TopSelf(3); !slices.Contains(top, "hotLoopForProfile") {
		t.Fatalf("hotLoopForProfile is not among the top self-time functions %q", top)
	}
	n.closeAndCheck(t, c)
}

// snapshotCount returns how many nodes named name a heap snapshot holds.
func snapshotCount(t *testing.T, b []byte, name string) int {
	t.Helper()
	n, err := CountIn(b, name)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// chunkCounter counts the writes a snapshot arrives in.
type chunkCounter struct {
	bytes.Buffer
	writes int
}

func (c *chunkCounter) Write(b []byte) (int, error) {
	c.writes++
	return c.Buffer.Write(b)
}

func (c *chunkCounter) WriteString(s string) (int, error) {
	c.writes++
	return c.Buffer.WriteString(s)
}

func TestHeapSnapshotStreamsAndShowsTheLeakGrowing(t *testing.T) {
	n := startNode(t, "leaky.js")
	c := n.dial(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var first chunkCounter
	written, err := c.HeapSnapshot(ctx, &first)
	if err != nil {
		t.Fatal(err)
	}
	if written != int64(first.Len()) || first.writes < 2 {
		t.Fatalf("snapshot of %d bytes arrived in %d writes (counted %d): want it streamed in chunks", first.Len(), first.writes, written)
	}
	a := snapshotCount(t, first.Bytes(), "LeakyWidget")
	t.Logf("first snapshot: %d bytes in %d writes, %d LeakyWidget", first.Len(), first.writes, a)
	// Wait until the fixture says it keeps 1000 more widgets than now.
	n.waitKept(t, n.kept(t)+1000)
	var second chunkCounter
	if _, err := c.HeapSnapshot(ctx, &second); err != nil {
		t.Fatal(err)
	}
	b := snapshotCount(t, second.Bytes(), "LeakyWidget")
	if a == 0 || b <= a {
		t.Fatalf("LeakyWidget nodes: %d in the first snapshot, %d in the second: want a growing count", a, b)
	}
	n.closeAndCheck(t, c)
}

func TestHeapSamplingProfile(t *testing.T) {
	n := startNode(t, "leaky.js")
	c := n.dial(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.StartHeapSampling(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	var buf bytes.Buffer
	if err := c.StopHeapSampling(ctx, &buf); err != nil {
		t.Fatal(err)
	}
	var p struct {
		Head struct {
			Children []json.RawMessage `json:"children"`
		} `json:"head"`
		Samples []json.RawMessage `json:"samples"`
	}
	if err := json.Unmarshal(buf.Bytes(), &p); err != nil {
		t.Fatalf("heap profile is not JSON: %v", err)
	}
	if len(p.Head.Children) == 0 || len(p.Samples) == 0 || !strings.Contains(buf.String(), "leaky.js") {
		t.Fatalf("heap profile has %d children under head, %d samples, leaky.js in it: %v\n%.2000s", len(p.Head.Children), len(p.Samples), strings.Contains(buf.String(), "leaky.js"), buf.String())
	}
	u, err := c.HeapUsage(ctx)
	if err != nil || u.Used == 0 || u.Total < u.Used {
		t.Fatalf("heap usage %+v, %v", u, err)
	}
	n.closeAndCheck(t, c)
}

func TestCallFailsOnceTheProcessIsGone(t *testing.T) {
	n := startNode(t, "hot.js")
	c := n.dial(t)
	defer c.Close()
	_ = n.cmd.Process.Kill()
	_ = n.cmd.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Call(ctx, "Runtime.getHeapUsage", nil, nil); err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("call to a dead process: %v, want a closed connection", err)
	}
}

func TestCheckSnapshotRoom(t *testing.T) {
	if err := CheckSnapshotRoom(3<<30, 1<<30); err != nil {
		t.Fatal(err)
	}
	err := CheckSnapshotRoom(1<<30, 600<<20)
	if !errors.Is(err, ErrLowMemory) || !strings.Contains(err.Error(), "1024.0 MiB available") || !strings.Contains(err.Error(), "2 × 600.0 MiB = 1200.0 MiB") {
		t.Fatalf("got %v", err)
	}
}
