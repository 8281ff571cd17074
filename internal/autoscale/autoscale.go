// Package autoscale decides when an app needs one instance more or one
// less, from samples of its load. It is a pure decision object: the daemon
// feeds it samples with their times and carries out its decisions, so tests
// drive it along a made-up time line.
package autoscale

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Default windows.
const (
	DefaultUpWindow   = 30 * time.Second
	DefaultDownWindow = 5 * time.Minute
)

// DownMargin is the hysteresis of scaling down: one instance is removed
// only when the load, spread over one instance fewer, would stay below this
// fraction of the target. A fixed threshold such as "half the target" is
// too strict for many instances (8 instances at 60% of the target would
// fit in 6, yet never scale down) and too loose for two (2 at 60% would be
// 120% on 1, and scale up again at once). Projecting the load avoids both;
// the remaining margin keeps noise from undoing the step.
const DownMargin = 0.8

// Policy is an app's autoscale settings (the autoscale block of its spec).
// Exactly one target is set.
type Policy struct {
	Min, Max int
	// TargetCPU is the CPU use per instance to stay under, in percent of
	// one core; 0 when unused.
	TargetCPU float64
	// TargetInFlight is the number of requests in flight per instance to
	// stay under; 0 when unused.
	TargetInFlight float64
	// TargetP95 is the 95th percentile of response time to stay under; 0
	// when unused.
	TargetP95 time.Duration
	// UpWindow is how long the target must be exceeded before an instance
	// is added; 0 means DefaultUpWindow.
	UpWindow time.Duration
	// DownWindow is how long the load must stay well under the target
	// (DownMargin) before an instance is removed; 0 means DefaultDownWindow.
	DownWindow time.Duration
}

// Validate checks the policy; each error names its key, as in
// autoscale.max: 1 is less than autoscale.min (2).
func (p Policy) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if p.Min < 1 {
		bad("autoscale.min", "%d is less than 1 (an app needs an instance; stop it instead)", p.Min)
	}
	if p.Max < p.Min {
		bad("autoscale.max", "%d is less than autoscale.min (%d)", p.Max, p.Min)
	}
	var set []string
	for _, t := range []struct {
		key string
		v   float64
	}{{"target_cpu", p.TargetCPU}, {"target_in_flight", p.TargetInFlight}, {"target_p95", float64(p.TargetP95)}} {
		switch {
		case t.v < 0:
			bad("autoscale."+t.key, "must be positive")
		case t.v > 0:
			set = append(set, t.key)
		}
	}
	switch {
	case len(set) == 0:
		bad("autoscale", "set a target: target_cpu (percent of a core), target_in_flight (requests per instance) or target_p95 (a duration)")
	case len(set) > 1:
		bad("autoscale", "set one target, not %s", strings.Join(set, " and "))
	}
	if p.UpWindow < 0 {
		bad("autoscale.up_window", "must be positive (or unset for %s)", DefaultUpWindow)
	}
	if p.DownWindow < 0 {
		bad("autoscale.down_window", "must be positive (or unset for %s)", DefaultDownWindow)
	}
	return errors.Join(errs...)
}

// Sample is the app's load at one time.
type Sample struct {
	At        time.Time
	Instances int // running instances
	// CPU is the mean CPU use per instance, in percent of one core.
	CPU float64
	// InFlight is the mean number of requests in flight per instance.
	InFlight float64
	// P95 is the 95th percentile of response time since the last sample.
	P95 time.Duration
}

// Decision is what to do after a sample.
type Decision struct {
	// Delta is +1 (add an instance), -1 (remove one) or 0.
	Delta int
	// Reason gives the figure that caused a step, for the event log, as in
	// "cpu 85.2% > target 70% for 30s"; empty when Delta is 0.
	Reason string
}

// Scaler turns samples into decisions. It is not safe for concurrent use:
// the app's owner goroutine feeds it.
type Scaler struct {
	p    Policy
	prev Sample // the last sample; zero before the first

	// The current run: since when the load has been on one side of the
	// target (state: +1 above, -1 well under, 0 in between), and the sum
	// and count of its figures, for the mean the reason gives.
	state int
	since time.Time
	sum   float64
	n     int

	stepAt time.Time // when the last step was decided; zero if never
}

// New returns a scaler for a valid policy.
func New(p Policy) *Scaler {
	if p.UpWindow == 0 {
		p.UpWindow = DefaultUpWindow
	}
	if p.DownWindow == 0 {
		p.DownWindow = DefaultDownWindow
	}
	return &Scaler{p: p}
}

