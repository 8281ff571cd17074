package events

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/tendhq/tend/internal/api"
)

func publish(b *Bus, n int) {
	for i := range n {
		b.Publish(api.StreamEvent{Type: api.EventSample, App: fmt.Sprint("a", i%2)})
	}
}

// ids reads until it has n events and returns their ids.
func ids(t *testing.T, f *Follower, n int) []uint64 {
	t.Helper()
	var out []uint64
	for len(out) < n {
		evs, err := f.Next(context.Background(), 3)
		if err != nil {
			t.Fatalf("after %v: %v", out, err)
		}
		for _, e := range evs {
			out = append(out, e.ID)
		}
	}
	return out
}

func TestFollowerReadsInOrder(t *testing.T) {
	b := New(16)
	f, gap := b.Follow(0, false, nil)
	defer f.Close()
	if gap != nil {
		t.Fatalf("gap without resume: %+v", gap)
	}
	publish(b, 10)
	if got := fmt.Sprint(ids(t, f, 10)); got != "[1 2 3 4 5 6 7 8 9 10]" {
		t.Errorf("ids %s", got)
	}
}

func TestFollowWithoutResumeSkipsThePast(t *testing.T) {
	b := New(16)
	publish(b, 5)
	f, _ := b.Follow(0, false, nil)
	defer f.Close()
	publish(b, 1)
	if got := fmt.Sprint(ids(t, f, 1)); got != "[6]" {
		t.Errorf("ids %s, want only the event published after Follow", got)
	}
}

func TestResume(t *testing.T) {
	cases := []struct {
		name      string
		since     uint64
		want      string // ids read
		gapMissed uint64
		gapReason string // "" for no gap
	}{
		{"inside the ring", 7, "[8 9 10]", 0, ""},
		{"at the newest", 10, "[]", 0, ""},
		{"just inside", 5, "[6 7 8 9 10]", 0, ""},
		{"older than the ring", 2, "[6 7 8 9 10]", 3, "no longer kept"},
		{"from the beginning", 0, "[6 7 8 9 10]", 5, "no longer kept"},
		{"from another daemon", 99, "[6 7 8 9 10]", 0, "restarted"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := New(5)
			publish(b, 10) // keeps 6..10
			b.Close()      // so that reading ends with ErrClosed
			f, gap := b.Follow(tc.since, true, nil)
			defer f.Close()
			switch {
			case tc.gapReason == "" && gap != nil:
				t.Errorf("unexpected gap %+v", gap)
			case tc.gapReason != "" && gap == nil:
				t.Errorf("no gap, want one (%s)", tc.gapReason)
			case gap != nil:
				if gap.Missed != tc.gapMissed || gap.Oldest != 6 || gap.After != tc.since || !strings.Contains(gap.Reason, tc.gapReason) {
					t.Errorf("gap %+v, want missed %d after %d, oldest 6, reason with %q", gap, tc.gapMissed, tc.since, tc.gapReason)
				}
			}
			var got []uint64
			for {
				evs, err := f.Next(context.Background(), 2)
				if errors.Is(err, ErrClosed) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range evs {
					got = append(got, e.ID)
				}
			}
			if s := fmt.Sprint(got); s != tc.want && !(tc.want == "[]" && got == nil) {
				t.Errorf("ids %s, want %s", s, tc.want)
			}
		})
	}
}

func TestMatchFilters(t *testing.T) {
	b := New(16)
	f, _ := b.Follow(0, false, func(e *api.StreamEvent) bool { return e.App == "a1" })
	defer f.Close()
	publish(b, 6)
	if got := fmt.Sprint(ids(t, f, 3)); got != "[2 4 6]" {
		t.Errorf("ids %s, want the events of a1", got)
	}
}

// A follower that does not read is lapped: publishers never wait for it,
// and its next read says what it missed. Run with -race.
func TestSlowFollowerIsDroppedAndPublishersDoNotWait(t *testing.T) {
	b := New(8)
	slow, _ := b.Follow(0, false, nil)
	defer slow.Close()
	publish(b, 1)
	if got := fmt.Sprint(ids(t, slow, 1)); got != "[1]" {
		t.Fatalf("ids %s", got)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { publish(b, 25) }) // 100 more events through a ring of 8
	}
	wg.Wait() // returns: nobody waited for the slow follower
	_, err := slow.Next(context.Background(), 10)
	var lapped *LappedError
	if !errors.As(err, &lapped) {
		t.Fatalf("slow follower: %v, want a LappedError", err)
	}
	if g := lapped.Gap; g.After != 1 || g.Oldest != 94 || g.Missed != 92 {
		t.Errorf("gap %+v, want after 1, oldest 94, missed 92", g)
	}
	// A follower that resumes from there is told the same, then reads on.
	f, gap := b.Follow(lapped.Gap.After, true, nil)
	defer f.Close()
	if gap == nil || gap.Missed != 92 {
		t.Errorf("resume after being dropped: gap %+v", gap)
	}
	if got := fmt.Sprint(ids(t, f, 8)); got != "[94 95 96 97 98 99 100 101]" {
		t.Errorf("ids %s", got)
	}
}

func TestCloseEndsWaitingFollowers(t *testing.T) {
	b := New(4)
	f, _ := b.Follow(0, false, nil)
	defer f.Close()
	done := make(chan error)
	go func() {
		_, err := f.Next(context.Background(), 1)
		done <- err
	}()
	b.Close()
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Errorf("waiting follower after Close: %v", err)
	}
	b.Publish(api.StreamEvent{Type: api.EventSample}) // ignored
	if _, err := f.Next(context.Background(), 1); !errors.Is(err, ErrClosed) {
		t.Errorf("after a publish on a closed bus: %v", err)
	}
}

func TestNextEndsWithContext(t *testing.T) {
	b := New(4)
	f, _ := b.Follow(0, false, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := f.Next(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("Next with a cancelled context: %v", err)
	}
	if !b.Following() {
		t.Errorf("an open follower is not counted")
	}
	f.Close()
	f.Close()
	if b.Following() {
		t.Errorf("a closed follower is still counted")
	}
}

func TestNilBusDropsEvents(t *testing.T) {
	var b *Bus
	b.Publish(api.StreamEvent{})
	b.Close()
	if b.Following() {
		t.Error("a nil bus has followers")
	}
}

func TestAQuietFollowerReadsButDoesNotCountAsFollowing(t *testing.T) {
	b := New(8)
	f := b.FollowQuiet(func(e *api.StreamEvent) bool { return e.App == "a1" })
	if b.Following() {
		t.Fatal("a quiet follower counts as following: samples would be published for it")
	}
	publish(b, 4)
	evs, err := f.Next(context.Background(), 10)
	if err != nil || len(evs) != 2 || evs[0].ID != 2 || evs[1].ID != 4 {
		t.Fatalf("read %v, %v; want the events of a1 (ids 2 and 4)", evs, err)
	}
	g, _ := b.Follow(0, false, nil)
	f.Close()
	if !b.Following() {
		t.Fatal("closing a quiet follower took back another's count")
	}
	g.Close()
}
