package logs

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestHubStalledFollowerBlocksNobody(t *testing.T) {
	h := NewHub(100)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const n = 20_000
	stalled := h.Follow(ctx, nil, 10)
	reader := h.Follow(ctx, func(l Line) bool { return l.App == "api" }, n)
	done := make(chan []Line)
	go func() {
		var got []Line
		for l := range reader {
			got = append(got, l)
			if len(got) == n {
				break
			}
		}
		done <- got
	}()
	for i := range n {
		h.Publish(Line{App: "api", Text: fmt.Sprint(i)}.Chunk()) // returns although stalled never reads
		h.Publish(Line{App: "other", Text: fmt.Sprint(i)}.Chunk())
	}
	got := <-done
	for i, l := range got {
		if l.Text != fmt.Sprint(i) || l.App != "api" {
			t.Fatalf("reader line %d is %+v", i, l)
		}
	}
	// The stalled follower now reads what fit in its buffer, in publish
	// order, with a marker wherever lines were lost.
	var kept, next int64 // next: publish index expected
	for next < 2*n {
		l := <-stalled
		if m, ok := ParseDropMarker(l.Text); ok && l.Stream == StreamTend {
			next += m
			continue
		}
		i, _ := strconv.Atoi(l.Text)
		if p := int64(2 * i); l.App == "other" && p+1 != next || l.App == "api" && p != next {
			t.Fatalf("stalled follower got %s %s, want publish index %d", l.App, l.Text, next)
		}
		next++
		kept++
	}
	if next != 2*n || kept == 0 || kept > 2*10+1 {
		t.Fatalf("stalled follower: %d kept of %d", kept, next)
	}
	cancel()
	for range stalled { // closed once the follower's goroutine is done
	}
	for range reader {
	}
	if h.Followers() != 0 {
		t.Fatalf("%d followers after cancel", h.Followers())
	}
}