// Observe takes the next sample and decides:
//
//   - +1 when the target was exceeded in every sample for the whole
//     UpWindow and fewer than Max instances run;
//   - -1 when, for the whole DownWindow, the load spread over one instance
//     fewer would have stayed below DownMargin of the target, and more than
//     Min instances run;
//   - a step towards the range when the instance count is outside
//     [Min, Max] (someone scaled by hand), at most one per UpWindow;
//   - 0 otherwise.
//
// After a step the windows start again, so there is at most one step per
// window. They also start again when the instance count changes (the step
// took effect, or someone scaled by hand), when a sample comes more than
// half an UpWindow after the previous one (nothing is known of the gap),
// or when time goes backwards.
func (s *Scaler) Observe(x Sample) Decision {
	state, figure := s.classify(x)
	prev := s.prev
	s.prev = x
	gap := prev.At.IsZero() || !x.At.After(prev.At) || x.At.Sub(prev.At) > s.p.UpWindow/2
	if gap || x.Instances != prev.Instances || state != s.state {
		s.restart(x.At, state)
	}
	s.sum += figure
	s.n++
	if x.Instances < 1 {
		return Decision{} // stopped: nothing to scale
	}

	if x.Instances < s.p.Min || x.Instances > s.p.Max {
		if !s.stepAt.IsZero() && x.At.Sub(s.stepAt) < s.p.UpWindow {
			return Decision{}
		}
		if x.Instances < s.p.Min {
			return s.step(x.At, +1, fmt.Sprintf("%d instances < autoscale.min %d", x.Instances, s.p.Min))
		}
		return s.step(x.At, -1, fmt.Sprintf("%d instances > autoscale.max %d", x.Instances, s.p.Max))
	}
	held := x.At.Sub(s.since)
	mean := s.sum / float64(s.n)
	name, target, unit := s.target()
	switch {
	case s.state > 0 && held >= s.p.UpWindow && x.Instances < s.p.Max:
		return s.step(x.At, +1, fmt.Sprintf("%s %s > target %s for %s",
			name, format(mean, unit), format(target, unit), held.Round(time.Second)))
	case s.state < 0 && held >= s.p.DownWindow && x.Instances > s.p.Min:
		n := x.Instances
		return s.step(x.At, -1, fmt.Sprintf("%s %s on %d instances (%s on %d) < %s (%g%% of target %s) for %s",
			name, format(mean, unit), n, format(mean*float64(n)/float64(n-1), unit), n-1,
			format(target*DownMargin, unit), DownMargin*100, format(target, unit), held.Round(time.Second)))
	}
	return Decision{}
}

// classify says where a sample's load stands against the target: +1
// above, -1 well under (DownMargin, projected on one instance fewer), 0 in
// between. It also returns the figure compared.
func (s *Scaler) classify(x Sample) (int, float64) {
	_, target, _ := s.target()
	v := x.CPU
	switch {
	case s.p.TargetInFlight > 0:
		v = x.InFlight
	case s.p.TargetP95 > 0:
		v = float64(x.P95)
	}
	switch {
	case v > target:
		return +1, v
	case x.Instances > 1 && v*float64(x.Instances)/float64(x.Instances-1) < target*DownMargin:
		return -1, v
	}
	return 0, v
}

// target returns the name, value and unit of the policy's target.
func (s *Scaler) target() (string, float64, string) {
	switch {
	case s.p.TargetInFlight > 0:
		return "in-flight", s.p.TargetInFlight, ""
	case s.p.TargetP95 > 0:
		return "p95", float64(s.p.TargetP95), "duration"
	}
	return "cpu", s.p.TargetCPU, "%"
}

// format writes a figure with one decimal at most: 85.2%, 70%, 3.5, 240ms.
func format(v float64, unit string) string {
	if unit == "duration" {
		return time.Duration(v).Round(time.Millisecond).String()
	}
	return strings.TrimSuffix(fmt.Sprintf("%.1f", v), ".0") + unit
}

func (s *Scaler) restart(at time.Time, state int) {
	s.state, s.since, s.sum, s.n = state, at, 0, 0
}

func (s *Scaler) step(at time.Time, delta int, reason string) Decision {
	s.stepAt = at
	s.restart(at, s.state)
	return Decision{Delta: delta, Reason: reason}
}
