package logs

import "sync"

// Recent keeps the last n lines added: the crash context of an instance (the
// last 50 stderr lines before an unexpected exit). It is safe for
// concurrent use.
type Recent struct {
	mu    sync.Mutex // guards ring, next and count
	ring  []Line
	next  int // slot of the next Add
	count int // lines held, up to len(ring)
}

// NewRecent returns a Recent that keeps the last n lines (none when n <= 0).
func NewRecent(n int) *Recent {
	return &Recent{ring: make([]Line, max(n, 0))}
}

// Add keeps l, forgetting the oldest line when full.
func (r *Recent) Add(l Line) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.ring) == 0 {
		return
	}
	r.ring[r.next] = l
	r.next = (r.next + 1) % len(r.ring)
	r.count = min(r.count+1, len(r.ring))
}

// Lines returns the lines kept, oldest first, in a new slice.
func (r *Recent) Lines() []Line {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Line, 0, r.count)
	start := (r.next - r.count + len(r.ring)) % max(len(r.ring), 1)
	for i := range r.count {
		out = append(out, r.ring[(start+i)%len(r.ring)])
	}
	return out
}

// Reset forgets every line, for when an instance starts again, so that a
// crash shows only the output of the run that crashed.
func (r *Recent) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	clear(r.ring)
	r.next, r.count = 0, 0
}
