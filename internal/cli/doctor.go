package cli

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/doctor"
	"github.com/tendhq/tend/internal/startup"
)

func newDoctor(e *env) *cobra.Command {
	var asJSON, audit, deep bool
	cmd := &cobra.Command{
		Use:   "doctor [name|id|namespace|all]",
		Short: "Check running apps against the production checklist",
		Long: `Check apps against the Express production checklist and print PASS, WARN or FAIL
per check with how to fix each: NODE_ENV=production, a Node.js and Express that are not
end-of-life nor affected by a known advisory, TLS on the public port, security headers,
compression and cookie flags (probed with a real request through the edge), a
framework's default session cookie name, auto-restart, instances, a memory limit, log
rotation, start on boot, crashes of the last 24 hours, express-session's MemoryStore (its
warning in the instances' stderr) and unhandled promise rejections (counted by tend's
runtime preload). --audit also runs npm audit --omit=dev. --deep also probes for
synchronous I/O on the request path: it RELOADS each Node app with a port with
--trace-sync-io in NODE_OPTIONS, sends it 5 requests, counts Node's warnings, and
reloads it back (rolling reloads: zero downtime with two instances or more behind the
edge). Exits 1 when any check FAILs.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			target := "all"
			if len(args) == 1 {
				target = args[0]
			}
			c, err := e.connect(cmd.Context())
			if err != nil {
				return err
			}
			apps, err := c.Describe(cmd.Context(), target)
			if err != nil {
				return friendly(err)
			}
			boot := startupState()
			rotation := daemonRotates(e)
			probe := &http.Client{
				Timeout: 10 * time.Second,
				// The probe checks what the edge sends, on loopback; the
				// certificate's trust is the TLS check's business.
				Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
				CheckRedirect: func(*http.Request, []*http.Request) error {
					return http.ErrUseLastResponse
				},
			}
			var results []doctor.Result
			for _, a := range apps {
				in := doctor.Input{App: a, Startup: boot, LogRotationDefault: rotation, HTTPClient: probe}
				if envs, err := c.Env(cmd.Context(), fmt.Sprint(a.ID)); err == nil && len(envs) > 0 && len(envs[0].Instances) > 0 {
					in.Env = envs[0].Instances[0].Env
				}
				if a.Spec != nil && a.Spec.IsNode() {
					in.NodeVersion = nodeVersion(cmd.Context(), a.Spec.Interpreter, in.Env["PATH"])
				}
				in.RecentStderr = stderrSince(cmd.Context(), c, a, instancesSince(a, time.Now()))
				if a.Port > 0 {
					scheme := "http"
					if a.Spec != nil && a.Spec.Edge != nil && a.Spec.Edge.TLS != nil {
						scheme = "https"
					}
					if a.Mode == "fork" {
						scheme = "http"
					}
					in.URL = fmt.Sprintf("%s://127.0.0.1:%d/", scheme, a.Port)
					if deep && a.Spec != nil && a.Spec.IsNode() && a.Status == api.StatusOnline {
						in.SyncIO = syncIOProbe(cmd.Context(), c, e.stderr, a, in.URL, probe)
					}
				}
				results = append(results, doctor.Check(cmd.Context(), in)...)
				if audit && a.Spec != nil {
					found, err := doctor.Audit(cmd.Context(), doctor.ProjectDir(a.Spec))
					if err != nil {
						results = append(results, doctor.Result{App: a.Name, Check: "npm_audit", Level: doctor.Warn, Detail: err.Error(), Fix: "run npm audit --omit=dev in the app's directory"})
					}
					for _, r := range found {
						r.App = a.Name
						results = append(results, r)
					}
				}
			}
			if asJSON {
				if err := e.printJSON(results); err != nil {
					return err
				}
			} else {
				printDoctor(e, apps, results)
			}
			if _, _, fail := doctor.Summary(results); fail > 0 {
				return fmt.Errorf("%d checks failed", fail)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the results as JSON")
	cmd.Flags().BoolVar(&audit, "audit", false, "also run npm audit --omit=dev on each app's project")
	cmd.Flags().BoolVar(&deep, "deep", false, "also probe for synchronous I/O: reloads each Node app with --trace-sync-io for 5 requests, then back")
	return cmd
}

func printDoctor(e *env, apps []api.App, rs []doctor.Result) {
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	for _, r := range rs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Level, r.App, r.Check, r.Detail)
		if r.Fix != "" {
			fmt.Fprintf(tw, "\t\t\t→ %s\n", r.Fix)
		}
	}
	tw.Flush()
	pass, warn, fail := doctor.Summary(rs)
	fmt.Fprintf(e.stdout, "\n%d apps: %d passed, %d warnings, %d failed\n", len(apps), pass, warn, fail)
}

// nodeVersion asks the app's interpreter for its version.
func nodeVersion(ctx context.Context, interpreter, path string) string {
	bin := interpreter
	if !filepath.IsAbs(bin) {
		for _, dir := range filepath.SplitList(path) {
			if p := filepath.Join(dir, bin); fileExists(p) {
				bin = p
				break
			}
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--version").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// startupState says whether tend startup wrote this user's unit, whether it
// is enabled, and whether systemd runs here at all.
func startupState() startup.State {
	u, err := user.Current()
	if err != nil {
		return startup.State{SystemdRunning: startup.SystemdRunning()}
	}
	return startup.Check("/etc/systemd/system", startup.Unit{User: u.Username})
}

// daemonRotates says whether daemon.yaml sets a default log rotation.
func daemonRotates(e *env) bool {
	cfg, err := loadDaemonConfig(e.home)
	return err == nil && (cfg.LogMaxSize != 0 || cfg.LogRotateInterval != "")
}
