package alert

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	alert := func(key string, at time.Duration) Raised { return Raised{Key: key, Time: t0.Add(at)} }
	over := func(key string, at time.Duration) Raised { return Raised{Key: key, Time: t0.Add(at), Recovered: true} }
	m := time.Minute
	cases := []struct {
		name  string
		every time.Duration
		seq   []Raised
		want  []bool
	}{
		{"one alert per key per interval", m,
			[]Raised{alert("a", 0), alert("a", 30*time.Second), alert("a", m), alert("a", m+59*time.Second), alert("a", 2*m)},
			[]bool{true, false, true, false, true}},
		{"keys are apart", m,
			[]Raised{alert("a", 0), alert("b", time.Second), alert("a", 2*time.Second)},
			[]bool{true, true, false}},
		{"a recovery follows its alert", m,
			[]Raised{alert("a", 0), over("a", time.Second), alert("a", 2*time.Second), over("a", 3*time.Second), alert("a", 2*m), over("a", 2*m+time.Second)},
			[]bool{true, true, false, false, true, true}},
		{"a recovery with no alert before is told", m,
			[]Raised{over("a", 0)},
			[]bool{true}},
		{"no interval: everything", 0,
			[]Raised{alert("a", 0), alert("a", 0), over("a", 0)},
			[]bool{true, true, true}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := newLimiter(c.every)
			var got []bool
			for _, r := range c.seq {
				got = append(got, l.allow(r, r.Time))
			}
			if !slices.Equal(got, c.want) {
				t.Fatalf("allowed %v; want %v", got, c.want)
			}
		})
	}
}

func TestLimiterRemembersABoundedNumberOfKeys(t *testing.T) {
	l := newLimiter(time.Minute)
	for i := range 3 * maxLimited {
		l.allow(Raised{Key: fmt.Sprint(i)}, t0.Add(time.Duration(i)*time.Second))
		l.allow(Raised{Key: fmt.Sprint(i)}, t0.Add(time.Duration(i)*time.Second))
	}
	if len(l.last) > maxLimited || len(l.muted) > maxLimited {
		t.Fatalf("%d keys and %d muted remembered; want at most %d", len(l.last), len(l.muted), maxLimited)
	}
}
