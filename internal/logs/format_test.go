package logs

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"
	_ "time/tzdata"
	"unicode/utf8"
)

func TestRenderText(t *testing.T) {
	tm := time.Date(2024, 2, 14, 15, 4, 5, 123e6, time.UTC)
	l := Line{Time: tm, App: "api", Instance: 1, Stream: StreamOut, Text: "hello"}
	tests := []struct {
		f    Format
		l    Line
		want string
	}{
		{Format{}, l, "hello\n"},
		{Format{Time: true}, l, "2024-02-14T15:04:05.123Z: hello\n"},
		{Format{Time: true, DateLayout: "YYYY-MM-DD HH:mm:ss Z"}, l, "2024-02-14 15:04:05 +00:00: hello\n"},
		{Format{}, Line{Text: "part", Split: true}, "part" + SplitSuffix + "\n"},
		{Format{}, Line{Text: "a\r"}, "a\r\n"},
	}
	for _, tt := range tests {
		if got := string(tt.f.Render(tt.l)); got != tt.want {
			t.Errorf("%+v.Render: got %q, want %q", tt.f, got, tt.want)
		}
	}
}

func TestRenderJSON(t *testing.T) {
	tm := time.Date(2024, 2, 14, 15, 4, 5, 123e6, time.UTC)
	f := Format{JSON: true, DateLayout: "YYYY-MM-DD HH:mm:ss"}
	got := string(f.Render(Line{Time: tm, App: "api", Instance: 3, Stream: StreamErr, Text: `say "hi"`, Split: true}))
	want := `{"timestamp":"2024-02-14 15:04:05","app":"api","instance":3,"stream":"err","message":"say \"hi\"","split":true}` + "\n"
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	got = string(Format{JSON: true}.Render(Line{Time: tm, App: "a", Stream: StreamOut, Text: "x"}))
	want = `{"timestamp":"2024-02-14T15:04:05.123Z","app":"a","instance":0,"stream":"out","message":"x"}` + "\n"
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

// TestJSONEscapingMatchesEncodingJSON checks that any bytes an app writes
// come out as a JSON line that decodes to what encoding/json makes of them.
func TestJSONEscapingMatchesEncodingJSON(t *testing.T) {
	cases := []string{
		"", "plain", "quote \" backslash \\ slash /", "\x00\x01\x1f\x7f", "\t\r\n\b\f",
		"<html>&amp;", "é€😀", "\u2028\u2029", "bad \xff\xfe utf8 \xe2\x82", "\xed\xa0\x80 surrogate",
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		b := make([]byte, rng.IntN(40))
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		cases = append(cases, string(b))
	}
	for _, s := range cases {
		line := Format{JSON: true}.Render(Line{App: s, Stream: StreamOut, Text: s})
		if bytes.Count(line, []byte{'\n'}) != 1 || line[len(line)-1] != '\n' {
			t.Fatalf("%q: rendered %q is not one line", s, line)
		}
		var got struct{ App, Message string }
		if err := json.Unmarshal(line, &got); err != nil {
			t.Fatalf("%q: rendered %q does not parse: %v", s, line, err)
		}
		ref, _ := json.Marshal(s)
		var want string
		if err := json.Unmarshal(ref, &want); err != nil {
			t.Fatal(err)
		}
		if got.Message != want || got.App != want {
			t.Fatalf("%q: decodes to %q, encoding/json gives %q", s, got.Message, want)
		}
		if !utf8.Valid(line) {
			t.Fatalf("%q: rendered line is not valid UTF-8", s)
		}
	}
}

func TestFormatValidate(t *testing.T) {
	if err := (Format{DateLayout: "YYYY-MM-DD"}).Validate(); err != nil {
		t.Fatal(err)
	}
	if err := (Format{DateLayout: "YYYY-MM-DD hh:MM:ss pp"}).Validate(); err == nil {
		t.Fatal("Validate accepted an unknown token")
	}
	// Render of an invalid layout falls back to the default rather than fail.
	tm := time.Date(2024, 2, 14, 15, 4, 5, 0, time.UTC)
	if got := string(Format{Time: true, DateLayout: "qq"}.Render(Line{Time: tm, Text: "x"})); got != "2024-02-14T15:04:05.000Z: x\n" {
		t.Fatalf("got %q", got)
	}
}
