package logs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTailFile(t *testing.T) {
	long := strings.Repeat("L", 50)
	tests := []struct {
		content string
		n       int
		want    []string
	}{
		{"", 5, nil},
		{"a\nb\nc\n", 2, []string{"b", "c"}},
		{"a\nb\nc\n", 3, []string{"a", "b", "c"}},
		{"a\nb\nc\n", 10, []string{"a", "b", "c"}},
		{"a\nb\nc", 2, []string{"b", "c"}}, // last line without newline
		{"a\n\n\nb\n", 3, []string{"", "", "b"}},
		{"\n", 1, []string{""}},
		{"a\r\nb\r\n", 1, []string{"b\r"}},
		{"x\n" + long + "\n" + long + "y\n", 2, []string{long, long + "y"}},
		{long + long + long, 1, []string{long + long + long}},
		{"a\nb\n", 0, nil},
	}
	dir := t.TempDir()
	for i, tt := range tests {
		path := filepath.Join(dir, "f")
		if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, block := range []int{1, 3, 7, 64 << 10} { // blocks cut lines anywhere
			got, err := tailFile(path, tt.n, block)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, "|") != strings.Join(tt.want, "|") || len(got) != len(tt.want) {
				t.Errorf("case %d, block %d: got %q, want %q", i, block, got, tt.want)
			}
		}
	}
	if _, err := TailFile(filepath.Join(dir, "missing"), 1); !os.IsNotExist(err) {
		t.Fatalf("missing file: %v", err)
	}
}

func TestTailFileOfALargeFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big")
	var b strings.Builder
	for range 100_000 {
		b.WriteString("0123456789\n")
	}
	b.WriteString("last\n")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := TailFile(path, 3)
	if err != nil || strings.Join(got, "|") != "0123456789|0123456789|last" {
		t.Fatalf("got %q, %v", got, err)
	}
}
