package api_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/q2o/q2o/internal/apptest"
	"github.com/q2o/q2o/models"
	"github.com/q2o/q2o/ratelimit"
)

// sseEvent is one event of a stream, or a comment (Comment set).
type sseEvent struct {
	ID, Event, Data string
	Comment         string
	Retry           string
}

// json decodes the event's data.
func (e sseEvent) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(e.Data), &m); err != nil {
		t.Fatalf("event %s data is not JSON: %v: %q", e.ID, err, e.Data)
	}
	return m
}

// sseStream reads a text/event-stream response in the background.
type sseStream struct {
	t      *testing.T
	header http.Header
	items  chan sseEvent // closed when the stream ends
}

// openSSE opens an event stream and checks that it is one; it is closed
// when the test ends.
func openSSE(t *testing.T, url string, header map[string]string) *sseStream {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = res.Body.Close() })
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		apptest.CheckOpenAPI(t, req, apptest.Response{Status: res.StatusCode, Header: res.Header, Body: b})
		t.Fatalf("GET %s: %d %s", url, res.StatusCode, b)
	}
	// The stream's status and content type are the document's (its body
	// never ends, so it is read below, not validated).
	apptest.CheckOpenAPI(t, req, apptest.Response{Status: res.StatusCode, Header: res.Header})
	for k, want := range map[string]string{"Content-Type": "text/event-stream; charset=utf-8",
		"Cache-Control": "no-cache", "X-Accel-Buffering": "no"} {
		if got := res.Header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	s := &sseStream{t: t, header: res.Header, items: make(chan sseEvent, 1000)}
	go func() {
		defer close(s.items)
		rd := bufio.NewReader(res.Body)
		var ev sseEvent
		for {
			line, err := rd.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimRight(line, "\r\n")
			if line == "" {
				if ev != (sseEvent{}) {
					s.items <- ev
				}
				ev = sseEvent{}
				continue
			}
			if c, ok := strings.CutPrefix(line, ":"); ok {
				s.items <- sseEvent{Comment: strings.TrimSpace(c)}
				continue
			}
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "id":
				ev.ID = value
			case "event":
				ev.Event = value
			case "data":
				ev.Data += value
			case "retry":
				ev.Retry = value
			}
		}
	}()
	return s
}

// next returns the next event (comments and retry lines skipped), failing
// the test if none comes within 30 s or the stream ends.
func (s *sseStream) next() sseEvent {
	s.t.Helper()
	for {
		it := s.item(30 * time.Second)
		if it.Comment == "" && it.ID != "" {
			return it
		}
	}
}

// item returns the next thing read, whatever it is.
func (s *sseStream) item(wait time.Duration) sseEvent {
	s.t.Helper()
	select {
	case it, ok := <-s.items:
		if !ok {
			s.t.Fatal("the event stream ended")
		}
		return it
	case <-time.After(wait):
		s.t.Fatalf("nothing on the event stream within %s", wait)
	}
	return sseEvent{}
}

// until reads events until one satisfies stop, and returns them all.
func (s *sseStream) until(stop func(sseEvent) bool) []sseEvent {
	s.t.Helper()
	var out []sseEvent
	for {
		ev := s.next()
		out = append(out, ev)
		if stop(ev) {
			return out
		}
	}
}

// ended reports whether the stream ends within wait (comments may come
// first).
func (s *sseStream) ended(wait time.Duration) bool {
	deadline := time.After(wait)
	for {
		select {
		case it, ok := <-s.items:
			if !ok {
				return true
			}
			if it.Comment == "" && it.ID != "" {
				s.t.Errorf("unexpected event on a stream that should end: %+v", it)
			}
		case <-deadline:
			return false
		}
	}
}

func bearer(key string) map[string]string { return map[string]string{"Authorization": "Bearer " + key} }

// zippedOf is an until condition: the zipped event of project pid.
func zippedOf(t *testing.T, pid string) func(sseEvent) bool {
	return func(ev sseEvent) bool { return ev.Event == "zipped" && ev.json(t)["project_id"] == pid }
}

