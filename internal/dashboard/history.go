package dashboard

import (
	"sync"
	"time"

	"github.com/tendhq/tend/internal/api"
)

// The series kept for each app, in the order of a point's values.
const (
	seriesCPU      = iota // percent of one CPU, summed over the instances
	seriesMemory          // bytes, summed
	seriesRPS             // requests per second through the edge, summed
	seriesP50             // milliseconds, the worst instance's
	seriesP95             // milliseconds
	seriesP99             // milliseconds
	series5xx             // 5xx answers per second, summed
	seriesLoopP99         // event-loop delay p99 in milliseconds, the worst instance's (Node runtime metrics)
	seriesHeap            // V8 heap used, bytes, summed (Node runtime metrics)
	seriesRestarts        // restarts since the app was registered, summed (for "restarts in the last hour")
	nSeries
)

// seriesNames are the names the browser gets the series under.
var seriesNames = [nSeries]string{"cpu", "memory", "rps", "p50", "p95", "p99", "err5xx", "loop_p99", "heap", "restarts"}

// HistoryWindow is how far back the charts reach.
const HistoryWindow = time.Hour

// ring is one app's history: a point per sample for HistoryWindow at the
// sampling interval, in float32 (charts need no more precision) with a
// uint32 timestamp in seconds. Its size is fixed when it is made:
// (4 + nSeries×4) bytes a point, 44 bytes, so 3600 points at the default
// interval of 1 s are 158,400 bytes (155 KiB) per app, whatever its
// number of instances: the charts show an app's figures, and the
// instance table shows each instance's current ones. Rings exist only
// while a dashboard is enabled (the collector makes them).
type ring struct {
	t    []uint32
	v    [nSeries][]float32
	next int // the slot the next point goes in
	n    int // points kept

	// last counters, for the rates of 5xx answers.
	last5xx  uint64
	lastAt   time.Time
	restarts int
}

// ringBytes is what one ring of n points holds.
func ringBytes(n int) int { return n * (4 + nSeries*4) }

func newRing(points int) *ring {
	r := &ring{t: make([]uint32, points)}
	for i := range r.v {
		r.v[i] = make([]float32, points)
	}
	return r
}

func (r *ring) add(at time.Time, vals [nSeries]float32) {
	r.t[r.next] = uint32(at.Unix())
	for i := range vals {
		r.v[i][r.next] = vals[i]
	}
	r.next = (r.next + 1) % len(r.t)
	if r.n < len(r.t) {
		r.n++
	}
}

// since returns the points at or after from, oldest first: the times in
// seconds and each series.
func (r *ring) since(from time.Time) (ts []uint32, vals [nSeries][]float32) {
	cut := uint32(from.Unix())
	start := (r.next - r.n + len(r.t)) % len(r.t)
	for k := 0; k < r.n; k++ {
		i := (start + k) % len(r.t)
		if r.t[i] < cut {
			continue
		}
		ts = append(ts, r.t[i])
		for s := range vals {
			vals[s] = append(vals[s], r.v[s][i])
		}
	}
	return ts, vals
}

// oldestRestarts is the restart count at or after from, for the restarts
// within the last hour.
func (r *ring) oldestRestarts(from time.Time) (float32, bool) {
	cut := uint32(from.Unix())
	start := (r.next - r.n + len(r.t)) % len(r.t)
	for k := 0; k < r.n; k++ {
		i := (start + k) % len(r.t)
		if r.t[i] >= cut {
			return r.v[seriesRestarts][i], true
		}
	}
	return 0, false
}

// history holds a ring per app, keyed by app id.
type history struct {
	points int

	mu    sync.Mutex // guards rings
	rings map[int]*ring
}

func newHistory(interval time.Duration) *history {
	points := int(HistoryWindow / interval)
	return &history{points: max(points, 2), rings: map[int]*ring{}}
}

