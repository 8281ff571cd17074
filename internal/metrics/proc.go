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
	forEachStat(func(f [][]byte) {
		// Fields after the command name: 0 state, 1 ppid, 2 pgrp, ...,
		// 11 utime, 12 stime, 19 starttime, 21 rss (pages).
		if len(f) < 22 {
			return
		}
		pgrp, _ := strconv.Atoi(string(f[2]))
		if !want[pgrp] || f[0][0] == 'Z' {
			return
		}
		a := sums[pgrp]
		if a == nil {
			a = &acc{}
			sums[pgrp] = a
		}
		ut, _ := strconv.ParseUint(string(f[11]), 10, 64)
		st, _ := strconv.ParseUint(string(f[12]), 10, 64)
		start, _ := strconv.ParseUint(string(f[19]), 10, 64)
		rss, _ := strconv.ParseUint(string(f[21]), 10, 64)
		a.ticks += ut + st
		a.rss += rss * pageSize
		if a.oldest == 0 || start < a.oldest {
			a.oldest = start
		}
		a.n++
	})
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
	f := statFields(b)
	if len(f) < 20 {
		return 0, false
	}
	t, err := strconv.ParseUint(string(f[19]), 10, 64)
	return t, err == nil
}

func forEachStat(fn func(fields [][]byte)) {
	d, err := os.Open("/proc")
	if err != nil {
		return
	}
	defer d.Close()
	names, _ := d.Readdirnames(-1)
	for _, n := range names {
		if n[0] < '0' || n[0] > '9' {
			continue
		}
		b, err := os.ReadFile("/proc/" + n + "/stat")
		if err != nil {
			continue
		}
		if f := statFields(b); len(f) > 0 {
			fn(f)
		}
	}
}

// statFields splits /proc/PID/stat after the command name, which is in
// parentheses and may itself hold spaces and parentheses.
func statFields(b []byte) [][]byte {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return nil
	}
	return bytes.Fields(b[i+2:])
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
