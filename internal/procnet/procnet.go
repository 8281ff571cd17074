// Package procnet reads from /proc which TCP ports a process listens on:
// the sockets in /proc/PID/fd matched by inode against the LISTEN entries of
// /proc/PID/net/tcp and tcp6. tend uses it to say why an instance is not
// ready ("listening on 3000, not on PORT=41234"), which a port probe alone
// cannot tell.
package procnet

import (
	"bufio"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
)

// tcpListen is the st column of a socket in the LISTEN state
// (include/net/tcp_states.h).
const tcpListen = "0A"

// maxFDs bounds how many descriptors of one process are looked at: a
// process with more is not one whose ports anyone reads this way.
const maxFDs = 1 << 16

// Listening returns the TCP ports on which any of pids listens, sorted and
// without duplicates. A pid that is gone is skipped; the error is that of
// the last pid whose tables could not be read, when none could.
func Listening(pids ...int) ([]int, error) {
	inodes := map[string]int{}
	var lastErr error
	var netPID int
	for _, pid := range pids {
		n, err := socketInodes(pid, inodes)
		if err != nil {
			lastErr = err
			continue
		}
		if n >= 0 && netPID == 0 {
			netPID = pid
		}
	}
	if netPID == 0 {
		return nil, lastErr
	}
	var ports []int
	read := false
	for _, name := range []string{"tcp", "tcp6"} {
		ls, err := listens(fmt.Sprintf("/proc/%d/net/%s", netPID, name), inodes)
		if err != nil {
			lastErr = err
			continue
		}
		read = true
		for _, l := range ls {
			ports = append(ports, l.port)
		}
	}
	if !read {
		return nil, lastErr
	}
	slices.Sort(ports)
	return slices.Compact(ports), nil
}

// ListenFDs returns the descriptors of pid that are TCP sockets listening
// on port, as numbers in pid's table (for pidfd_getfd).
func ListenFDs(pid, port int) ([]int, error) {
	fds := map[string]int{}
	if _, err := socketInodes(pid, fds); err != nil {
		return nil, err
	}
	var out []int
	for _, name := range []string{"tcp", "tcp6"} {
		ls, err := listens(fmt.Sprintf("/proc/%d/net/%s", pid, name), fds)
		if err != nil {
			return nil, err
		}
		for _, l := range ls {
			if l.port == port {
				out = append(out, fds[l.inode])
			}
		}
	}
	return out, nil
}

// socketInodes adds the inodes of pid's sockets to into, each with its
// descriptor's number, and returns how many descriptors it looked at.
func socketInodes(pid int, into map[string]int) (int, error) {
	dir := "/proc/" + strconv.Itoa(pid) + "/fd"
	d, err := os.Open(dir)
	if err != nil {
		return 0, fmt.Errorf("read the sockets of pid %d: %w", pid, err)
	}
	defer d.Close()
	names, err := d.Readdirnames(maxFDs)
	if err != nil && len(names) == 0 {
		return 0, fmt.Errorf("read the sockets of pid %d: %w", pid, err)
	}
	for _, n := range names {
		link, err := os.Readlink(dir + "/" + n)
		if err != nil {
			continue // closed meanwhile
		}
		ino, ok := strings.CutPrefix(link, "socket:[")
		if !ok {
			continue
		}
		if fd, err := strconv.Atoi(n); err == nil {
			into[strings.TrimSuffix(ino, "]")] = fd
		}
	}
	return len(names), nil
}

// listen is a LISTEN entry of a /proc/net/tcp-style table.
type listen struct {
	inode string
	port  int
}

// listens returns the LISTEN entries of a /proc/net/tcp-style table whose
// inode is in inodes.
func listens(path string, inodes map[string]int) ([]listen, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []listen
	sc := bufio.NewScanner(f)
	sc.Scan() // the header
	for sc.Scan() {
		// sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 || fields[3] != tcpListen {
			continue
		}
		if _, ok := inodes[fields[9]]; !ok {
			continue
		}
		_, hexPort, ok := strings.Cut(fields[1], ":")
		if !ok {
			continue
		}
		port, err := strconv.ParseUint(hexPort, 16, 16)
		if err != nil {
			continue
		}
		out = append(out, listen{fields[9], int(port)})
	}
	return out, sc.Err()
}
