package configs

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/q2o/q2o/worker/runner"
)

func TestProgressPatternsDefault(t *testing.T) {
	cfg, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.ProgressPatterns, []string{runner.DefaultProgressPattern}) {
		t.Errorf("default patterns %q", cfg.ProgressPatterns)
	}
	if _, _, _, ok := cfg.ProgressPatternSet().Match([]byte("PROGRESS 5 x")); !ok {
		t.Error("the default does not take a PROGRESS line")
	}
}

// In the environment, one pattern per line (a comma is common in a
// regular expression); blank lines are skipped.
func TestProgressPatternsFromEnv(t *testing.T) {
	t.Setenv("Q2O_PROGRESS_PATTERNS", runner.DefaultProgressPattern+"\n"+`^Completion: (?P<percent>[0-9]{1,3}(?:\.[0-9]+)?)%`+"\n")
	cfg, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.ProgressPatternSet()
	for line, want := range map[string]int{"Completion: 87.5%": 87, "PROGRESS 20": 20} {
		if got, _, _, ok := p.Match([]byte(line)); !ok || got != want {
			t.Errorf("%q gives %d, %v; want %d", line, got, ok, want)
		}
	}
}

// In the file, a YAML list; the commented-out example in example.yaml is
// a working one.
func TestProgressPatternsFromFile(t *testing.T) {
	b, err := os.ReadFile("example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var block []string
	on := false
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "# progress_patterns:") {
			on = true
		} else if on && !strings.HasPrefix(line, "#   - ") {
			break
		}
		if on {
			block = append(block, strings.TrimPrefix(line, "# "))
		}
	}
	path := filepath.Join(t.TempDir(), "q2o.yaml")
	if err := os.WriteFile(path, []byte(strings.Join(block, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.ProgressPatterns) != 2 {
		t.Fatalf("patterns from the example %q", cfg.ProgressPatterns)
	}
	if got, _, _, ok := cfg.ProgressPatternSet().Match([]byte("Completion: 12.5%")); !ok || got != 12 {
		t.Errorf("Completion: 12.5%% gives %d, %v", got, ok)
	}
}

func TestProgressPatternsRefused(t *testing.T) {
	for _, bad := range []string{`(?P<percent>\d+`, `PROGRESS \d+`, `(?P<done>\d+)`, `(?P<pct>\d+)`} {
		t.Run(bad, func(t *testing.T) {
			t.Setenv("Q2O_PROGRESS_PATTERNS", bad)
			_, err := Load("")
			if err == nil || !strings.Contains(err.Error(), "Q2O_PROGRESS_PATTERNS") || !strings.Contains(err.Error(), strconv.Quote(bad)) {
				t.Errorf("%q: error %v, want one naming Q2O_PROGRESS_PATTERNS and the pattern", bad, err)
			}
		})
	}
}
