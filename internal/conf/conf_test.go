package conf

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestParseSize(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int64
		err  string
	}{
		{"0", 0, ""}, {"1048576", 1048576, ""}, {"512K", 512 << 10, ""}, {"10M", 10 << 20, ""},
		{"10mb", 10 << 20, ""}, {"32KiB", 32 << 10, ""}, {"1.5G", 3 << 29, ""}, {" 2 T ", 2 << 40, ""},
		{"10 M", 10 << 20, ""}, {"1b", 1, ""},
		{"", 0, "want a size"}, {"lots", 0, "want a size"}, {"-1K", 0, "want a size"}, {"1X", 0, "want a size"},
		{"NaN", 0, "want a size"}, {"1e30T", 0, "too large"}, {"K", 0, "want a size"},
		{"10 M B", 0, "want a size"}, {"1KK", 0, "want a size"}, {"ten", 0, "want a size"}, {"1e300G", 0, "too large"},
		{" 3k ", 3072, ""}, {"100B", 100, ""},
	} {
		got, err := ParseSize(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseSize(%q) = %d, %v; want error %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}

func TestSizeJSON(t *testing.T) {
	for in, want := range map[string]string{`"32k"`: `"32K"`, `1048576`: `"1M"`, `1000`: `"1000"`, `"1.5G"`: `"1536M"`} {
		var s Size
		if err := json.Unmarshal([]byte(in), &s); err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if b, _ := json.Marshal(s); string(b) != want {
			t.Errorf("%s round-trips as %s, want %s", in, b, want)
		}
	}
	var s Size
	if err := json.Unmarshal([]byte(`-1`), &s); err == nil {
		t.Error("a negative size was accepted")
	}
}

func TestParseDuration(t *testing.T) {
	for _, tt := range []struct {
		in   any
		want time.Duration
		err  string
	}{
		{1600, 1600 * time.Millisecond, ""}, {float64(1.5), 1500 * time.Microsecond, ""},
		{"1600", 1600 * time.Millisecond, ""}, {"1.6s", 1600 * time.Millisecond, ""},
		{json.Number("20"), 20 * time.Millisecond, ""}, {"2m", 2 * time.Minute, ""},
		{"soon", 0, "is not a duration"}, {-1, 0, "negative"}, {"-1s", 0, "negative"},
		{true, 0, "want a duration"}, {1e300, 0, "out of range"},
	} {
		got, err := ParseDuration(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseDuration(%v) = %v, %v; want error %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseDuration(%v) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestParseSignal(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want unix.Signal
		name string
	}{
		{"SIGTERM", unix.SIGTERM, "SIGTERM"}, {"term", unix.SIGTERM, "SIGTERM"}, {" Usr2", unix.SIGUSR2, "SIGUSR2"},
		{"9", unix.SIGKILL, "SIGKILL"}, {"34", 34, "SIG34"}, {"SIG34", 34, "SIG34"},
	} {
		got, err := ParseSignal(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseSignal(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
		if name, err := SignalName(tt.in); err != nil || name != tt.name {
			t.Errorf("SignalName(%q) = %q, %v; want %q", tt.in, name, err, tt.name)
		}
	}
	for _, in := range []string{"", "SIGFOO", "0", "65", "-1"} {
		if _, err := ParseSignal(in); err == nil {
			t.Errorf("ParseSignal(%q) accepted", in)
		}
	}
}

func TestInt(t *testing.T) {
	for _, tt := range []struct {
		in   any
		want int
		ok   bool
	}{
		{3, 3, true}, {float64(4), 4, true}, {"5", 5, true}, {json.Number("6"), 6, true}, {json.Number("1e3"), 1000, true},
		{"1e3", 0, false}, {1.5, 0, false}, {float64(1 << 63), 0, false}, {true, 0, false}, {nil, 0, false},
	} {
		got, err := Int(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("Int(%#v) = %d, %v; want %d, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

type sample struct {
	Port    int
	On      *bool
	Wait    Duration
	Max     Size
	Names   []string
	Rate    float64
	Comment string
}

var sampleTable = Table[sample]{Fields: []Field[sample]{
	IntField("port", 1, 65535, func(s *sample) *int { return &s.Port }),
	OptBoolField("on", func(s *sample) **bool { return &s.On }),
	DurationField("wait", func(s *sample) *Duration { return &s.Wait }).Or("delay"),
	SizeField("max", 4<<10, 16<<20, func(s *sample) *Size { return &s.Max }),
	StringsField("names", 2, func(n string) string {
		if n == "" {
			return "must not be empty"
		}
		return ""
	}, func(s *sample) *[]string { return &s.Names }),
	FloatField("rate", 0, Unbounded, func(s *sample) *float64 { return &s.Rate }),
	StringField("comment", nil, func(s *sample) *string { return &s.Comment }),
}}

func TestTableDecode(t *testing.T) {
	d := NewDecoder("f.yaml", "apps[0]", map[string]any{
		"port": 8080, "on": false, "delay": "2s", "max": "32K", "names": []any{"a", "b"}, "rate": 1.5, "comment": nil,
	})
	var s sample
	sampleTable.Decode(d, &s)
	if len(d.Errs()) > 0 || len(d.Warns()) > 0 {
		t.Fatalf("errors %v, warnings %v", d.Errs(), d.Warns())
	}
	if s.Port != 8080 || s.On == nil || *s.On || s.Wait.D() != 2*time.Second || s.Max != 32<<10 || len(s.Names) != 2 || s.Rate != 1.5 {
		t.Errorf("decoded %+v", s)
	}
}

func TestTableErrors(t *testing.T) {
	d := NewDecoder("f.yaml", "edge", map[string]any{
		"port": 70000, "on": "yes", "wait": "1s", "delay": "2s", "max": "1K", "names": []any{"a", "", 3},
		"rate": -1, "prot": 1, "zzzzzz": 1,
	})
	var s sample
	sampleTable.Decode(d, &s)
	want := []string{
		`f.yaml: edge.prot: unknown key (did you mean port?); known keys: port, on, wait, max, names, rate, comment`,
		`f.yaml: edge.zzzzzz: unknown key; known keys: port, on, wait, max, names, rate, comment`,
		`f.yaml: edge.port: must be between 1 and 65535, got 70000`,
		`f.yaml: edge.on: want true or false, got string "yes"`,
		`f.yaml: edge.delay: delay is another name for wait; set only one of them`,
		`f.yaml: edge.max: 1K: want between 4K and 16M`,
		`f.yaml: edge.names: 3 entries; at most 2 are allowed`,
		`f.yaml: edge.rate: must not be negative, got -1`,
	}
	if got := strings.Split(d.Errs().Error(), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	lenient := sampleTable
	lenient.Lenient = true
	d = NewDecoder("", "", map[string]any{"commnet": "x"})
	lenient.Decode(d, &s)
	if len(d.Errs()) != 0 || len(d.Warns()) != 1 || d.Warns()[0].String() != "commnet: unknown key (did you mean comment?); ignored" {
		t.Errorf("lenient: errors %v, warnings %v", d.Errs(), d.Warns())
	}
}

func TestNearest(t *testing.T) {
	known := []string{"compression", "cookies", "max_body", "instances", "kill_timeout"}
	for in, want := range map[string]string{
		"compresion": "compression", "cookie": "cookies", "max-body": "max_body", "instance": "instances",
		"Instances": "instances", "kill_timout": "kill_timeout", "zz": "", "tls": "", "timeout": "",
	} {
		if got := Nearest(in, known); got != want {
			t.Errorf("Nearest(%q) = %q, want %q", in, got, want)
		}
	}
}