// streamID parses an SSE id (a Redis stream id) for ordering.
func streamID(t *testing.T, id string) [2]uint64 {
	t.Helper()
	a, b, ok := strings.Cut(id, "-")
	ms, err1 := strconv.ParseUint(a, 10, 64)
	seq, err2 := strconv.ParseUint(b, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		t.Fatalf("event id %q is not a stream id", id)
	}
	return [2]uint64{ms, seq}
}

func increasing(t *testing.T, evs []sseEvent) {
	t.Helper()
	for i := 1; i < len(evs); i++ {
		a, b := streamID(t, evs[i-1].ID), streamID(t, evs[i].ID)
		if !(a[0] < b[0] || a[0] == b[0] && a[1] < b[1]) {
			t.Fatalf("event %d: id %s does not follow %s", i, evs[i].ID, evs[i-1].ID)
		}
	}
}

// kindsOf lists project pid's events as kind[/progress].
func kindsOf(t *testing.T, evs []sseEvent, pid string) string {
	t.Helper()
	var out []string
	for _, ev := range evs {
		d := ev.json(t)
		if d["project_id"] != pid {
			continue
		}
		if d["kind"] != ev.Event {
			t.Errorf("event %s: SSE event %q, data kind %v", ev.ID, ev.Event, d["kind"])
		}
		if ev.Event == "progress" {
			out = append(out, fmt.Sprintf("progress/%v", d["progress"]))
		} else {
			out = append(out, ev.Event)
		}
	}
	return strings.Join(out, ",")
}

// wantRun is the events of one run of the test main.py, run with
// liveRunner: its PROGRESS lines come 0.4 s apart, more than the worker's
// 250 ms between progress writes, so none is coalesced away.
const wantRun = "pending,running,progress/10,progress/50,progress/90,progress/100,completed,zipped"

// liveRunner is the test main.py's flags for wantRun.
const liveRunner = "--seconds 1.2"

// liveProject makes a project ready to run and returns it with its code.
func liveProject(t *testing.T, a *apptest.App, tn apptest.Tenant, name string) (pid, codeID, code string) {
	t.Helper()
	pid = a.Project(tn.Key, name)
	codeID, code = a.Code(tn.ID, nil)
	a.Must(http.StatusOK, a.Do("POST", "/api/tenant/projects/"+pid+"/assign-activation-code", tn.Key, map[string]any{"code": code}))
	return pid, codeID, code
}

func startRun(t *testing.T, a *apptest.App, tn apptest.Tenant, pid string) string {
	t.Helper()
	return a.Run(tn.Key, pid)
}

