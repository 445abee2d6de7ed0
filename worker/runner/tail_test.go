package runner

import (
	"fmt"
	"strings"
	"testing"
)

func TestTailBuffer(t *testing.T) {
	t.Parallel()
	t.Run("short output is kept whole", func(t *testing.T) {
		t.Parallel()
		b := newTailBuffer(100)
		b.Write([]byte("one\n"))
		b.Write([]byte("two"))
		if got := b.String(); got != "one\ntwo" {
			t.Fatalf("got %q", got)
		}
	})
	t.Run("long output keeps the last whole lines", func(t *testing.T) {
		t.Parallel()
		b := newTailBuffer(64)
		var all strings.Builder
		for i := range 1000 {
			line := fmt.Sprintf("line %d\n", i)
			all.WriteString(line)
			b.Write([]byte(line))
		}
		got := b.String()
		if len(got) > 64 {
			t.Fatalf("tail is %d bytes, want at most 64", len(got))
		}
		if !strings.HasSuffix(got, "line 999\n") || !strings.HasPrefix(got, "line ") || !strings.HasSuffix(all.String(), got) {
			t.Fatalf("tail %q is not the last whole lines", got)
		}
	})
	t.Run("a window starting on a line boundary keeps its first line", func(t *testing.T) {
		t.Parallel()
		b := newTailBuffer(8)
		b.Write([]byte("xxxxxxx\n")) // 8 bytes, dropped
		b.Write([]byte("abc\ndef\n"))
		if got := b.String(); got != "abc\ndef\n" {
			t.Fatalf("got %q", got)
		}
	})
	t.Run("one huge write", func(t *testing.T) {
		t.Parallel()
		b := newTailBuffer(10)
		b.Write([]byte(strings.Repeat("a", 100) + "\nlast"))
		if got := b.String(); got != "last" {
			t.Fatalf("got %q", got)
		}
		b.Write([]byte(strings.Repeat("z", 100)))
		if got := b.String(); got != strings.Repeat("z", 10) {
			t.Fatalf("a line longer than the tail: got %q", got)
		}
	})
	t.Run("NUL and invalid UTF-8 are cleaned", func(t *testing.T) {
		t.Parallel()
		b := newTailBuffer(100)
		b.Write([]byte("a\x00b\xffc"))
		if got := b.String(); got != "ab\uFFFDc" {
			t.Fatalf("got %q", got)
		}
	})
}
