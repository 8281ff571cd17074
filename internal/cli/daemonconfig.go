package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"go.yaml.in/yaml/v3"

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
	if errs := d.Errs(); len(errs) > 0 {
		return daemonConfig{}, errs
	}
	return c, nil
}

// maxInstances is daemon.yaml's max_instances (0, the default, when the
// file sets none or cannot be read: the daemon reports a bad file itself).
func (e *env) maxInstances() int {
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
