package metrics_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"gopkg.in/yaml.v3"

	"github.com/q2o/q2o/billing"
	"github.com/q2o/q2o/internal/apptest"
)

const (
	alertsFile    = "../deploy/prometheus/alerts.yml"
	dashboardFile = "../deploy/grafana/q2o.json"
)

// The shipped alerting rules are valid Prometheus rules.
func TestAlertRulesCheck(t *testing.T) {
	t.Parallel()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool is not on PATH: install Debian's prometheus package (scripts/services.sh does, and make test runs it first)")
	}
	out, err := exec.Command(promtool, "check", "rules", alertsFile).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules %s: %v\n%s", alertsFile, err, out)
	}
}

// scrape reads the app's /metrics: each sample line's metric name and the
// whole text.
func scrape(t *testing.T, a *apptest.App) (map[string]bool, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", a.URL+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+apptest.AdminToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %d %s", res.StatusCode, b)
	}
	names := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if i := strings.IndexAny(line, "{ "); i > 0 {
			names[line[:i]] = true
		}
	}
	return names, string(b)
}

// waitScrape scrapes until every want is in the text.
func waitScrape(t *testing.T, a *apptest.App, want ...string) (map[string]bool, string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		names, text := scrape(t, a)
		var missing []string
		for _, w := range want {
			if !strings.Contains(text, w) {
				missing = append(missing, w)
			}
		}
		if len(missing) == 0 {
			return names, text
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics still lack %q:\n%s", missing, text)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// busyApp is an API and a worker that have served a bit of everything: a
// run to its zip, an event stream, a sign-in mail, a refused Stripe
// webhook.
func busyApp(t *testing.T) *apptest.App {
	t.Helper()
	a := apptest.New(t, apptest.Options{Billing: &billing.Config{WebhookSecret: "whsec_metrics_test"}})
	a.StartWorker(a.WorkerConfig())
	email := "metrics-" + uuid.NewString()[:8] + "@example.com"
	m := a.Must(http.StatusCreated, a.Do("POST", "/api/admin/tenants", apptest.AdminToken,
		map[string]any{"name": "Metrics", "email": email, "plan": "starter", "subscription_status": "active"}))
	tn := apptest.Tenant{ID: m["id"].(string), Key: m["api_key"].(string)}
	a.Run(tn.Key, a.ReadyProject(tn, "metrics"))
	openStream(t, a, tn.Key, "/api/tenant/events")
	a.Must(http.StatusAccepted, a.Do("POST", "/api/auth/otp/request", "", map[string]any{"email": email}))
	if r := a.Do("POST", "/api/webhooks/stripe", "", map[string]any{"type": "customer.subscription.updated"}); r.Status < 400 {
		t.Fatalf("an unsigned webhook: %d", r.Status)
	}
	return a
}

// openStream opens an event stream, reads its first bytes and hangs up.
func openStream(t *testing.T, a *apptest.App, key, path string) {
	t.Helper()
	req, _ := http.NewRequest("GET", a.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Accept", "text/event-stream")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	apptest.CheckOpenAPI(t, req, apptest.Response{Status: res.StatusCode, Header: res.Header})
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("stream %s: %d %s", path, res.StatusCode, res.Header.Get("Content-Type"))
	}
	if _, err := res.Body.Read(make([]byte, 1)); err != nil {
		t.Fatalf("stream %s: %v", path, err)
	}
}

// q2o's /metrics carries the build, the queues read through asynq's
// Inspector (Prometheus names, no asynq_ ones), the zips, runs and mail.
func TestScrapeBuildQueueZip(t *testing.T) {
	t.Parallel()
	a := busyApp(t)
	_, text := waitScrape(t, a,
		"q2o_zip_size_bytes_count 1", `q2o_mail_total{result="sent"} 1`, `q2o_runs_finished_total{outcome="completed"} 1`,
		`q2o_runs_in_flight{queue="runs"} 0`)
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^q2o_build_info\{commit="[^"]+",go_version="go[^"]+",version="[^"]+"\} 1$`),
		regexp.MustCompile(`(?m)^q2o_queue_tasks\{queue="runs",state="pending"\} \d+$`),
		regexp.MustCompile(`(?m)^q2o_queue_tasks\{queue="runs",state="completed"\} \d+$`),
		regexp.MustCompile(`(?m)^q2o_queue_latency_seconds\{queue="runs"\} [0-9.e+-]+$`),
		regexp.MustCompile(`(?m)^q2o_queue_scrape_ok 1$`),
		regexp.MustCompile(`(?m)^q2o_workers_alive [1-9]\d*$`),
		regexp.MustCompile(`(?m)^q2o_zip_duration_seconds_count 1$`),
		regexp.MustCompile(`(?m)^q2o_zip_size_bytes_sum [1-9]`),
		regexp.MustCompile(`(?m)^q2o_runs_started_total 1$`),
		regexp.MustCompile(`(?m)^q2o_mail_total\{result="failed"\} 0$`),
		regexp.MustCompile(`(?m)^q2o_http_streams_total\{route="/api/tenant/events"\} 1$`),
	} {
		if !want.MatchString(text) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(text, "asynq_") {
		t.Error("asynq's own collector still exports its metrics")
	}
}

// Every metric the dashboard and the alerts query is one a running API and
// worker export.
func TestDeployNamesExportedMetrics(t *testing.T) {
	t.Parallel()
	a := busyApp(t)
	exported, _ := waitScrape(t, a, "q2o_zip_size_bytes_count 1", `q2o_runs_finished_total{outcome="completed"} 1`,
		"q2o_stripe_events_total", "q2o_http_streams_open")

	for file, exprs := range map[string][]string{dashboardFile: dashboardExprs(t), alertsFile: alertExprs(t)} {
		if len(exprs) == 0 {
			t.Errorf("%s: no expressions found", file)
		}
		for _, e := range exprs {
			names := metricNames(e)
			if len(names) == 0 {
				t.Errorf("%s: no metric found in %q", file, e)
			}
			for _, n := range names {
				if !exported[n] {
					t.Errorf("%s: %q queries %s, which q2o does not export", file, e, n)
				}
			}
		}
	}
}

// dashboardExprs are the dashboard's panel queries (targets[].expr).
func dashboardExprs(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	var exprs []string
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	return exprs
}

// alertExprs are the rules' expressions.
func alertExprs(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Rules []struct {
				Expr string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatalf("%s: %v", alertsFile, err)
	}
	var exprs []string
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			exprs = append(exprs, r.Expr)
		}
	}
	return exprs
}