func TestHubMarkerSitsInTheGap(t *testing.T) {
	h := NewHub(0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := h.Follow(ctx, nil, 5)
	for i := range 100 {
		h.Publish(Line{App: "a", Text: fmt.Sprint(i)}.Chunk())
	}
	// Lines in publish order; a marker wherever lines are missing.
	var markers int
	for next := 0; next < 100; {
		l := <-ch
		if m, ok := ParseDropMarker(l.Text); ok {
			if l.Stream != StreamTend || l.App != "a" {
				t.Fatalf("marker %+v: want stream tend, app of the lost lines", l)
			}
			next += int(m)
			markers++
			continue
		}
		if l.Text != fmt.Sprint(next) {
			t.Fatalf("got %q where line %d belongs", l.Text, next)
		}
		next++
	}
	if markers == 0 {
		t.Fatal("no marker: 100 lines fit a buffer of 5")
	}
	// Once the reader caught up, nothing is lost any more.
	h.Publish(Line{App: "a", Text: "new"}.Chunk())
	if l := <-ch; l.Text != "new" {
		t.Fatalf("after catching up got %q", l.Text)
	}
}

func TestHubTail(t *testing.T) {
	h := NewHub(3)
	base := time.Date(2024, 5, 10, 10, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return base.Add(time.Duration(s) * time.Second) }
	h.Publish(Line{Time: at(1), App: "b", Text: "b1"}.Chunk())
	h.Publish(Line{Time: at(2), App: "a", Instance: 0, Stream: StreamErr, Text: "a2"}.Chunk())
	h.Publish(Line{Time: at(3), App: "a", Instance: 1, Text: "a3"}.Chunk())
	h.Publish(Line{Time: at(4), App: "b", Text: "b4"}.Chunk())
	h.Publish(Line{Time: at(5), App: "a", Instance: 0, Text: "a5"}.Chunk())
	h.Publish(Line{Time: at(5), App: "a", Instance: 1, Text: "a5'"}.Chunk()) // same time: publish order
	h.Publish(Line{Time: at(6), App: "a", Text: "a6"}.Chunk())               // "a2" leaves the ring of a
	texts := func(ls []Line) string {
		s := ""
		for _, l := range ls {
			s += l.Text + " "
		}
		return s
	}
	tests := []struct {
		match func(Line) bool
		n     int
		want  string
	}{
		{nil, 10, "b1 b4 a5 a5' a6 "},
		{nil, 2, "a5' a6 "},
		{func(l Line) bool { return l.App == "b" }, 10, "b1 b4 "},
		{func(l Line) bool { return l.App == "a" && l.Instance == 1 }, 10, "a5' "},
		{func(l Line) bool { return l.Stream == StreamErr }, 10, ""},
		{nil, 0, ""},
	}
	for i, tt := range tests {
		if got := texts(h.Tail(tt.match, tt.n)); got != tt.want {
			t.Errorf("case %d: got %q, want %q", i, got, tt.want)
		}
	}
	h.Forget("a")
	if got := texts(h.Tail(nil, 10)); got != "b1 b4 " {
		t.Errorf("after Forget: %q", got)
	}
}

func TestHubFollowEndsWithContext(t *testing.T) {
	h := NewHub(10)
	ctx, cancel := context.WithCancel(context.Background())
	ch := h.Follow(ctx, nil, 0)
	h.Publish(Line{Text: "x"}.Chunk())
	if l := <-ch; l.Text != "x" {
		t.Fatalf("got %q", l.Text)
	}
	cancel()
	for range ch {
	}
	h.Publish(Line{Text: "after"}.Chunk()) // no follower left to offer it to
	if h.Followers() != 0 {
		t.Fatal("follower still registered")
	}
	done, stop := context.WithCancel(context.Background())
	stop()
	for range h.Follow(done, nil, 1) { // already done: closed at once
	}
}

// A drained follower hands over every line queued before its context ended,
// in order, then closes.
func TestHubFollowDrainedDeliversTheQueue(t *testing.T) {
	h := NewHub(10)
	ctx, cancel := context.WithCancel(context.Background())
	ch := h.FollowDrained(ctx, nil, 100)
	for i := range 50 {
		h.Publish(Line{Text: fmt.Sprint(i)}.Chunk())
	}
	cancel()
	var got []string
	for l := range ch {
		got = append(got, l.Text)
	}
	if len(got) != 50 || got[0] != "0" || got[49] != "49" {
		t.Fatalf("drained %d lines: %v", len(got), got)
	}
	if h.Followers() != 0 {
		t.Fatal("follower still registered")
	}
}

func TestRecent(t *testing.T) {
	r := NewRecent(3)
	if got := r.Lines(); len(got) != 0 {
		t.Fatalf("new Recent has %v", got)
	}
	for i := range 5 {
		r.Add(Line{Text: fmt.Sprint(i)}.Chunk())
	}
	got := r.Lines()
	if len(got) != 3 || got[0].Text != "2" || got[2].Text != "4" {
		t.Fatalf("got %v", got)
	}
	r.Add(Line{Text: "5"}.Chunk())
	if got := r.Lines(); got[0].Text != "3" || got[2].Text != "5" {
		t.Fatalf("got %v", got)
	}
	r.Reset()
	r.Add(Line{Text: "a"}.Chunk())
	if got := r.Lines(); len(got) != 1 || got[0].Text != "a" {
		t.Fatalf("after Reset got %v", got)
	}
	zero := NewRecent(0)
	zero.Add(Line{Text: "x"}.Chunk())
	if len(zero.Lines()) != 0 {
		t.Fatal("NewRecent(0) kept a line")
	}
}

// TestHubFramesChunks publishes chunks of several lines: followers get
// every line, the backlog the last perApp, each with its chunk's origin.
func TestHubFramesChunks(t *testing.T) {
	h := NewHub(3)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := h.Follow(ctx, func(l Line) bool { return l.Text != "skip" }, 0)
	at := time.Date(2024, 5, 10, 10, 0, 0, 0, time.UTC)
	h.Publish(Chunk{Time: at, App: "a", Instance: 2, Stream: StreamErr, Text: "1\nskip\n2\n3\n", N: 4})
	h.Publish(Chunk{Time: at, App: "a", Instance: 2, Stream: StreamErr, Text: "4\n5\n", N: 2})
	for _, want := range []string{"1", "2", "3", "4", "5"} {
		l := <-ch
		if l.Text != want || l.App != "a" || l.Instance != 2 || l.Stream != StreamErr || !l.Time.Equal(at) {
			t.Fatalf("follower got %+v, want line %q of a[2] err", l, want)
		}
	}
	var got []string
	for _, l := range h.Tail(nil, 10) {
		got = append(got, l.Text)
	}
	if strings.Join(got, " ") != "3 4 5" {
		t.Fatalf("Tail = %q, want the last 3 lines", got)
	}
}

func TestRecentFramesChunks(t *testing.T) {
	r := NewRecent(3)
	r.Add(Chunk{Text: "a\nb\n", N: 2})
	r.Add(Chunk{Text: "c\nd\ne\nf\n", N: 4})
	r.Add(Chunk{Text: "g\n", N: 1})
	var got []string
	for _, l := range r.Lines() {
		got = append(got, l.Text)
	}
	if strings.Join(got, " ") != "e f g" {
		t.Fatalf("Lines = %q, want the last 3", got)
	}
}
