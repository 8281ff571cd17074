package app

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/tendhq/tend/internal/metrics"
	"github.com/tendhq/tend/internal/procnet"
)

// groupListening returns the TCP ports that the processes of group pgid
// listen on: an instance's process and the children it forked (a shell
// script, npm start), which stay in its group.
func groupListening(pgid int) ([]int, error) {
	pids := []int{pgid}
	for _, st := range metrics.Stats() {
		if st.PGrp == pgid && st.PID != pgid {
			pids = append(pids, st.PID)
		}
	}
	return procnet.Listening(pids...)
}

// maxPortsNamed bounds the ports a reason lists.
const maxPortsNamed = 8

// listeningNote says what ports an instance listens on next to the one
// tend expects of it (want; 0 when it expects none in particular):
// "listening on 3000, not on PORT=41234", "not listening on any port".
// It is "" when the process listens on want, or its sockets cannot be read.
// The port ignore is left out: in socket mode every instance holds the
// app's shared socket, which says nothing about the instance.
func (a *App) listeningNote(p *proc, want, ignore int) string {
	ports, err := a.fx.Listening(p.sp.Pid())
	if err != nil {
		return ""
	}
	ports = slices.DeleteFunc(ports, func(port int) bool { return port == ignore })
	if want > 0 && slices.Contains(ports, want) {
		return ""
	}
	if len(ports) == 0 {
		return "not listening on any port"
	}
	if want > 0 {
		return fmt.Sprintf("listening on %s, not on PORT=%d", portList(ports), want)
	}
	return "listening on " + portList(ports)
}

// portList names up to maxPortsNamed ports: "3000, 3001 and 2 more".
func portList(ports []int) string {
	list := make([]string, 0, min(len(ports), maxPortsNamed)+1)
	for _, port := range ports[:min(len(ports), maxPortsNamed)] {
		list = append(list, strconv.Itoa(port))
	}
	if len(ports) > maxPortsNamed {
		list = append(list, fmt.Sprintf("and %d more", len(ports)-maxPortsNamed))
	}
	return strings.Join(list, ", ")
}
