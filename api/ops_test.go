package api_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/q2o/q2o/internal/apptest"
)

func get(t *testing.T, url string, auth func(*http.Request)) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if auth != nil {
		auth(req)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

func basic(pass string) func(*http.Request) {
	return func(r *http.Request) { r.SetBasicAuth("ops", pass) }
}

func TestMonitoringUI(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	for _, path := range []string{"/monitoring", "/monitoring/api/queues"} {
		for _, auth := range []func(*http.Request){nil, basic("wrong-token-wrong"), basic("")} {
			res, _ := get(t, a.URL+path, auth)
			if res.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Basic") {
				t.Errorf("%s without the admin token: %d %v", path, res.StatusCode, res.Header)
			}
		}
	}
	res, body := get(t, a.URL+"/monitoring", basic(apptest.AdminToken))
	if res.StatusCode != 200 || !strings.Contains(body, "<html") {
		t.Errorf("monitoring page: %d %.200s", res.StatusCode, body)
	}
	// Its JSON API answers too (it reads Redis), with Basic or Bearer.
	res, body = get(t, a.URL+"/monitoring/api/queues", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+apptest.AdminToken) })
	var queues struct {
		Queues []any `json:"queues"`
	}
	if res.StatusCode != 200 || json.Unmarshal([]byte(body), &queues) != nil || queues.Queues == nil {
		t.Errorf("monitoring API: %d %.200s", res.StatusCode, body)
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	tn := a.NewTenant("active")
	pid := a.ReadyProject(tn, "metrics")
	a.Run(tn.Key, pid)
	a.Do("GET", "/api/tenant/projects/not-a-uuid", tn.Key, nil)

	if res, _ := get(t, a.URL+"/metrics", nil); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("metrics without the admin token: %d", res.StatusCode)
	}
	res, body := get(t, a.URL+"/metrics", basic(apptest.AdminToken))
	if res.StatusCode != 200 {
		t.Fatalf("metrics: %d", res.StatusCode)
	}
	for _, want := range []string{
		`q2o_http_requests_total{method="POST",route="/api/tenant/projects/:project_id/run",status="202"} 1`,
		`q2o_http_requests_total{method="GET",route="/api/tenant/projects/:project_id",status="404"} 1`,
		`q2o_http_request_duration_seconds_bucket{method="POST",route="/api/tenant/projects",le="+Inf"}`,
		"q2o_outbox_backlog ",
		"q2o_outbox_oldest_age_seconds ",
		`q2o_queue_tasks{queue="runs",state="pending"} 1`,
		"q2o_runs_started_total 0",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if strings.Contains(body, pid) {
		t.Error("a project id leaked into a metric label")
	}
}
