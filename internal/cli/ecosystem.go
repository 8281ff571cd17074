package cli

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/tendhq/tend/internal/spec"
	"go.yaml.in/yaml/v3"
)

// ecosystemTemplate is what `tend ecosystem` writes: a file that starts as
// it is once app.js exists, and names the settings most apps want.
const ecosystemTemplate = `# tend.yaml: the apps tend runs. Start them with ` + "`tend start tend.yaml`" + `,
# change them with ` + "`tend apply tend.yaml`" + ` (it does the least: reload, scale, or
# nothing). Option names are PM2's; see the README for every key.
apps:
  - name: app
    script: ./app.js          # relative to this file's directory
    # args: ["--verbose"]     # the app's own arguments
    # instances: max          # one per CPU; with port, the edge balances over them
    # port: 3000              # public port; each instance gets PORT on loopback
    # mode: socket            # instead of the proxy: instances share the socket
    env:
      NODE_ENV: production
    # env_staging:            # merged over env with --env-name staging
    #   LOG_LEVEL: debug
    # max_memory_restart: 300M
    # max_restarts: 16        # unstable restarts in a row before errored
    # min_uptime: 1s
    # kill_timeout: 1600ms    # from the stop signal (SIGINT) to SIGKILL
    # wait_ready: true        # ready when the app calls process.send('ready')
    # health_path: /healthz   # ready when GET answers 2xx (needs port)
    # cron_restart: "0 3 * * *"
    # watch: true             # reload on file changes under cwd
`

func newEcosystem(e *env) *cobra.Command {
	var fromRunning, force bool
	cmd := &cobra.Command{
		Use:     "ecosystem [FILE]",
		Aliases: []string{"init"},
		Short:   "Write a commented tend.yaml, or one describing the apps running now",
		Long: `Write an ecosystem file (default tend.yaml in the current directory): a commented
template, or with --from-running the apps the daemon runs now, with the settings that
differ from the defaults, readable by you only (env may hold secrets). ` + "`tend start FILE`" + ` (on
another machine, or after ` + "`tend delete all`" + `) brings the same apps up again. An existing
file is left alone unless --force.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := "tend.yaml"
			if len(args) == 1 {
				path = args[0]
			}
			if ext := filepath.Ext(path); ext != ".yaml" && ext != ".yml" {
				return fmt.Errorf("%s: tend writes YAML: name the file *.yaml", path)
			}
			if _, err := os.Stat(path); err == nil && !force {
				return fmt.Errorf("%s exists: tend leaves it as it is (remove it, or use --force to overwrite)", path)
			}
			text := []byte(ecosystemTemplate)
			if fromRunning {
				c, err := e.connect(cmd.Context())
				if err != nil {
					return err
				}
				apps, err := c.Describe(cmd.Context(), "all")
				if err != nil {
					return friendly(err)
				}
				if len(apps) == 0 {
					return errors.New("no apps run: nothing to describe (start some, or drop --from-running for a template)")
				}
				var specs []spec.App
				for _, a := range apps {
					if a.Spec != nil {
						specs = append(specs, *a.Spec)
					}
				}
				if text, err = ecosystemOf(specs); err != nil {
					return err
				}
			}
			flag := os.O_WRONLY | os.O_CREATE | os.O_EXCL
			if force {
				flag = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
			}
			// The apps' env may hold secrets: only the owner reads it.
			mode := os.FileMode(0o644)
			if fromRunning {
				mode = 0o600
			}
			f, err := os.OpenFile(path, flag, mode)
			if errors.Is(err, os.ErrExist) {
				return fmt.Errorf("%s exists: tend leaves it as it is (remove it, or use --force to overwrite)", path)
			}
			if err != nil {
				return err
			}
			if _, err := f.Write(text); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "wrote %s: start its apps with `tend start %s`\n", path, path)
			return nil
		},
	}
	cmd.Flags().BoolVar(&fromRunning, "from-running", false, "describe the apps the daemon runs now")
	cmd.Flags().BoolVar(&force, "force", false, "overwrite an existing file")
	return cmd
}

// keepKeys are written even at their default value: without them a file
// does not say what it runs.
var keepKeys = []string{"name", "script", "cwd"}

// ecosystemOf writes apps as a tend.yaml, each with only the keys whose
// value differs from what the same script gets by default, so that the
// file reads like one written by hand and decodes to the same apps.
func ecosystemOf(apps []spec.App) ([]byte, error) {
	var list []yaml.Node
	for _, a := range apps {
		have, err := asMap(a)
		if err != nil {
			return nil, err
		}
		def, _, err := spec.Decode(map[string]any{"script": a.Script, "cwd": a.Cwd, "name": a.Name},
			spec.DecodeOptions{SkipFileChecks: true, BaseDir: a.Cwd})
		if err != nil {
			return nil, fmt.Errorf("describe %s: %w", a.Name, err)
		}
		// The interpreter follows from the script: written only when it
		// differs from what the script implies.
		base, err := asMap(def)
		if err != nil {
			return nil, err
		}
		var m yaml.Node
		m.Kind = yaml.MappingNode
		keys := make([]string, 0, len(have))
		for k := range have {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(x, y string) int { return cmp.Or(keyRank(x)-keyRank(y), strings.Compare(x, y)) })
		for _, k := range keys {
			if !slices.Contains(keepKeys, k) && reflect.DeepEqual(have[k], base[k]) {
				continue
			}
			var kn, vn yaml.Node
			kn.SetString(k)
			if err := vn.Encode(have[k]); err != nil {
				return nil, err
			}
			m.Content = append(m.Content, &kn, &vn)
		}
		list = append(list, m)
	}
	var buf bytes.Buffer
	buf.WriteString("# Written by `tend ecosystem --from-running`: the apps that ran, with the settings\n# that differ from the defaults. `tend start` this file to run them again.\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(map[string]any{"apps": list}); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// keyRank orders an app's keys as a person would write them.
func keyRank(k string) int {
	order := []string{"name", "namespace", "script", "args", "cwd", "interpreter", "interpreter_args", "instances", "port", "mode", "env"}
	if i := slices.Index(order, k); i >= 0 {
		return i
	}
	return len(order)
}

func asMap(a spec.App) (map[string]any, error) {
	b, err := json.Marshal(a)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	return numbers(m).(map[string]any), nil
}

// numbers turns JSON numbers into integers where they are whole, so that
// YAML writes 209715200 rather than 2.097152e+08.
func numbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = numbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = numbers(e)
		}
	}
	return v
}
