package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/client"
	"golang.org/x/sys/unix"
)

// profileOpts are the flags of the profile commands.
type profileOpts struct {
	instance int
	duration time.Duration
	interval time.Duration
	out      string
	sampling bool
}

func newProfile(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "profile",
		Short: "Profile a running Node.js instance: CPU profile, heap snapshot, sampling heap profile",
		Long: "Profile one instance of a Node.js app through its inspector, which tend opens for the profile only\n" +
			"(SIGUSR1, on 127.0.0.1) and closes again after it. The files open in Chrome DevTools and speedscope.",
	}
	cmd.AddCommand(newProfileCPU(e, "cpu", nil), newProfileHeap(e, "heap", nil), newProfileList(e))
	return cmd
}

// newProfileList is `profile ls`: the profiles tend took by itself.
func newProfileList(e *env) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "ls [app]",
		Aliases: []string{"list"},
		Short:   "List the profiles tend took by itself (profile_on_stall, heap_snapshot_on_memory_limit), oldest first",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.connect(cmd.Context())
			if err != nil {
				return err
			}
			app := ""
			if len(args) == 1 {
				app = args[0]
			}
			ps, err := c.Profiles(cmd.Context(), app)
			if err != nil {
				return friendly(err)
			}
			if asJSON {
				return printList(e, ps)
			}
			if len(ps) == 0 {
				fmt.Fprintln(e.stdout, "no profiles: tend takes them when profile_on_stall or heap_snapshot_on_memory_limit is set")
				return nil
			}
			printStoredProfiles(e.stdout, ps)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// printStoredProfiles prints one row per stored profile.
func printStoredProfiles(w io.Writer, ps []api.StoredProfile) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FILE\tAPP\t#\tTRIGGER\tSIZE\tTIME")
	for _, p := range ps {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", p.File, clean(p.App), p.Instance, p.Trigger, humanBytes(uint64(p.Size)), p.Time.Local().Format("2006-01-02 15:04:05"))
	}
	tw.Flush()
}

// newProfileCPU is `profile cpu`, and `profile:cpu` as PM2 has it.
func newProfileCPU(e *env, use string, aliases []string) *cobra.Command {
	var o profileOpts
	cmd := &cobra.Command{
		Use:     use + " <app>",
		Aliases: aliases,
		Short:   "Record a CPU profile of one instance (.cpuprofile); Ctrl-C stops early and still writes it",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.runProfile(cmd.Context(), args[0], api.ProfileCPU, o)
		},
	}
	cmd.Flags().IntVarP(&o.instance, "instance", "i", 0, "index of the instance to profile")
	cmd.Flags().DurationVar(&o.duration, "duration", 10*time.Second, "how long to record")
	cmd.Flags().DurationVar(&o.interval, "interval", time.Millisecond, "sampling interval")
	cmd.Flags().StringVarP(&o.out, "output", "o", "", "file to write (default <app>-<instance>-<time>.cpuprofile here)")
	return cmd
}

// newProfileHeap is `profile heap`; sampling makes it `profile:mem`, a
// sampling heap profile as PM2's.
func newProfileHeap(e *env, use string, sampling *bool) *cobra.Command {
	var o profileOpts
	cmd := &cobra.Command{
		Use:   use + " <app>",
		Short: "Write a heap snapshot of one instance (.heapsnapshot), or with --sampling a sampling heap profile (.heapprofile)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			kind := api.ProfileHeap
			if o.sampling {
				kind = api.ProfileHeapSampling
			}
			return e.runProfile(cmd.Context(), args[0], kind, o)
		},
	}
	cmd.Flags().IntVarP(&o.instance, "instance", "i", 0, "index of the instance to profile")
	cmd.Flags().DurationVar(&o.duration, "duration", 30*time.Second, "how long a sampling profile records (with --sampling)")
	cmd.Flags().StringVarP(&o.out, "output", "o", "", "file to write (default <app>-<instance>-<time>.heapsnapshot or .heapprofile here)")
	if sampling != nil {
		o.sampling = *sampling
		cmd.Short = "Record a sampling heap profile of one instance (.heapprofile), as `profile heap --sampling`"
		cmd.Flags().Lookup("duration").DefValue = "10s"
		o.duration = 10 * time.Second
	} else {
		cmd.Flags().BoolVar(&o.sampling, "sampling", false, "record a sampling heap profile for --duration instead of a snapshot")
	}
	return cmd
}

