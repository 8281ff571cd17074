package logs

import (
	"iter"
	"sync"
)

// Recent keeps the last n lines added: the crash context of an instance (the
// last 50 stderr lines before an unexpected exit). It is safe for
// concurrent use.
type Recent struct {
	n     int
	mu    sync.Mutex // guards lines
	lines lastLines
}

// NewRecent returns a Recent that keeps the last n lines (none when n <= 0).
func NewRecent(n int) *Recent {
	return &Recent{n: n}
}

// Add keeps the lines of c, forgetting the oldest beyond n. It keeps c
// itself: lines are framed when asked for, not on the way in.
func (r *Recent) Add(c Chunk) {
	if r.n <= 0 {
		return
	}
	r.mu.Lock()
	r.lines.add(c, r.n)
	r.mu.Unlock()
}

// Lines returns the lines kept, oldest first, in a new slice.
func (r *Recent) Lines() []Line {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Line, 0, min(r.lines.lines, r.n))
	for l := range r.lines.last(r.n) {
		out = append(out, l)
	}
	return out
}

// Reset forgets every line, for when an instance starts again, so that a
// crash shows only the output of the run that crashed.
func (r *Recent) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = lastLines{}
}

// lastLines holds the chunks that carry the last lines added to it: whole
// chunks, so that adding costs no framing, however many lines a chunk
// has. The zero value is empty.
type lastLines struct {
	chunks []Chunk // oldest first, from head on; chunks[:head] are cleared
	head   int
	lines  int // lines in chunks[head:]
}

// add appends c and drops the oldest chunks whose lines are all beyond the
// last n (n > 0).
func (t *lastLines) add(c Chunk, n int) {
	if c.N == 0 {
		return
	}
	t.chunks = append(t.chunks, c)
	t.lines += c.N
	for t.lines-t.chunks[t.head].N >= n {
		t.lines -= t.chunks[t.head].N
		t.chunks[t.head] = Chunk{}
		t.head++
	}
	if t.head > 16 && t.head >= len(t.chunks)/2 {
		k := copy(t.chunks, t.chunks[t.head:])
		clear(t.chunks[k:])
		t.chunks, t.head = t.chunks[:k], 0
	}
}

// last yields the last n lines held (fewer when there are fewer), oldest
// first.
func (t *lastLines) last(n int) iter.Seq[Line] {
	return func(yield func(Line) bool) {
		skip := t.lines - n
		for _, c := range t.chunks[t.head:] {
			if skip >= c.N {
				skip -= c.N
				continue
			}
			for l := range c.Lines() {
				if skip > 0 {
					skip--
					continue
				}
				if !yield(l) {
					return
				}
			}
		}
	}
}
