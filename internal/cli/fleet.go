package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/client"
	"github.com/tendhq/tend/internal/conf"
	"github.com/tendhq/tend/internal/fleet"
	"github.com/tendhq/tend/internal/plan"
	"github.com/tendhq/tend/internal/spec"
)

// fleetFlags are how the control point reaches a fleet: --hub (TEND_HUB)
// and its credential and trust, and --host, which sends a command to that
// host's daemon through the hub.
type fleetFlags struct {
	hub, creds, ca, fingerprint string
	host                        string
}

// addFleetFlags declares the fleet's persistent flags on root.
func addFleetFlags(root *cobra.Command, e *env) {
	f := root.PersistentFlags()
	f.StringVar(&e.fleet.hub, "hub", os.Getenv("TEND_HUB"), "the fleet hub, tls://host:4222 (env TEND_HUB)")
	f.StringVar(&e.fleet.creds, "hub-creds", os.Getenv("TEND_HUB_CREDS"), "operator credentials for the hub, from tend hub creds (env TEND_HUB_CREDS)")
	f.StringVar(&e.fleet.ca, "hub-ca", os.Getenv("TEND_HUB_CA"), "CA certificate the hub's certificate is checked against (env TEND_HUB_CA)")
	f.StringVar(&e.fleet.fingerprint, "hub-fingerprint", os.Getenv("TEND_HUB_FINGERPRINT"), "SHA-256 fingerprint of the hub's certificate, which tend hub prints (env TEND_HUB_FINGERPRINT)")
}

// fleetHostName says whether a --host value names a fleet host (web-1)
// rather than a daemon's remote address (https://h:8701, h:8701).
func fleetHostName(s string) bool {
	return !strings.Contains(s, "://") && !strings.Contains(s, ":")
}

// remoteCommands are the commands --host carries to a fleet host: those
// that ask its daemon and print the answer. The others would act on this
// machine, or stream without end.
var remoteCommands = []string{"ls", "describe", "env", "start", "stop", "restart", "reload", "scale", "delete",
	"reset", "signal", "save", "resurrect", "apply", "set", "unset", "logs", "flush", "reload-logs", "metrics",
	// A profile travels through the hub's object store (fleet/profile.go).
	"profile", "profile:cpu", "profile:mem", "inspect"}

// checkRemote refuses --host on a command it cannot carry.
func checkRemote(cmd *cobra.Command, host string) error {
	if host == "" {
		return nil
	}
	top := cmd
	for top.HasParent() && top.Parent().HasParent() {
		top = top.Parent()
	}
	if !slices.Contains(remoteCommands, top.Name()) {
		return fmt.Errorf("--host: tend %s does not run on a fleet host; run it there (commands that do: %s)", top.Name(), strings.Join(remoteCommands, ", "))
	}
	return nil
}

// dialHub connects the control point to the hub.
func (e *env) dialHub() (*fleet.Control, error) {
	if e.fleet.hub == "" {
		return nil, errors.New("no fleet hub: give --hub tls://host:4222 (or set TEND_HUB) with --hub-creds")
	}
	return fleet.Dial(fleet.ControlConfig{URL: e.fleet.hub, Creds: e.fleet.creds,
		TLS: fleet.ClientTLS{CA: e.fleet.ca, Fingerprint: e.fleet.fingerprint}})
}

// fleetHosts connects to the hub and lists its hosts; the caller closes
// the connection.
func (e *env) fleetHosts(ctx context.Context) (*fleet.Control, []fleet.Host, error) {
	ctl, err := e.dialHub()
	if err != nil {
		return nil, nil, err
	}
	hosts, err := ctl.Hosts(ctx)
	if err != nil {
		ctl.Close()
		return nil, nil, err
	}
	return ctl, hosts, nil
}