// newProfileAliases are PM2's `profile:cpu` and `profile:mem`, acting on an
// app (PM2's profile its own daemon).
func newProfileAliases(e *env) []*cobra.Command {
	sampling := true
	// PM2's inspect opens an inspector on an app; tend's records a CPU
	// profile through one, and closes it again (profile heap for memory).
	return []*cobra.Command{newProfileCPU(e, "profile:cpu", nil), newProfileHeap(e, "profile:mem", &sampling), newProfileCPU(e, "inspect", nil)}
}

// runProfile asks the daemon for a profile and writes it to a file: to a
// temporary file beside it first, renamed once the profile is whole, so
// that a file of that name is never half a profile.
func (e *env) runProfile(ctx context.Context, target, kind string, o profileOpts) error {
	if o.instance < 0 {
		return fmt.Errorf("--instance %d: want 0 or more", o.instance)
	}
	if o.duration < time.Millisecond {
		return fmt.Errorf("--duration %s: want 1ms or more", o.duration)
	}
	if kind == api.ProfileCPU && o.interval < time.Microsecond {
		return fmt.Errorf("--interval %s: want 1µs or more", o.interval)
	}
	out := o.out
	if out == "" {
		out = fmt.Sprintf("%s-%d-%s%s", safeName(target), o.instance, time.Now().Format("20060102-150405"), api.ProfileExt(kind))
	}
	c, err := e.client()
	if err != nil {
		return err
	}
	req := api.ProfileRequest{Kind: kind, Instance: o.instance}
	if kind != api.ProfileHeap {
		req.DurationMS = o.duration.Milliseconds()
	}
	if kind == api.ProfileCPU {
		req.IntervalUS = o.interval.Microseconds()
	}

	// Ctrl-C ends a recording early and still writes the file; a second
	// one, or the first during a heap snapshot, gives up.
	reqCtx, abort := context.WithCancel(context.WithoutCancel(ctx))
	defer abort()
	sigc := make(chan os.Signal, 2)
	signal.Notify(sigc, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigc)
	done := make(chan struct{})
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(done)
	stopping := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		n := 0
		for {
			select {
			case <-done:
				return
			case <-sigc:
			}
			n++
			if n > 1 || kind == api.ProfileHeap {
				abort()
				continue
			}
			close(stopping)
			fmt.Fprintln(e.stderr, "\nstopping early; writing what was recorded (Ctrl-C again to give up)")
			sctx, cancel := context.WithTimeout(reqCtx, 10*time.Second)
			if err := c.StopProfile(sctx, target, o.instance); err != nil {
				fmt.Fprintf(e.stderr, "tend: stop early: %v\n", friendly(err))
			}
			cancel()
		}
	}()

	if e.fleet.host != "" {
		// The host answers once the profile is whole (fleet/profile.go).
		fmt.Fprintf(e.stderr, "profiling %s on fleet host %s; the file comes through the hub once taken\n", target, e.fleet.host)
	}
	p, err := c.Profile(reqCtx, target, req)
	if err != nil {
		if errors.Is(err, client.ErrNoDaemon) {
			return fmt.Errorf("%w: start the app first (`tend start`)", err)
		}
		return friendly(err)
	}
	defer p.Body.Close()

	f, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".*.part")
	if err != nil {
		return fmt.Errorf("write the profile: %w", err)
	}
	defer os.Remove(f.Name()) // gone once renamed
	prog := e.progress(kind, target, o, p.PID, stopping)
	n, cerr := io.Copy(io.MultiWriter(f, prog), p.Body)
	prog.finish()
	if err := f.Close(); cerr == nil {
		cerr = err
	}
	if cerr != nil {
		if reqCtx.Err() != nil {
			return errors.New("profile given up: nothing was written")
		}
		return fmt.Errorf("receive the profile: %w; nothing was written", cerr)
	}
	whole, perr := p.Err()
	if !whole {
		return fmt.Errorf("%w; nothing was written", perr)
	}
	if err := os.Rename(f.Name(), out); err != nil {
		return fmt.Errorf("write the profile: %w", err)
	}
	fmt.Fprintf(e.stdout, "wrote %s (%s)\n", out, byteCount(n))
	return perr
}

