package service

import (
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/q2o/q2o/models"
)

// FuzzProjectQuery: whatever the status page's query string holds, parse
// answers a 400 naming page, q or status, or a filter whose page is in
// 1..maxPage, whose status is a real one, and whose LIKE pattern matches q
// as plain text: unescaped, it is exactly the trimmed q, and no %, _ or \
// of q is left to act as a wildcard. `make test` runs the seeds; `make
// fuzz` explores.
func FuzzProjectQuery(f *testing.F) {
	for _, seed := range [][3]string{
		{"", "", ""}, {"1", "report", "running"}, {"2", "  50% off_now \\ ", "completed"}, {"0", "", ""},
		{"-1", "", ""}, {"1000001", "", ""}, {"01", "", ""}, {"+3", "", ""}, {"1e3", "", ""}, {"", "\x1f", ""},
		{"", "caf\xe9", ""}, {"", strings.Repeat("é", 201), ""}, {"", "", "RUNNING"}, {"", "", "cancelled"},
		{"", "%", "paused"}, {"", "_", ""}, {"", "\\%", ""}, {"99999999999999999999", "", ""}, {"", "\u2028", ""},
	} {
		f.Add(seed[0], seed[1], seed[2])
	}
	f.Fuzz(func(t *testing.T, page, q, status string) {
		flt, err := ProjectQuery{Page: page, Q: q, Status: status}.parse()
		if err != nil {
			appErr, ok := models.AsError(err)
			if !ok || appErr.Kind != models.KindInvalid || (appErr.Field != "page" && appErr.Field != "q" && appErr.Field != "status") {
				t.Fatalf("parse(%q, %q, %q): %v, want a 400 naming page, q or status", page, q, status, err)
			}
			return
		}
		if flt.page < 1 || flt.page > maxPage {
			t.Fatalf("parse(%q): page %d", page, flt.page)
		}
		if n, err := strconv.Atoi(page); page != "" && (err != nil || n != flt.page) {
			t.Fatalf("parse(%q): page %d", page, flt.page)
		}
		if status != "" && (string(flt.status) != status || !validStatus(flt.status)) {
			t.Fatalf("parse(status %q): %q", status, flt.status)
		}
		text := strings.TrimSpace(q)
		if text == "" {
			if flt.pattern != "" {
				t.Fatalf("parse(q %q): pattern %q for no search", q, flt.pattern)
			}
			return
		}
		if !utf8.ValidString(text) || strings.IndexFunc(text, unicode.IsControl) >= 0 {
			t.Fatalf("parse(q %q) took text that is not plain", q)
		}
		inner, ok := strings.CutPrefix(flt.pattern, "%")
		if inner, ok = strings.CutSuffix(inner, "%"); !ok || inner == "" && text != "" {
			t.Fatalf("parse(q %q): pattern %q is not %%…%%", q, flt.pattern)
		}
		var plain strings.Builder
		for i := 0; i < len(inner); i++ {
			switch c := inner[i]; {
			case c == '\\':
				if i+1 >= len(inner) || !strings.ContainsRune(`\%_`, rune(inner[i+1])) {
					t.Fatalf("parse(q %q): pattern %q has a stray escape", q, flt.pattern)
				}
				i++
				plain.WriteByte(inner[i])
			case c == '%' || c == '_':
				t.Fatalf("parse(q %q): pattern %q leaves a wildcard of q unescaped", q, flt.pattern)
			default:
				plain.WriteByte(c)
			}
		}
		if plain.String() != text {
			t.Fatalf("parse(q %q): pattern %q matches %q, not the text", q, flt.pattern, plain.String())
		}
	})
}