var (
	promStrings   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'`)
	promMatchers  = regexp.MustCompile(`\{[^}]*\}`)
	promRanges    = regexp.MustCompile(`\[[^\]]*\]`)
	promGrouping  = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promIdent     = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*(\s*\()?`)
	promVariables = regexp.MustCompile(`\$\{?\w+\}?`)
	promNumbers   = regexp.MustCompile(`\b[0-9][0-9.]*(?:[eE][+-]?[0-9]+)?(?:ms|[smhdwy])?\b`)
	promKeywords  = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true,
		"group_right": true, "and": true, "or": true, "unless": true, "bool": true, "offset": true, "inf": true, "nan": true}
)

// metricNames are the metric names a PromQL expression selects: its
// identifiers once strings, label matchers, ranges, grouping clauses,
// numbers and function calls are taken out.
func metricNames(expr string) []string {
	e := promStrings.ReplaceAllString(expr, `""`)
	e = promMatchers.ReplaceAllString(e, " ")
	e = promRanges.ReplaceAllString(e, " ")
	e = promGrouping.ReplaceAllString(e, " ")
	e = promVariables.ReplaceAllString(e, " ")
	e = promNumbers.ReplaceAllString(e, " ")
	seen := map[string]bool{}
	for _, m := range promIdent.FindAllStringSubmatch(e, -1) {
		name := m[0]
		if m[1] != "" || promKeywords[strings.ToLower(name)] { // a function call, or a keyword
			continue
		}
		seen[name] = true
	}
	var names []string
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func TestMetricNames(t *testing.T) {
	t.Parallel()
	for expr, want := range map[string]string{
		`histogram_quantile(0.95, sum by (le, route) (rate(q2o_http_request_duration_seconds_bucket{job=~"$job"}[5m])))`: "q2o_http_request_duration_seconds_bucket",
		`max(q2o_workers_alive) == 0 or absent(q2o_workers_alive)`:                                                       "q2o_workers_alive",
		`sum(rate(a_total{x="by (y)"}[5m])) / on (queue) group_left b_seconds > 0.5`:                                     "a_total b_seconds",
		`1e3 * q2o_x offset 5m`: "q2o_x",
	} {
		if got := strings.Join(metricNames(expr), " "); got != want {
			t.Errorf("metricNames(%q) = %q, want %q", expr, got, want)
		}
	}
}
