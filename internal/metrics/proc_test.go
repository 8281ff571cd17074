package metrics

import (
	"os"
	"testing"
)

func TestParseStat(t *testing.T) {
	// A command name with spaces and a ')' of its own, as /proc shows it.
	line := []byte("4242 (node ) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 70 30 0 0 20 0 7 0 12345 99999 512 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0")
	st, ok := parseStat(4242, line)
	if !ok {
		t.Fatal("not parsed")
	}
	want := Stat{PID: 4242, PPID: 1, PGrp: 4242, State: 'S', Ticks: 100, Start: 12345, RSSPages: 512}
	if st != want {
		t.Errorf("parseStat = %+v, want %+v", st, want)
	}
	if _, ok := parseStat(1, []byte("1 (short) S 0")); ok {
		t.Error("a truncated line parsed")
	}
}

func TestStatsSeeThisProcess(t *testing.T) {
	self := os.Getpid()
	for _, st := range Stats() {
		if st.PID == self {
			if st.PPID != os.Getppid() || st.Start == 0 || st.RSSPages == 0 {
				t.Errorf("own stat %+v", st)
			}
			return
		}
	}
	t.Fatal("Stats does not list this process")
}
