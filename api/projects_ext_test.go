package api_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/q2o/q2o/internal/apptest"
	"github.com/q2o/q2o/jobs"
	"github.com/q2o/q2o/models"
)

func TestStatusPagePagination(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	tn := a.NewTenant("active")
	var ids []string
	for i := range 23 {
		ids = append(ids, a.CreateProject(tn.Key, fmt.Sprintf("P%02d", i), "d", "o"))
	}
	// A deleted project leaves the status page but stays in the full list.
	if r := a.Do("DELETE", "/api/tenant/projects/"+ids[5], tn.Key, nil); r.Status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	// Another tenant's projects never show.
	other := a.NewTenant("active")
	a.CreateProject(other.Key, "P99", "d", "o")

	cases := []struct {
		page       string
		names      []string
		total      int64
		totalPages int64
	}{
		{"", []string{"P22", "P21", "P20", "P19", "P18", "P17", "P16", "P15", "P14", "P13"}, 22, 3},
		{"1", []string{"P22", "P21", "P20", "P19", "P18", "P17", "P16", "P15", "P14", "P13"}, 22, 3},
		{"2", []string{"P12", "P11", "P10", "P09", "P08", "P07", "P06", "P04", "P03", "P02"}, 22, 3},
		{"3", []string{"P01", "P00"}, 22, 3},
		{"4", nil, 22, 3},
		{"1000", nil, 22, 3},
	}
	for _, c := range cases {
		m := a.ProjectList(tn.Key, "/api/tenant/projects/status?page="+c.page)
		want := c.page
		if want == "" {
			want = "1"
		}
		if got := strings.Join(apptest.Names(m.Items), ","); got != strings.Join(c.names, ",") || m.Total != c.total ||
			m.TotalPages != c.totalPages || strconv.Itoa(m.Page) != want {
			t.Errorf("page %q: names %s total %v pages %v page %v", c.page, got, m.Total, m.TotalPages, m.Page)
		}
	}

	all := a.ProjectList(tn.Key, "/api/tenant/projects?page=3")
	if all.Total != 23 || all.TotalPages != 3 || strings.Join(apptest.Names(all.Items), ",") != "P02,P01,P00" {
		t.Errorf("all projects, page 3: %v", all)
	}
	deleted := 0
	for p := 1; p <= 3; p++ {
		for _, it := range a.ProjectList(tn.Key, "/api/tenant/projects?page="+strconv.Itoa(p)).Items {
			if !it.IsActive {
				deleted++
				if it.ID.String() != ids[5] {
					t.Errorf("inactive project %v", it.ID)
				}
			}
		}
	}
	if deleted != 1 {
		t.Errorf("the full list shows %d deleted projects, want 1", deleted)
	}

	// Newest activity first: an edit brings a project to the top.
	a.Must(http.StatusOK, a.Do("PATCH", "/api/tenant/projects/"+ids[0], tn.Key, map[string]any{"description": "edited"}))
	if first := apptest.Names(a.ProjectList(tn.Key, "/api/tenant/projects/status").Items)[0]; first != "P00" {
		t.Errorf("after an edit the first project is %s, want P00", first)
	}

	// Empty tenant: no items, zero pages.
	empty := a.NewTenant("active")
	m := a.ProjectList(empty.Key, "/api/tenant/projects/status")
	if m.Total != 0 || m.TotalPages != 0 || len(m.Items) != 0 || !strings.Contains(string(a.Do("GET", "/api/tenant/projects/status", empty.Key, nil).Body), `"items":[]`) {
		t.Errorf("empty tenant: %v", m)
	}
}

