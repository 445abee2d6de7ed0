package service

import (
	"strings"
	"testing"

	"github.com/q2o/q2o/models"
)

func TestProjectQueryParse(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		q       ProjectQuery
		page    int
		pattern string
		status  models.ExecutionStatus
		code    string
	}{
		{"defaults", ProjectQuery{}, 1, "", "", ""},
		{"page", ProjectQuery{Page: "7"}, 7, "", "", ""},
		{"last page", ProjectQuery{Page: "1000000"}, 1000000, "", "", ""},
		{"page 0", ProjectQuery{Page: "0"}, 0, "", "", "invalid_page"},
		{"negative page", ProjectQuery{Page: "-1"}, 0, "", "", "invalid_page"},
		{"fraction", ProjectQuery{Page: "1.5"}, 0, "", "", "invalid_page"},
		{"words", ProjectQuery{Page: "two"}, 0, "", "", "invalid_page"},
		{"overflow", ProjectQuery{Page: "99999999999999999999"}, 0, "", "", "invalid_page"},
		{"too deep", ProjectQuery{Page: "1000001"}, 0, "", "", "invalid_page"},
		{"plain q", ProjectQuery{Q: "  Todo "}, 1, "%Todo%", "", ""},
		{"percent", ProjectQuery{Q: "100%"}, 1, `%100\%%`, "", ""},
		{"underscore", ProjectQuery{Q: "a_b"}, 1, `%a\_b%`, "", ""},
		{"backslash", ProjectQuery{Q: `a\b`}, 1, `%a\\b%`, "", ""},
		{"sql", ProjectQuery{Q: `' OR 1=1 --`}, 1, `%' OR 1=1 --%`, "", ""},
		{"blank q is no search", ProjectQuery{Q: "   "}, 1, "", "", ""},
		{"NUL", ProjectQuery{Q: "a\x00b"}, 0, "", "", "invalid_query"},
		{"field separator", ProjectQuery{Q: "a\x1fb"}, 0, "", "", "invalid_query"},
		{"newline", ProjectQuery{Q: "a\nb"}, 0, "", "", "invalid_query"},
		{"bad UTF-8", ProjectQuery{Q: "a\xffb"}, 0, "", "", "invalid_query"},
		{"long q", ProjectQuery{Q: strings.Repeat("é", 201)}, 0, "", "", "invalid_query"},
		{"longest q", ProjectQuery{Q: strings.Repeat("é", 200)}, 1, "%" + strings.Repeat("é", 200) + "%", "", ""},
		{"status", ProjectQuery{Status: "running"}, 1, "", models.StatusRunning, ""},
		{"unknown status", ProjectQuery{Status: "done"}, 0, "", "", "invalid_status"},
		{"status case", ProjectQuery{Status: "RUNNING"}, 0, "", "", "invalid_status"},
	}
	for _, c := range cases {
		f, err := c.q.parse()
		if got := models.ErrorCode(err); got != c.code {
			t.Errorf("%s: error %q, want %q", c.name, got, c.code)
			continue
		}
		if err == nil && (f.page != c.page || f.pattern != c.pattern || f.status != c.status) {
			t.Errorf("%s: %+v, want page %d pattern %q status %q", c.name, f, c.page, c.pattern, c.status)
		}
	}
}
