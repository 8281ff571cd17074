// Package metrics measures processes from /proc.
package metrics

import (
	"bytes"
	"os"
	"strconv"
	"sync"
	"time"
)

// clockTicks is USER_HZ, which is 100 on every Linux architecture Go supports.
const clockTicks = 100

var pageSize = uint64(os.Getpagesize())

// Usage is the resource use of one process group (an instance's process
// tree: tend starts each instance in a group of its own, and its children
// stay in that group unless they leave it on purpose).
type Usage struct {
	CPUPercent  float64 // of one core, since the previous sample of this group
	MemoryBytes uint64  // resident set size, summed over the group
	Processes   int
}

// Sampler computes CPU use between successive samples. Safe for concurrent use.
type Sampler struct {
	mu   sync.Mutex
	last map[int]cpuSample // by pgid; guarded by mu
}

type cpuSample struct {
	ticks uint64
	at    time.Time
}

// NewSampler returns a sampler with no history.
func NewSampler() *Sampler { return &Sampler{last: map[int]cpuSample{}} }

// Sample reads /proc once and returns the usage of each of the given process
// groups. The first sample of a group reports CPU use averaged since the
// oldest member started.
func (s *Sampler) Sample(pgids []int) map[int]Usage {
	want := make(map[int]bool, len(pgids))
	for _, g := range pgids {
		want[g] = true
	}
	type acc struct {
		ticks, rss, oldest uint64
		n                  int
	}
	sums := map[int]*acc{}
	now := time.Now()
	for _, st := range Stats() {
		if !want[st.PGrp] || st.State == 'Z' {
			continue
		}
		a := sums[st.PGrp]
		if a == nil {
			a = &acc{}
			sums[st.PGrp] = a
		}
		a.ticks += st.Ticks
		a.rss += st.RSSPages * pageSize
		if a.oldest == 0 || st.Start < a.oldest {
			a.oldest = st.Start
		}
		a.n++
	}
	up := uptime()

	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[int]Usage, len(sums))
	for g, a := range sums {
		u := Usage{MemoryBytes: a.rss, Processes: a.n}
		if prev, ok := s.last[g]; ok && a.ticks >= prev.ticks {
			if el := now.Sub(prev.at).Seconds(); el > 0 {
				u.CPUPercent = float64(a.ticks-prev.ticks) / clockTicks / el * 100
			}
		} else if el := up - float64(a.oldest)/clockTicks; el > 0 {
			u.CPUPercent = float64(a.ticks) / clockTicks / el * 100
		}
		s.last[g] = cpuSample{ticks: a.ticks, at: now}
		out[g] = u
	}
	for g := range s.last {
		if _, ok := sums[g]; !ok {
			delete(s.last, g)
		}
	}
	return out
}

// StartTime returns a process's start time in clock ticks since boot, which
// with its pid identifies it across pid reuse; ok is false when it is gone.
func StartTime(pid int) (ticks uint64, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	st, ok := parseStat(pid, b)
	return st.Start, ok
}

// Stat holds the fields of /proc/PID/stat that tend uses.
type Stat struct {
	PID, PPID, PGrp int
	State           byte   // R, S, D, Z, X, ...
	Start           uint64 // clock ticks after boot
	Ticks           uint64 // user plus system CPU, in clock ticks
	RSSPages        uint64
}

// StatOf reads /proc/PID/stat of one process.
func StatOf(pid int) (Stat, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return Stat{}, false
	}
	return parseStat(pid, b)
}

// Stats reads /proc/PID/stat of every process, in one pass over /proc.
func Stats() []Stat {
	d, err := os.Open("/proc")
	if err != nil {
		return nil
	}
	defer d.Close()
	names, _ := d.Readdirnames(-1)
	out := make([]Stat, 0, len(names))
	for _, n := range names {
		pid, err := strconv.Atoi(n)
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + n + "/stat")
		if err != nil {
			continue
		}
		if st, ok := parseStat(pid, b); ok {
			out = append(out, st)
		}
	}
	return out
}

// parseStat reads a /proc/PID/stat line. The command name is in
// parentheses and may itself hold spaces and parentheses; the fields after
// the last ')' are fixed: state ppid pgrp ... utime(11) stime(12) ...
// starttime(19) vsize rss(21).
func parseStat(pid int, b []byte) (Stat, bool) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return Stat{}, false
	}
	f := bytes.Fields(b[i+2:])
	if len(f) < 22 {
		return Stat{}, false
	}
	num := func(k int) uint64 {
		v, _ := strconv.ParseUint(string(f[k]), 10, 64)
		return v
	}
	return Stat{
		PID:      pid,
		PPID:     int(num(1)),
		PGrp:     int(num(2)),
		State:    f[0][0],
		Ticks:    num(11) + num(12),
		Start:    num(19),
		RSSPages: num(21),
	}, true
}

func uptime() float64 {
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return 0
	}
	f := bytes.Fields(b)
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(string(f[0]), 64)
	return v
}