func TestStatusPageItems(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	tn := a.NewTenant("active")
	idle := a.CreateProject(tn.Key, "idle", "d", "o")
	ran := a.ReadyProject(tn, "ran")
	eid := a.Run(tn.Key, ran) // no worker: it stays pending

	m := a.ProjectList(tn.Key, "/api/tenant/projects/status")
	byID := map[string]apptest.ProjectItem{}
	for _, it := range m.Items {
		byID[it.ID.String()] = it
	}
	if it, ok := byID[idle]; !ok || it.LatestExecution != nil || it.Progress != 0 || it.ExecutionStatus != nil {
		t.Errorf("never-run project: %+v", it)
	}
	it, ok := byID[ran]
	le := it.LatestExecution
	if !ok || le == nil || le.ID.String() != eid || le.Status != models.StatusPending || le.Attempt != 0 || le.QueuedAt.IsZero() ||
		apptest.StatusOf(it.Project) != models.StatusPending || it.ProgressMessage != "queued" || it.Name != "ran" || it.Description == "" {
		t.Errorf("project with a run: %+v", it)
	}
	// A run's summary always names its times, exit code and error, null or not.
	var raw struct {
		Items []struct {
			LatestExecution map[string]json.RawMessage `json:"latest_execution"`
		} `json:"items"`
	}
	if err := json.Unmarshal(a.Do("GET", "/api/tenant/projects/status", tn.Key, nil).Body, &raw); err != nil {
		t.Fatal(err)
	}
	for _, item := range raw.Items {
		if item.LatestExecution == nil {
			continue
		}
		for _, k := range []string{"started_at", "finished_at", "exit_code", "error"} {
			if _, ok := item.LatestExecution[k]; !ok {
				t.Errorf("latest_execution lacks %q: %v", k, item.LatestExecution)
			}
		}
	}

	// The status filter.
	for _, c := range []struct {
		status string
		want   string
	}{{"pending", "ran"}, {"running", ""}, {"completed", ""}, {"failed", ""}, {"paused", ""}, {"cancelled", ""}} {
		got := strings.Join(apptest.Names(a.ProjectList(tn.Key, "/api/tenant/projects/status?status="+c.status).Items), ",")
		if got != c.want {
			t.Errorf("status=%s: %q, want %q", c.status, got, c.want)
		}
	}
	a.Cancel(tn.Key, ran)
	if got := apptest.Names(a.ProjectList(tn.Key, "/api/tenant/projects/status?status=cancelled").Items); len(got) != 1 || got[0] != "ran" {
		t.Errorf("status=cancelled after cancel: %v", got)
	}
}

