package cli

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/client"
	"github.com/tendhq/tend/internal/release"
	"github.com/tendhq/tend/internal/spec"
)

func newPack(e *env) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "pack [DIR]",
		Short: "Build a release archive of an app: its files, production dependencies and a manifest",
		Long: `Build a reproducible release archive (tar.gz) of the app in DIR (default: the current
directory): a copy of its files (package.json's files, or all but what .npmignore, else
.gitignore, leaves out; never .git, node_modules, .npmrc or logs), its production
dependencies (npm ci --omit=dev with a lockfile, npm install --omit=dev without) and
tend-release.json, which names the release and every file's sha256. A directory with an
ecosystem file and no package.json packs without npm. The same input gives the same bytes:
times come from SOURCE_DATE_EPOCH, else the git commit, else the newest file.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "."
			if len(args) == 1 {
				dir = args[0]
			}
			abs, err := filepath.Abs(dir)
			if err != nil {
				return err
			}
			if out == "" {
				out = filepath.Base(abs) + ".tar.gz"
			}
			m, sum, size, err := packTo(cmd, e, abs, out)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%s: %s %s, %d files, %d bytes, sha256 %s\n", out, m.Name, m.Version, len(m.Files), size, sum)
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "the archive to write (default: DIR's name.tar.gz)")
	return cmd
}

// packTo packs dir into the file out, written whole or not at all.
func packTo(cmd *cobra.Command, e *env, dir, out string) (*release.Manifest, string, int64, error) {
	absOut, err := filepath.Abs(out)
	if err != nil {
		return nil, "", 0, err
	}
	f, err := os.CreateTemp(filepath.Dir(absOut), "."+filepath.Base(absOut)+".tmp*")
	if err != nil {
		return nil, "", 0, fmt.Errorf("write the archive: %w", err)
	}
	defer os.Remove(f.Name())
	h := sha256.New()
	cw := &countWriter{w: io.MultiWriter(f, h)}
	m, err := release.Pack(cmd.Context(), dir, cw, release.PackOptions{Log: e.stderr, Skip: absOut})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), absOut)
	}
	if err != nil {
		return nil, "", 0, err
	}
	return m, hex.EncodeToString(h.Sum(nil)), cw.n, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func newDeploy(e *env) *cobra.Command {
	var appName string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "deploy DIR|FILE [--app NAME] | deploy ECOSYSTEM ENV [setup|update|revert N|list]",
		Short: "Install a release on the daemon's host and switch to it with zero downtime",
		Long: `tend deploy DIR packs DIR (as tend pack) and deploys it; tend deploy FILE deploys an
archive tend pack made. The daemon verifies the archive against its manifest, unpacks it
into $TEND_HOME/releases/<app>/<seq>-<version>/, runs the app's post_deploy there (a
non-zero exit aborts), points releases/<app>/current at it and reloads the app from it with
zero downtime. If the new instances do not become ready, current points back and the old
instances keep serving; the command then fails with their last stderr lines. An app tend
does not run yet is defined by the release's ecosystem file (tend.yaml,
ecosystem.config.js), else by package.json's start script or main. The app is --app, else
the one the ecosystem file defines, else package.json's name. The last retain_releases
(default 5) releases are kept.

tend deploy ECOSYSTEM ENV runs PM2's deploy section ENV of the file: setup clones the
repo on each host, update (the default) fetches ref there and runs tend deploy on the
host, revert N rolls back N releases, list lists them (over the system's ssh).`,
		Args: cobra.RangeArgs(1, 4),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) >= 2 && spec.IsEcosystemFile(args[0]) {
				return pm2Deploy(cmd, e, args[0], args[1], args[2:], appName)
			}
			if len(args) > 1 {
				return fmt.Errorf("deploy takes one DIR or FILE, or an ecosystem file and the name of its deploy section; got %q", strings.Join(args, " "))
			}
			if spec.IsEcosystemFile(args[0]) {
				return fmt.Errorf("%s is an ecosystem file: name the environment of its deploy section (tend deploy %s production), or deploy its directory (tend deploy %s)", args[0], args[0], filepath.Dir(args[0]))
			}
			return deployPath(cmd, e, args[0], appName, asJSON)
		},
	}
	cmd.Flags().StringVar(&appName, "app", "", "the app to deploy to (default: the release's)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the release as JSON")
	cmd.Flags().String("post-deploy", "", "run this in the release in place of the app's post_deploy")
	return cmd
}

