package autoscale

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2025, 3, 10, 12, 0, 0, 0, time.UTC)

func TestValidate(t *testing.T) {
	for _, c := range []struct {
		p    Policy
		want string
	}{
		{Policy{Min: 2, Max: 8, TargetCPU: 70}, ""},
		{Policy{Min: 1, Max: 1, TargetP95: 200 * time.Millisecond, UpWindow: time.Minute}, ""},
		{Policy{Min: 0, Max: 4, TargetCPU: 70}, "autoscale.min: 0 is less than 1 (an app needs an instance; stop it instead)"},
		{Policy{Min: 3, Max: 2, TargetCPU: 70}, "autoscale.max: 2 is less than autoscale.min (3)"},
		{Policy{Min: 1, Max: 2}, "autoscale: set a target: target_cpu (percent of a core), target_in_flight (requests per instance) or target_p95 (a duration)"},
		{Policy{Min: 1, Max: 2, TargetCPU: 70, TargetInFlight: 10}, "autoscale: set one target, not target_cpu and target_in_flight"},
		{Policy{Min: 1, Max: 2, TargetInFlight: -1}, "autoscale.target_in_flight: must be positive\nautoscale: set a target: target_cpu (percent of a core), target_in_flight (requests per instance) or target_p95 (a duration)"},
		{Policy{Min: 1, Max: 2, TargetCPU: 50, UpWindow: -time.Second}, "autoscale.up_window: must be positive (or unset for 30s)"},
		{Policy{Min: 1, Max: 2, TargetCPU: 50, DownWindow: -time.Second}, "autoscale.down_window: must be positive (or unset for 5m0s)"},
	} {
		got := ""
		if err := c.p.Validate(); err != nil {
			got = err.Error()
		}
		if got != c.want {
			t.Errorf("%+v: got %q, want %q", c.p, got, c.want)
		}
	}
}

// app simulates an app under a CPU-bound load: demand is the CPU the load
// needs in total (percent of a core); each instance is single-threaded, so
// it uses at most 100%. A decision takes effect lag after it is made, as an
// instance takes time to start.
type app struct {
	s         *Scaler
	now       time.Time
	instances int
	demand    float64
	pending   []pendingStep
	log       []string
}

type pendingStep struct {
	at    time.Time
	delta int
}

func (a *app) run(d time.Duration) {
	const lag = 3 * time.Second
	for end := a.now.Add(d); a.now.Before(end); a.now = a.now.Add(time.Second) {
		for len(a.pending) > 0 && !a.now.Before(a.pending[0].at) {
			a.instances += a.pending[0].delta
			a.pending = a.pending[1:]
		}
		dec := a.s.Observe(Sample{At: a.now, Instances: a.instances, CPU: min(a.demand/float64(a.instances), 100)})
		if dec.Delta != 0 {
			a.log = append(a.log, fmt.Sprintf("%4.0fs %+d %s", a.now.Sub(t0).Seconds(), dec.Delta, dec.Reason))
			a.pending = append(a.pending, pendingStep{a.now.Add(lag), dec.Delta})
		}
	}
}