func TestStatusPageSearchIsLiteral(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	tn := a.NewTenant("active")
	for _, p := range [][3]string{
		{"100% done", "plain", "plain"},
		{"100 percent", "plain", "plain"},
		{"snake_case", "plain", "plain"},
		{"snakeXcase", "plain", "plain"},
		{`O'Brien "quoted"`, "plain", "plain"},
		{`back\slash`, "plain", "plain"},
		{"backXslash", "plain", "plain"},
		{"injection", "the ' OR 1=1 -- text", "plain"},
		{"in description", "look for Needle-Desc here", "plain"},
		{"in objectives", "plain", "reach the NEEDLE-obj"},
		{"ends with alpha", "beta starts here", "plain"},
		{"Ünïcödé", "plain", "plain"},
	} {
		a.CreateProject(tn.Key, p[0], p[1], p[2])
	}
	cases := []struct {
		q    string
		want []string // sorted by name
	}{
		{"100%", []string{"100% done"}},
		{"%", []string{"100% done"}},
		{"100", []string{"100 percent", "100% done"}},
		{"_", []string{"snake_case"}},
		{"e_c", []string{"snake_case"}},
		{"SNAKE", []string{"snakeXcase", "snake_case"}},
		{`\`, []string{`back\slash`}},
		{`k\s`, []string{`back\slash`}},
		{`o'brien`, []string{`O'Brien "quoted"`}},
		{`"quoted"`, []string{`O'Brien "quoted"`}},
		{`' OR 1=1 --`, []string{"injection"}},
		{`' OR '1'='1`, nil},
		{`%' OR 1=1 --`, nil},
		{"needle-desc", []string{"in description"}},
		{"needle-OBJ", []string{"in objectives"}},
		{"alpha beta", nil}, // a match never spans two fields
		{"ünï", []string{"Ünïcödé"}},
		{"  snake_case  ", []string{"snake_case"}},
		{"nothing like this", nil},
	}
	for _, c := range cases {
		m := a.ProjectList(tn.Key, "/api/tenant/projects/status?q="+url.QueryEscape(c.q))
		got := apptest.Names(m.Items)
		sortStrings(got)
		if strings.Join(got, "|") != strings.Join(c.want, "|") || m.Total != int64(len(c.want)) {
			t.Errorf("q=%q: %q (total %v), want %q", c.q, got, m.Total, c.want)
		}
		// The full list searches the same way.
		got = apptest.Names(a.ProjectList(tn.Key, "/api/tenant/projects?q="+url.QueryEscape(c.q)).Items)
		sortStrings(got)
		if strings.Join(got, "|") != strings.Join(c.want, "|") {
			t.Errorf("all projects, q=%q: %q, want %q", c.q, got, c.want)
		}
	}
	// Search and status together.
	if m := a.ProjectList(tn.Key, "/api/tenant/projects/status?q=snake&status=pending"); m.Total != 0 {
		t.Errorf("q and status: %v", m)
	}
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func TestProjectLists400(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	tn := a.NewTenant("active")
	pid := a.CreateProject(tn.Key, "p", "d", "o")
	cases := []struct {
		query, code, field string
	}{
		{"page=0", "invalid_page", "page"},
		{"page=-3", "invalid_page", "page"},
		{"page=abc", "invalid_page", "page"},
		{"page=1.5", "invalid_page", "page"},
		{"page=%201", "invalid_page", "page"},
		{"page=99999999999999999999999", "invalid_page", "page"},
		{"status=done", "invalid_status", "status"},
		{"status=Running", "invalid_status", "status"},
		{"status=%27%20OR%201%3D1", "invalid_status", "status"},
		{"q=a%00b", "invalid_query", "q"},
		{"q=%ff%fe", "invalid_query", "q"},
		{"q=a%1fb", "invalid_query", "q"},
		{"q=" + strings.Repeat("x", 201), "invalid_query", "q"},
	}
	for _, path := range []string{"/api/tenant/projects/status?", "/api/tenant/projects?"} {
		for _, c := range cases {
			r := a.Do("GET", path+c.query, tn.Key, nil)
			apptest.WantFieldError(t, r, http.StatusBadRequest, c.code, c.field, path+c.query)
		}
	}
	for _, q := range []string{"page=0", "page=x", "page=-1"} {
		apptest.WantError(t, a.Do("GET", "/api/tenant/projects/"+pid+"/executions?"+q, tn.Key, nil), http.StatusBadRequest, "invalid_page", "executions "+q)
	}
}

func TestProjectUpdate(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	tn := a.NewTenant("active")
	pid := a.ReadyProject(tn, "before")
	path := "/api/tenant/projects/" + pid

	p := apptest.Decode[models.Project](t, http.StatusOK, a.Do("PATCH", path, tn.Key, map[string]any{"name": "  after  "}))
	if p.Name != "after" || p.Description != "a tool for before" || p.Objectives != "ship it" {
		t.Errorf("PATCH name: %+v", p)
	}
	p = apptest.Decode[models.Project](t, http.StatusOK, a.Do("PATCH", path, tn.Key, map[string]any{"description": "new d", "objectives": "new o"}))
	if p.Name != "after" || p.Description != "new d" || p.Objectives != "new o" {
		t.Errorf("PATCH description and objectives: %+v", p)
	}
	if g := a.GetProject(tn.Key, pid); g.Description != "new d" {
		t.Errorf("GET after PATCH: %+v", g)
	}

	for _, c := range []struct {
		body, code, field string
	}{
		{`{}`, "no_changes", ""},
		{`{"name":null}`, "no_changes", ""},
		{`{"name":""}`, "blank_field", "name"},
		{`{"description":" \n"}`, "blank_field", "description"},
		{`{"objectives":"a\u0000b"}`, "invalid_field", "objectives"},
		{`{"name":"` + strings.Repeat("x", 201) + `"}`, "field_too_long", "name"},
		{`{"name":5}`, "invalid_type", "name"},
		{`{"is_active":false}`, "unknown_field", "is_active"},
		{`{"execution_status":"completed"}`, "unknown_field", "execution_status"},
		{`{"name":"x"`, "invalid_json", ""},
		{``, "invalid_json", ""},
		{`[]`, "invalid_json", ""},
	} {
		r := a.Do("PATCH", path, tn.Key, c.body)
		apptest.WantFieldError(t, r, http.StatusBadRequest, c.code, c.field, "PATCH "+c.body)
	}

	// Not while a run is pending (no worker here, so it stays pending).
	a.Run(tn.Key, pid)
	apptest.WantError(t, a.Do("PATCH", path, tn.Key, map[string]any{"name": "during"}), http.StatusConflict, "run_in_progress", "PATCH while pending")
	apptest.WantError(t, a.Do("DELETE", path, tn.Key, nil), http.StatusConflict, "run_in_progress", "DELETE while pending")
	if g := a.GetProject(tn.Key, pid); g.Name != "after" || !g.IsActive {
		t.Errorf("refused PATCH/DELETE changed the project: %+v", g)
	}
	// Once cancelled it may be edited and deleted.
	a.Cancel(tn.Key, pid)
	a.Must(http.StatusOK, a.Do("PATCH", path, tn.Key, map[string]any{"name": "paused"}))
	for range 2 { // deleting twice is fine
		if r := a.Do("DELETE", path, tn.Key, nil); r.Status != http.StatusNoContent || len(r.Body) != 0 {
			t.Errorf("DELETE: %d %s", r.Status, r.Body)
		}
	}
	if g := a.GetProject(tn.Key, pid); g.IsActive {
		t.Errorf("deleted project: %+v", g)
	}
	apptest.WantError(t, a.Do("PATCH", path, tn.Key, map[string]any{"name": "zombie"}), http.StatusConflict, "project_inactive", "PATCH deleted")
	apptest.WantError(t, a.Do("POST", path+"/run", tn.Key, nil), http.StatusConflict, "project_inactive", "RUN deleted")
	apptest.WantError(t, a.Do("POST", path+"/resume", tn.Key, nil), http.StatusConflict, "project_inactive", "resume deleted")
	if m := a.ProjectList(tn.Key, "/api/tenant/projects/status"); m.Total != 0 {
		t.Errorf("deleted project on the status page: %v", m)
	}
	// A trialing tenant's deleted project frees its one project slot.
	trial := a.NewTenant("trialing")
	first := a.CreateProject(trial.Key, "one", "d", "o")
	apptest.WantError(t, a.Do("POST", "/api/tenant/projects", trial.Key, map[string]any{"name": "two", "description": "d", "objectives": "o"}),
		http.StatusForbidden, "trial_project_limit", "second trial project")
	a.Do("DELETE", "/api/tenant/projects/"+first, trial.Key, nil)
	a.CreateProject(trial.Key, "two", "d", "o")
}

func TestCancelAndResumeQueued(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	tn := a.NewTenant("active")
	pid := a.ReadyProject(tn, "queued")
	path := "/api/tenant/projects/" + pid
	inspector := asynq.NewInspector(a.RedisOpt)
	defer inspector.Close()

	apptest.WantError(t, a.Do("POST", path+"/cancel", tn.Key, nil), http.StatusConflict, "nothing_to_cancel", "cancel never-run")
	apptest.WantError(t, a.Do("POST", path+"/resume", tn.Key, nil), http.StatusConflict, "not_paused", "resume never-run")

	eid := a.Run(tn.Key, pid)
	apptest.WantError(t, a.Do("POST", path+"/resume", tn.Key, nil), http.StatusConflict, "not_paused", "resume pending")
	if _, err := inspector.GetTaskInfo(jobs.QueueRuns, eid); err != nil {
		t.Fatalf("the run's task is not queued: %v", err)
	}
	p := a.Cancel(tn.Key, pid)
	if apptest.StatusOf(p) != models.StatusCancelled || apptest.Deref(p.ExecutionError) != "cancelled by the tenant" || p.ID.String() != pid {
		t.Errorf("cancelled project: %+v", p)
	}
	// The queued task is gone from Redis.
	if _, err := inspector.GetTaskInfo(jobs.QueueRuns, eid); !errors.Is(err, asynq.ErrTaskNotFound) {
		t.Errorf("the cancelled run's task is still queued (err %v)", err)
	}
	e := a.GetExecution(tn.Key, pid, eid)
	if len(e.Events) == 0 {
		t.Fatalf("cancelled execution without events: %+v", e)
	}
	last := e.Events[len(e.Events)-1]
	if e.Status != models.StatusCancelled || apptest.Deref(e.Error) != "cancelled by the tenant" || e.FinishedAt == nil ||
		last.Kind != models.EventCancelled || last.Message != "cancelled by the tenant" {
		t.Errorf("cancelled execution: %+v", e)
	}
	apptest.WantError(t, a.Do("POST", path+"/cancel", tn.Key, nil), http.StatusConflict, "nothing_to_cancel", "cancel twice")

	// Resume: a new execution, the old one kept.
	r := apptest.Decode[apptest.RunAccepted](t, http.StatusAccepted, a.Do("POST", path+"/resume", tn.Key, nil))
	eid2 := r.ExecutionID.String()
	if r.ExecutionID == uuid.Nil || eid2 == eid || r.Status != models.StatusPending || r.OutputFolderPath == "" {
		t.Errorf("resume: %+v", r)
	}
	apptest.WantError(t, a.Do("POST", path+"/resume", tn.Key, nil), http.StatusConflict, "not_paused", "resume twice")
	a.Cancel(tn.Key, pid)
	// A paused project may also simply be RUN again.
	eid3 := a.Run(tn.Key, pid)
	a.Cancel(tn.Key, pid)

	// Resume obeys RUN's gates: not with an inactive subscription.
	a.SetSubscription(tn.ID, models.SubPastDue)
	apptest.WantError(t, a.Do("POST", path+"/resume", tn.Key, nil), http.StatusPaymentRequired, "subscription_inactive", "resume past_due")

	// Every run is listed, newest first.
	m := a.ExecutionList(tn.Key, path+"/executions")
	var got []string
	for _, it := range m.Items {
		got = append(got, it.ID.String())
		if it.Status != models.StatusCancelled || it.ProjectID.String() != pid {
			t.Errorf("execution in list: %+v", it)
		}
	}
	if strings.Join(got, ",") != strings.Join([]string{eid3, eid2, eid}, ",") || m.Total != 3 || m.TotalPages != 1 {
		t.Errorf("executions: %v", m)
	}
	if m := a.ExecutionList(tn.Key, path+"/executions?page=2"); len(m.Items) != 0 || m.Total != 3 || m.Page != 2 {
		t.Errorf("executions page 2: %v", m)
	}
}

func TestExecutionsPagination(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	tn := a.NewTenant("active")
	pid := a.ReadyProject(tn, "many runs")
	var ids []string
	for range 12 {
		ids = append(ids, a.Run(tn.Key, pid))
		a.Cancel(tn.Key, pid)
	}
	p1 := a.ExecutionList(tn.Key, "/api/tenant/projects/"+pid+"/executions")
	p2 := a.ExecutionList(tn.Key, "/api/tenant/projects/"+pid+"/executions?page=2")
	var got []string
	for _, m := range []apptest.Page[apptest.Execution]{p1, p2} {
		if m.Total != 12 || m.TotalPages != 2 {
			t.Errorf("executions page: %v", m)
		}
		for _, it := range m.Items {
			got = append(got, it.ID.String())
		}
	}
	var want []string
	for i := len(ids) - 1; i >= 0; i-- {
		want = append(want, ids[i])
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("executions across pages:\n got %v\nwant %v", got, want)
	}
}

func TestCancelRunningKillsMainPyThenResumeCompletes(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	counter := filepath.Join(t.TempDir(), "starts")
	_, stop := a.StartWorker(a.WorkerConfig("--mode sleep --seconds 30 --counter " + counter))
	tn := a.NewTenant("active")
	pid := a.ReadyProject(tn, "long run")
	path := "/api/tenant/projects/" + pid
	eid := a.Run(tn.Key, pid)
	p := a.AwaitProject(tn.Key, pid, 30*time.Second, apptest.HasStatus(models.StatusRunning))
	dir := apptest.Deref(p.OutputFolderPath)
	childPID, err := strconv.Atoi(strings.TrimSpace(apptest.WaitFile(t, filepath.Join(dir, "child.pid"), 30*time.Second)))
	if err != nil {
		t.Fatal(err)
	}
	mainPID, err := strconv.Atoi(strings.Fields(apptest.WaitFile(t, counter, 30*time.Second))[0])
	if err != nil {
		t.Fatal(err)
	}
	if !apptest.Alive(mainPID) || !apptest.Alive(childPID) {
		t.Fatalf("main.py (%d) or its child (%d) is not running before the cancel", mainPID, childPID)
	}
	// Its live log shows the run so far.
	a.WaitLog(tn.Key, path+"/logs", "PROGRESS 5 sleeping")

	p = a.Cancel(tn.Key, pid)
	if apptest.StatusOf(p) != models.StatusCancelled || apptest.Deref(p.ExecutionError) != "cancelled by the tenant" {
		t.Errorf("cancel: %+v", p)
	}
	deadline := time.Now().Add(30 * time.Second)
	for (apptest.Alive(mainPID) || apptest.Alive(childPID)) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if apptest.Alive(mainPID) || apptest.Alive(childPID) {
		t.Fatalf("after the cancel main.py (%d alive: %v) or its child (%d alive: %v) still runs",
			mainPID, apptest.Alive(mainPID), childPID, apptest.Alive(childPID))
	}
	// The worker keeps the cancelled run's log.
	var e apptest.Execution
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if e = a.GetExecution(tn.Key, pid, eid); a.Paths(eid).Log != "" {
			break
		}
	}
	if e.Status != models.StatusCancelled || apptest.Deref(e.Error) != "cancelled by the tenant" || a.Paths(eid).Log == "" {
		t.Errorf("cancelled execution: %+v", e)
	}
	if p := a.GetProject(tn.Key, pid); apptest.StatusOf(p) != models.StatusCancelled {
		t.Errorf("project after the cancel: %+v", p)
	}
	stop()

	// Resume, on a worker whose main.py finishes quickly.
	a.StartWorker(a.WorkerConfig())
	eid2 := a.Resume(tn.Key, pid)
	p = a.AwaitProject(tn.Key, pid, 60*time.Second, apptest.HasStatus(models.StatusCompleted))
	if p.Progress != 100 || p.LatestExecutionID == nil || p.LatestExecutionID.String() != eid2 {
		t.Errorf("resumed project: %+v", p)
	}
	// Each run's log stays its own.
	cur := a.Logs(tn.Key, path+"/logs?tail=10000")
	old := a.Logs(tn.Key, path+"/logs?tail=10000&execution_id="+eid)
	if !strings.Contains(cur, "execution "+eid2) || !strings.Contains(cur, "PROGRESS 100 done") || strings.Contains(cur, "sleeping") {
		t.Errorf("current log:\n%s", cur)
	}
	if !strings.Contains(old, "execution "+eid) || !strings.Contains(old, "PROGRESS 5 sleeping") || strings.Contains(old, "done") {
		t.Errorf("cancelled run's log:\n%s", old)
	}
	m := a.ExecutionList(tn.Key, path+"/executions")
	if items := m.Items; len(items) != 2 || items[0].ID.String() != eid2 || items[0].Status != models.StatusCompleted || items[1].Status != models.StatusCancelled {
		t.Errorf("executions: %+v", m)
	}
}

func TestLogsTail(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	a.StartWorker(a.WorkerConfig())
	tn := a.NewTenant("active")
	pid := a.ReadyProject(tn, "logged")
	path := "/api/tenant/projects/" + pid
	apptest.WantError(t, a.Do("GET", path+"/logs", tn.Key, nil), http.StatusNotFound, "log_not_found", "logs of a project that never ran")

	eid := a.Run(tn.Key, pid)
	a.AwaitProject(tn.Key, pid, 30*time.Second, apptest.HasStatus(models.StatusCompleted))
	r := a.Do("GET", path+"/logs", tn.Key, nil)
	full := string(r.Body)
	if r.Status != http.StatusOK || r.Header.Get("Content-Type") != "text/plain; charset=utf-8" || r.Header.Get("X-Execution-Id") != eid ||
		!strings.HasPrefix(full, "=== q2o execution "+eid+", attempt 1") || !strings.Contains(full, "PROGRESS 100 done\n") {
		t.Fatalf("logs: %d %v\n%s", r.Status, r.Header, full)
	}
	lines := strings.SplitAfter(strings.TrimSuffix(full, "\n"), "\n")
	if got := a.Logs(tn.Key, path+"/logs?tail=2"); got != strings.Join(lines[len(lines)-2:], "")+"\n" {
		t.Errorf("tail=2: %q, want the last two of %q", got, lines)
	}
	if got := a.Logs(tn.Key, path+"/logs?tail=0"); got != "" {
		t.Errorf("tail=0: %q", got)
	}
	if got := a.Logs(tn.Key, path+"/logs?tail=10000&execution_id="+eid); got != full {
		t.Errorf("by execution id: %q, want %q", got, full)
	}
	// The ended run's log is kept apart from run.log.
	e := a.GetExecution(tn.Key, pid, eid)
	if lp := a.Paths(eid).Log; lp != filepath.Join(a.OutputRoot, "_artifacts", pid, eid+".log") {
		t.Errorf("log_path %v", lp)
	}
	if u := e.LogURL; u != path+"/logs?execution_id="+eid {
		t.Errorf("log_url %v", u)
	}

	for _, q := range []string{"tail=-1", "tail=abc", "tail=10001", "tail=1.5", "tail=99999999999999999999"} {
		r := a.Do("GET", path+"/logs?"+q, tn.Key, nil)
		apptest.WantFieldError(t, r, http.StatusBadRequest, "invalid_tail", "tail", q)
	}
	other := a.ReadyProject(tn, "other")
	otherExec := a.Run(tn.Key, other)
	for _, id := range []string{"nope", "00000000-0000-0000-0000-000000000000", eid + "0", otherExec} {
		apptest.WantError(t, a.Do("GET", path+"/logs?execution_id="+id, tn.Key, nil), http.StatusNotFound, "execution_not_found", "execution_id="+id)
	}
}

func TestLogsOfAPendingRunAndHostileFiles(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{}) // no worker: runs stay pending
	tn := a.NewTenant("active")
	pid := a.ReadyProject(tn, "pending")
	path := "/api/tenant/projects/" + pid
	eid := a.Run(tn.Key, pid)
	dir := filepath.Join(a.OutputRoot, pid)
	runLog := filepath.Join(dir, "run.log")

	// No run.log yet, or one left by an earlier run: nothing to show yet.
	r := a.Do("GET", path+"/logs", tn.Key, nil)
	if r.Status != http.StatusOK || len(r.Body) != 0 || r.Header.Get("X-Execution-Id") != eid {
		t.Errorf("pending run without a log: %d %q", r.Status, r.Body)
	}
	if err := os.WriteFile(runLog, []byte("=== q2o execution 0190a6e2-0000-7000-8000-000000000000, attempt 1, started x ===\nold run\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := a.Logs(tn.Key, path+"/logs"); got != "" {
		t.Errorf("an earlier run's log shown for this one: %q", got)
	}
	if err := os.WriteFile(runLog, []byte("=== q2o execution "+eid+", attempt 1, started x ===\nthis run\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := a.Logs(tn.Key, path+"/logs?tail=1"); got != "this run\n" {
		t.Errorf("this run's log: %q", got)
	}

	// main.py writes in this folder: a symlink, a hard link or a fifo in
	// place of run.log must not be followed.
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("=== q2o execution "+eid+", attempt 1 ===\nSECRET\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, plant := range map[string]func() error{
		"symlink":   func() error { return os.Symlink(secret, runLog) },
		"hard link": func() error { return os.Link(secret, runLog) },
		"fifo":      func() error { return syscall.Mkfifo(runLog, 0o644) },
	} {
		_ = os.Remove(runLog)
		if err := plant(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		r := a.Do("GET", path+"/logs", tn.Key, nil)
		apptest.WantError(t, r, http.StatusNotFound, "log_not_found", name)
		if strings.Contains(string(r.Body), "SECRET") {
			t.Errorf("%s: the linked file was served", name)
		}
	}
}

func TestLogsFollow(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	tn := a.NewTenant("active")
	pid := a.ReadyProject(tn, "followed")
	path := "/api/tenant/projects/" + pid
	eid := a.Run(tn.Key, pid)

	// Follow from before the run starts until it ends.
	res := a.SSE(tn.Key, path+"/logs", "")
	if res.Header.Get("X-Execution-Id") != eid {
		t.Errorf("X-Execution-Id %q", res.Header.Get("X-Execution-Id"))
	}
	a.StartWorker(a.WorkerConfig("--seconds 2"))
	evs := apptest.ReadEvents(t, res.Body)
	if len(evs) == 0 || evs[len(evs)-1].Event != "end" || evs[len(evs)-1].Data != "completed" {
		t.Fatalf("stream did not end with the run: %v", evs)
	}
	var data []string
	for _, ev := range evs[:len(evs)-1] {
		data = append(data, ev.Data)
		if !strings.HasPrefix(ev.ID, eid+"/") {
			t.Errorf("event id %q", ev.ID)
		}
	}
	joined := strings.Join(data, "\n")
	for _, want := range []string{"=== q2o execution " + eid, "starting the agents", "PROGRESS 50 writing code", "PROGRESS 100 done"} {
		if !strings.Contains(joined, want) {
			t.Errorf("followed log lacks %q:\n%s", want, joined)
		}
	}
	if full := a.Logs(tn.Key, path+"/logs?tail=10000"); joined+"\n" != full {
		t.Errorf("followed lines differ from the log:\n%s\n---\n%s", joined, full)
	}

	// An ended run: the tail, then the end at once.
	evs = apptest.ReadEvents(t, a.SSE(tn.Key, path+"/logs?tail=1", "").Body)
	if len(evs) != 2 || evs[0].Data != data[len(data)-1] || evs[1].Event != "end" {
		t.Errorf("tail=1 of an ended run: %v", evs)
	}
	// Last-Event-ID resumes after the line it names.
	var mid apptest.Event
	for i, ev := range apptest.ReadEvents(t, a.SSE(tn.Key, path+"/logs?tail=10000", "").Body) {
		if i == 1 {
			mid = ev
		}
	}
	evs = apptest.ReadEvents(t, a.SSE(tn.Key, path+"/logs?tail=1", mid.ID).Body)
	var rest []string
	for _, ev := range evs[:len(evs)-1] {
		rest = append(rest, ev.Data)
	}
	if want := data[2:]; strings.Join(rest, "\n") != strings.Join(want, "\n") {
		t.Errorf("resumed after %q: %q, want %q", mid.ID, rest, want)
	}
}

func TestProjectRoutesOtherTenant404(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	owner := a.NewTenant("active")
	pid := a.ReadyProject(owner, "owned")
	eid := a.Run(owner.Key, pid)
	intruder := a.NewTenant("active")
	mine := a.ReadyProject(intruder, "mine")
	base := "/api/tenant/projects/" + pid
	routes := []struct {
		method, path string
		body         any
		code         string
	}{
		{"PATCH", base, map[string]any{"name": "stolen"}, "project_not_found"},
		{"DELETE", base, nil, "project_not_found"},
		{"GET", base + "/executions", nil, "project_not_found"},
		{"POST", base + "/cancel", nil, "project_not_found"},
		{"POST", base + "/resume", nil, "project_not_found"},
		{"GET", base + "/logs", nil, "project_not_found"},
		{"GET", base + "/logs?execution_id=" + eid, nil, "project_not_found"},
		{"GET", "/api/tenant/projects/" + mine + "/logs?execution_id=" + eid, nil, "execution_not_found"},
	}
	for _, rt := range routes {
		apptest.WantError(t, a.Do(rt.method, rt.path, intruder.Key, rt.body), http.StatusNotFound, rt.code, "intruder "+rt.method+" "+rt.path)
		// And without a key: 401.
		apptest.WantError(t, a.Do(rt.method, rt.path, "", rt.body), http.StatusUnauthorized, "unauthorized", "no key "+rt.method+" "+rt.path)
	}
	for _, p := range []string{"/api/tenant/projects/status", "/api/tenant/projects"} {
		apptest.WantError(t, a.Do("GET", p, "", nil), http.StatusUnauthorized, "unauthorized", "no key "+p)
		m := a.ProjectList(intruder.Key, p+"?q=owned")
		if m.Total != 0 {
			t.Errorf("%s shows another tenant's project: %v", p, m)
		}
	}
	// Malformed ids are 404 too.
	for _, rt := range routes[:6] {
		path := strings.Replace(rt.path, pid, "not-a-uuid", 1)
		apptest.WantError(t, a.Do(rt.method, path, owner.Key, rt.body), http.StatusNotFound, "project_not_found", "malformed "+rt.method+" "+path)
	}
	// Nothing changed for the owner.
	p := a.GetProject(owner.Key, pid)
	if p.Name != "owned" || !p.IsActive || apptest.StatusOf(p) != models.StatusPending {
		t.Errorf("owner's project after the intruder: %+v", p)
	}
}

func TestCancelAndResumeConcurrent(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	tn := a.NewTenant("active")
	pid := a.ReadyProject(tn, "raced")
	path := "/api/tenant/projects/" + pid
	eid := a.Run(tn.Key, pid)

	race := func(verb string) map[string]int {
		statuses := make(chan string, 10)
		var wg sync.WaitGroup
		for range 10 {
			wg.Go(func() {
				r := a.Do("POST", path+"/"+verb, tn.Key, nil)
				code := ""
				if r.Status >= 400 {
					code = " " + r.ErrorCode(t)
				}
				statuses <- strconv.Itoa(r.Status) + code
			})
		}
		wg.Wait()
		close(statuses)
		got := map[string]int{}
		for s := range statuses {
			got[s]++
		}
		return got
	}
	if got := race("cancel"); got["200"] != 1 || got["409 nothing_to_cancel"] != 9 {
		t.Errorf("10 concurrent cancels: %v", got)
	}
	e := a.GetExecution(tn.Key, pid, eid)
	paused := 0
	for _, ev := range e.Events {
		if ev.Kind == models.EventCancelled {
			paused++
		}
	}
	if paused != 1 {
		t.Errorf("%d cancelled events, want 1", paused)
	}
	if got := race("resume"); got["202"] != 1 || got["409 not_paused"]+got["409 run_in_progress"] != 9 {
		t.Errorf("10 concurrent resumes: %v", got)
	}
	if m := a.ExecutionList(tn.Key, path+"/executions"); m.Total != 2 {
		t.Errorf("executions after the races: %v", m)
	}
}

// per_page: 10 by default, up to 50 when asked, refused past that.
func TestStatusPagePerPage(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	tn := a.NewTenant("active")
	for i := 0; i < 12; i++ {
		a.Project(tn.Key, fmt.Sprintf("paged %d", i))
	}
	for _, path := range []string{"/api/tenant/projects/status", "/api/tenant/projects"} {
		m := apptest.Decode[apptest.Page[apptest.ProjectItem]](t, http.StatusOK, a.Do("GET", path, tn.Key, nil))
		if len(m.Items) != 10 || m.PerPage != 10 || m.TotalPages != 2 {
			t.Errorf("%s: %d items, per_page %v, %v pages", path, len(m.Items), m.PerPage, m.TotalPages)
		}
		m = apptest.Decode[apptest.Page[apptest.ProjectItem]](t, http.StatusOK, a.Do("GET", path+"?per_page=50", tn.Key, nil))
		if len(m.Items) != 12 || m.PerPage != 50 || m.TotalPages != 1 {
			t.Errorf("%s?per_page=50: %d items, %v pages", path, len(m.Items), m.TotalPages)
		}
		for _, bad := range []string{"0", "51", "ten"} {
			apptest.WantError(t, a.Do("GET", path+"?per_page="+bad, tn.Key, nil), http.StatusBadRequest, "invalid_per_page", "per_page="+bad)
		}
	}
}
