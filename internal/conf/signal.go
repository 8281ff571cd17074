package conf

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// ParseSignal reads a signal by name, in any case, with or without SIG
// ("SIGTERM", "term", "Usr2"), or by number ("15").
func ParseSignal(s string) (unix.Signal, error) {
	t := strings.TrimSpace(s)
	if n, err := strconv.Atoi(t); err == nil {
		if n <= 0 || n > 64 {
			return 0, fmt.Errorf("signal %d is out of range (1-64)", n)
		}
		return unix.Signal(n), nil
	}
	name := strings.ToUpper(t)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if n, err := strconv.Atoi(name[3:]); err == nil && n > 0 && n <= 64 {
		return unix.Signal(n), nil // SignalName's form of a signal without a name
	}
	if n := unix.SignalNum(name); n != 0 {
		return n, nil
	}
	return 0, fmt.Errorf("unknown signal %q; use a name such as SIGINT or SIGTERM", s)
}

// SignalName is ParseSignal's signal by its canonical name ("SIGTERM"); a
// number without a name (a real-time signal) is written "SIG34".
func SignalName(s string) (string, error) {
	sig, err := ParseSignal(s)
	if err != nil {
		return "", err
	}
	if name := unix.SignalName(sig); name != "" {
		return name, nil
	}
	return "SIG" + strconv.Itoa(int(sig)), nil
}
