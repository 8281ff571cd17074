package edgeconf

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tendhq/tend/internal/golden"
)

// testdata is the absolute fixture directory; goldens spell it $DIR.
func testdata(t testing.TB) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "..", "testdata", "edge"))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// checkGolden compares got, with the testdata directory written $DIR, with
// the golden file at path.
func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	golden.Check(t, path, bytes.ReplaceAll(got, []byte(testdata(t)), []byte("$DIR")))
}

// Each testdata/edge/*.yaml is an app's edge block: decoded, it gives the
// options in its .golden file, or the errors.
func TestDecodeOptionsGolden(t *testing.T) {
	dir := testdata(t)
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if len(files) == 0 {
		t.Fatal("no cases")
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var doc map[string]any
			if err := yaml.Unmarshal(b, &doc); err != nil {
				t.Fatal(err)
			}
			o, errs := DecodeOptions(doc["edge"], dir)
			var out []byte
			if len(errs) > 0 {
				for _, e := range errs {
					out = append(out, e.Error()...)
					out = append(out, '\n')
				}
			} else {
				out, _ = json.MarshalIndent(o, "", "  ")
				out = append(out, '\n')
			}
			checkGolden(t, strings.TrimSuffix(file, ".yaml")+".golden", out)
		})
	}
}

// DefaultOptions spelt out, for `tend describe`, decode to themselves.
// (internal/edge checks that they compile to the front of the zero
// Options.)
func TestDefaultOptions(t *testing.T) {
	d := DefaultOptions()
	b, _ := json.MarshalIndent(d, "", "  ")
	checkGolden(t, filepath.Join(testdata(t), "default_options.golden"), append(b, '\n'))
	var raw any
	json.Unmarshal(b, &raw)
	o, errs := DecodeOptions(raw, "")
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	ob, _ := json.MarshalIndent(o, "", "  ")
	if string(ob) != string(b) {
		t.Errorf("decoded defaults differ:\n%s\n%s", ob, b)
	}
}

func TestParseSizeAndDuration(t *testing.T) {
	for in, want := range map[string]int64{
		"512": 512, "32K": 32 << 10, "32k": 32 << 10, "32KB": 32 << 10, "32KiB": 32 << 10,
		"10M": 10 << 20, "1.5M": 3 << 19, "1G": 1 << 30, " 2 M ": 2 << 20,
	} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "M", "-1K", "ten", "1X", "1e400"} {
		if _, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) took it", in)
		}
	}
	for in, want := range map[string]time.Duration{`"10s"`: 10 * time.Second, `1500`: 1500 * time.Millisecond, `"250"`: 250 * time.Millisecond, `"1m30s"`: 90 * time.Second} {
		var d Duration
		if err := json.Unmarshal([]byte(in), &d); err != nil || d.D() != want {
			t.Errorf("Duration %s = %v, %v; want %v", in, d.D(), err, want)
		}
	}
	for _, in := range []string{`"soon"`, `-5`, `true`} {
		var d Duration
		if err := json.Unmarshal([]byte(in), &d); err == nil {
			t.Errorf("Duration %s took it", in)
		}
	}
	for s, want := range map[Size]string{32 << 10: "32K", 10 << 20: "10M", 1 << 30: "1G", 1000: "1000", 0: "0"} {
		if s.String() != want {
			t.Errorf("Size(%d) = %s, want %s", int64(s), s, want)
		}
	}
}
