package runner

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzProgressPatterns: whatever pattern an operator sets and whatever line
// main.py prints, compiling either fails with an error or gives patterns
// whose every match is a percent in 0..100 with a message safe to store and
// show; a refused line gives nothing. The same holds for the progress file's
// content. `make test` runs the seeds.
func FuzzProgressPatterns(f *testing.F) {
	for _, seed := range []struct{ pattern, line string }{
		{DefaultProgressPattern, "PROGRESS 50 writing"},
		{`^Completion: (?P<percent>[0-9]+(?:\.[0-9]+)?)%`, "Completion: 87.5%"},
		{`(?P<done>\d+)/(?P<total>\d+)(?P<message>.*)`, "3/8 \x00tasks\xff"},
		{`(?P<done>-?\d+)/(?P<total>-?\d+)`, "-3/-8"},
		{`(?P<done>[\d.]+)/(?P<total>[\d.]+)`, "1.5/0.000"},
		{`(?P<percent>\S+)`, "NaN"},
		{`(?P<percent>\S+)`, "Inf"},
		{`(?P<percent>\S+)`, "1e400"},
		{`(?P<percent>[\d.+-]+)`, "+-.5"},
		{`(?P<percent>\d*)(?P<message>.*)`, strings.Repeat("é", 700)},
		{`(?P<percent>`, "x"},
		{`(?P<message>.*)`, "no number"},
		{`{"percent": 42}`, `{"percent": 42, "message": "file"}`},
	} {
		f.Add(seed.pattern, []byte(seed.line))
	}
	f.Fuzz(func(t *testing.T, pattern string, line []byte) {
		safe := func(msg string) bool {
			return utf8.ValidString(msg) && len(msg) <= MaxProgressMessage && strings.TrimSpace(msg) == msg &&
				strings.IndexFunc(msg, unicode.IsControl) < 0
		}
		if p, err := parseProgressFile(line); err == nil && (p.percent < 0 || p.percent > 100 || !safe(p.message)) {
			t.Fatalf("parseProgressFile(%q) = %+v", line, p)
		}
		patterns, err := CompileProgressPatterns([]string{pattern})
		if err != nil {
			if patterns != nil {
				t.Fatalf("CompileProgressPatterns(%q) failed but gave patterns", pattern)
			}
			return
		}
		percent, msg, _, ok := patterns.Match(line)
		if !ok {
			if percent != 0 || msg != "" {
				t.Fatalf("Match(%q) with %q refused the line but gave %d %q", line, pattern, percent, msg)
			}
			return
		}
		if percent < 0 || percent > 100 || !safe(msg) {
			t.Fatalf("Match(%q) with %q = %d %q", line, pattern, percent, msg)
		}
	})
}
