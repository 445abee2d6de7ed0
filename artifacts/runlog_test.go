package artifacts

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestTailStart(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 150<<10) // longer than a read block
	cases := []struct {
		name, text string
		n          int
		want       string
	}{
		{"empty", "", 3, ""},
		{"zero lines", "a\nb\n", 0, ""},
		{"fewer lines than asked", "a\nb\n", 5, "a\nb\n"},
		{"last two", "a\nb\nc\n", 2, "b\nc\n"},
		{"no final newline", "a\nb\nc", 2, "b\nc"},
		{"last one", "a\nb\nc\n", 1, "c\n"},
		{"blank lines count", "a\n\n\n", 2, "\n\n"},
		{"only a newline", "\n", 1, "\n"},
		{"long lines across blocks", "first\n" + long + "\n" + long + "\nlast\n", 2, long + "\nlast\n"},
		{"many lines across blocks", strings.Repeat("0123456789\n", 20000), 10000, strings.Repeat("0123456789\n", 10000)},
	}
	for _, c := range cases {
		r := bytes.NewReader([]byte(c.text))
		start, err := TailStart(r, int64(len(c.text)), c.n)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := c.text[start:]; got != c.want {
			t.Errorf("%s: tail starts at %d: %.40q…, want %.40q…", c.name, start, got, c.want)
		}
	}
}

func TestRunLogHeader(t *testing.T) {
	t.Parallel()
	id := "0190b4f0-0000-7000-8000-000000000001"
	h := RunLogHeader(id, 2, time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
	if !HoldsRun(strings.NewReader(h+"output\n"), id) {
		t.Errorf("HoldsRun(%q, own id) = false", h)
	}
	if HoldsRun(strings.NewReader(h), "0190b4f0-0000-7000-8000-000000000002") {
		t.Error("HoldsRun(another execution's header) = true")
	}
	if HoldsRun(strings.NewReader("=== q2o"), id) {
		t.Error("HoldsRun(a short file) = true")
	}
}
