package runner

import (
	"strings"
	"testing"
)

// q2oPatterns is the README's pattern set for the Q2O main.py's output.
var q2oPatterns = []string{
	DefaultProgressPattern,
	`^Completion: (?P<percent>[0-9]+(?:\.[0-9]+)?)%`,
}

func TestDefaultProgressPattern(t *testing.T) {
	t.Parallel()
	tests := []struct {
		line    string
		ok      bool
		percent int
		message string
	}{
		{"PROGRESS 10\n", true, 10, ""},
		{"PROGRESS 50 writing the code now\n", true, 50, "writing the code now"},
		{"PROGRESS\t75\t tabs  and  spaces \r\n", true, 75, "tabs  and  spaces"},
		{"PROGRESS 150 over\n", true, 100, "over"},
		{"PROGRESS -5\n", true, 0, ""},
		{"PROGRESS +5 plus\n", true, 5, "plus"},
		{"PROGRESS 40%\n", true, 40, ""},
		{"PROGRESS 40% done\n", true, 40, "done"},
		{"PROGRESS 99999999999999999999999 huge\n", true, 100, "huge"},
		{"PROGRESS 20 bad \xff utf8 and \x00 nul\n", true, 20, "bad \uFFFD utf8 and   nul"},
		{"PROGRESS 12.5\n", true, 12, ""}, // decimals round down
		{"PROGRESS 99.99 almost\n", true, 99, "almost"},
		{"PROGRESS abc\n", false, 0, ""},
		{"PROGRESS 1e3\n", false, 0, ""},
		{"PROGRESS 0x10\n", false, 0, ""},
		{"PROGRESS 10x\n", false, 0, ""},
		{"PROGRESS\n", false, 0, ""},
		{"PROGRESS \n", false, 0, ""},
		{"PROGRESSIVE 20\n", false, 0, ""},
		{"progress 20\n", false, 0, ""},
		{" PROGRESS 20\n", false, 0, ""},
		{"INFO PROGRESS 20\n", false, 0, ""},
	}
	for _, tt := range tests {
		percent, message, monotonic, ok := DefaultProgressPatterns().Match([]byte(tt.line))
		if ok != tt.ok || percent != tt.percent || message != tt.message {
			t.Errorf("Match(%q) = %d, %q, %v; want %d, %q, %v", tt.line, percent, message, ok, tt.percent, tt.message, tt.ok)
		}
		if monotonic {
			t.Errorf("Match(%q): the PROGRESS line is the program's word, it may take progress back", tt.line)
		}
	}
}

func TestProgressPatterns(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		patterns []string
		line     string
		ok       bool
		percent  int
		message  string
	}{
		{"percent", []string{`^\[(?P<percent>\d+)%\]`}, "[42%] compiling", true, 42, ""},
		{"decimals", q2oPatterns, "Completion: 87.5%\n", true, 87, ""},
		{"decimals to 100", q2oPatterns, "Completion: 100.0%\n", true, 100, ""},
		{"the PROGRESS line still works", q2oPatterns, "PROGRESS 30 planning\n", true, 30, "planning"},
		{"done/total", []string{`Task (?P<done>\d+)/(?P<total>\d+)`}, "INFO Task 3/8 finished", true, 37, ""},
		{"done/total complete", []string{`(?P<done>\d+) of (?P<total>\d+)`}, "8 of 8", true, 100, ""},
		{"done over total clamps", []string{`(?P<done>\d+) of (?P<total>\d+)`}, "9 of 8", true, 100, ""},
		{"total 0 is no number", []string{`(?P<done>\d+) of (?P<total>\d+)`}, "0 of 0", false, 0, ""},
		{"message", []string{`^step (?P<done>\d+)/(?P<total>\d+): (?P<message>.*)$`}, "step 1/4: writing tests\r\n", true, 25, "writing tests"},
		{"message cleaned", []string{`^(?P<percent>\d+) (?P<message>.*)`}, "5 a\x1b[31mred\x7f ", true, 5, "a [31mred"},
		{"stderr-style prefix", []string{`\bprogress=(?P<percent>\d+(?:\.\d+)?)`}, "2024-01-01 WARN agent progress=66.6 tokens=9", true, 66, ""},
		{"no match", q2oPatterns, "[OK] task_3: wrote the API\n", false, 0, ""},
		{"no match either", []string{`^\[(?P<percent>\d+)%\]`}, "compiling [42%]", false, 0, ""},
		{"a group that matched nothing", []string{`^(?P<percent>\d*)x`}, "x", false, 0, ""},
		{"the next pattern is tried", []string{`^(?P<percent>\d*)x`, `x(?P<percent>\d+)`}, "x7", true, 7, ""},
		{"the first that gives a number wins", []string{`(?P<percent>\d+)`, `x(?P<percent>\d+)`}, "1x7", true, 1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := CompileProgressPatterns(tt.patterns)
			if err != nil {
				t.Fatal(err)
			}
			percent, message, _, ok := p.Match([]byte(tt.line))
			if ok != tt.ok || percent != tt.percent || message != tt.message {
				t.Errorf("Match(%q) = %d, %q, %v; want %d, %q, %v", tt.line, percent, message, ok, tt.percent, tt.message, tt.ok)
			}
		})
	}
}