// record adds a point for every app of apps, and forgets the apps gone.
// It returns each app's summary of now.
func (h *history) record(now time.Time, apps []api.App) []Summary {
	h.mu.Lock()
	defer h.mu.Unlock()
	seen := make(map[int]bool, len(apps))
	out := make([]Summary, 0, len(apps))
	for _, a := range apps {
		seen[a.ID] = true
		r := h.rings[a.ID]
		if r == nil {
			r = newRing(h.points)
			h.rings[a.ID] = r
		}
		vals, s := figures(a)
		var total5xx uint64
		for _, in := range a.Instances {
			if in.HTTP != nil {
				total5xx += in.HTTP.Requests["5xx"]
			}
		}
		if !r.lastAt.IsZero() && total5xx >= r.last5xx {
			if dt := now.Sub(r.lastAt).Seconds(); dt > 0 {
				vals[series5xx] = float32(float64(total5xx-r.last5xx) / dt)
			}
		}
		r.last5xx, r.lastAt = total5xx, now
		r.add(now, vals)
		if old, ok := r.oldestRestarts(now.Add(-HistoryWindow)); ok {
			s.RestartsHour = int(vals[seriesRestarts] - old)
		}
		s.Err5xx = float64(vals[series5xx])
		out = append(out, s)
	}
	for id := range h.rings {
		if !seen[id] {
			delete(h.rings, id)
		}
	}
	return out
}

// current returns the apps' summaries of now without recording a point:
// the rates and the restarts of the hour come from the rings.
func (h *history) current(apps []api.App) []Summary {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]Summary, 0, len(apps))
	for _, a := range apps {
		vals, s := figures(a)
		if r := h.rings[a.ID]; r != nil && r.n > 0 {
			last := (r.next - 1 + len(r.t)) % len(r.t)
			s.Err5xx = float64(r.v[series5xx][last])
			if old, ok := r.oldestRestarts(time.Unix(int64(r.t[last]), 0).Add(-HistoryWindow)); ok {
				s.RestartsHour = int(vals[seriesRestarts] - old)
			}
		}
		out = append(out, s)
	}
	return out
}

// series returns app id's points since from, nil when it has none.
func (h *history) series(id int, from time.Time) *Series {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rings[id]
	if r == nil {
		return nil
	}
	ts, vals := r.since(from)
	s := &Series{T: ts, V: map[string][]float32{}}
	for i, name := range seriesNames {
		s.V[name] = vals[i]
	}
	return s
}

// Series is one app's history as the browser gets it.
type Series struct {
	T []uint32             `json:"t"` // unix seconds
	V map[string][]float32 `json:"v"` // by series name, aligned with T
}

// Summary is one app's line of the overview.
type Summary struct {
	ID           int     `json:"id"`
	Name         string  `json:"name"`
	Namespace    string  `json:"namespace"`
	Status       string  `json:"status"`
	Reason       string  `json:"reason,omitempty"`
	Mode         string  `json:"mode"`
	Online       int     `json:"online"`
	Total        int     `json:"total"`
	CPU          float64 `json:"cpu"`
	Memory       uint64  `json:"memory"`
	RPS          float64 `json:"rps"`
	P95          float64 `json:"p95"`
	Err5xx       float64 `json:"err5xx"`
	Restarts     int     `json:"restarts"`
	RestartsHour int     `json:"restarts_hour"`
	HasHTTP      bool    `json:"has_http"`
}

// figures reads one point of app a's series and its summary.
func figures(a api.App) (vals [nSeries]float32, s Summary) {
	s = Summary{ID: a.ID, Name: a.Name, Namespace: a.Namespace, Status: a.Status, Reason: a.Reason, Mode: a.Mode, Total: len(a.Instances)}
	var loop, heap float64
	for _, in := range a.Instances {
		if in.Status == api.StatusOnline {
			s.Online++
		}
		s.CPU += in.CPUPercent
		s.Memory += in.MemoryBytes
		s.Restarts += in.Restarts
		if h := in.HTTP; h != nil {
			s.HasHTTP = true
			s.RPS += h.RPS
			vals[seriesP50] = max(vals[seriesP50], float32(h.P50MS))
			vals[seriesP95] = max(vals[seriesP95], float32(h.P95MS))
			vals[seriesP99] = max(vals[seriesP99], float32(h.P99MS))
		}
		if v, ok := in.Node["eventloop_delay_p99_seconds"]; ok {
			loop = max(loop, v*1000)
		}
		heap += in.Node["heap_used_bytes"]
	}
	s.P95 = float64(vals[seriesP95])
	vals[seriesCPU] = float32(s.CPU)
	vals[seriesMemory] = float32(s.Memory)
	vals[seriesRPS] = float32(s.RPS)
	vals[seriesLoopP99] = float32(loop)
	vals[seriesHeap] = float32(heap)
	vals[seriesRestarts] = float32(s.Restarts)
	return vals, s
}