// TestEventsAcrossReplicas: runs started through replica A, executed by a
// worker, are followed on replica B, by the tenant and by the client.
func TestEventsAcrossReplicas(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	b := a.Replica(apptest.ReplicaOptions{})
	a.StartWorker(a.WorkerConfig(liveRunner))
	tn, other := a.NewTenant("active"), a.NewTenant("active")
	pid, _, code := liveProject(t, a, tn, "Live one")
	pid2 := a.ReadyProject(tn, "Live two")
	opid := a.ReadyProject(other, "Someone else's")

	tenantStream := openSSE(t, b.URL+"/api/tenant/events", bearer(tn.Key))
	otherStream := openSSE(t, b.URL+"/api/tenant/events", bearer(other.Key))
	public := openSSE(t, b.URL+"/api/public/projects/"+pid+"/events", map[string]string{"X-Activation-Code": code})
	publicByQuery := openSSE(t, b.URL+"/api/public/projects/"+pid+"/events?code="+code, nil)
	if it := tenantStream.item(5 * time.Second); it.Retry == "" {
		t.Errorf("first thing on the stream: %+v, want a retry: field", it)
	}

	eid := startRun(t, a, tn, pid)
	eid2 := startRun(t, a, tn, pid2)

	// The tenant sees both runs, in order, each event once.
	var all []sseEvent
	done := map[string]bool{}
	for !done[pid] || !done[pid2] {
		ev := tenantStream.next()
		all = append(all, ev)
		d := ev.json(t)
		if d["tenant_id"] != tn.ID {
			t.Fatalf("event of another tenant: %s", ev.Data)
		}
		if ev.Event == "zipped" {
			done[d["project_id"].(string)] = true
		}
	}
	increasing(t, all)
	for p, e := range map[string]string{pid: eid, pid2: eid2} {
		if got := kindsOf(t, all, p); got != wantRun {
			t.Errorf("project %s: %s\nwant %s", p, got, wantRun)
		}
		for _, ev := range all {
			if d := ev.json(t); d["project_id"] == p && d["execution_id"] != e {
				t.Errorf("event %s of project %s names execution %v, want %s", ev.ID, p, d["execution_id"], e)
			}
		}
	}
	byKind := map[string]map[string]any{}
	for _, ev := range all {
		if d := ev.json(t); d["project_id"] == pid {
			byKind[ev.Event] = d
		}
	}
	for kind, status := range map[string]string{"pending": "pending", "running": "running", "progress": "running",
		"completed": "completed", "zipped": "completed"} {
		if byKind[kind]["status"] != status {
			t.Errorf("%s event: status %v, want %s", kind, byKind[kind]["status"], status)
		}
	}
	if byKind["completed"]["progress"] != float64(100) || byKind["progress"]["message"] != "done" {
		t.Errorf("completed: %v; last progress: %v", byKind["completed"], byKind["progress"])
	}

	// The client sees that one project, with the same ids, and nothing of
	// the tenant.
	for _, s := range []*sseStream{public, publicByQuery} {
		got := s.until(zippedOf(t, pid))
		var want []sseEvent
		for _, ev := range all {
			if ev.json(t)["project_id"] == pid {
				want = append(want, ev)
			}
		}
		if len(got) != len(want) {
			t.Fatalf("client stream: %d events, want %d: %v", len(got), len(want), got)
		}
		for i := range got {
			d := got[i].json(t)
			if got[i].ID != want[i].ID || got[i].Event != want[i].Event || d["project_id"] != pid {
				t.Errorf("client event %d: %+v, want %+v", i, got[i], want[i])
			}
			if _, ok := d["tenant_id"]; ok {
				t.Errorf("client event shows the tenant: %s", got[i].Data)
			}
		}
	}

	// The other tenant's stream showed none of it: its first event is its
	// own run's.
	startRun(t, a, other, opid)
	got := otherStream.until(zippedOf(t, opid))
	if k := kindsOf(t, got, opid); k != wantRun || len(got) != strings.Count(wantRun, ",")+1 {
		t.Errorf("other tenant's stream: %v", got)
	}
}

