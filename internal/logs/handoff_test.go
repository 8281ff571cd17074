package logs

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// A capture stopped for a hand-over and one that goes on from its carry
// emit every line once, in order, whatever the writes' boundaries.
func TestCaptureUntilHandsOverWithoutLosingOrDoublingALine(t *testing.T) {
	r, w, err := Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	const n = 20000
	werr := make(chan error, 1)
	go func() {
		defer w.Close()
		for i := range n {
			// Every third line is written in two pieces, so that a stop
			// often finds half a line read.
			s := fmt.Sprintf("line %d\n", i)
			if i%3 == 0 {
				if _, err := io.WriteString(w, s[:3]); err != nil {
					werr <- err
					return
				}
				s = s[3:]
			}
			if _, err := io.WriteString(w, s); err != nil {
				werr <- err
				return
			}
		}
		werr <- nil
	}()
	var first, second []Line
	var count atomic.Int64
	stop := make(chan struct{})
	emit := collect(&first)
	carry, stopped, err := CaptureUntil(r, "api", 0, StreamOut, func(c Chunk) {
		emit(c)
		if count.Add(int64(c.N)) >= 1000 && count.Load()-int64(c.N) < 1000 {
			close(stop)
		}
	}, Handoff{Stop: stop})
	if err != nil || !stopped {
		t.Fatalf("first capture: stopped %v, err %v; want stopped", stopped, err)
	}
	carry2, stopped, err := CaptureUntil(r, "api", 0, StreamOut, collect(&second), Handoff{Carry: carry})
	if err != nil || stopped || carry2 != nil {
		t.Fatalf("second capture: carry %q, stopped %v, err %v; want EOF", carry2, stopped, err)
	}
	if err := <-werr; err != nil {
		t.Fatal(err)
	}
	all := append(first, second...)
	if len(all) != n {
		t.Fatalf("%d lines (%d before the hand-over), want %d", len(all), len(first), n)
	}
	for i, l := range all {
		if l.Text != "line "+strconv.Itoa(i) {
			t.Fatalf("line %d is %q (carry was %q)", i, l.Text, carry)
		}
	}
	if len(first) < 1000 || len(second) == 0 {
		t.Errorf("%d lines before the hand-over and %d after: the stop did not cut the stream", len(first), len(second))
	}
}

// A stop while the pipe is quiet ends the capture at once, and a line
// begun before it is completed after it.
func TestCaptureUntilStopsWhileWaiting(t *testing.T) {
	r, w, err := Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if _, err := io.WriteString(w, "whole\nhal"); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var first []Line
	emit := collect(&first)
	carry, stopped, err := CaptureUntil(r, "api", 0, StreamOut, func(c Chunk) {
		emit(c)
		close(stop) // the capture now waits on a pipe with nothing more
	}, Handoff{Stop: stop})
	if err != nil || !stopped || string(carry) != "hal" {
		t.Fatalf("capture: carry %q, stopped %v, err %v; want %q, stopped", carry, stopped, err, "hal")
	}
	if _, err := io.WriteString(w, "f\n"); err != nil {
		t.Fatal(err)
	}
	w.Close()
	var second []Line
	if _, _, err := CaptureUntil(r, "api", 0, StreamOut, collect(&second), Handoff{Carry: carry}); err != nil {
		t.Fatal(err)
	}
	got := []string{}
	for _, l := range append(first, second...) {
		got = append(got, l.Text)
	}
	if strings.Join(got, "|") != "whole|half" {
		t.Errorf("lines %q, want whole, half", got)
	}
}
