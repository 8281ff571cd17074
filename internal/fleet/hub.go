package fleet

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/tendhq/tend/internal/home"
)

// HubConfig configures an embedded hub.
type HubConfig struct {
	// Dir holds the keys, the certificate and the JetStream store
	// ($TEND_HOME/hub).
	Dir string
	// Listen is host:port for agents and operators (default
	// 0.0.0.0:4222; port 0 picks one). DontListen serves in-process
	// connections only (tests).
	Listen     string
	DontListen bool
	// CertFile and KeyFile are the TLS certificate to serve; empty, a
	// self-signed one is made in Dir on first start.
	CertFile, KeyFile string
	Log               *slog.Logger
}

// DefaultListen is where tend hub listens unless told.
const DefaultListen = "0.0.0.0:4222"

// Hub is an embedded nats-server with JetStream, authenticating with the
// keys of its directory and serving TLS.
type Hub struct {
	srv  *server.Server
	keys Keys
	// CertFile is the certificate served; Fingerprint its SHA-256, which
	// agents pin; MadeCert says it was made at this start.
	CertFile    string
	Fingerprint string
	MadeCert    bool

	dir string
	log *slog.Logger
	res *server.MemAccResolver
	// Owned by watchRevocations once it runs: the record's version read
	// last, and the revocations the server has.
	stamp   home.Stamp
	revoked map[string]time.Time
	// stop ends watchRevocations, which closes done (nil until it runs).
	stop, done chan struct{}
	closing    sync.Once
}

// StartHub starts a hub and creates the fleet's buckets. It is ready for
// connections when it returns; Close stops it.
func StartHub(ctx context.Context, cfg HubConfig) (*Hub, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	keys, err := LoadKeys(cfg.Dir, true)
	if err != nil {
		return nil, fmt.Errorf("hub keys: %w", err)
	}
	sysJWT, err := keys.systemJWT()
	if err != nil {
		return nil, err
	}
	issued, stamp, err := readIssued(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("hub credentials: %w", err)
	}
	revoked := revocations(issued)
	accJWT, err := keys.accountJWT(revoked)
	if err != nil {
		return nil, err
	}
	res := &server.MemAccResolver{}
	if err := res.Store(public(keys.System), sysJWT); err != nil {
		return nil, err
	}
	if err := res.Store(public(keys.Account), accJWT); err != nil {
		return nil, err
	}
	opts := &server.Options{
		ServerName:      "tend-hub",
		JetStream:       true,
		StoreDir:        filepath.Join(cfg.Dir, "jetstream"),
		TrustedKeys:     []string{public(keys.Operator)},
		AccountResolver: res,
		SystemAccount:   public(keys.System),
		// The daemon or tend hub owns the signals.
		NoSigs:     true,
		DontListen: cfg.DontListen,
	}
	h := &Hub{keys: keys, dir: cfg.Dir, log: cfg.Log, res: res, stamp: stamp, revoked: revoked, stop: make(chan struct{})}
	if !cfg.DontListen {
		listen := cfg.Listen
		if listen == "" {
			listen = DefaultListen
		}
		host, port, err := net.SplitHostPort(listen)
		if err != nil {
			return nil, fmt.Errorf("hub listen %q: want host:port: %w", listen, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil || p < 0 || p > 65535 {
			return nil, fmt.Errorf("hub listen %q: bad port", listen)
		}
		if p == 0 {
			p = server.RANDOM_PORT
		}
		opts.Host, opts.Port = host, p
		certFile, keyFile := cfg.CertFile, cfg.KeyFile
		if certFile == "" {
			if certFile, keyFile, h.MadeCert, err = selfSigned(cfg.Dir, host); err != nil {
				return nil, fmt.Errorf("hub certificate: %w", err)
			}
		}
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("hub certificate: %w", err)
		}
		opts.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		opts.TLS = true
		opts.TLSTimeout = 5
		h.CertFile = certFile
		h.Fingerprint = Fingerprint(cert.Certificate[0])
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("hub: %w", err)
	}
	srv.SetLoggerV2(slogAdapter{cfg.Log}, false, false, false)
	srv.Start()
	h.srv = srv
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, fmt.Errorf("hub did not start listening on %s within 30s", cfg.Listen)
	}
	nc, err := h.Connect(RoleOperator, "hub")
	if err != nil {
		h.Close()
		return nil, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		h.Close()
		return nil, err
	}
	if err := EnsureBuckets(ctx, js, 1); err != nil {
		h.Close()
		return nil, err
	}
	h.done = make(chan struct{})
	go h.watchRevocations()
	return h, nil
}

// revocationCheck is how often a running hub looks for credentials
// revoked since it read its record: a revoked host is out within it.
const revocationCheck = time.Second

// watchRevocations refreshes the revocations until the hub closes. An
// error is logged once, until it changes: the revocations in force stay.
func (h *Hub) watchRevocations() {
	defer close(h.done)
	t := time.NewTicker(revocationCheck)
	defer t.Stop()
	said := ""
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
		}
		err := h.refreshRevocations()
		switch {
		case err == nil:
			said = ""
		case err.Error() != said:
			said = err.Error()
			h.log.Error("hub: reading the revoked credentials; those revoked before stay revoked", "err", err)
		}
	}
}

