package api_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/q2o/q2o/internal/apptest"
)

// An event stream, however long it stayed open, is counted in the stream
// metrics and never observed as request latency; a plain answer of the
// same route (a log tail) still is.
func TestStreamsLeaveTheLatencyHistogram(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	a.StartWorker(a.WorkerConfig())
	tn := a.NewTenant("active")
	pid := a.ReadyProject(tn, "streams")
	a.Run(tn.Key, pid)
	logs := "/api/tenant/projects/" + pid + "/logs"
	a.WaitLog(tn.Key, logs, "done") // a plain tail: observed

	for _, path := range []string{"/api/tenant/events", logs} {
		req, _ := http.NewRequest("GET", a.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+tn.Key)
		req.Header.Set("Accept", "text/event-stream")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		apptest.CheckOpenAPI(t, req, apptest.Response{Status: res.StatusCode, Header: res.Header})
		if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
			t.Fatalf("%s: %d %s", path, res.StatusCode, res.Header.Get("Content-Type"))
		}
		if path == "/api/tenant/events" {
			if _, body := get(t, a.URL+"/metrics", basic(apptest.AdminToken)); !strings.Contains(body, `q2o_http_streams_open{route="/api/tenant/events"} 1`) {
				t.Errorf("an open stream is not counted open:\n%s", grepLines(body, "q2o_http_streams"))
			}
			time.Sleep(300 * time.Millisecond) // long enough to show in a histogram's sum
		}
		res.Body.Close() // the client hangs up (or the followed log ends by itself)
	}

	const logsRoute = "/api/tenant/projects/:project_id/logs"
	var body string
	for deadline := time.Now().Add(10 * time.Second); ; {
		_, body = get(t, a.URL+"/metrics", basic(apptest.AdminToken))
		if strings.Contains(body, `q2o_http_streams_open{route="/api/tenant/events"} 0`) &&
			strings.Contains(body, `q2o_http_streams_open{route="`+logsRoute+`"} 0`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the streams still count as open:\n%s", grepLines(body, "q2o_http_streams"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, want := range []string{
		`q2o_http_streams_total{route="/api/tenant/events"} 1`,
		`q2o_http_streams_total{route="` + logsRoute + `"} 1`,
		`q2o_http_requests_total{method="GET",route="/api/tenant/events",status="200"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if strings.Contains(body, `q2o_http_request_duration_seconds_count{method="GET",route="/api/tenant/events"}`) {
		t.Errorf("the event stream went into the latency histogram:\n%s", grepLines(body, "route=\"/api/tenant/events\""))
	}
	// The log tails (WaitLog's polls) are in it; the followed log is not.
	requests := sumSamples(body, `q2o_http_requests_total{method="GET",route="`+logsRoute+`",`)
	observed := sumSamples(body, `q2o_http_request_duration_seconds_count{method="GET",route="`+logsRoute+`"}`)
	if requests < 2 || observed != requests-1 {
		t.Errorf("log route: %v requests, %v observed; want all but the followed one", requests, observed)
	}
}

// sumSamples adds the values of the samples whose line starts with prefix.
func sumSamples(text, prefix string) float64 {
	var sum float64
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			if v, err := strconv.ParseFloat(l[strings.LastIndexByte(l, ' ')+1:], 64); err == nil {
				sum += v
			}
		}
	}
	return sum
}

// grepLines are the lines of text holding s.
func grepLines(text, s string) string {
	var b strings.Builder
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}
