package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/tendhq/tend/internal/client"
	"github.com/tendhq/tend/internal/home"
	"github.com/tendhq/tend/internal/metrics"
	"github.com/tendhq/tend/internal/version"
	"golang.org/x/sys/unix"
)

// reportLogLines bounds the daemon log tail of a report, and
// reportLogBytes how much of the log is read for it.
const (
	reportLogLines = 50
	reportLogBytes = 64 << 10
)

func newReport(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "report",
		Short: "Print what a bug report needs: versions, system, apps, the daemon's log tail",
		Long: `Print what a bug report needs: the CLI's and the daemon's versions, the system (OS,
kernel, CPUs, memory, Node.js), TEND_HOME, the apps as ls shows them and the last
lines of the daemon's log. It starts no daemon. Read it before you paste it: app
names, paths and log lines are in it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			w := e.stdout
			section := func(s string) { fmt.Fprintf(w, "\n===== %s =====\n", s) }
			fmt.Fprintf(w, "tend report, %s\n", time.Now().UTC().Format(time.RFC3339))

			section("versions")
			fmt.Fprintf(w, "cli      %s (%s)\n", version.String(), runtime.Version())
			c := client.New(e.home)
			p, err := c.Ping(cmd.Context())
			if err != nil {
				fmt.Fprintf(w, "daemon   not running (%v)\n", friendly(err))
			} else {
				fmt.Fprintf(w, "daemon   %s, pid %d, up since %s\n", p.Version, p.PID, p.StartedAt.UTC().Format(time.RFC3339))
			}
			fmt.Fprintf(w, "node     %s\n", nodeVersionOf(cmd.Context()))

			section("system")
			for _, kv := range systemFacts() {
				fmt.Fprintf(w, "%-8s %s\n", kv[0], kv[1])
			}
			fmt.Fprintf(w, "%-8s %s\n", "home", e.home)

			section("apps")
			if err != nil {
				fmt.Fprintln(w, "(no daemon)")
			} else if apps, err := c.List(cmd.Context()); err != nil {
				fmt.Fprintf(w, "(list: %v)\n", friendly(err))
			} else {
				printTable(w, apps)
			}

			log := filepath.Join(e.home, home.LogName)
			section(fmt.Sprintf("daemon log (%s, last %d lines)", log, reportLogLines))
			lines, err := tailFile(log, reportLogLines)
			if err != nil {
				fmt.Fprintf(w, "(%v)\n", err)
			}
			for _, l := range lines {
				fmt.Fprintln(w, l)
			}
			return nil
		},
	}
}

// nodeVersionOf asks node for its version, briefly.
func nodeVersionOf(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "node", "--version").Output()
	if err != nil {
		return fmt.Sprintf("not found (%v)", err)
	}
	return strings.TrimSpace(string(out))
}

// systemFacts are the OS, kernel, CPUs and memory, as label and value.
func systemFacts() [][2]string {
	osName := runtime.GOOS
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "PRETTY_NAME="); ok {
				osName = strings.Trim(v, `"`)
			}
		}
	}
	kernel := "unknown"
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		kernel = fmt.Sprintf("%s %s %s", unix.ByteSliceToString(u.Sysname[:]), unix.ByteSliceToString(u.Release[:]), unix.ByteSliceToString(u.Machine[:]))
	}
	mem := "unknown"
	if mi, err := metrics.ReadMemInfo(); err == nil {
		mem = fmt.Sprintf("%s total, %s available", sizeText(mi.Total), sizeText(mi.Available))
	}
	return [][2]string{
		{"os", osName},
		{"kernel", kernel},
		{"cpus", fmt.Sprint(runtime.NumCPU())},
		{"memory", mem},
	}
}

// tailFile returns the last n lines of the file's last reportLogBytes.
func tailFile(path string, n int) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	off := max(0, st.Size()-reportLogBytes)
	b, err := io.ReadAll(io.NewSectionReader(f, off, st.Size()-off))
	if err != nil {
		return nil, err
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if off > 0 && len(lines) > 0 {
		lines = lines[1:] // cut mid-line
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return lines, nil
}
