package inspect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// Ceilings of what a caller may ask for.
const (
	MaxDuration = 10 * time.Minute
	MinInterval = 50 * time.Microsecond
	MaxInterval = time.Second
	// DefaultSamplingInterval is the mean bytes between two samples of a
	// sampling heap profile (V8's default).
	DefaultSamplingInterval = 32 << 10
)

// StartCPU starts a sampling CPU profile, one sample every interval.
func (c *Conn) StartCPU(ctx context.Context, interval time.Duration) error {
	if err := c.Call(ctx, "Profiler.enable", nil, nil); err != nil {
		return err
	}
	us := max(interval.Microseconds(), 1)
	if err := c.Call(ctx, "Profiler.setSamplingInterval", map[string]int64{"interval": us}, nil); err != nil {
		return err
	}
	return c.Call(ctx, "Profiler.start", nil, nil)
}

// StopCPU stops the profile StartCPU started and writes it to w as a
// .cpuprofile: the `profile` object of Profiler.stop, which Chrome DevTools
// and speedscope open.
func (c *Conn) StopCPU(ctx context.Context, w io.Writer) error {
	raw, err := c.CallRaw(ctx, "Profiler.stop", nil)
	if err != nil {
		return err
	}
	var r struct {
		Profile json.RawMessage `json:"profile"`
	}
	if err := json.Unmarshal(raw, &r); err != nil || len(r.Profile) == 0 {
		return fmt.Errorf("Profiler.stop: no profile in the answer (%v)", err)
	}
	if _, err := w.Write(r.Profile); err != nil {
		return fmt.Errorf("write cpu profile: %w", err)
	}
	_ = c.Call(ctx, "Profiler.disable", nil, nil)
	return nil
}

// StartHeapSampling starts a sampling heap profile: V8 records the stack of
// one allocation in about every DefaultSamplingInterval bytes.
func (c *Conn) StartHeapSampling(ctx context.Context) error {
	if err := c.Call(ctx, "HeapProfiler.enable", nil, nil); err != nil {
		return err
	}
	// Objects the GC has collected since count too: the profile is of
	// allocation, where the garbage an app makes is half the story.
	return c.Call(ctx, "HeapProfiler.startSampling", map[string]any{
		"samplingInterval":                 DefaultSamplingInterval,
		"includeObjectsCollectedByMajorGC": true,
		"includeObjectsCollectedByMinorGC": true,
	}, nil)
}

// StopHeapSampling stops the sampling heap profile and writes it to w as a
// .heapprofile (the `profile` of HeapProfiler.stopSampling).
func (c *Conn) StopHeapSampling(ctx context.Context, w io.Writer) error {
	raw, err := c.CallRaw(ctx, "HeapProfiler.stopSampling", nil)
	if err != nil {
		return err
	}
	var r struct {
		Profile json.RawMessage `json:"profile"`
	}
	if err := json.Unmarshal(raw, &r); err != nil || len(r.Profile) == 0 {
		return fmt.Errorf("HeapProfiler.stopSampling: no profile in the answer (%v)", err)
	}
	if _, err := w.Write(r.Profile); err != nil {
		return fmt.Errorf("write heap profile: %w", err)
	}
	_ = c.Call(ctx, "HeapProfiler.disable", nil, nil)
	return nil
}

// HeapSnapshot takes a heap snapshot and writes it to w chunk by chunk as
// the inspector sends them (HeapProfiler.addHeapSnapshotChunk): no more
// than one chunk is held at a time. A write error stops the writing but not
// the snapshot, which the inspector finishes anyway; it is returned at the
// end. The event loop of the process stands still while V8 takes it.
func (c *Conn) HeapSnapshot(ctx context.Context, w io.Writer) (written int64, err error) {
	var mu sync.Mutex // guards werr and written, set by the read goroutine
	var werr error
	var buf []byte
	c.Handle("HeapProfiler.addHeapSnapshotChunk", func(params json.RawMessage) {
		mu.Lock()
		defer mu.Unlock()
		if werr != nil {
			return
		}
		var e error
		if buf, e = appendChunk(buf[:0], params); e != nil {
			werr = fmt.Errorf("heap snapshot chunk: %w", e)
			return
		}
		n, e := w.Write(buf)
		written += int64(n)
		if e != nil {
			werr = fmt.Errorf("write heap snapshot: %w", e)
		}
	})
	defer c.Handle("HeapProfiler.addHeapSnapshotChunk", nil)
	if err := c.Call(ctx, "HeapProfiler.enable", nil, nil); err != nil {
		return 0, err
	}
	err = c.Call(ctx, "HeapProfiler.takeHeapSnapshot", map[string]bool{"reportProgress": false}, nil)
	// The answer comes after the last chunk, on the same goroutine.
	mu.Lock()
	defer mu.Unlock()
	if err == nil {
		err = werr
	}
	_ = c.Call(ctx, "HeapProfiler.disable", nil, nil)
	return written, err
}

