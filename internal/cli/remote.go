package cli

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/tendhq/tend/internal/client"
	"github.com/tendhq/tend/internal/remote"
)

// Remote control: --host (TEND_HOST) sends every command to the daemon of
// another host, over TLS with a bearer token (TEND_TOKEN, or the one
// `tend remote login` stored); `tend remote` manages the tokens of this
// host's daemon and the client's remembered daemons.

// Annotations of commands that do not go by --host.
const (
	// annLocal marks a command that works on this host only; its value
	// says why. With --host it is refused, so that nothing meant for this
	// host is sent elsewhere (or the other way round).
	annLocal = "tend.local"
	// annHostless marks a command that names its remote itself (login).
	annHostless = "tend.hostless"
)

// localOnly marks cmd as working on this host only.
func localOnly(cmd *cobra.Command, why string) *cobra.Command {
	if cmd.Annotations == nil {
		cmd.Annotations = map[string]string{}
	}
	cmd.Annotations[annLocal] = why
	return cmd
}

func annotation(cmd *cobra.Command, key string) (string, bool) {
	for c := cmd; c != nil; c = c.Parent() {
		if v, ok := c.Annotations[key]; ok {
			return v, true
		}
	}
	return "", false
}

// chooseHost sets e.host from --host or TEND_HOST, and refuses a command
// that works on this host only.
func (e *env) chooseHost(cmd *cobra.Command) error {
	host := e.hostFlag
	if host == "" {
		host = os.Getenv("TEND_HOST")
	}
	if host == "" {
		return nil
	}
	if _, ok := annotation(cmd, annHostless); ok {
		return nil
	}
	if why, ok := annotation(cmd, annLocal); ok {
		return fmt.Errorf("`%s` works on this host only (%s): run it on the daemon's host, without --host or TEND_HOST", cmd.CommandPath(), why)
	}
	u, err := client.NormalURL(host)
	if err != nil {
		return fmt.Errorf("--host: %w", err)
	}
	e.host = u
	return nil
}

// client returns a client of the daemon the command is for, without
// connecting: this host's, or the remote one of --host with its token and
// pinned certificate.
func (e *env) client() (*client.Client, error) {
	if e.host == "" {
		return client.New(e.home), nil
	}
	pins, err := client.DefaultPins()
	if err != nil {
		return nil, err
	}
	rec, _, err := pins.Get(e.host)
	if err != nil {
		return nil, err
	}
	token := os.Getenv("TEND_TOKEN")
	if token == "" {
		token = rec.Token
	}
	// TEND_FINGERPRINT pins without a remotes file (a CI job's first use
	// is every use: pinning on it would trust whoever answers).
	return client.NewRemote(client.RemoteOptions{URL: e.host, Token: token, Pins: pins, Fingerprint: os.Getenv("TEND_FINGERPRINT"), OnPin: func(fp string) {
		fmt.Fprintf(e.stderr, "tend: %s is new: its certificate is now pinned (SHA256 %s); compare it with `tend remote fingerprint` on that host\n", e.host, fp)
	}})
}

func newRemote(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "remote",
		Short: "Tokens and certificate of this daemon's remote API; log in to a remote daemon",
		Long: `The remote control API (remote_addr in daemon.yaml) serves the same commands over TLS
to bearer tokens. On the daemon's host: tend remote token create|ls|revoke, and
tend remote fingerprint. On the client: tend remote login https://HOST:8701, then
tend --host https://HOST:8701 <command> (or TEND_HOST and TEND_TOKEN).`,
	}
	group(cmd)
	token := &cobra.Command{Use: "token", Short: "Create, list and revoke the tokens of this host's remote API"}
	group(token)
	token.AddCommand(newTokenCreate(e), newTokenList(e), newTokenRevoke(e))
	cmd.AddCommand(localOnly(token, "a token is made, listed and revoked on the daemon's host, never remotely"),
		localOnly(newFingerprint(e), "the certificate is this host's daemon's"),
		newLogin(e), newLogout(e))
	return cmd
}

func newTokenCreate(e *env) *cobra.Command {
	var name string
	var readOnly bool
	cmd := &cobra.Command{
		Use:   "create --name NAME [--read-only]",
		Short: "Make a token; its secret is printed once, on stdout, and kept only hashed",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := remote.Open(e.home)
			if err != nil {
				return err
			}
			scope := remote.Operator
			if readOnly {
				scope = remote.ReadOnly
			}
			secret, t, err := s.Create(name, scope)
			if err != nil {
				return err
			}
			fmt.Fprintln(e.stdout, secret)
			fmt.Fprintf(e.stderr, "token %s (%s) created: the secret above is shown this once.\nOn the client: tend remote login https://THIS-HOST:PORT --token SECRET, or set TEND_TOKEN.\n", t.Name, t.Scope)
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "the token's name (letters, digits, '-', '_', '.'); required")
	cmd.Flags().BoolVar(&readOnly, "read-only", false, "the token may list, describe, follow logs and metrics, and profile, but change nothing")
	_ = cmd.MarkFlagRequired("name")
	return cmd
}