// TestEventsResume: a follower that comes back with the last id it saw
// (Last-Event-ID, or ?last_event_id=) gets what followed, with no gap and
// no duplicate, on any replica.
func TestEventsResume(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	b := a.Replica(apptest.ReplicaOptions{})
	a.StartWorker(a.WorkerConfig(liveRunner))
	tn := a.NewTenant("active")
	pid, _, code := liveProject(t, a, tn, "Resumable")
	first := openSSE(t, a.URL+"/api/tenant/events", bearer(tn.Key))
	startRun(t, a, tn, pid)
	all := first.until(zippedOf(t, pid))
	if got := kindsOf(t, all, pid); got != wantRun {
		t.Fatalf("first run: %s", got)
	}
	k := 3 // resume after the second progress event
	publicPath := "/api/public/projects/" + pid + "/events"

	cases := []struct {
		name   string
		url    string
		header map[string]string
		from   int // the first event of all that the stream gets
	}{
		{"Last-Event-ID", b.URL + "/api/tenant/events", map[string]string{"Last-Event-ID": all[k].ID}, k + 1},
		{"last_event_id", a.URL + "/api/tenant/events?last_event_id=" + all[k].ID, nil, k + 1},
		{"after the last one", b.URL + "/api/tenant/events", map[string]string{"Last-Event-ID": all[len(all)-1].ID}, len(all)},
		{"new follower: from now", b.URL + "/api/tenant/events", nil, len(all)},
		{"not an id: from now", b.URL + "/api/tenant/events", map[string]string{"Last-Event-ID": "not-an-id"}, len(all)},
		{"an id after the stream's end: from now", b.URL + "/api/tenant/events", map[string]string{"Last-Event-ID": "99999999999999-0"}, len(all)},
		{"too old: from the oldest held", b.URL + "/api/tenant/events", map[string]string{"Last-Event-ID": "1-0"}, 0},
		{"client, Last-Event-ID", b.URL + publicPath + "?code=" + code, map[string]string{"Last-Event-ID": all[k].ID}, k + 1},
	}
	streams := make([]*sseStream, len(cases))
	for i, c := range cases {
		h := map[string]string{}
		if !strings.Contains(c.url, "code=") {
			h = bearer(tn.Key)
		}
		for name, v := range c.header {
			h[name] = v
		}
		streams[i] = openSSE(t, c.url, h)
	}
	// The next run's first event ends each stream's expected sequence: it
	// must come right after the resumed events.
	eid2 := startRun(t, b, tn, pid)
	for i, c := range cases {
		got := streams[i].until(func(ev sseEvent) bool { return ev.json(t)["execution_id"] == eid2 })
		want := all[c.from:]
		if len(got) != len(want)+1 {
			t.Errorf("%s: %d events before the next run's, want %d: %v", c.name, len(got)-1, len(want), got)
			continue
		}
		for j := range want {
			if got[j].ID != want[j].ID || got[j].Event != want[j].Event {
				t.Errorf("%s: event %d is %s %s, want %s %s", c.name, j, got[j].ID, got[j].Event, want[j].ID, want[j].Event)
			}
		}
		if last := got[len(got)-1]; last.Event != "pending" {
			t.Errorf("%s: the next run starts with %s, want pending", c.name, last.Event)
		}
	}
	a.AwaitProject(tn.Key, pid, 30*time.Second, apptest.HasStatus(models.StatusCompleted))
}

// TestEventsPaused: a pause (subscription no longer active) reaches the
// stream with the progress the run had; the client is not told why.
func TestEventsPaused(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	a.StartWorker(a.WorkerConfig("--mode sleep --seconds 30"))
	tn := a.NewTenant("active")
	pid, _, code := liveProject(t, a, tn, "Paused")
	tenantStream := openSSE(t, a.URL+"/api/tenant/events", bearer(tn.Key))
	public := openSSE(t, a.URL+"/api/public/projects/"+pid+"/events?code="+code, nil)
	startRun(t, a, tn, pid)
	tenantStream.until(func(ev sseEvent) bool { return ev.Event == "progress" })
	a.SetSubscription(tn.ID, models.SubPastDue)
	paused := tenantStream.until(func(ev sseEvent) bool { return ev.Event == "paused" })
	d := paused[len(paused)-1].json(t)
	if d["status"] != "paused" || d["progress"] != float64(5) || !strings.Contains(d["message"].(string), "past_due") {
		t.Errorf("paused event: %v", d)
	}
	got := public.until(func(ev sseEvent) bool { return ev.Event == "paused" })
	if k := kindsOf(t, got, pid); k != "pending,running,progress/5,paused" {
		t.Errorf("client stream: %s", k)
	}
	if d := got[len(got)-1].json(t); d["message"] != "the run was paused" || d["progress"] != float64(5) {
		t.Errorf("client's paused event: %v", d)
	}
}

