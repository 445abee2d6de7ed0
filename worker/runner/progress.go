package runner

import (
	"errors"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxProgressMessage is the longest progress message, in bytes, that
// OnProgress receives; longer ones are cut at a character boundary.
const MaxProgressMessage = 1024

// parseProgress reads a stdout line of the form "PROGRESS <percent> [message]"
// (the line may end in "\n" or "\r\n"; the percent may carry a "%"). The
// percent is clamped to 0..100. The message is made safe to store and show:
// valid UTF-8, control characters turned into spaces, at most
// MaxProgressMessage bytes. ok is false for any other line.
func parseProgress(line []byte) (percent int, message string, ok bool) {
	rest, found := strings.CutPrefix(strings.TrimRight(string(line), "\r\n"), "PROGRESS")
	if !found || rest == "" || (rest[0] != ' ' && rest[0] != '\t') {
		return 0, "", false
	}
	rest = strings.TrimLeft(rest, " \t")
	num := rest
	if i := strings.IndexAny(rest, " \t"); i >= 0 {
		num, message = rest[:i], rest[i:]
	}
	n, err := strconv.Atoi(strings.TrimSuffix(num, "%"))
	if err != nil && !errors.Is(err, strconv.ErrRange) { // out of range: Atoi gives the nearest int
		return 0, "", false
	}
	return min(max(n, 0), 100), cleanMessage(message), true
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
