package tune

import "testing"

func TestGCPolicy(t *testing.T) {
	p := gcPolicy{idle: 50, busy: 400, up: 8 << 20, down: 2 << 20}
	for _, c := range []struct {
		name          string
		current, want int
		rate          uint64
	}{
		{"quiet stays idle", 50, 50, 0},
		{"heavy traffic goes busy", 50, 400, 20 << 20},
		{"at the upper threshold", 50, 400, 8 << 20},
		{"between thresholds keeps idle", 50, 50, 5 << 20},
		{"between thresholds keeps busy", 400, 400, 5 << 20},
		{"quiet again goes idle", 400, 50, 1 << 20},
		{"at the lower threshold", 400, 50, 2 << 20},
	} {
		if got := p.next(c.current, c.rate); got != c.want {
			t.Errorf("%s: next(%d, %d) = %d, want %d", c.name, c.current, c.rate, got, c.want)
		}
	}
}

func TestDefaultProcs(t *testing.T) {
	for cpus, want := range map[int]int{1: 1, 2: 1, 3: 1, 4: 2, 16: 8, 64: 32} {
		if got := defaultProcs(cpus); got != want {
			t.Errorf("defaultProcs(%d) = %d, want %d", cpus, got, want)
		}
	}
}