// remote returns a client of host's daemon, through the hub. The
// connection lives as long as the command.
func (e *env) remote(host string) (*client.Client, error) {
	if err := fleet.CheckName(host); err != nil {
		return nil, fmt.Errorf("--host: %w", err)
	}
	ctl, err := e.dialHub()
	if err != nil {
		return nil, err
	}
	return client.NewVia(host, ctl.Transport(host)), nil
}

// hubSettings is daemon.yaml's hub: section. listen runs a hub in the
// daemon; name (with url, or the daemon's own hub) joins the fleet.
type hubSettings struct {
	Listen, Store, Cert, Key    string
	URL, Creds, CA, Fingerprint string
	Name                        string
	Labels                      map[string]string
	given                       bool
}

var hubKeys = conf.Table[hubSettings]{Fields: []conf.Field[hubSettings]{
	conf.StringField("listen", nil, func(c *hubSettings) *string { return &c.Listen }),
	conf.StringField("store", nil, func(c *hubSettings) *string { return &c.Store }),
	conf.StringField("cert", nil, func(c *hubSettings) *string { return &c.Cert }),
	conf.StringField("key", nil, func(c *hubSettings) *string { return &c.Key }),
	conf.StringField("url", nil, func(c *hubSettings) *string { return &c.URL }),
	conf.StringField("creds", nil, func(c *hubSettings) *string { return &c.Creds }),
	conf.StringField("ca", nil, func(c *hubSettings) *string { return &c.CA }),
	conf.StringField("fingerprint", nil, func(c *hubSettings) *string { return &c.Fingerprint }),
	conf.StringField("name", func(s string) string {
		if err := fleet.CheckName(s); err != nil {
			return err.Error()
		}
		return ""
	}, func(c *hubSettings) *string { return &c.Name }),
	conf.Custom("labels", func(d *conf.Decoder, key string, v any, c *hubSettings) {
		m, ok := v.(map[string]any)
		if !ok {
			d.Errorf(key, "want a mapping of labels, such as {role: web}, got %s", conf.Describe(v))
			return
		}
		c.Labels = map[string]string{}
		for k, x := range m {
			s, ok := conf.Scalar(x)
			if !ok {
				d.Errorf(key+"."+k, "want a value, got %s", conf.Describe(x))
				continue
			}
			c.Labels[k] = s
		}
		if err := fleet.CheckLabels(c.Labels); err != nil {
			d.Errorf(key, "%v", err)
		}
	}),
}}

// decodeHub decodes the hub: section into c.Hub.
func decodeHub(d *conf.Decoder, key string, v any, c *daemonConfig) {
	m, ok := v.(map[string]any)
	if !ok {
		d.Errorf(key, "want a mapping (listen, or url, creds and name), got %s", conf.Describe(v))
		return
	}
	sub := d.Sub(key, m)
	hubKeys.Decode(sub, &c.Hub)
	c.Hub.given = true
	h := c.Hub
	switch {
	case h.URL != "" && h.Name == "":
		d.Errorf(key+".name", "required with url: this host's name in the fleet")
	case h.Name != "" && h.URL == "" && h.Listen == "":
		d.Errorf(key+".url", "required with name: the hub to join (tls://host:4222), or listen: to run one here")
	case h.Listen == "" && h.Name == "":
		d.Errorf(key, "give listen: (run a hub here) or url: and name: (join a fleet)")
	case (h.Cert == "") != (h.Key == ""):
		d.Errorf(key+".cert", "cert and key go together")
	}
}

// fleet returns the daemon's hub and agent settings from daemon.yaml
// (nil, nil without a hub: section). Relative paths are in home.
func (h hubSettings) fleet(home string) (*fleet.HubConfig, *fleet.AgentConfig) {
	if !h.given {
		return nil, nil
	}
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(home, p)
	}
	var hub *fleet.HubConfig
	if h.Listen != "" {
		store := abs(h.Store)
		if store == "" {
			store = filepath.Join(home, "hub")
		}
		hub = &fleet.HubConfig{Dir: store, Listen: h.Listen, CertFile: abs(h.Cert), KeyFile: abs(h.Key)}
	}
	var agent *fleet.AgentConfig
	if h.Name != "" {
		agent = &fleet.AgentConfig{URL: h.URL, Creds: abs(h.Creds), Name: h.Name, Labels: h.Labels,
			TLS: fleet.ClientTLS{CA: abs(h.CA), Fingerprint: h.Fingerprint}, StateFile: filepath.Join(home, "fleet.json")}
	}
	return hub, agent
}

