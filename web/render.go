package web

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/q2o/q2o/models"
)

// view is what every page template gets: the layout's parts and the page's
// own Data.
type view struct {
	Title string
	// Nav is the menu entry to highlight.
	Nav string
	// Tenant is the signed-in tenant's name; empty on signed-out pages.
	Tenant string
	CSRF   string
	Flash  string
	// Error marks Flash as a refusal rather than a confirmation.
	Error bool
	// Client marks the client dashboard, which has no tenant menu; Brand
	// is the tenant's primary colour there.
	Client    bool
	Brand     string
	BrandName string
	Logo      string
	Data      any
}

// view starts a page's data with the layout's parts filled in.
func (p *Portal) view(c echo.Context, title string) view {
	v := view{Title: title, Flash: p.takeFlash(c)}
	if tok, ok := c.Get(middleware.DefaultCSRFConfig.ContextKey).(string); ok {
		v.CSRF = tok
	}
	if t, ok := c.Get(tenantNameKey).(string); ok {
		v.Tenant = t
	}
	return v
}

// render writes page name with status 200.
func (p *Portal) render(c echo.Context, name string, v view) error {
	return p.renderStatus(c, http.StatusOK, name, v)
}

// renderStatus renders into a buffer first, so a template error becomes an
// error page instead of half a page.
func (p *Portal) renderStatus(c echo.Context, status int, name string, v view) error {
	t, ok := p.pages[name]
	if !ok {
		return fmt.Errorf("no page %q", name)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		return fmt.Errorf("render %s: %w", name, err)
	}
	return c.HTMLBlob(status, buf.Bytes())
}

// parsePages parses each page template with the layout and the shared
// partials.
func parsePages() (map[string]*template.Template, error) {
	files, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, f := range files {
		name := strings.TrimSuffix(strings.TrimPrefix(f, "templates/"), ".html")
		if name == "layout" || name == "partials" {
			continue
		}
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/partials.html", f)
		if err != nil {
			return nil, fmt.Errorf("template %s: %w", f, err)
		}
		pages[name] = t
	}
	return pages, nil
}

var funcs = template.FuncMap{
	"time":     fmtTime,
	"date":     fmtDate,
	"ago":      ago,
	"duration": runDuration,
	"status":   statusLabel,
	"statusOf": statusOfPtr,
	"money":    money,
	"moneyc":   func(cents int64, cur string) string { return money(int(cents), cur) },
	"bytes":    fmtBytes,
	"deref":    deref,
	"pct":      func(used, limit int) int { return percent(used, limit) },
	"query":    pageQuery,
	"seq":      seq,
	"add":      func(a, b int) int { return a + b },
	"int64":    func(n int) int64 { return int64(n) },
	"eqStatus": func(s *models.ExecutionStatus, want string) bool { return s != nil && string(*s) == want },
	"short":    func(id uuid.UUID) string { return id.String()[:8] },
	"sentence": sentence,
}

func fmtTime(t any) string { return fmtAs(t, "2 Jan 2006, 15:04 UTC") }

func fmtDate(t any) string { return fmtAs(t, "2 Jan 2006") }

// fmtAs formats a time or a *time.Time in UTC; a zero or nil one is a dash.
func fmtAs(t any, layout string) string {
	switch v := t.(type) {
	case time.Time:
		if v.IsZero() {
			return "—"
		}
		return v.UTC().Format(layout)
	case *time.Time:
		if v == nil {
			return "—"
		}
		return fmtAs(*v, layout)
	}
	return ""
}

// ago says how long ago t was, roughly.
func ago(t time.Time) string {
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return plural(int(d/time.Minute), "minute") + " ago"
	case d < 48*time.Hour:
		return plural(int(d/time.Hour), "hour") + " ago"
	}
	return fmtDate(t)
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return strconv.Itoa(n) + " " + unit + "s"
}

// runDuration is how long a run took (or has taken so far).
func runDuration(start, end *time.Time) string {
	if start == nil {
		return "—"
	}
	stop := time.Now()
	if end != nil {
		stop = *end
	}
	d := stop.Sub(*start).Round(time.Second)
	if d < time.Minute {
		return fmt.Sprintf("%d s", int(d.Seconds()))
	}
	if d < time.Hour {
		return fmt.Sprintf("%d min %02d s", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%d h %02d min", int(d.Hours()), int(d.Minutes())%60)
}

// statusLabel is an execution status as a person reads it.
func statusLabel(s models.ExecutionStatus) string {
	switch s {
	case models.StatusPending:
		return "Queued"
	case models.StatusRunning:
		return "Running"
	case models.StatusCompleted:
		return "Completed"
	case models.StatusFailed:
		return "Failed"
	case models.StatusPaused:
		return "Paused"
	case models.StatusCancelled:
		return "Cancelled"
	case "":
		return "Not run yet"
	}
	return strings.ToUpper(string(s[:1])) + string(s[1:])
}

// statusOfPtr is a project's status, "" when it never ran.
func statusOfPtr(s *models.ExecutionStatus) models.ExecutionStatus {
	if s == nil {
		return ""
	}
	return *s
}

func money(cents int, currency string) string {
	cur := strings.ToUpper(currency)
	sym := map[string]string{"USD": "$", "EUR": "€", "GBP": "£"}[cur]
	if sym == "" {
		return fmt.Sprintf("%d.%02d %s", cents/100, cents%100, cur)
	}
	return fmt.Sprintf("%s%d.%02d", sym, cents/100, cents%100)
}

func fmtBytes(n any) string {
	var v int64
	switch x := n.(type) {
	case int64:
		v = x
	case *int64:
		if x == nil {
			return "—"
		}
		v = *x
	}
	switch {
	case v < 1024:
		return fmt.Sprintf("%d B", v)
	case v < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(v)/1024)
	case v < 1<<30:
		return fmt.Sprintf("%.1f MiB", float64(v)/(1<<20))
	}
	return fmt.Sprintf("%.1f GiB", float64(v)/(1<<30))
}

func deref(v any) any {
	switch x := v.(type) {
	case *string:
		if x == nil {
			return ""
		}
		return *x
	case *int:
		if x == nil {
			return nil
		}
		return *x
	}
	return v
}

func percent(used, limit int) int {
	if limit <= 0 {
		return 100
	}
	return min(100, used*100/limit)
}

// pageQuery is a list's query string for another page, keeping its filters.
func pageQuery(q, status string, page int) string {
	v := url.Values{}
	if q != "" {
		v.Set("q", q)
	}
	if status != "" {
		v.Set("status", status)
	}
	if page > 1 {
		v.Set("page", strconv.Itoa(page))
	}
	if len(v) == 0 {
		return "?"
	}
	return "?" + v.Encode()
}

func seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i + 1
	}
	return s
}

// sentence starts a message with a capital letter: the service's messages
// are written to follow a code ("run_in_progress: the project …").
func sentence(s string) string {
	for i, r := range s {
		return strings.ToUpper(string(r)) + s[i+len(string(r)):]
	}
	return s
}