func TestProgressPatternsMonotonic(t *testing.T) {
	t.Parallel()
	p, err := CompileProgressPatterns(q2oPatterns)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, monotonic, _ := p.Match([]byte("PROGRESS 5")); monotonic {
		t.Error("the PROGRESS line is marked monotonic")
	}
	if _, _, monotonic, _ := p.Match([]byte("Completion: 5%")); !monotonic {
		t.Error("an operator's pattern is not marked monotonic")
	}
}

func TestCompileProgressPatternsRefusesBadOnes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern, want string
	}{
		{`(?P<percent>\d+`, "missing closing )"},
		{`PROGRESS \d+`, "no (?P<percent>…) group"},
		{`(?P<done>\d+) left`, "done and total go together"},
		{`(?P<total>\d+) in all`, "done and total go together"},
		{`(?P<pct>\d+)%`, "unknown group (?P<pct>…)"},
		{`(?P<percent>\d+)\C`, "invalid escape"}, // RE2, not PCRE
		{`(?P<percent>\d+)(?=%)`, "invalid or unsupported Perl syntax"},
	}
	for _, tt := range tests {
		_, err := CompileProgressPatterns([]string{DefaultProgressPattern, tt.pattern})
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "pattern 2") {
			t.Errorf("CompileProgressPatterns(%q): error %v, want one naming pattern 2 and saying %q", tt.pattern, err, tt.want)
		}
	}
}

func TestCompileProgressPatternsEmptyIsTheDefault(t *testing.T) {
	t.Parallel()
	for _, src := range [][]string{nil, {}, {"", "  "}} {
		p, err := CompileProgressPatterns(src)
		if err != nil || p != DefaultProgressPatterns() {
			t.Errorf("CompileProgressPatterns(%q) = %p, %v; want the default", src, p, err)
		}
	}
}

func TestProgressMessageIsCut(t *testing.T) {
	t.Parallel()
	_, message, _, ok := DefaultProgressPatterns().Match([]byte("PROGRESS 5 " + strings.Repeat("é", MaxProgressMessage) + "\n"))
	if !ok {
		t.Fatal("not parsed")
	}
	if len(message) > MaxProgressMessage || len(message) < MaxProgressMessage-1 {
		t.Fatalf("message is %d bytes, want about %d", len(message), MaxProgressMessage)
	}
	if strings.ToValidUTF8(message, "?") != message {
		t.Fatal("message was cut inside a character")
	}
}

func TestParseProgressFile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		content string
		ok      bool
		percent int
		message string
	}{
		{`{"percent": 42, "message": "writing code"}`, true, 42, "writing code"},
		{`{"percent": 12.9}`, true, 12, ""},
		{`{"percent": 250}`, true, 100, ""},
		{`{"percent": -1}`, true, 0, ""},
		{`{"done": 3, "total": 8, "message": "task 3"}`, true, 37, "task 3"},
		{`{"done": 3, "total": 0}`, false, 0, ""},
		{`{"done": 3}`, false, 0, ""},
		{`{"message": "nothing countable"}`, false, 0, ""},
		{`{"percent": "42"}`, false, 0, ""},
		{`{"percent": 4`, false, 0, ""},
		{``, false, 0, ""},
		{`[42]`, false, 0, ""},
		{`{"percent": 50, "message": "line\nbreak\u0000"}`, true, 50, "line break"},
	}
	for _, tt := range tests {
		p, err := parseProgressFile([]byte(tt.content))
		if (err == nil) != tt.ok || p.percent != tt.percent || p.message != tt.message {
			t.Errorf("parseProgressFile(%q) = %+v, %v; want %d %q ok=%v", tt.content, p, err, tt.percent, tt.message, tt.ok)
		}
	}
}