func newHub(e *env) *cobra.Command {
	var listen, store, cert, key string
	cmd := &cobra.Command{
		Use:   "hub",
		Short: "Run the fleet hub (an embedded NATS server with JetStream) in the foreground",
		Long: `Run the fleet hub: an embedded nats-server with JetStream, its store under
$TEND_HOME/hub, listening with TLS (a self-signed certificate made on first start, whose
fingerprint is printed, or --cert and --key) and accepting only the credentials it signed:
tend hub add-host NAME makes a host's, tend hub creds an operator's. hub: {listen: ...}
in daemon.yaml runs the same inside the daemon.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if store == "" {
				store = filepath.Join(e.home, "hub")
			}
			if (cert == "") != (key == "") {
				return errors.New("--cert and --key go together")
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			h, err := fleet.StartHub(ctx, fleet.HubConfig{Dir: store, Listen: listen, CertFile: cert, KeyFile: key})
			if err != nil {
				return err
			}
			defer h.Close()
			if h.MadeCert {
				fmt.Fprintf(e.stdout, "made a self-signed certificate: %s\n", h.CertFile)
			}
			fmt.Fprintf(e.stdout, "hub listening on %s (store %s)\nfingerprint %s\n", h.URL(), store, h.Fingerprint)
			fmt.Fprintln(e.stdout, "add a host: tend hub add-host NAME; operator credentials: tend hub creds")
			<-ctx.Done()
			fmt.Fprintln(e.stdout, "hub stopping")
			return nil
		},
	}
	cmd.Flags().StringVar(&listen, "listen", fleet.DefaultListen, "host:port to listen on")
	cmd.Flags().StringVar(&store, "store", "", "directory of the keys, certificate and JetStream store (default $TEND_HOME/hub)")
	cmd.Flags().StringVar(&cert, "cert", "", "TLS certificate (PEM) to serve instead of the self-signed one")
	cmd.Flags().StringVar(&key, "key", "", "its private key (PEM)")
	cmd.AddCommand(newHubAddHost(e), newHubCreds(e), newHubLs(e), newHubRevoke(e))
	return cmd
}

// hubStore is the hub directory of --store, or $TEND_HOME/hub.
func (e *env) hubStore(store string) string {
	if store != "" {
		return store
	}
	return filepath.Join(e.home, "hub")
}

func newHubAddHost(e *env) *cobra.Command {
	var store, labels, url string
	cmd := &cobra.Command{
		Use:   "add-host NAME",
		Short: "Make a host's credentials and print the daemon.yaml section that joins it to the fleet",
		Long: `Make the credentials of a new host: they let its agent write only its own status and
heartbeat, read only its own desired state and answer only its own requests. They are
written to <store>/creds/NAME.creds (0600); copy them to the host and add the printed
hub: section to its $TEND_HOME/daemon.yaml.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := fleet.CheckName(name); err != nil {
				return err
			}
			lab, err := parseLabels(labels)
			if err != nil {
				return err
			}
			dir := e.hubStore(store)
			keys, err := fleet.LoadKeys(dir, false)
			if err != nil {
				return err
			}
			creds, made, err := keys.Issue(dir, fleet.RoleHost, name)
			if err != nil {
				return err
			}
			if list, err := fleet.ListIssued(dir); err == nil {
				var earlier []string
				for _, c := range list {
					if c.Name == name && c.Role == fleet.RoleHost && c.Key != made.Key && c.Revoked.IsZero() {
						earlier = append(earlier, c.Key)
					}
				}
				if len(earlier) > 0 {
					fmt.Fprintf(e.stdout, "# %s has %d earlier credentials still valid; once the host has the new ones: tend hub revoke --key KEY (tend hub ls)\n", name, len(earlier))
				}
			}
			path, err := writeCreds(dir, name, creds)
			if err != nil {
				return err
			}
			if url == "" {
				h, _ := os.Hostname()
				url = "tls://" + h + ":4222"
			}
			fmt.Fprintf(e.stdout, "# credentials of %s: %s (copy them to the host, mode 0600)\n", name, path)
			fmt.Fprintf(e.stdout, "# add to the host's $TEND_HOME/daemon.yaml:\nhub:\n  url: %s\n  creds: %s\n  name: %s\n", url, path, name)
			if fp, err := fleet.CertFileFingerprint(filepath.Join(dir, "cert.pem")); err == nil {
				fmt.Fprintf(e.stdout, "  fingerprint: %s\n", fp)
			}
			if len(lab) > 0 {
				fmt.Fprintln(e.stdout, "  labels:")
				for _, k := range slices.Sorted(maps.Keys(lab)) {
					fmt.Fprintf(e.stdout, "    %s: %s\n", k, lab[k])
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&store, "store", "", "the hub's directory (default $TEND_HOME/hub)")
	cmd.Flags().StringVar(&labels, "labels", "", "the host's labels, k=v,k=v (selectors match them)")
	cmd.Flags().StringVar(&url, "url", "", "the hub's address as the host reaches it (default tls://<this machine>:4222)")
	return cmd
}

func newHubCreds(e *env) *cobra.Command {
	var store string
	var readOnly bool
	cmd := &cobra.Command{
		Use:   "creds [NAME]",
		Short: "Make operator credentials (tend hosts, apply, --host); --read-only may only read",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := "operator"
			if len(args) == 1 {
				name = args[0]
			}
			if err := fleet.CheckName(name); err != nil {
				return err
			}
			dir := e.hubStore(store)
			keys, err := fleet.LoadKeys(dir, false)
			if err != nil {
				return err
			}
			role := fleet.RoleOperator
			if readOnly {
				role = fleet.RoleReader
			}
			creds, _, err := keys.Issue(dir, role, name)
			if err != nil {
				return err
			}
			path, err := writeCreds(dir, string(role)+"-"+name, creds)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%s credentials: %s\nuse them with --hub-creds %s (or TEND_HUB_CREDS)\n", role, path, path)
			return nil
		},
	}
	cmd.Flags().StringVar(&store, "store", "", "the hub's directory (default $TEND_HOME/hub)")
	cmd.Flags().BoolVar(&readOnly, "read-only", false, "credentials that may list, read and profile, not change anything")
	return cmd
}

func newHubLs(e *env) *cobra.Command {
	var store string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List the credentials made with the hub's keys: name, role, key, made, revoked",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			list, err := fleet.ListIssued(e.hubStore(store))
			if err != nil {
				return err
			}
			fleet.SortIssued(list)
			if asJSON {
				return printList(e, list)
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tROLE\tKEY\tMADE\tREVOKED")
			for _, c := range list {
				revoked := "-"
				if !c.Revoked.IsZero() {
					revoked = c.Revoked.Local().Format(time.DateTime)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.Name, c.Role, c.Key, c.Issued.Local().Format(time.DateTime), revoked)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&store, "store", "", "the hub's directory (default $TEND_HOME/hub)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the credentials as JSON")
	return cmd
}

func newHubRevoke(e *env) *cobra.Command {
	var store, key, credsFile string
	cmd := &cobra.Command{
		Use:   "revoke [NAME]",
		Short: "Revoke credentials: the hub refuses them and drops their connections",
		Long: `Revoke credentials made with the hub's keys: every one of NAME (a host's, or an
operator's), the one of --key (tend hub ls lists the keys), or the one in --creds FILE (which
also revokes credentials made before the hub kept its list). The hub refuses them from then
on; a running hub drops their connections within a second. A revoked host's agent keeps its
apps running and is marked lost; tend hub add-host NAME makes it new credentials.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var r fleet.Revocation
			if len(args) == 1 {
				r.Name = args[0]
			}
			r.Key = key
			if credsFile != "" {
				b, err := fleet.ReadCreds(credsFile)
				if err != nil {
					return err
				}
				r.Creds, r.CredsFile = b, credsFile
			}
			if n := btoi(r.Name != "") + btoi(r.Key != "") + btoi(credsFile != ""); n != 1 {
				return errors.New("name one of: NAME, --key KEY, --creds FILE")
			}
			dir := e.hubStore(store)
			keys, err := fleet.LoadKeys(dir, false)
			if err != nil {
				return err
			}
			done, err := keys.Revoke(dir, r)
			if err != nil {
				return err
			}
			for _, c := range done {
				fmt.Fprintf(e.stdout, "revoked %s credentials of %s (%s)\n", c.Role, c.Name, c.Key)
			}
			fmt.Fprintln(e.stdout, "a running hub drops their connections within a second")
			return nil
		},
	}
	cmd.Flags().StringVar(&store, "store", "", "the hub's directory (default $TEND_HOME/hub)")
	cmd.Flags().StringVar(&key, "key", "", "revoke the credentials of this public key")
	cmd.Flags().StringVar(&credsFile, "creds", "", "revoke the credentials in this .creds file")
	return cmd
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func writeCreds(dir, name string, creds []byte) (string, error) {
	cd := filepath.Join(dir, "creds")
	if err := os.MkdirAll(cd, 0o700); err != nil {
		return "", err
	}
	path := filepath.Join(cd, name+".creds")
	return path, os.WriteFile(path, creds, 0o600)
}

// parseLabels reads k=v,k=v.
func parseLabels(s string) (map[string]string, error) {
	out := map[string]string{}
	if s == "" {
		return out, nil
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--labels %q: want k=v,k=v", s)
		}
		out[k] = v
	}
	return out, fleet.CheckLabels(out)
}

func newHosts(e *env) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "hosts",
		Short: "List the fleet's hosts: labels, alive or lost, last seen, version, CPU, memory, apps",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctl, hosts, err := e.fleetHosts(cmd.Context())
			if err != nil {
				return err
			}
			defer ctl.Close()
			if asJSON {
				return printList(e, hosts)
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tLABELS\tSTATE\tLAST SEEN\tVERSION\tCPU\tMEMORY\tAPPS")
			for _, h := range hosts {
				state := "alive"
				if !h.Alive {
					state = "lost"
				}
				var apps []string
				for _, a := range h.Apps {
					apps = append(apps, fmt.Sprintf("%s(%d/%d)", a.Name, a.Online, a.Instances))
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s ago\t%s\t%.1f%%\t%s\t%s\n", h.Host, fleet.LabelString(h.Labels), state,
					time.Since(h.LastSeen).Round(100*time.Millisecond), h.Version, h.CPUPercent, humanBytes(h.MemoryBytes), strings.Join(apps, " "))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the hosts as JSON")
	return cmd
}

// applyFleet applies a fleet file: each host's desired state is written,
// compare-and-set, where it changes, and the command waits until those
// hosts have applied it (the lost ones when they come back).
func (e *env) applyFleet(ctx context.Context, path string, dryRun, asJSON bool, wait time.Duration) error {
	apps, err := fleet.LoadFile(path, e.maxInstances())
	if err != nil {
		return err
	}
	ctl, err := e.dialHub()
	if err != nil {
		return err
	}
	defer ctl.Close()
	if !dryRun {
		if err := ctl.EnsureBuckets(ctx, 1); err != nil {
			return err
		}
	}
	hosts, err := ctl.Hosts(ctx)
	if err != nil {
		return err
	}
	labels := map[string]map[string]string{}
	alive := map[string]bool{}
	for _, h := range hosts {
		labels[h.Host], alive[h.Host] = h.Labels, h.Alive
	}
	placed, err := fleet.Place(path, apps, labels)
	if err != nil {
		return err
	}
	type change struct {
		host string
		rev  uint64
		want fleet.Desired
		plan plan.Plan
	}
	var changes []change
	report := map[string]any{}
	for _, h := range slices.Sorted(maps.Keys(placed)) {
		old, rev, err := ctl.Desired(ctx, h)
		if err != nil {
			return err
		}
		if fleet.SameApps(old.Apps, placed[h]) || (rev == 0 && len(placed[h]) == 0) {
			continue
		}
		p := plan.Make(specsOf(old.Apps), specsOf(placed[h]), true)
		changes = append(changes, change{host: h, rev: rev, want: fleet.Desired{Apps: placed[h], File: path, Time: time.Now().UTC()}, plan: p})
		report[h] = p.Steps
	}
	if asJSON && dryRun {
		return e.printJSON(report)
	}
	if len(changes) == 0 {
		fmt.Fprintln(e.stdout, "every host already has this desired state: nothing to change")
		return nil
	}
	if dryRun {
		fmt.Fprintln(e.stdout, "plan per host, against each host's desired state (nothing changed):")
	}
	for _, c := range changes {
		state := "alive"
		if !alive[c.host] {
			state = "lost: applies it when back"
		}
		fmt.Fprintf(e.stdout, "%s (%s):\n", c.host, state)
		for _, line := range strings.Split(strings.TrimRight(c.plan.String(), "\n"), "\n") {
			fmt.Fprintf(e.stdout, "  %s\n", line)
		}
	}
	if dryRun {
		return nil
	}
	revs := map[string]uint64{}
	for _, c := range changes {
		n, err := ctl.PutDesired(ctx, c.host, c.want, c.rev)
		if err != nil {
			if len(revs) > 0 {
				return fmt.Errorf("%w (%d hosts were written before it: run tend apply again)", err, len(revs))
			}
			return err
		}
		revs[c.host] = n
	}
	fmt.Fprintf(e.stdout, "desired state written for %d hosts; waiting for them to apply it\n", len(revs))
	return e.awaitConverged(ctx, ctl, revs, alive, wait)
}

// awaitConverged waits until each host has applied its revision, or says
// which failed or did not within wait. Lost hosts are not waited for.
func (e *env) awaitConverged(ctx context.Context, ctl *fleet.Control, revs map[string]uint64, alive map[string]bool, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	pending := map[string]uint64{}
	for h, r := range revs {
		if alive[h] {
			pending[h] = r
		} else {
			fmt.Fprintf(e.stdout, "%s: lost; it applies its desired state when it is back\n", h)
		}
	}
	var failed []string
	for len(pending) > 0 {
		hosts, err := ctl.Hosts(ctx)
		if err != nil {
			return err
		}
		for _, h := range hosts {
			want, ok := pending[h.Host]
			if !ok {
				continue
			}
			switch d := h.Desired; {
			case d.Revision >= want:
				fmt.Fprintf(e.stdout, "%s: applied (%s)\n", h.Host, stepsText(d.Steps))
				delete(pending, h.Host)
			case d.Tried >= want && d.Error != "":
				fmt.Fprintf(e.stderr, "%s: failed: %s\n", h.Host, d.Error)
				failed = append(failed, h.Host)
				delete(pending, h.Host)
			}
		}
		if len(pending) == 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d hosts have not applied their desired state within %s: %s (tend hosts shows them)", len(pending), wait, strings.Join(slices.Sorted(maps.Keys(pending)), ", "))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d hosts failed to apply their desired state: %s", len(failed), strings.Join(failed, ", "))
	}
	fmt.Fprintln(e.stdout, "applied")
	return nil
}

func stepsText(steps []string) string {
	if len(steps) == 0 {
		return "nothing to do"
	}
	return strings.Join(steps, ", ")
}

// specsOf reads apps in their JSON form (valid: the control point wrote
// them); one that does not read is left out of the plan shown.
func specsOf(raw []json.RawMessage) []spec.App {
	var out []spec.App
	for _, r := range raw {
		var a spec.App
		if json.Unmarshal(r, &a) == nil {
			out = append(out, a)
		}
	}
	return out
}

// listAllHosts prints every host's apps: an alive host's from its daemon,
// a lost one's as it last reported them.
func (e *env) listAllHosts(ctx context.Context, asJSON bool) error {
	ctl, hosts, err := e.fleetHosts(ctx)
	if err != nil {
		return err
	}
	defer ctl.Close()
	type hostApps struct {
		Host  string    `json:"host"`
		Alive bool      `json:"alive"`
		Apps  []api.App `json:"apps"`
		Error string    `json:"error,omitempty"`
	}
	var out []hostApps
	for _, h := range hosts {
		ha := hostApps{Host: h.Host, Alive: h.Alive, Apps: []api.App{}}
		if h.Alive {
			apps, err := client.NewVia(h.Host, ctl.Transport(h.Host)).List(ctx)
			if err != nil {
				ha.Error = friendly(err).Error()
			} else {
				ha.Apps = apps
			}
		} else {
			ha.Error = fmt.Sprintf("lost (last seen %s ago)", time.Since(h.LastSeen).Round(time.Second))
		}
		out = append(out, ha)
	}
	if asJSON {
		return printList(e, out)
	}
	for i, ha := range out {
		if i > 0 {
			fmt.Fprintln(e.stdout)
		}
		fmt.Fprintf(e.stdout, "host %s\n", ha.Host)
		if ha.Error != "" {
			fmt.Fprintf(e.stdout, "  %s\n", ha.Error)
			continue
		}
		printTable(e.stdout, ha.Apps)
	}
	return nil
}

// rollingReload reloads target on every alive host that runs it,
// maxUnavailable hosts at a time, and stops at the first host whose reload
// fails: the hosts after it keep their old instances.
func (e *env) rollingReload(ctx context.Context, target string, maxUnavailable int) error {
	if maxUnavailable < 1 {
		return fmt.Errorf("--max-unavailable %d: want 1 or more", maxUnavailable)
	}
	ctl, hosts, err := e.fleetHosts(ctx)
	if err != nil {
		return err
	}
	defer ctl.Close()
	var on []string
	for _, h := range hosts {
		for _, a := range h.Apps {
			if a.Name == target || a.Namespace == target || a.Namespace+"/"+a.Name == target {
				if !h.Alive {
					return fmt.Errorf("host %s runs %s but is lost: bring it back, or reload host by host with --host", h.Host, target)
				}
				on = append(on, h.Host)
				break
			}
		}
	}
	if len(on) == 0 {
		return fmt.Errorf("no host runs %s (tend hosts lists their apps)", target)
	}
	for i := 0; i < len(on); i += maxUnavailable {
		batch := on[i:min(i+maxUnavailable, len(on))]
		errs := make([]error, len(batch))
		var wg sync.WaitGroup
		for j, h := range batch {
			wg.Add(1)
			go func() {
				defer wg.Done()
				apps, err := client.NewVia(h, ctl.Transport(h)).Action(ctx, target, "reload", api.ActionRequest{})
				if err == nil {
					err = notReady(apps)
				}
				errs[j] = err
			}()
		}
		wg.Wait()
		for j, h := range batch {
			if errs[j] != nil {
				rest := on[i+len(batch):]
				return fmt.Errorf("reload on %s failed: %v; stopped there (not reloaded: %s)", h, friendly(errs[j]), list(rest))
			}
			fmt.Fprintf(e.stdout, "%s: reloaded %s\n", h, target)
		}
	}
	fmt.Fprintf(e.stdout, "reloaded %s on %d hosts\n", target, len(on))
	return nil
}

func list(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}
