package metrics

import (
	"strings"
	"testing"
)

func TestParseMemInfo(t *testing.T) {
	meminfo := "MemTotal:       24683736 kB\nMemFree:         1000000 kB\nMemAvailable:   23889104 kB\nBuffers:  1 kB\n"
	m, err := ParseMemInfo(strings.NewReader(meminfo))
	if err != nil || m.Total != 24683736<<10 || m.Available != 23889104<<10 {
		t.Errorf("ParseMemInfo = %+v, %v", m, err)
	}
	for _, bad := range []string{"MemTotal: 1 kB\n", "MemAvailable: x kB\n", "MemAvailable: 99999999999999999999 kB\n", "MemAvailable: 1 MB\n", ""} {
		if m, err := ParseMemInfo(strings.NewReader(bad)); err == nil {
			t.Errorf("ParseMemInfo(%q) = %+v, want an error", bad, m)
		}
	}
	if _, err := ReadMemInfo(); err != nil {
		t.Errorf("this machine's /proc/meminfo: %v", err)
	}
}
