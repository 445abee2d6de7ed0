package runner

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxProgressMessage is the longest progress message, in bytes, that
// OnProgress receives; longer ones are cut at a character boundary.
const MaxProgressMessage = 1024

// DefaultProgressPattern is the PROGRESS line: "PROGRESS <percent> [message]",
// the percent a whole or decimal number, optionally followed by "%".
const DefaultProgressPattern = `^PROGRESS[ \t]+(?P<percent>[+-]?[0-9]+(?:\.[0-9]+)?)%?(?:[ \t](?P<message>.*))?$`

// ProgressPatterns are the regular expressions (RE2) that turn a line of
// main.py's output into progress (Q2O_PROGRESS_PATTERNS). Each has a named
// group percent (0-100, decimals allowed), or the groups done and total
// (progress = done/total), and optionally message.
type ProgressPatterns struct {
	list []progressPattern
}

type progressPattern struct {
	re                            *regexp.Regexp
	percent, done, total, message int // submatch indexes; -1 when absent
	// monotonic: a value from this pattern never lowers the progress. Only
	// the PROGRESS line, which the program prints on purpose, may go back.
	monotonic bool
}

var defaultProgressPatterns = func() *ProgressPatterns {
	pat, err := compileProgressPattern(DefaultProgressPattern)
	if err != nil {
		panic(err)
	}
	return &ProgressPatterns{list: []progressPattern{pat}}
}()

// DefaultProgressPatterns is the PROGRESS line alone.
func DefaultProgressPatterns() *ProgressPatterns { return defaultProgressPatterns }

// CompileProgressPatterns compiles src, tried in this order on each line; the
// first that matches and gives a number wins. Blank entries are skipped; no
// pattern at all means [DefaultProgressPattern]. The error names the pattern
// (by position and text) that does not compile, that lacks both percent and
// done+total, that has done without total (or the reverse), or that has a
// named group other than percent, done, total and message.
func CompileProgressPatterns(src []string) (*ProgressPatterns, error) {
	p := &ProgressPatterns{}
	var errs []error
	for i, s := range src {
		if strings.TrimSpace(s) == "" {
			continue
		}
		pat, err := compileProgressPattern(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("pattern %d %q: %w", i+1, s, err))
			continue
		}
		p.list = append(p.list, pat)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if len(p.list) == 0 {
		return defaultProgressPatterns, nil
	}
	return p, nil
}

func compileProgressPattern(s string) (progressPattern, error) {
	re, err := regexp.Compile(s)
	if err != nil {
		return progressPattern{}, err
	}
	pat := progressPattern{re: re, percent: -1, done: -1, total: -1, message: -1, monotonic: s != DefaultProgressPattern}
	for i, name := range re.SubexpNames() {
		switch name {
		case "":
		case "percent":
			pat.percent = i
		case "done":
			pat.done = i
		case "total":
			pat.total = i
		case "message":
			pat.message = i
		default:
			return progressPattern{}, fmt.Errorf("unknown group (?P<%s>…): the groups are percent, done, total and message", name)
		}
	}
	switch {
	case (pat.done < 0) != (pat.total < 0):
		return progressPattern{}, errors.New("done and total go together: (?P<done>…) and (?P<total>…)")
	case pat.percent < 0 && pat.done < 0:
		return progressPattern{}, errors.New("no (?P<percent>…) group, nor (?P<done>…) and (?P<total>…)")
	}
	return pat, nil
}

// Match returns the progress a line of output gives (its "\n" or "\r\n" is
// left out first): the percent, clamped to 0..100 and rounded down (so 100
// means done), and the message made safe to store and show (valid UTF-8,
// control characters turned into spaces, trimmed, at most
// MaxProgressMessage bytes). ok is false when no pattern matches with a
// number (a done/total with a total of 0 is no number). monotonic says that
// the value comes from a pattern other than the PROGRESS line, and so must
// not lower the progress.
func (p *ProgressPatterns) Match(line []byte) (percent int, message string, monotonic, ok bool) {
	line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
	for _, pat := range p.list {
		m := pat.re.FindSubmatchIndex(line)
		if m == nil {
			continue
		}
		group := func(i int) string {
			if i < 0 || m[2*i] < 0 {
				return ""
			}
			return string(line[m[2*i]:m[2*i+1]])
		}
		var pct float64
		var good bool
		if g := group(pat.percent); g != "" {
			pct, good = parseNumber(g)
		} else if pat.done >= 0 {
			done, okDone := parseNumber(group(pat.done))
			total, okTotal := parseNumber(group(pat.total))
			if okDone && okTotal && total > 0 {
				pct, good = 100*done/total, true
			}
		}
		if !good {
			continue
		}
		return clampPercent(pct), cleanMessage(group(pat.message)), pat.monotonic, true
	}
	return 0, "", false, false
}

// parseNumber reads a decimal number; ok is false for anything else,
// NaN included. Out of range gives ±Inf, which clamps.
func parseNumber(s string) (float64, bool) {
	s = strings.TrimSpace(s)
	// Digits, sign and point only: ParseFloat would also take "inf", "1e3",
	// hex and Go's digit separators.
	if s == "" || strings.Trim(s, "0123456789+-.") != "" {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, false
	}
	if math.IsNaN(f) {
		return 0, false
	}
	return f, true
}

func clampPercent(f float64) int {
	return int(math.Floor(min(max(f, 0), 100)))
}

func cleanMessage(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if len(s) > MaxProgressMessage {
		cut := MaxProgressMessage
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	return s
}