// deployPath deploys a directory (packed first) or an archive.
func deployPath(cmd *cobra.Command, e *env, path, appName string, asJSON bool) error {
	ctx := cmd.Context()
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("deploy: %w", err)
	}
	archive := path
	if fi.IsDir() {
		tmp, err := os.MkdirTemp("", "tend-deploy-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		archive = filepath.Join(tmp, "release.tar.gz")
		m, _, _, err := packTo(cmd, e, path, archive)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stderr, "packed %s %s (%d files)\n", m.Name, m.Version, len(m.Files))
	}
	f, err := os.Open(archive)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	size, err := io.Copy(h, f)
	if err != nil {
		return fmt.Errorf("read %s: %w", archive, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	req := client.DeployRequest{Archive: f, Size: size, SHA256: hex.EncodeToString(h.Sum(nil)), App: appName, By: whoami()}
	if fl := cmd.Flags().Lookup("post-deploy"); fl != nil && fl.Changed {
		req.PostDeploy, req.SetPostDeploy = fl.Value.String(), true
		if strings.ContainsAny(req.PostDeploy, "\r\n") {
			return fmt.Errorf("--post-deploy %q: give one line (join commands with &&)", req.PostDeploy)
		}
	}
	c, err := e.connect(ctx)
	if err != nil {
		return err
	}
	rel, err := c.Deploy(ctx, req, e.deployProgress)
	if err != nil {
		return fmt.Errorf("deploy: %w", friendly(err))
	}
	if asJSON {
		return e.printJSON(rel)
	}
	fmt.Fprintf(e.stdout, "deployed release %d of %s (%s %s) into %s\n", rel.Seq, rel.App, rel.Name, rel.Version, rel.Dir)
	return nil
}

// deployProgress prints a line of a deploy's progress.
func (e *env) deployProgress(ev api.DeployEvent) {
	if ev.Kind == api.DeployOutput {
		fmt.Fprintf(e.stderr, "  | %s\n", ev.Text)
		return
	}
	fmt.Fprintf(e.stderr, "%s\n", ev.Text)
}

// whoami names the client's user for a release's record.
func whoami() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return strconv.Itoa(os.Getuid())
}

func newReleases(e *env) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "releases APP",
		Short: "List an app's releases on the daemon's host",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.connect(cmd.Context())
			if err != nil {
				return err
			}
			rs, err := c.Releases(cmd.Context(), args[0])
			if err != nil {
				return friendly(err)
			}
			if asJSON {
				return e.printJSON(rs)
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "SEQ\tVERSION\tCOMMIT\tDEPLOYED\tBY\tACTIVE")
			for _, r := range rs {
				commit := r.Commit
				if len(commit) > 12 {
					dirty := strings.HasSuffix(commit, "-dirty")
					commit = commit[:12]
					if dirty {
						commit += "-dirty"
					}
				}
				active := ""
				if r.Active {
					active = "*"
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", r.Seq, r.Version, orDash(commit), r.DeployedAt.Local().Format(time.DateTime), r.By, active)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	return cmd
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func newRollback(e *env) *cobra.Command {
	var asJSON bool
	var back int
	cmd := &cobra.Command{
		Use:   "rollback APP [SEQ]",
		Short: "Make an earlier release current again, with zero downtime",
		Long: `Point the app's current symlink at release SEQ (default: the one before the active one)
(or --back N releases before the active one) and reload the app from it with zero
downtime, as deploy does; if it does not become ready, nothing changes.`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := api.RollbackRequest{Back: back}
			if len(args) == 2 {
				n, err := strconv.Atoi(args[1])
				if err != nil || n < 1 {
					return fmt.Errorf("release %q: want its number (see `tend releases %s`)", args[1], args[0])
				}
				if back != 0 {
					return fmt.Errorf("give a release number or --back, not both")
				}
				req.Seq = n
			}
			c, err := e.connect(cmd.Context())
			if err != nil {
				return err
			}
			rel, err := c.Rollback(cmd.Context(), args[0], req, e.deployProgress)
			if err != nil {
				return fmt.Errorf("rollback: %w", friendly(err))
			}
			if asJSON {
				return e.printJSON(rel)
			}
			fmt.Fprintf(e.stdout, "%s runs release %d (%s %s)\n", rel.App, rel.Seq, rel.Name, rel.Version)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the release as JSON")
	cmd.Flags().IntVar(&back, "back", 0, "go back this many releases from the active one (PM2's revert N)")
	return cmd
}
