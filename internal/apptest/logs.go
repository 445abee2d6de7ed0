package apptest

// Run logs as a test reads them: plain text, or followed over SSE.

import (
	"bufio"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// Logs gets a log route as text.
func (a *App) Logs(key, path string) string {
	a.t.Helper()
	r := a.Do("GET", path, key, nil)
	if r.Status != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/plain") {
		a.t.Fatalf("GET %s: %d %s %s", path, r.Status, r.Header.Get("Content-Type"), r.Body)
	}
	return string(r.Body)
}

// WaitLog waits until the log at path holds want and returns it.
func (a *App) WaitLog(key, path, want string) string {
	a.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := a.Logs(key, path)
		if strings.Contains(got, want) {
			return got
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("%s: %q did not appear; log:\n%s", path, want, got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// WaitFile waits until path exists with content and returns it.
func WaitFile(t testing.TB, path string, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) > 0 {
			return string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear within %s", path, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// SSE opens an event stream (a followed log) as the tenant key, resuming
// after lastEventID when set; it fails the test unless the answer is a 200
// event stream, and checks the answer against the OpenAPI document.
func (a *App) SSE(key, path, lastEventID string) *http.Response {
	a.t.Helper()
	req, err := http.NewRequest("GET", a.URL+path, nil)
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Accept", "text/event-stream")
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	res, err := (&http.Client{Timeout: 90 * time.Second}).Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	a.t.Cleanup(func() { res.Body.Close() })
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" {
		b, _ := io.ReadAll(res.Body)
		CheckOpenAPI(a.t, req, Response{Status: res.StatusCode, Header: res.Header, Body: b})
		a.t.Fatalf("SSE %s: %d %s %s", path, res.StatusCode, res.Header.Get("Content-Type"), b)
	}
	CheckOpenAPI(a.t, req, Response{Status: res.StatusCode, Header: res.Header})
	return res
}

// Event is one server-sent event.
type Event struct{ ID, Event, Data string }

// ReadEvents reads events until the "end" event or the stream's end.
func ReadEvents(t testing.TB, body io.Reader) []Event {
	t.Helper()
	var evs []Event
	var cur Event
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if cur != (Event{}) {
				evs = append(evs, cur)
				if cur.Event == "end" {
					return evs
				}
			}
			cur = Event{}
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "id: "):
			cur.ID = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "event: "):
			cur.Event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			cur.Data = strings.TrimPrefix(line, "data: ")
		default:
			t.Errorf("unexpected SSE line %q", line)
		}
	}
	return evs
}
