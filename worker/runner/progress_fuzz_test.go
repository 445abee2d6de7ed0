package runner

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzParseProgress: with the default patterns, any line either is not a
// PROGRESS line, or
// gives a percent in 0..100 and a message that is safe to store and show
// (valid UTF-8, no control characters, trimmed, at most MaxProgressMessage
// bytes). `make test` runs the seeds; `make fuzz` explores.
func FuzzParseProgress(f *testing.F) {
	for _, seed := range []string{
		"PROGRESS 50 writing code\n", "PROGRESS 100\r\n", "PROGRESS 7%", "PROGRESS -3 below", "PROGRESS 999999999999999999999 over",
		"PROGRESS\t20\tx", "PROGRESS", "PROGRESS ", "PROGRESSX 10", "progress 10", " PROGRESS 10", "PROGRESS 10 \x00\x1b[31mred\x7f",
		"PROGRESS 10 caf\xe9", "PROGRESS 10 " + strings.Repeat("é", 800), "PROGRESS 1e3", "PROGRESS +5 plus", "PROGRESS 5%% x",
		"PROGRESS 10 \u2028line\u0085sep", "PROGRESS 0x10", "PROGRESS 12.5 half", "PROGRESS 1.", "PROGRESS .5",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		percent, msg, _, ok := DefaultProgressPatterns().Match(line)
		if !strings.HasPrefix(string(line), "PROGRESS") && ok {
			t.Fatalf("Match(%q) took a line that does not start with PROGRESS", line)
		}
		if !ok {
			if percent != 0 || msg != "" {
				t.Fatalf("Match(%q) refused the line but gave %d %q", line, percent, msg)
			}
			return
		}
		if percent < 0 || percent > 100 {
			t.Fatalf("Match(%q): percent %d outside 0..100", line, percent)
		}
		if !utf8.ValidString(msg) || len(msg) > MaxProgressMessage || strings.TrimSpace(msg) != msg ||
			strings.IndexFunc(msg, unicode.IsControl) >= 0 {
			t.Fatalf("Match(%q): unsafe message %q", line, msg)
		}
	})
}