func newTokenList(e *env) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List the tokens: name, scope, created (never a secret)",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := remote.Open(e.home)
			if err != nil {
				return err
			}
			toks, err := s.List()
			if err != nil {
				return err
			}
			type row struct {
				Name    string       `json:"name"`
				Scope   remote.Scope `json:"scope"`
				Created string       `json:"created"`
			}
			rows := make([]row, 0, len(toks))
			for _, t := range toks {
				rows = append(rows, row{t.Name, t.Scope, t.Created.UTC().Format("2006-01-02T15:04:05Z")})
			}
			if asJSON {
				return e.printJSON(rows)
			}
			if len(rows) == 0 {
				fmt.Fprintln(e.stdout, "no tokens (tend remote token create --name NAME makes one)")
				return nil
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSCOPE\tCREATED")
			for _, r := range rows {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Name, r.Scope, r.Created)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the tokens as JSON")
	return cmd
}

func newTokenRevoke(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke NAME",
		Short: "Revoke a token: its next request is refused",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := remote.Open(e.home)
			if err != nil {
				return err
			}
			if err := s.Revoke(args[0]); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "token %s revoked\n", args[0])
			return nil
		},
	}
}

func newFingerprint(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "fingerprint",
		Short: "Print the SHA-256 fingerprint of the certificate the remote API serves",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadDaemonConfig(e.home)
			if err != nil {
				return err
			}
			// The self-signed certificate is made here if the daemon has
			// not yet: it serves the same file.
			_, certs, err := remote.ServerTLS(e.home, cfg.RemoteCert, cfg.RemoteKey, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err != nil {
				return err
			}
			c := certs.Certificate()
			if c == nil || c.Leaf == nil {
				return errors.New("no certificate to fingerprint")
			}
			fmt.Fprintln(e.stdout, remote.Fingerprint(c.Leaf.Raw))
			if cfg.RemoteAddr == "" {
				fmt.Fprintln(e.stderr, "note: remote_addr is not set in daemon.yaml, so nothing serves this certificate yet")
			}
			return nil
		},
	}
}

func newLogin(e *env) *cobra.Command {
	var token, fingerprint string
	cmd := &cobra.Command{
		Use:   "login https://HOST:PORT [--token TOKEN] [--fingerprint SHA256]",
		Short: "Pin a remote daemon's certificate and store a token for it (0600, in the user's config directory)",
		Long: `Connect to a remote daemon, pin its certificate's fingerprint (printed: compare it with
` + "`tend remote fingerprint`" + ` on that host, or give the expected one with --fingerprint), and
store the token (--token, or TEND_TOKEN) for later commands with --host. A certificate
signed by an authority this host trusts is not pinned. To accept a certificate replaced
on purpose, log in again with --fingerprint and the new fingerprint.`,
		Args:        cobra.ExactArgs(1),
		Annotations: map[string]string{annHostless: ""},
		RunE: func(cmd *cobra.Command, args []string) error {
			u, err := client.NormalURL(args[0])
			if err != nil {
				return err
			}
			if token == "" {
				token = os.Getenv("TEND_TOKEN")
			}
			pins, err := client.DefaultPins()
			if err != nil {
				return err
			}
			c, err := client.NewRemote(client.RemoteOptions{URL: u, Token: token, Pins: pins, Fingerprint: fingerprint})
			if err != nil {
				return err
			}
			_, err = c.Ping(cmd.Context())
			var ce *client.Error
			noToken := token == "" && errors.As(err, &ce) && ce.Status == http.StatusUnauthorized
			if err != nil && !noToken {
				return friendly(err)
			}
			fp, byCA := c.Certificate()
			pinFP := fp
			if byCA && fingerprint == "" {
				pinFP = ""
			}
			if err := pins.Login(u, pinFP, token); err != nil {
				return err
			}
			if byCA && fingerprint == "" {
				fmt.Fprintf(e.stdout, "%s: its certificate is signed by an authority this host trusts (SHA256 %s); nothing pinned\n", u, fp)
			} else {
				fmt.Fprintf(e.stdout, "%s: certificate pinned, SHA256 fingerprint\n  %s\ncompare it with `tend remote fingerprint` on that host\n", u, fp)
			}
			if noToken {
				fmt.Fprintln(e.stdout, "no token given (--token or TEND_TOKEN): only the certificate is remembered")
			} else {
				fmt.Fprintf(e.stdout, "token accepted and stored in %s; use: tend --host %s ls\n", pins.Path, u)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&token, "token", "", "the token (tend remote token create on the daemon's host; default TEND_TOKEN)")
	cmd.Flags().StringVar(&fingerprint, "fingerprint", "", "the SHA-256 fingerprint the certificate must have (re-pins a changed one)")
	return cmd
}

func newLogout(e *env) *cobra.Command {
	return &cobra.Command{
		Use:         "logout https://HOST:PORT",
		Short:       "Forget a remote daemon: its token and pinned fingerprint",
		Args:        cobra.ExactArgs(1),
		Annotations: map[string]string{annHostless: ""},
		RunE: func(cmd *cobra.Command, args []string) error {
			u, err := client.NormalURL(args[0])
			if err != nil {
				return err
			}
			pins, err := client.DefaultPins()
			if err != nil {
				return err
			}
			ok, err := pins.Forget(u)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("%s is not remembered (see %s)", u, pins.Path)
			}
			fmt.Fprintf(e.stdout, "%s forgotten\n", u)
			return nil
		},
	}
}