// safeName turns a target ("ns/app") into a file name part.
func safeName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c == '/' || c == os.PathSeparator || c < ' ' {
			b[i] = '_'
		}
	}
	return string(b)
}

// byteCount writes a transfer's progress in binary units.
func byteCount(n int64) string {
	if n < 1<<20 {
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

// progress shows on stderr what is being recorded: once, and on a
// terminal a line that counts up until the profile arrives.
type progress struct {
	stop chan struct{}
	wg   sync.WaitGroup
	mu   sync.Mutex // guards bytes
	// bytes received so far.
	bytes int64
}

func (p *progress) Write(b []byte) (int, error) {
	p.mu.Lock()
	p.bytes += int64(len(b))
	p.mu.Unlock()
	return len(b), nil
}

// finish stops the ticking line and waits for it.
func (p *progress) finish() {
	close(p.stop)
	p.wg.Wait()
}

func (e *env) progress(kind, target string, o profileOpts, pid int, stopping <-chan struct{}) *progress {
	p := &progress{stop: make(chan struct{})}
	what := map[string]string{api.ProfileCPU: "recording a CPU profile", api.ProfileHeap: "taking a heap snapshot", api.ProfileHeapSampling: "recording a sampling heap profile"}[kind]
	head := fmt.Sprintf("%s of %s instance %d (pid %d)", what, target, o.instance, pid)
	if kind != api.ProfileHeap {
		head += fmt.Sprintf(" for %s; Ctrl-C stops early", o.duration)
	}
	fmt.Fprintln(e.stderr, head)
	f, ok := e.stderr.(*os.File)
	if !ok {
		return p
	}
	if _, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS); err != nil {
		return p
	}
	start := time.Now()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-p.stop:
				fmt.Fprint(f, "\r\033[K")
				return
			case <-tick.C:
			}
			p.mu.Lock()
			got := p.bytes
			p.mu.Unlock()
			el := time.Since(start).Truncate(time.Second)
			select {
			case <-stopping:
				fmt.Fprintf(f, "\r\033[Kstopping, %s received", byteCount(got))
				continue
			default:
			}
			if kind == api.ProfileHeap || got > 0 || el >= o.duration {
				fmt.Fprintf(f, "\r\033[K%s elapsed, %s received", el, byteCount(got))
			} else {
				fmt.Fprintf(f, "\r\033[K%s / %s", el, o.duration)
			}
		}
	}()
	return p
}

// nodeRuntimeText is one line of a Node instance's runtime figures for
// describe, or "" when it has none.
func nodeRuntimeText(f map[string]float64) string {
	if len(f) == 0 {
		return ""
	}
	ms := func(k string) string { return fmt.Sprintf("%.1fms", f[k]*1000) }
	mib := func(k string) string { return fmt.Sprintf("%.1fMiB", f[k]/(1<<20)) }
	parts := []string{
		"event loop delay p50 " + ms("eventloop_delay_p50_seconds") + " p99 " + ms("eventloop_delay_p99_seconds") + " max " + ms("eventloop_delay_max_seconds"),
		fmt.Sprintf("utilization %.0f%%", f["eventloop_utilization"]*100),
		"heap " + mib("heap_used_bytes") + " used / " + mib("heap_total_bytes") + " total / " + mib("heap_limit_bytes") + " limit",
		"external " + mib("external_bytes") + " (buffers " + mib("array_buffers_bytes") + ")",
	}
	var gc []string
	for _, kind := range []string{"minor", "major", "incremental", "weakcb"} {
		if n, ok := f["gc_"+kind+"_total"]; ok {
			gc = append(gc, fmt.Sprintf("%s %.0f (%.1fms)", kind, n, f["gc_"+kind+"_pause_seconds_total"]*1000))
		}
	}
	if len(gc) > 0 {
		parts = append(parts, "gc "+strings.Join(gc, ", "))
	}
	if n, ok := f["active_resources"]; ok {
		parts = append(parts, fmt.Sprintf("active resources %.0f", n))
	}
	if n, ok := f["unhandled_rejections_total"]; ok {
		parts = append(parts, fmt.Sprintf("unhandled rejections %.0f", n))
	}
	return strings.Join(parts, "; ")
}