// A CPU-burning load rises and then stops: tend adds one instance per
// window up to max, holds, then removes one per (longer) window down to min.
func TestLoadRisesThenStops(t *testing.T) {
	a := &app{s: New(Policy{Min: 2, Max: 6, TargetCPU: 70}), now: t0, instances: 2, demand: 60}
	a.run(time.Minute) // 30% each, and 60% on one: no step either way
	a.demand = 400     // four cores' worth of burning
	a.run(5 * time.Minute)
	a.demand = 10 // the load stops
	a.run(25 * time.Minute)
	want := []string{
		// Each step waits a full window from the moment the previous one
		// took effect (the instance count changed 3s after the decision).
		"  90s +1 cpu 100% > target 70% for 30s",
		" 123s +1 cpu 100% > target 70% for 30s",
		" 156s +1 cpu 100% > target 70% for 30s",
		" 189s +1 cpu 80% > target 70% for 30s",
		// Six instances at 66.7%: under the target, and 80% on five: no step.
		" 660s -1 cpu 1.7% on 6 instances (2% on 5) < 56% (80% of target 70%) for 5m0s",
		" 963s -1 cpu 2% on 5 instances (2.5% on 4) < 56% (80% of target 70%) for 5m0s",
		"1266s -1 cpu 2.5% on 4 instances (3.3% on 3) < 56% (80% of target 70%) for 5m0s",
		"1569s -1 cpu 3.3% on 3 instances (5% on 2) < 56% (80% of target 70%) for 5m0s",
	}
	if got := strings.Join(a.log, "\n"); got != strings.Join(want, "\n") {
		t.Fatalf("decisions:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
	if a.instances != 2 {
		t.Fatalf("ended with %d instances, want min 2", a.instances)
	}
}

// samples feeds one sample per second for d, all with the same figures,
// and returns the decisions that were not 0, as "<seconds since t0> <delta>".
func samples(s *Scaler, from time.Time, d time.Duration, x Sample) []string {
	var out []string
	for at := from; at.Before(from.Add(d)); at = at.Add(time.Second) {
		x.At = at
		if dec := s.Observe(x); dec.Delta != 0 {
			out = append(out, fmt.Sprintf("%.0f %+d", at.Sub(t0).Seconds(), dec.Delta))
		}
	}
	return out
}

func TestWindows(t *testing.T) {
	p := Policy{Min: 2, Max: 4, TargetCPU: 70}
	hot := Sample{Instances: 2, CPU: 90}
	s := t0.Add
	for _, c := range []struct {
		name string
		feed func(sc *Scaler) []string
		want string
	}{
		{"above for the whole window", func(sc *Scaler) []string {
			return samples(sc, t0, 31*time.Second, hot)
		}, "30 +1"},
		{"one sample under restarts the window", func(sc *Scaler) []string {
			out := samples(sc, t0, 20*time.Second, hot)
			out = append(out, samples(sc, s(20*time.Second), time.Second, Sample{Instances: 2, CPU: 60})...)
			return append(out, samples(sc, s(21*time.Second), 31*time.Second, hot)...)
		}, "51 +1"},
		{"a gap restarts the window", func(sc *Scaler) []string {
			out := samples(sc, t0, 20*time.Second, hot)
			return append(out, samples(sc, s(36*time.Second), 31*time.Second, hot)...)
		}, "66 +1"},
		{"a count changed by hand restarts the window", func(sc *Scaler) []string {
			out := samples(sc, t0, 20*time.Second, hot)
			return append(out, samples(sc, s(20*time.Second), 31*time.Second, Sample{Instances: 3, CPU: 90})...)
		}, "50 +1"},
		{"time going back restarts the window", func(sc *Scaler) []string {
			out := samples(sc, t0, 20*time.Second, hot)
			return append(out, samples(sc, s(10*time.Second), 31*time.Second, hot)...)
		}, "40 +1"},
		{"one step per window while the count has not changed yet", func(sc *Scaler) []string {
			return samples(sc, t0, 61*time.Second, hot)
		}, "30 +1 60 +1"},
		{"never above max", func(sc *Scaler) []string {
			return samples(sc, t0, 10*time.Minute, Sample{Instances: 4, CPU: 100})
		}, ""},
		{"never below min", func(sc *Scaler) []string {
			return samples(sc, t0, time.Hour, Sample{Instances: 2, CPU: 0})
		}, ""},
		{"between the thresholds: no step", func(sc *Scaler) []string {
			// 3 at 40% would be 60% on 2: above 56%, under 70%.
			return samples(sc, t0, time.Hour, Sample{Instances: 3, CPU: 40})
		}, ""},
		{"well under for the down window", func(sc *Scaler) []string {
			return samples(sc, t0, 301*time.Second, Sample{Instances: 3, CPU: 30})
		}, "300 -1"},
		{"below min: back into range, once per up window", func(sc *Scaler) []string {
			return samples(sc, t0, 31*time.Second, Sample{Instances: 1, CPU: 0})
		}, "0 +1 30 +1"},
		{"above max: back into range", func(sc *Scaler) []string {
			return samples(sc, t0, 5*time.Second, Sample{Instances: 7, CPU: 100})
		}, "0 -1"},
		{"stopped app", func(sc *Scaler) []string {
			return samples(sc, t0, time.Hour, Sample{Instances: 0})
		}, ""},
	} {
		got := strings.Join(c.feed(New(p)), " ")
		if got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
}

func TestTargets(t *testing.T) {
	for _, c := range []struct {
		p    Policy
		x    Sample
		want string
	}{
		{Policy{Min: 1, Max: 4, TargetInFlight: 10, UpWindow: 10 * time.Second}, Sample{Instances: 2, InFlight: 12.5},
			"+1 in-flight 12.5 > target 10 for 10s"},
		{Policy{Min: 1, Max: 4, TargetP95: 200 * time.Millisecond, UpWindow: 10 * time.Second}, Sample{Instances: 2, P95: 340 * time.Millisecond},
			"+1 p95 340ms > target 200ms for 10s"},
		{Policy{Min: 1, Max: 4, TargetP95: 200 * time.Millisecond, DownWindow: 10 * time.Second}, Sample{Instances: 2, P95: 50 * time.Millisecond},
			"-1 p95 50ms on 2 instances (100ms on 1) < 160ms (80% of target 200ms) for 10s"},
	} {
		s := New(c.p)
		var got string
		for i := range 11 {
			c.x.At = t0.Add(time.Duration(i) * time.Second)
			if d := s.Observe(c.x); d.Delta != 0 {
				got = fmt.Sprintf("%+d %s", d.Delta, d.Reason)
			}
		}
		if got != c.want {
			t.Errorf("got %q, want %q", got, c.want)
		}
	}
}