// TestEventsHeartbeat: a stream with nothing to say sends a comment every
// heartbeat, and a client's stream ends once its code is revoked.
func TestEventsHeartbeat(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	b := a.Replica(apptest.ReplicaOptions{Heartbeat: 100 * time.Millisecond})
	tn := a.NewTenant("active")
	pid, codeID, code := liveProject(t, a, tn, "Quiet")
	tenantStream := openSSE(t, b.URL+"/api/tenant/events", bearer(tn.Key))
	public := openSSE(t, b.URL+"/api/public/projects/"+pid+"/events", map[string]string{"X-Activation-Code": code})
	for _, s := range []*sseStream{tenantStream, public} {
		pings := 0
		for pings < 3 {
			if it := s.item(5 * time.Second); it.Comment == "ping" {
				pings++
			} else if it.Retry == "" {
				t.Fatalf("unexpected %+v on a quiet stream", it)
			}
		}
	}

	a.Must(http.StatusOK, a.Do("POST", "/api/admin/activation-codes/"+codeID+"/revoke", apptest.AdminToken, nil))
	if !public.ended(10 * time.Second) {
		t.Error("the client's stream goes on after its code was revoked")
	}
	// The tenant's stream ends when the server shuts down.
	b.Broker().Close()
	if !tenantStream.ended(10 * time.Second) {
		t.Error("the tenant's stream goes on after the broker closed")
	}
	r := b.Do("GET", "/api/tenant/events", tn.Key, nil)
	if r.Status != http.StatusServiceUnavailable || r.ErrorCode(t) != "events_unavailable" {
		t.Errorf("events on a closed broker: %d %s", r.Status, r.Body)
	}
}

func TestEvents401(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	for _, key := range []string{"", "q2o_not_a_real_key"} {
		r := a.Do("GET", "/api/tenant/events", key, nil)
		if r.Status != http.StatusUnauthorized || r.ErrorCode(t) != "unauthorized" {
			t.Errorf("key %q: %d %s", key, r.Status, r.Body)
		}
	}
}

func TestPublicEvents404And429(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	tn := a.NewTenant("active")
	pid, _, code := liveProject(t, a, tn, "Mine")
	pid2, _, code2 := liveProject(t, a, tn, "Another")
	_, unassigned := a.Code(tn.ID, nil)
	cases := []struct{ name, path string }{
		{"wrong code", "/api/public/projects/" + pid + "/events?code=ABCDE-FGHJK-LMNPQ-RSTUV"},
		{"another project's code", "/api/public/projects/" + pid + "/events?code=" + code2},
		{"a code on another project", "/api/public/projects/" + pid2 + "/events?code=" + code},
		{"an unassigned code", "/api/public/projects/" + pid + "/events?code=" + unassigned},
		{"no code", "/api/public/projects/" + pid + "/events"},
		{"unknown project", "/api/public/projects/00000000-0000-7000-8000-000000000000/events?code=" + code},
		{"not a project id", "/api/public/projects/not-a-uuid/events?code=" + code},
	}
	for _, c := range cases {
		r := a.Do("GET", c.path, "", nil)
		if r.Status != http.StatusNotFound || r.ErrorCode(t) != "not_found" {
			t.Errorf("%s: %d %s", c.name, r.Status, r.Body)
		}
	}
	// 30 a minute per IP, refusals included: the cases above counted, the
	// rest but one are spent at once, and the last one goes through.
	spend(t, a, ratelimit.PublicEvents, "127.0.0.1", 30-len(cases)-1)
	if r := a.Do("GET", "/api/public/projects/"+pid+"/events?code=wrong", "", nil); r.Status != http.StatusNotFound {
		t.Fatalf("the 30th request: %d %s", r.Status, r.Body)
	}
	r := a.Do("GET", "/api/public/projects/"+pid+"/events?code=wrong", "", nil)
	if r.Status != http.StatusTooManyRequests || r.ErrorCode(t) != "rate_limited" || r.Header.Get("Retry-After") == "" {
		t.Errorf("the 31st request: %d %s (Retry-After %q)", r.Status, r.Body, r.Header.Get("Retry-After"))
	}
}