// refreshRevocations re-signs the fleet account when the record of issued
// credentials changed what is revoked, and hands the new claims to the
// server, which closes the revoked credentials' connections.
func (h *Hub) refreshRevocations() error {
	fi, err := os.Stat(filepath.Join(h.dir, issuedName))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err == nil && home.StampOf(fi) == h.stamp {
		return nil
	}
	issued, stamp, err := readIssued(h.dir)
	if err != nil {
		return err
	}
	h.stamp = stamp
	revoked := revocations(issued)
	if sameRevocations(revoked, h.revoked) {
		return nil
	}
	accJWT, err := h.keys.accountJWT(revoked)
	if err != nil {
		return err
	}
	claims, err := jwt.DecodeAccountClaims(accJWT)
	if err != nil {
		return err
	}
	acc, err := h.srv.LookupAccount(claims.Subject)
	if err != nil {
		return err
	}
	if err := h.res.Store(claims.Subject, accJWT); err != nil {
		return err
	}
	h.srv.UpdateAccountClaims(acc, claims)
	h.log.Info("hub: revoked credentials refused", "revoked", len(revoked), "new", len(revoked)-len(h.revoked))
	h.revoked = revoked
	return nil
}

// Addr is where the hub listens (nil with DontListen).
func (h *Hub) Addr() net.Addr { return h.srv.Addr() }

// URL is the hub's client URL.
func (h *Hub) URL() string {
	if a, ok := h.srv.Addr().(*net.TCPAddr); ok {
		host := a.IP.String()
		if a.IP.IsUnspecified() {
			host = "127.0.0.1"
		}
		return "tls://" + net.JoinHostPort(host, strconv.Itoa(a.Port))
	}
	return ""
}

// Keys are the hub's signing keys.
func (h *Hub) Keys() Keys { return h.keys }

// Connect makes an in-process connection with a new credential of role.
func (h *Hub) Connect(role Role, name string, more ...nats.Option) (*nats.Conn, error) {
	creds, err := h.keys.Creds(role, name)
	if err != nil {
		return nil, err
	}
	opts := append([]nats.Option{nats.InProcessServer(h.srv), CredsOption(creds), nats.Name("tend " + string(role) + " " + name)}, more...)
	if role == RoleHost {
		opts = append(opts, nats.CustomInboxPrefix(inboxPrefix(name)))
	}
	return nats.Connect("", opts...)
}

// Server is the embedded server, for in-process connections
// (nats.InProcessServer).
func (h *Hub) Server() *server.Server { return h.srv }

// CredsOption authenticates a connection with the contents of a .creds
// file.
func CredsOption(creds []byte) nats.Option {
	return func(o *nats.Options) error {
		tok, err := jwt.ParseDecoratedJWT(creds)
		if err != nil {
			return err
		}
		kp, err := jwt.ParseDecoratedNKey(creds)
		if err != nil {
			return err
		}
		seed, err := kp.Seed()
		if err != nil {
			return err
		}
		return nats.UserJWTAndSeed(tok, string(seed))(o)
	}
}

// Close stops the hub and waits for it.
func (h *Hub) Close() {
	h.closing.Do(func() { close(h.stop) })
	if h.done != nil {
		<-h.done
	}
	h.srv.Shutdown()
	h.srv.WaitForShutdown()
}

// EnsureBuckets creates the fleet's buckets, or updates their settings,
// with replicas copies of each (1 on a single server, 3 on a cluster).
func EnsureBuckets(ctx context.Context, js jetstream.JetStream, replicas int) error {
	for _, c := range []jetstream.KeyValueConfig{
		{Bucket: StatusBucket, Description: "tend fleet: each host's status", MaxValueSize: 1 << 20, Storage: jetstream.FileStorage},
		{Bucket: DesiredBucket, Description: "tend fleet: each host's desired apps", History: 5, MaxValueSize: 1 << 20, Storage: jetstream.FileStorage,
			RePublish: &jetstream.RePublish{Source: kvSubject(DesiredBucket, ">"), Destination: desiredNotice(">")}},
		// A heartbeat key lives HeartbeatTTL; its expiry leaves a marker,
		// so a watcher sees the host go.
		{Bucket: HeartbeatBucket, Description: "tend fleet: hosts alive", TTL: HeartbeatTTL, LimitMarkerTTL: time.Minute, MaxValueSize: 4 << 10, Storage: jetstream.MemoryStorage},
	} {
		c.Replicas = replicas
		if _, err := js.CreateOrUpdateKeyValue(ctx, c); err != nil {
			return fmt.Errorf("create bucket %s: %w", c.Bucket, err)
		}
	}
	if _, err := js.CreateOrUpdateObjectStore(ctx, profileConfig(replicas)); err != nil {
		return fmt.Errorf("create bucket %s: %w", ProfileBucket, err)
	}
	return nil
}

// slogAdapter logs the server's notices, warnings and errors.
type slogAdapter struct{ log *slog.Logger }

func (a slogAdapter) Noticef(f string, v ...any) { a.log.Debug("hub: " + fmt.Sprintf(f, v...)) }
func (a slogAdapter) Warnf(f string, v ...any)   { a.log.Warn("hub: " + fmt.Sprintf(f, v...)) }
func (a slogAdapter) Fatalf(f string, v ...any)  { a.log.Error("hub: " + fmt.Sprintf(f, v...)) }
func (a slogAdapter) Errorf(f string, v ...any)  { a.log.Error("hub: " + fmt.Sprintf(f, v...)) }
func (a slogAdapter) Debugf(f string, v ...any)  {}
func (a slogAdapter) Tracef(f string, v ...any)  {}
