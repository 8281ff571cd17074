package metrics

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// MemInfo is what /proc/meminfo says of the machine's memory, in bytes.
type MemInfo struct {
	Total uint64
	// Available is what the kernel can give new processes without
	// swapping (MemAvailable, Linux 3.14 and later).
	Available uint64
}

// ReadMemInfo reads /proc/meminfo.
func ReadMemInfo() (MemInfo, error) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return MemInfo{}, err
	}
	defer f.Close()
	return ParseMemInfo(f)
}

// ParseMemInfo reads /proc/meminfo's format. A missing or malformed
// MemAvailable line is an error; MemTotal is 0 when absent.
func ParseMemInfo(r io.Reader) (MemInfo, error) {
	var m MemInfo
	seen := false
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || (f[0] != "MemTotal:" && f[0] != "MemAvailable:") {
			continue
		}
		kb, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil || len(f) != 3 || f[2] != "kB" || kb >= 1<<50 {
			return MemInfo{}, fmt.Errorf("meminfo: unexpected line %q", sc.Text())
		}
		if f[0] == "MemTotal:" {
			m.Total = kb << 10
		} else {
			m.Available, seen = kb<<10, true
		}
	}
	if err := sc.Err(); err != nil {
		return MemInfo{}, fmt.Errorf("meminfo: %w", err)
	}
	if !seen {
		return MemInfo{}, errors.New("meminfo: no MemAvailable line")
	}
	return m, nil
}
