package logs

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	_ "time/tzdata"
	"unicode/utf8"
)

func TestParseMomentLayout(t *testing.T) {
	loc := time.FixedZone("X", -(3*3600 + 30*60))
	// A Wednesday afternoon, day 45 of the year, with 123456789 ns.
	tm := time.Date(2024, time.February, 14, 15, 4, 5, 123456789, loc)
	morning := time.Date(2024, time.March, 3, 0, 7, 9, 0, time.UTC) // a Sunday, just after midnight
	tests := []struct {
		layout string
		t      time.Time
		want   string
	}{
		{"YYYY-MM-DD HH:mm:ss Z", tm, "2024-02-14 15:04:05 -03:30"},
		{"YYYY-MM-DDTHH:mm:ss.SSSZZ", tm, "2024-02-14T15:04:05.123-0330"},
		{"YY M D H m s", morning, "24 3 3 0 7 9"},
		{"hh:mm A", tm, "03:04 PM"},
		{"h:mm a", morning, "12:07 am"},
		{"HHmmss", morning, "000709"},
		{"SSSSSSSSS S SS", tm, "123456789 1 12"},
		{"MMMM MMM", tm, "February Feb"},
		{"dddd ddd dd d", tm, "Wednesday Wed We 3"},
		{"dddd d", morning, "Sunday 0"},
		{"DDDD DDD", tm, "045 45"},
		{"X x", time.Unix(1700000000, 250e6), "1700000000 1700000000250"},
		{"[at] HH[h] [YYYY Monday 10]", tm, "at 15h YYYY Monday 10"},
		{"[]YYYY", tm, "2024"},
		{"", tm, ""},
		{"!!", tm, "!!"},
		{"Z", morning, "+00:00"},
	}
	for _, tt := range tests {
		ml, err := ParseMomentLayout(tt.layout)
		if err != nil {
			t.Errorf("ParseMomentLayout(%q): %v", tt.layout, err)
			continue
		}
		if got := ml.Format(tt.t); got != tt.want {
			t.Errorf("%q: got %q, want %q", tt.layout, got, tt.want)
		}
	}
}

func TestParseMomentLayoutErrors(t *testing.T) {
	for _, layout := range []string{"YYY", "YYYY-MM-DD Q", "MMMMM", "HHH", "AA", "[unclosed", "SSSSSSSSSS", "TT", "Do", "hh:mm:ss tt"} {
		if _, err := ParseMomentLayout(layout); err == nil {
			t.Errorf("ParseMomentLayout(%q) accepted a layout it should reject", layout)
		} else if !strings.Contains(err.Error(), layout) {
			t.Errorf("ParseMomentLayout(%q): error %q does not name the layout", layout, err)
		}
	}
}

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

func TestIntervalNext(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris") // time/tzdata is linked in: never missing
	if err != nil {
		t.Fatal(err)
	}
	at := func(s string) time.Time {
		tm, err := time.ParseInLocation("2006-01-02 15:04:05", s, paris)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	tests := []struct {
		interval, from, want string
	}{
		{"hourly", "2024-05-10 10:15:00", "2024-05-10 11:00:00"},
		{"hourly", "2024-05-10 23:59:59", "2024-05-11 00:00:00"},
		{"hourly", "2024-05-10 10:00:00", "2024-05-10 11:00:00"}, // strictly after
		{"daily", "2024-05-10 10:15:00", "2024-05-11 00:00:00"},
		{"daily", "2024-12-31 23:00:00", "2025-01-01 00:00:00"},
		{"daily", "2024-03-30 12:00:00", "2024-03-31 00:00:00"},  // the night before DST starts
		{"weekly", "2024-05-10 10:15:00", "2024-05-13 00:00:00"}, // Friday → Monday
		{"weekly", "2024-05-12 23:00:00", "2024-05-13 00:00:00"}, // Sunday → Monday
		{"weekly", "2024-05-13 00:00:00", "2024-05-20 00:00:00"}, // Monday → next Monday
		{"6h", "2024-05-10 10:15:00", "2024-05-10 12:00:00"},
		{"6h", "2024-05-10 18:00:00", "2024-05-11 00:00:00"},
		{"7h", "2024-05-10 22:00:00", "2024-05-11 00:00:00"}, // restarts at midnight
		{"30m", "2024-05-10 10:15:00", "2024-05-10 10:30:00"},
		{"6h", "2024-03-31 01:00:00", "2024-03-31 06:00:00"}, // wall clock across DST
	}
	for _, tt := range tests {
		iv, err := ParseInterval(tt.interval)
		if err != nil {
			t.Fatal(err)
		}
		got := iv.Next(at(tt.from))
		if !got.Equal(at(tt.want)) {
			t.Errorf("%s after %s: got %s, want %s", tt.interval, tt.from, got, tt.want)
		}
	}
	for _, bad := range []string{"monthly", "10s", "25h", "-1h", "daily "} {
		if _, err := ParseInterval(bad); err == nil {
			t.Errorf("ParseInterval(%q) accepted a bad interval", bad)
		}
	}
	if iv, err := ParseInterval(""); err != nil || !iv.IsZero() || !iv.Next(time.Now()).IsZero() {
		t.Errorf("ParseInterval(\"\") should never rotate")
	}
}