// HeapUsage is V8's heap usage (Runtime.getHeapUsage).
type HeapUsage struct {
	Used  uint64 `json:"usedSize"`
	Total uint64 `json:"totalSize"`
}

// HeapUsage asks V8 how much heap the process uses.
func (c *Conn) HeapUsage(ctx context.Context) (HeapUsage, error) {
	var u HeapUsage
	err := c.Call(ctx, "Runtime.getHeapUsage", nil, &u)
	return u, err
}

// closeExpr deactivates the inspector a moment after this session is gone:
// inspector.close() run while a session is attached can crash Node
// (nodejs/node#18761: a response sent to a session already deleted), so
// the caller hangs up at once and the timer leaves the inspector's thread
// time to see it. The module comes from process.getBuiltinModule (Node
// 22+), else the `require` that the command-line API brings into scope,
// else the main module's.
const closeExpr = `(() => {
  const get = (globalThis.process && typeof process.getBuiltinModule === 'function') ? (m) => process.getBuiltinModule(m)
    : typeof require === 'function' ? require
    : (globalThis.process && process.mainModule && process.mainModule.require.bind(process.mainModule));
  if (!get) return 'no way to load the inspector module';
  const inspector = get('inspector');
  setTimeout(() => { try { inspector.close(); } catch (e) {} }, ` + closeDelayMS + `);
  return 'closing';
})()`

// closeDelayMS is how long after CloseInspector's call the inspector closes.
const closeDelayMS = "250"

// CloseInspector asks the process to close its inspector, then ends the
// session. The port refuses connections a moment later (WaitClosed).
func (c *Conn) CloseInspector(ctx context.Context) error {
	var r struct {
		Result struct {
			Value any `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text      string `json:"text"`
			Exception *struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	err := c.Call(ctx, "Runtime.evaluate", map[string]any{
		"expression":            closeExpr,
		"includeCommandLineAPI": true,
		"returnByValue":         true,
	}, &r)
	cerr := c.Close()
	if err != nil {
		return fmt.Errorf("close inspector: %w", err)
	}
	if e := r.ExceptionDetails; e != nil {
		msg := e.Text
		if e.Exception != nil {
			msg = e.Exception.Description
		}
		return fmt.Errorf("close inspector: %s", msg)
	}
	if v, _ := r.Result.Value.(string); v != "closing" {
		return fmt.Errorf("close inspector: %v", r.Result.Value)
	}
	return cerr
}

// WaitClosed waits until 127.0.0.1:port refuses connections, or ctx ends.
func WaitClosed(ctx context.Context, port int) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", Addr(port))
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("inspector on %s: not known to be closed: %w", Addr(port), ctx.Err())
			}
			return nil
		}
		c.Close()
		select {
		case <-ctx.Done():
			return fmt.Errorf("inspector on %s still accepts connections", Addr(port))
		case <-tick.C:
		}
	}
}

// ErrLowMemory refuses a heap snapshot the machine may not have room for.
var ErrLowMemory = errors.New("not enough free memory for a heap snapshot")

// CheckSnapshotRoom refuses a heap snapshot when available memory is below
// twice the heap used: V8 builds the snapshot's graph beside the heap.
func CheckSnapshotRoom(available, heapUsed uint64) error {
	if available < 2*heapUsed {
		return fmt.Errorf("%w: the machine has %s available, below twice the instance's heap used (2 × %s = %s); free memory first, or take a sampling profile (--sampling)",
			ErrLowMemory, mib(available), mib(heapUsed), mib(2*heapUsed))
	}
	return nil
}

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
