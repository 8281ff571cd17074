// Package events is the daemon's event bus: what happens to apps and
// instances (state changes, exits, reload steps, scale, set and apply,
// samples), kept in a bounded ring and read by followers, the readers of
// GET /v1/events.
//
// The ring is every follower's buffer. Publish writes the event in the
// next slot and wakes the waiting followers; it never waits for one, and
// its cost does not grow with them (no fan-out, no goroutine per
// follower). Each follower keeps its position in the ring and copies what
// it has not read yet. A follower that falls a whole ring behind finds
// its next event overwritten: it is dropped, and told which events it
// missed, so it can resume from there and learn about the gap. Resuming
// works the same way: a follower may start at any id; one older than the
// ring is told at once how many events it missed.
package events

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tendhq/tend/internal/api"
)

// DefaultSize is the ring size of the daemon's bus: with a sample a
// second for each of 40 apps, over a minute and a half of history.
const DefaultSize = 4096

// ErrClosed is returned by Next once the bus is closed and the follower
// has read everything published before.
var ErrClosed = errors.New("event bus closed")

// LappedError is returned by Next when the follower fell a whole ring
// behind: the events in Gap were overwritten before it read them. The
// follower is done.
type LappedError struct{ Gap api.Gap }

func (e *LappedError) Error() string {
	return fmt.Sprintf("event reader fell behind: %d events after id %d were lost", e.Gap.Missed, e.Gap.After)
}

// Bus is a bounded ring of events. A nil *Bus drops what is published.
type Bus struct {
	following atomic.Int64 // open followers, so that costly events can be skipped when nobody reads

	mu     sync.Mutex
	ring   []api.StreamEvent // guarded by mu; the event with id i is at ring[i%len(ring)]
	next   uint64            // guarded by mu; the id of the next event (ids start at 1)
	wake   chan struct{}     // guarded by mu; closed by the next Publish, made by a follower that waits
	closed bool              // guarded by mu
}

// New returns a bus that keeps the last size events.
func New(size int) *Bus {
	return &Bus{ring: make([]api.StreamEvent, max(size, 1)), next: 1}
}

// Publish gives e the next id (and the current time, if it has none),
// keeps it and wakes the followers. It never blocks on a follower. After
// Close it does nothing.
func (b *Bus) Publish(e api.StreamEvent) {
	if b == nil {
		return
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	e.ID = b.next
	b.next++
	b.ring[e.ID%uint64(len(b.ring))] = e
	w := b.wake
	b.wake = nil
	b.mu.Unlock()
	if w != nil {
		close(w)
	}
}

// Following reports whether any follower is open.
func (b *Bus) Following() bool { return b != nil && b.following.Load() > 0 }

// Close ends the bus: publishing stops, and followers return ErrClosed
// once they have read what was published before.
func (b *Bus) Close() {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	b.closed = true
	if b.wake != nil {
		close(b.wake)
		b.wake = nil
	}
}

// oldest is the id of the oldest event kept. The caller holds mu.
func (b *Bus) oldest() uint64 {
	if n := uint64(len(b.ring)); b.next > n {
		return b.next - n
	}
	return 1
}

// Follow returns a follower of the events that match (all, when match is
// nil). Without resume it reads only events published from now on. With
// resume it reads the events after id since (since 0: all kept); when
// those are no longer all kept, or since is an id this daemon never gave,
// it starts at the oldest kept event and gap says what was missed.
// match is called with the bus locked: it must be quick and call nothing
// of the bus.
func (b *Bus) Follow(since uint64, resume bool, match func(*api.StreamEvent) bool) (f *Follower, gap *api.Gap) {
	return b.follow(since, resume, match, true)
}

// FollowQuiet is Follow for a reader inside the daemon that wants none of
// the costly events (samples): it does not count in Following, so they
// are still skipped when nobody else reads.
func (b *Bus) FollowQuiet(match func(*api.StreamEvent) bool) *Follower {
	f, _ := b.follow(0, false, match, false)
	return f
}

func (b *Bus) follow(since uint64, resume bool, match func(*api.StreamEvent) bool, counted bool) (f *Follower, gap *api.Gap) {
	b.mu.Lock()
	defer b.mu.Unlock()
	f = &Follower{b: b, match: match, pos: b.next, counted: counted}
	if counted {
		b.following.Add(1)
	}
	if !resume {
		return f, nil
	}
	oldest := b.oldest()
	switch {
	case since >= b.next:
		f.pos = oldest
		gap = &api.Gap{After: since, Oldest: oldest, Reason: fmt.Sprintf("id %d is newer than any this daemon gave (the newest is %d): the daemon restarted since", since, b.next-1)}
	case since+1 < oldest:
		f.pos = oldest
		gap = &api.Gap{After: since, Oldest: oldest, Missed: oldest - since - 1, Reason: fmt.Sprintf("the events after id %d are no longer kept (the oldest kept is %d)", since, oldest)}
	default:
		f.pos = since + 1
	}
	return f, gap
}

// Follower reads a bus from its own position. One goroutine uses it.
type Follower struct {
	b       *Bus
	match   func(*api.StreamEvent) bool
	pos     uint64 // the id of the next event to read; guarded by b.mu
	counted bool   // counts in b.following
	closed  atomic.Bool
}

// Next returns up to max matching events after the last one read, waiting
// for one if there are none. It returns ctx's error when ctx ends,
// ErrClosed after the bus closed, and a *LappedError when the follower
// fell a ring behind (it is done then).
func (f *Follower) Next(ctx context.Context, max int) ([]api.StreamEvent, error) {
	b := f.b
	for {
		b.mu.Lock()
		if oldest := b.oldest(); f.pos < oldest {
			gap := api.Gap{After: f.pos - 1, Oldest: oldest, Missed: oldest - f.pos, Reason: "the reader fell behind: events it had not read were overwritten"}
			b.mu.Unlock()
			return nil, &LappedError{Gap: gap}
		}
		var out []api.StreamEvent
		for f.pos < b.next && len(out) < max {
			e := &b.ring[f.pos%uint64(len(b.ring))]
			f.pos++
			if f.match == nil || f.match(e) {
				out = append(out, *e)
			}
		}
		if len(out) > 0 {
			b.mu.Unlock()
			return out, nil
		}
		if b.closed {
			b.mu.Unlock()
			return nil, ErrClosed
		}
		if b.wake == nil {
			b.wake = make(chan struct{})
		}
		w := b.wake
		b.mu.Unlock()
		select {
		case <-w:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Close says the follower reads no more.
func (f *Follower) Close() {
	if f.closed.CompareAndSwap(false, true) && f.counted {
		f.b.following.Add(-1)
	}
}
