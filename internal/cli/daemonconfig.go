package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tendhq/tend/internal/alert"
	"github.com/tendhq/tend/internal/conf"
	"github.com/tendhq/tend/internal/logs"
)

// daemonConfig is $TEND_HOME/daemon.yaml: the daemon's own settings.
type daemonConfig struct {
	MetricsAddr     string
	MetricsToken    string
	MetricsInterval conf.Duration
	// Log rotation for apps that set none, and for tend.log.
	LogMaxSize        int64
	LogRotateInterval string
	LogRetain         int
	LogCompress       bool
	// Procs is how many CPUs the daemon (and its edge) runs on at once;
	// default half of them.
	Procs int
	// MaxInstances is the most instances an app may have; 0 is
	// spec.DefaultMaxInstances.
	MaxInstances int
	// MaxUpload is the largest release archive a deploy may send; 0 is
	// daemon.DefaultMaxUpload.
	MaxUpload int64
	// RemoteAddr serves the control API beyond the unix socket, over TLS
	// with tokens (RemoteCert and RemoteKey, or a self-signed pair).
	RemoteAddr string
	RemoteCert string
	RemoteKey  string
	// Alerts are the webhooks alerts go to (internal/alert).
	Alerts []alert.Target
	// DashboardAddr serves the web dashboard there (default off); beyond
	// loopback over TLS with RemoteCert and RemoteKey (or self-signed).
	DashboardAddr string
	// Hub is the hub: section: run a fleet hub, join a fleet (fleet.go).
	Hub hubSettings
}

// daemonKeys are daemon.yaml's keys.
var daemonKeys = conf.Table[daemonConfig]{Fields: []conf.Field[daemonConfig]{
	conf.StringField("metrics_addr", nil, func(c *daemonConfig) *string { return &c.MetricsAddr }),
	conf.StringField("metrics_token", nil, func(c *daemonConfig) *string { return &c.MetricsToken }),
	conf.Custom("metrics_interval", func(d *conf.Decoder, key string, v any, c *daemonConfig) {
		p, err := conf.ParseDuration(v)
		if err != nil || p < 100*time.Millisecond {
			d.Errorf(key, "want a duration of at least 100ms, got %s", conf.Describe(v))
			return
		}
		c.MetricsInterval = conf.Duration(p)
	}),
	conf.SizeField("log_max_size", 1<<10, 1<<40, func(c *daemonConfig) *int64 { return &c.LogMaxSize }),
	conf.StringField("log_rotate_interval", func(s string) string {
		if _, err := conf.ParseInterval(s); err != nil {
			return err.Error()
		}
		return ""
	}, func(c *daemonConfig) *string { return &c.LogRotateInterval }),
	conf.IntField("log_retain", 0, 1000, func(c *daemonConfig) *int { return &c.LogRetain }),
	conf.BoolField("log_compress", func(c *daemonConfig) *bool { return &c.LogCompress }),
	conf.StringField("remote_addr", checkListenAddr, func(c *daemonConfig) *string { return &c.RemoteAddr }),
	conf.StringField("dashboard_addr", checkListenAddr, func(c *daemonConfig) *string { return &c.DashboardAddr }),
	conf.StringField("remote_cert", nil, func(c *daemonConfig) *string { return &c.RemoteCert }),
	conf.StringField("remote_key", nil, func(c *daemonConfig) *string { return &c.RemoteKey }),
	conf.Custom("hub", decodeHub),
	conf.IntField("max_instances", 1, 1<<20, func(c *daemonConfig) *int { return &c.MaxInstances }),
	conf.SizeField("max_upload", 1<<10, 1<<40, func(c *daemonConfig) *int64 { return &c.MaxUpload }),
	conf.Custom("procs", func(d *conf.Decoder, key string, v any, c *daemonConfig) {
		n, err := conf.Int(v)
		if err != nil || n < 0 {
			d.Errorf(key, "want a number of CPUs (1 or more; 0 for half of them), got %s", conf.Describe(v))
			return
		}
		c.Procs = n
	}),
	conf.Custom("alerts", func(d *conf.Decoder, key string, v any, c *daemonConfig) { c.Alerts = alert.Decode(d, key, v) }),
}}

// loadDaemonConfig reads daemon.yaml; a missing file is the defaults.
func loadDaemonConfig(home string) (daemonConfig, error) {
	var c daemonConfig
	path := filepath.Join(home, "daemon.yaml")
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, err
	}
	var raw map[string]any
	if err := yaml.Unmarshal(b, &raw); err != nil {
		return c, fmt.Errorf("%s: %w", path, err)
	}
	d := conf.NewDecoder(path, "", raw)
	daemonKeys.Decode(d, &c)
	switch {
	case c.RemoteCert != "" && c.RemoteKey == "":
		d.Errorf("remote_key", "required with remote_cert (or leave both out for a self-signed certificate)")
	case c.RemoteKey != "" && c.RemoteCert == "":
		d.Errorf("remote_cert", "required with remote_key (or leave both out for a self-signed certificate)")
	case c.RemoteCert != "" && c.RemoteAddr == "" && c.DashboardAddr == "":
		d.Errorf("remote_cert", "has no use without remote_addr or dashboard_addr")
	}
	if errs := d.Errs(); len(errs) > 0 {
		return daemonConfig{}, errs
	}
	return c, nil
}

// checkListenAddr says why s is not a host:port to listen on, or "".
func checkListenAddr(s string) string {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Sprintf("want host:port, such as 0.0.0.0:8701 (%v)", err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Sprintf("port %q: want 1 to 65535", port)
	}
	return ""
}

// maxInstances is daemon.yaml's max_instances (0, the default, when the
// file sets none or cannot be read: the daemon reports a bad file itself).
func (e *env) maxInstances() int {
	if e.elsewhere() {
		return 0 // the remote daemon's own file decides, and checks
	}
	cfg, err := loadDaemonConfig(e.home)
	if err != nil {
		return 0
	}
	return cfg.MaxInstances
}

// logDefaults turns the config's rotation settings into a FileConfig.
func (c daemonConfig) logDefaults() logs.FileConfig {
	return logs.FileConfig{MaxSize: c.LogMaxSize, Interval: c.LogRotateInterval, Retain: c.LogRetain, Compress: c.LogCompress}
}
