package logs

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultFollowBuffer is the buffer of a follower when Follow is given none.
const DefaultFollowBuffer = 1024

// Hub fans published lines out to live followers (`tend logs -f`, the
// /v1/logs event stream) and keeps the recent lines of each app for the
// backlog of `tend logs`. It is safe for concurrent use; Publish never
// blocks, whatever the followers do.
type Hub struct {
	perApp int

	mu    sync.Mutex            // guards rings
	rings map[string]*lastLines // app name → its recent lines

	fmu       sync.Mutex                  // serializes changes of followers
	followers atomic.Pointer[[]*follower] // copied on change, so Publish reads it without a lock
}

// NewHub returns a Hub that keeps the last perApp lines of each app (none
// when perApp <= 0).
func NewHub(perApp int) *Hub {
	return &Hub{perApp: perApp, rings: make(map[string]*lastLines)}
}

// Publish keeps the lines of c among its app's recent lines and offers
// each to each follower whose match accepts it. It never blocks: a
// follower whose buffer is full loses the line (see Follow). Lines are
// framed only for followers, and for Tail when it is called.
func (h *Hub) Publish(c Chunk) {
	if h.perApp > 0 {
		h.mu.Lock()
		r := h.rings[c.App]
		if r == nil {
			r = &lastLines{}
			h.rings[c.App] = r
		}
		r.add(c, h.perApp)
		h.mu.Unlock()
	}
	if fs := h.followers.Load(); fs != nil {
		for _, f := range *fs {
			f.push(c)
		}
	}
}

// Tail returns the last n lines that match (all lines when match is nil)
// across the recent lines of every app, oldest first. Lines of different
// apps are merged by Time; lines of one app keep the order they were
// published in.
func (h *Hub) Tail(match func(Line) bool, n int) []Line {
	if n <= 0 {
		return nil
	}
	h.mu.Lock()
	apps := make([]string, 0, len(h.rings))
	for app := range h.rings {
		apps = append(apps, app)
	}
	slices.Sort(apps) // a stable merge of equal times needs a fixed order
	var out []Line
	for _, app := range apps {
		start := len(out)
		for l := range h.rings[app].last(h.perApp) {
			if match == nil || match(l) {
				out = append(out, l)
			}
		}
		if len(out)-start > n {
			out = append(out[:start], out[len(out)-n:]...)
		}
	}
	h.mu.Unlock()
	slices.SortStableFunc(out, func(a, b Line) int { return a.Time.Compare(b.Time) })
	return out[len(out)-min(n, len(out)):]
}

// Forget drops the ring of app (on delete). Followers are not affected.
func (h *Hub) Forget(app string) {
	h.mu.Lock()
	delete(h.rings, app)
	h.mu.Unlock()
}

// Follow returns the lines published after the call that match (all when
// match is nil), in publish order, until ctx is done; then the channel is
// closed. match runs on the publishing goroutine and must be quick.
//
// Each follower has its own buffer of about buffer lines (the buffered
// lines plus those being handed over; DefaultFollowBuffer when buffer <= 0).
// A follower that does not read loses the lines that do not fit, and when it
// reads again it gets, where the gap is, a Line with Stream StreamTend and
// Text DropMarker(N). It never slows Publish or other followers.
//
// Follow starts a goroutine that hands lines over; it ends when ctx is done.
func (h *Hub) Follow(ctx context.Context, match func(Line) bool, buffer int) <-chan Line {
	return h.follow(ctx, match, buffer, false)
}

// FollowDrained is Follow for a reader that reads until the channel is
// closed (tend run's stdout): when ctx is done, the lines already queued
// are still handed over before the channel closes, so that an app's last
// words published before the end are not lost.
func (h *Hub) FollowDrained(ctx context.Context, match func(Line) bool, buffer int) <-chan Line {
	return h.follow(ctx, match, buffer, true)
}

func (h *Hub) follow(ctx context.Context, match func(Line) bool, buffer int, drain bool) <-chan Line {
	if buffer <= 0 {
		buffer = DefaultFollowBuffer
	}
	f := &follower{
		match: match,
		limit: buffer,
		drain: drain,
		wake:  make(chan struct{}, 1),
		out:   make(chan Line),
	}
	h.fmu.Lock()
	var fs []*follower
	if old := h.followers.Load(); old != nil {
		fs = slices.Clone(*old)
	}
	fs = append(fs, f)
	h.followers.Store(&fs)
	h.fmu.Unlock()
	go func() {
		defer close(f.out)
		defer h.unfollow(f)
		f.run(ctx)
	}()
	return f.out
}

func (h *Hub) unfollow(f *follower) {
	h.fmu.Lock()
	defer h.fmu.Unlock()
	fs := slices.DeleteFunc(slices.Clone(*h.followers.Load()), func(g *follower) bool { return g == f })
	h.followers.Store(&fs)
}

// Followers returns the number of live followers.
func (h *Hub) Followers() int {
	if fs := h.followers.Load(); fs != nil {
		return len(*fs)
	}
	return 0
}

// follower is the buffer of one Follow call.
type follower struct {
	match func(Line) bool
	limit int
	drain bool // hand over what is queued when ctx is done (FollowDrained)

	mu      sync.Mutex // guards queue, dropped, meta
	queue   []Line     // lines waiting for the reader, markers included
	dropped int64      // lines lost since the last marker
	meta    Line       // first line lost, for the marker's app and instance

	wake chan struct{} // capacity 1: the queue or dropped changed
	out  chan Line
}

// push queues the lines of c that match, or counts them lost when the
// queue is full. Once a line is lost, the marker goes before the next line
// queued, so it sits in the gap.
func (f *follower) push(c Chunk) {
	queued := false
	f.mu.Lock()
	for l := range c.Lines() {
		if f.match != nil && !f.match(l) {
			continue
		}
		if len(f.queue) >= f.limit {
			if f.dropped == 0 {
				f.meta = l
			}
			f.dropped++
			continue
		}
		if f.dropped > 0 {
			f.queue = append(f.queue, f.marker())
		}
		f.queue = append(f.queue, l)
		queued = true
	}
	f.mu.Unlock()
	if queued {
		select {
		case f.wake <- struct{}{}:
		default:
		}
	}
}

// marker returns the marker of the lines lost so far and resets the count.
// f.mu must be held.
func (f *follower) marker() Line {
	m := Line{
		Time:     time.Now(),
		App:      f.meta.App,
		Instance: f.meta.Instance,
		Stream:   StreamTend,
		Text:     DropMarker(f.dropped),
	}
	f.dropped = 0
	return m
}

// run hands the queue to the reader until ctx is done.
// pending says lines (or a loss to report) are queued.
func (f *follower) pending() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.queue) > 0 || f.dropped > 0
}

func (f *follower) run(ctx context.Context) {
	var batch []Line
	for {
		f.mu.Lock()
		batch, f.queue = f.queue, batch[:0]
		if len(batch) == 0 && f.dropped > 0 {
			// The reader took everything and lines were lost after it.
			batch = append(batch, f.marker())
		}
		f.mu.Unlock()
		if len(batch) == 0 {
			select {
			case <-f.wake:
				continue
			case <-ctx.Done():
				if f.drain && f.pending() {
					continue
				}
				return
			}
		}
		for _, l := range batch {
			if f.drain {
				f.out <- l // its reader reads to the end
				continue
			}
			select {
			case f.out <- l:
			case <-ctx.Done():
				return
			}
		}
		clear(batch)
	}
}
