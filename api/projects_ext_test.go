package api_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
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

	"github.com/hibiken/asynq"

	"github.com/q2o/q2o/internal/apptest"
	"github.com/q2o/q2o/jobs"
)

// pjList gets a list route and checks the page shape.
func pjList(t *testing.T, a *apptest.App, key, path string) map[string]any {
	t.Helper()
	m := a.Must(http.StatusOK, a.Do("GET", path, key, nil))
	if m["per_page"] != float64(10) {
		t.Fatalf("%s: per_page %v", path, m["per_page"])
	}
	if _, ok := m["items"].([]any); !ok {
		t.Fatalf("%s: items is not an array: %v", path, m)
	}
	return m
}

func pjItems(m map[string]any) []map[string]any {
	var out []map[string]any
	for _, it := range m["items"].([]any) {
		out = append(out, it.(map[string]any))
	}
	return out
}

func pjNames(m map[string]any) []string {
	var out []string
	for _, it := range pjItems(m) {
		out = append(out, it["name"].(string))
	}
	return out
}

func pjCreate(t *testing.T, a *apptest.App, key, name, desc, obj string) string {
	t.Helper()
	return a.Must(http.StatusCreated, a.Do("POST", "/api/tenant/projects", key,
		map[string]any{"name": name, "description": desc, "objectives": obj}))["id"].(string)
}

func pjRun(t *testing.T, a *apptest.App, key, pid string) string {
	t.Helper()
	return a.Must(http.StatusAccepted, a.Do("POST", "/api/tenant/projects/"+pid+"/run", key, nil))["execution_id"].(string)
}

func pjWantError(t *testing.T, r apptest.Response, status int, code, what string) {
	t.Helper()
	if r.Status != status || r.ErrorCode(t) != code {
		t.Errorf("%s: got %d %s, want %d %s", what, r.Status, r.Body, status, code)
	}
}

func TestStatusPagePagination(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	tn := a.NewTenant("active")
	var ids []string
	for i := range 23 {
		ids = append(ids, pjCreate(t, a, tn.Key, fmt.Sprintf("P%02d", i), "d", "o"))
	}
	// A deleted project leaves the status page but stays in the full list.
	if r := a.Do("DELETE", "/api/tenant/projects/"+ids[5], tn.Key, nil); r.Status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	// Another tenant's projects never show.
	other := a.NewTenant("active")
	pjCreate(t, a, other.Key, "P99", "d", "o")

	cases := []struct {
		page       string
		names      []string
		total      float64
		totalPages float64
	}{
		{"", []string{"P22", "P21", "P20", "P19", "P18", "P17", "P16", "P15", "P14", "P13"}, 22, 3},
		{"1", []string{"P22", "P21", "P20", "P19", "P18", "P17", "P16", "P15", "P14", "P13"}, 22, 3},
		{"2", []string{"P12", "P11", "P10", "P09", "P08", "P07", "P06", "P04", "P03", "P02"}, 22, 3},
		{"3", []string{"P01", "P00"}, 22, 3},
		{"4", nil, 22, 3},
		{"1000", nil, 22, 3},
	}
	for _, c := range cases {
		m := pjList(t, a, tn.Key, "/api/tenant/projects/status?page="+c.page)
		want := c.page
		if want == "" {
			want = "1"
		}
		if got := strings.Join(pjNames(m), ","); got != strings.Join(c.names, ",") || m["total"] != c.total ||
			m["total_pages"] != c.totalPages || fmt.Sprint(m["page"]) != want {
			t.Errorf("page %q: names %s total %v pages %v page %v", c.page, got, m["total"], m["total_pages"], m["page"])
		}
	}

	all := pjList(t, a, tn.Key, "/api/tenant/projects?page=3")
	if all["total"] != float64(23) || all["total_pages"] != float64(3) || strings.Join(pjNames(all), ",") != "P02,P01,P00" {
		t.Errorf("all projects, page 3: %v", all)
	}
	deleted := 0
	for p := 1; p <= 3; p++ {
		for _, it := range pjItems(pjList(t, a, tn.Key, "/api/tenant/projects?page="+strconv.Itoa(p))) {
			if it["is_active"] == false {
				deleted++
				if it["id"] != ids[5] {
					t.Errorf("inactive project %v", it["id"])
				}
			}
		}
	}
	if deleted != 1 {
		t.Errorf("the full list shows %d deleted projects, want 1", deleted)
	}

	// Newest activity first: an edit brings a project to the top.
	a.Must(http.StatusOK, a.Do("PATCH", "/api/tenant/projects/"+ids[0], tn.Key, map[string]any{"description": "edited"}))
	if first := pjNames(pjList(t, a, tn.Key, "/api/tenant/projects/status"))[0]; first != "P00" {
		t.Errorf("after an edit the first project is %s, want P00", first)
	}

	// Empty tenant: no items, zero pages.
	empty := a.NewTenant("active")
	m := pjList(t, a, empty.Key, "/api/tenant/projects/status")
	if m["total"] != float64(0) || m["total_pages"] != float64(0) || len(pjItems(m)) != 0 || !strings.Contains(string(a.Do("GET", "/api/tenant/projects/status", empty.Key, nil).Body), `"items":[]`) {
		t.Errorf("empty tenant: %v", m)
	}
}

func TestStatusPageItems(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	tn := a.NewTenant("active")
	idle := pjCreate(t, a, tn.Key, "idle", "d", "o")
	ran := a.ReadyProject(tn, "ran")
	eid := pjRun(t, a, tn.Key, ran) // no worker: it stays pending

	m := pjList(t, a, tn.Key, "/api/tenant/projects/status")
	byID := map[string]map[string]any{}
	for _, it := range pjItems(m) {
		byID[it["id"].(string)] = it
	}
	if it := byID[idle]; it == nil || it["latest_execution"] != nil || it["progress"] != float64(0) || it["execution_status"] != nil {
		t.Errorf("never-run project: %v", it)
	}
	it := byID[ran]
	le, _ := it["latest_execution"].(map[string]any)
	if le == nil || le["id"] != eid || le["status"] != "pending" || le["attempt"] != float64(0) || le["queued_at"] == nil ||
		it["execution_status"] != "pending" || it["progress_message"] != "queued" || it["name"] != "ran" || it["description"] == nil {
		t.Errorf("project with a run: %v", it)
	}
	for _, k := range []string{"started_at", "finished_at", "exit_code", "error"} {
		if _, ok := le[k]; !ok {
			t.Errorf("latest_execution lacks %q: %v", k, le)
		}
	}

	// The status filter.
	for _, c := range []struct {
		status string
		want   string
	}{{"pending", "ran"}, {"running", ""}, {"completed", ""}, {"failed", ""}, {"paused", ""}, {"cancelled", ""}} {
		got := strings.Join(pjNames(pjList(t, a, tn.Key, "/api/tenant/projects/status?status="+c.status)), ",")
		if got != c.want {
			t.Errorf("status=%s: %q, want %q", c.status, got, c.want)
		}
	}
	a.Must(http.StatusOK, a.Do("POST", "/api/tenant/projects/"+ran+"/cancel", tn.Key, nil))
	if got := pjNames(pjList(t, a, tn.Key, "/api/tenant/projects/status?status=cancelled")); len(got) != 1 || got[0] != "ran" {
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
		pjCreate(t, a, tn.Key, p[0], p[1], p[2])
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
		m := pjList(t, a, tn.Key, "/api/tenant/projects/status?q="+url.QueryEscape(c.q))
		got := pjNames(m)
		sortStrings(got)
		if strings.Join(got, "|") != strings.Join(c.want, "|") || m["total"] != float64(len(c.want)) {
			t.Errorf("q=%q: %q (total %v), want %q", c.q, got, m["total"], c.want)
		}
		// The full list searches the same way.
		got = pjNames(pjList(t, a, tn.Key, "/api/tenant/projects?q="+url.QueryEscape(c.q)))
		sortStrings(got)
		if strings.Join(got, "|") != strings.Join(c.want, "|") {
			t.Errorf("all projects, q=%q: %q, want %q", c.q, got, c.want)
		}
	}
	// Search and status together.
	if m := pjList(t, a, tn.Key, "/api/tenant/projects/status?q=snake&status=pending"); m["total"] != float64(0) {
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
	pid := pjCreate(t, a, tn.Key, "p", "d", "o")
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
			pjWantError(t, r, http.StatusBadRequest, c.code, path+c.query)
			if r.Status == http.StatusBadRequest && errFieldOf(t, r) != c.field {
				t.Errorf("%s%s: field %q, want %q", path, c.query, errFieldOf(t, r), c.field)
			}
		}
	}
	for _, q := range []string{"page=0", "page=x", "page=-1"} {
		pjWantError(t, a.Do("GET", "/api/tenant/projects/"+pid+"/executions?"+q, tn.Key, nil), http.StatusBadRequest, "invalid_page", "executions "+q)
	}
}

func errFieldOf(t *testing.T, r apptest.Response) string {
	t.Helper()
	f, _ := r.JSON(t)["error"].(map[string]any)["field"].(string)
	return f
}

func TestProjectUpdate(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	tn := a.NewTenant("active")
	pid := a.ReadyProject(tn, "before")
	path := "/api/tenant/projects/" + pid

	p := a.Must(http.StatusOK, a.Do("PATCH", path, tn.Key, map[string]any{"name": "  after  "}))
	if p["name"] != "after" || p["description"] != "a tool for before" || p["objectives"] != "ship it" {
		t.Errorf("PATCH name: %v", p)
	}
	p = a.Must(http.StatusOK, a.Do("PATCH", path, tn.Key, map[string]any{"description": "new d", "objectives": "new o"}))
	if p["name"] != "after" || p["description"] != "new d" || p["objectives"] != "new o" {
		t.Errorf("PATCH description and objectives: %v", p)
	}
	if g := a.Must(http.StatusOK, a.Do("GET", path, tn.Key, nil)); g["description"] != "new d" {
		t.Errorf("GET after PATCH: %v", g)
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
		pjWantError(t, r, http.StatusBadRequest, c.code, "PATCH "+c.body)
		if r.Status == http.StatusBadRequest && errFieldOf(t, r) != c.field {
			t.Errorf("PATCH %s: field %q, want %q", c.body, errFieldOf(t, r), c.field)
		}
	}

	// Not while a run is pending (no worker here, so it stays pending).
	pjRun(t, a, tn.Key, pid)
	pjWantError(t, a.Do("PATCH", path, tn.Key, map[string]any{"name": "during"}), http.StatusConflict, "run_in_progress", "PATCH while pending")
	pjWantError(t, a.Do("DELETE", path, tn.Key, nil), http.StatusConflict, "run_in_progress", "DELETE while pending")
	if g := a.Must(http.StatusOK, a.Do("GET", path, tn.Key, nil)); g["name"] != "after" || g["is_active"] != true {
		t.Errorf("refused PATCH/DELETE changed the project: %v", g)
	}
	// Once cancelled it may be edited and deleted.
	a.Must(http.StatusOK, a.Do("POST", path+"/cancel", tn.Key, nil))
	a.Must(http.StatusOK, a.Do("PATCH", path, tn.Key, map[string]any{"name": "paused"}))
	for range 2 { // deleting twice is fine
		if r := a.Do("DELETE", path, tn.Key, nil); r.Status != http.StatusNoContent || len(r.Body) != 0 {
			t.Errorf("DELETE: %d %s", r.Status, r.Body)
		}
	}
	if g := a.Must(http.StatusOK, a.Do("GET", path, tn.Key, nil)); g["is_active"] != false {
		t.Errorf("deleted project: %v", g)
	}
	pjWantError(t, a.Do("PATCH", path, tn.Key, map[string]any{"name": "zombie"}), http.StatusConflict, "project_inactive", "PATCH deleted")
	pjWantError(t, a.Do("POST", path+"/run", tn.Key, nil), http.StatusConflict, "project_inactive", "RUN deleted")
	pjWantError(t, a.Do("POST", path+"/resume", tn.Key, nil), http.StatusConflict, "project_inactive", "resume deleted")
	if m := pjList(t, a, tn.Key, "/api/tenant/projects/status"); m["total"] != float64(0) {
		t.Errorf("deleted project on the status page: %v", m)
	}
	// A trialing tenant's deleted project frees its one project slot.
	trial := a.NewTenant("trialing")
	first := pjCreate(t, a, trial.Key, "one", "d", "o")
	pjWantError(t, a.Do("POST", "/api/tenant/projects", trial.Key, map[string]any{"name": "two", "description": "d", "objectives": "o"}),
		http.StatusForbidden, "trial_project_limit", "second trial project")
	a.Do("DELETE", "/api/tenant/projects/"+first, trial.Key, nil)
	pjCreate(t, a, trial.Key, "two", "d", "o")
}

func TestCancelAndResumeQueued(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	tn := a.NewTenant("active")
	pid := a.ReadyProject(tn, "queued")
	path := "/api/tenant/projects/" + pid
	inspector := asynq.NewInspector(a.RedisOpt)
	defer inspector.Close()

	pjWantError(t, a.Do("POST", path+"/cancel", tn.Key, nil), http.StatusConflict, "nothing_to_cancel", "cancel never-run")
	pjWantError(t, a.Do("POST", path+"/resume", tn.Key, nil), http.StatusConflict, "not_paused", "resume never-run")

	eid := pjRun(t, a, tn.Key, pid)
	pjWantError(t, a.Do("POST", path+"/resume", tn.Key, nil), http.StatusConflict, "not_paused", "resume pending")
	if _, err := inspector.GetTaskInfo(jobs.QueueRuns, eid); err != nil {
		t.Fatalf("the run's task is not queued: %v", err)
	}
	p := a.Must(http.StatusOK, a.Do("POST", path+"/cancel", tn.Key, nil))
	if p["execution_status"] != "cancelled" || p["execution_error"] != "cancelled by the tenant" || p["id"] != pid {
		t.Errorf("cancelled project: %v", p)
	}
	// The queued task is gone from Redis.
	if _, err := inspector.GetTaskInfo(jobs.QueueRuns, eid); !errors.Is(err, asynq.ErrTaskNotFound) {
		t.Errorf("the cancelled run's task is still queued (err %v)", err)
	}
	e := a.Must(http.StatusOK, a.Do("GET", path+"/executions/"+eid, tn.Key, nil))
	evs := e["events"].([]any)
	last := evs[len(evs)-1].(map[string]any)
	if e["status"] != "cancelled" || e["error"] != "cancelled by the tenant" || e["finished_at"] == nil ||
		last["kind"] != "cancelled" || last["message"] != "cancelled by the tenant" {
		t.Errorf("cancelled execution: %v", e)
	}
	pjWantError(t, a.Do("POST", path+"/cancel", tn.Key, nil), http.StatusConflict, "nothing_to_cancel", "cancel twice")

	// Resume: a new execution, the old one kept.
	r := a.Must(http.StatusAccepted, a.Do("POST", path+"/resume", tn.Key, nil))
	eid2, _ := r["execution_id"].(string)
	if eid2 == "" || eid2 == eid || r["status"] != "pending" || r["output_folder_path"] == nil {
		t.Errorf("resume: %v", r)
	}
	pjWantError(t, a.Do("POST", path+"/resume", tn.Key, nil), http.StatusConflict, "not_paused", "resume twice")
	a.Must(http.StatusOK, a.Do("POST", path+"/cancel", tn.Key, nil))
	// A paused project may also simply be RUN again.
	eid3 := pjRun(t, a, tn.Key, pid)
	a.Must(http.StatusOK, a.Do("POST", path+"/cancel", tn.Key, nil))

	// Resume obeys RUN's gates: not with an inactive subscription.
	a.Must(http.StatusOK, a.Do("PUT", "/api/admin/tenants/"+tn.ID+"/subscription", apptest.AdminToken, map[string]any{"status": "past_due"}))
	pjWantError(t, a.Do("POST", path+"/resume", tn.Key, nil), http.StatusPaymentRequired, "subscription_inactive", "resume past_due")

	// Every run is listed, newest first.
	m := pjList(t, a, tn.Key, path+"/executions")
	var got []string
	for _, it := range pjItems(m) {
		got = append(got, it["id"].(string))
		if it["status"] != "cancelled" || it["project_id"] != pid {
			t.Errorf("execution in list: %v", it)
		}
	}
	if strings.Join(got, ",") != strings.Join([]string{eid3, eid2, eid}, ",") || m["total"] != float64(3) || m["total_pages"] != float64(1) {
		t.Errorf("executions: %v", m)
	}
	if m := pjList(t, a, tn.Key, path+"/executions?page=2"); len(pjItems(m)) != 0 || m["total"] != float64(3) || m["page"] != float64(2) {
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
		ids = append(ids, pjRun(t, a, tn.Key, pid))
		a.Must(http.StatusOK, a.Do("POST", "/api/tenant/projects/"+pid+"/cancel", tn.Key, nil))
	}
	p1 := pjList(t, a, tn.Key, "/api/tenant/projects/"+pid+"/executions")
	p2 := pjList(t, a, tn.Key, "/api/tenant/projects/"+pid+"/executions?page=2")
	var got []string
	for _, m := range []map[string]any{p1, p2} {
		if m["total"] != float64(12) || m["total_pages"] != float64(2) {
			t.Errorf("executions page: %v", m)
		}
		for _, it := range pjItems(m) {
			got = append(got, it["id"].(string))
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

// pjWaitFile waits until path exists with content and returns it.
func pjWaitFile(t *testing.T, path string, timeout time.Duration) string {
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

func TestCancelRunningKillsMainPyThenResumeCompletes(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	counter := filepath.Join(t.TempDir(), "starts")
	_, stop := a.StartWorker(a.WorkerConfig("--mode sleep --seconds 30 --counter " + counter))
	tn := a.NewTenant("active")
	pid := a.ReadyProject(tn, "long run")
	path := "/api/tenant/projects/" + pid
	eid := pjRun(t, a, tn.Key, pid)
	p := a.WaitProject(tn.Key, pid, 30*time.Second, apptest.StatusIs("running"))
	dir := p["output_folder_path"].(string)
	childPID, err := strconv.Atoi(strings.TrimSpace(pjWaitFile(t, filepath.Join(dir, "child.pid"), 30*time.Second)))
	if err != nil {
		t.Fatal(err)
	}
	mainPID, err := strconv.Atoi(strings.Fields(pjWaitFile(t, counter, 30*time.Second))[0])
	if err != nil {
		t.Fatal(err)
	}
	if !apptest.Alive(mainPID) || !apptest.Alive(childPID) {
		t.Fatalf("main.py (%d) or its child (%d) is not running before the cancel", mainPID, childPID)
	}
	// Its live log shows the run so far.
	pjWaitLog(t, a, tn.Key, path+"/logs", "PROGRESS 5 sleeping")

	p = a.Must(http.StatusOK, a.Do("POST", path+"/cancel", tn.Key, nil))
	if p["execution_status"] != "cancelled" || p["execution_error"] != "cancelled by the tenant" {
		t.Errorf("cancel: %v", p)
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
	var e map[string]any
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if e = a.Must(http.StatusOK, a.Do("GET", path+"/executions/"+eid, tn.Key, nil)); a.Paths(eid).Log != "" {
			break
		}
	}
	if e["status"] != "cancelled" || e["error"] != "cancelled by the tenant" || a.Paths(eid).Log == "" {
		t.Errorf("cancelled execution: %v", e)
	}
	if p := a.Must(http.StatusOK, a.Do("GET", path, tn.Key, nil)); p["execution_status"] != "cancelled" {
		t.Errorf("project after the cancel: %v", p)
	}
	stop()

	// Resume, on a worker whose main.py finishes quickly.
	a.StartWorker(a.WorkerConfig())
	eid2 := a.Must(http.StatusAccepted, a.Do("POST", path+"/resume", tn.Key, nil))["execution_id"].(string)
	p = a.WaitProject(tn.Key, pid, 60*time.Second, apptest.StatusIs("completed"))
	if p["progress"] != float64(100) || p["latest_execution_id"] != eid2 {
		t.Errorf("resumed project: %v", p)
	}
	// Each run's log stays its own.
	cur := pjLogs(t, a, tn.Key, path+"/logs?tail=10000")
	old := pjLogs(t, a, tn.Key, path+"/logs?tail=10000&execution_id="+eid)
	if !strings.Contains(cur, "execution "+eid2) || !strings.Contains(cur, "PROGRESS 100 done") || strings.Contains(cur, "sleeping") {
		t.Errorf("current log:\n%s", cur)
	}
	if !strings.Contains(old, "execution "+eid) || !strings.Contains(old, "PROGRESS 5 sleeping") || strings.Contains(old, "done") {
		t.Errorf("cancelled run's log:\n%s", old)
	}
	m := pjList(t, a, tn.Key, path+"/executions")
	if items := pjItems(m); len(items) != 2 || items[0]["id"] != eid2 || items[0]["status"] != "completed" || items[1]["status"] != "cancelled" {
		t.Errorf("executions: %v", m)
	}
}

// pjLogs gets a log as text.
func pjLogs(t *testing.T, a *apptest.App, key, path string) string {
	t.Helper()
	r := a.Do("GET", path, key, nil)
	if r.Status != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET %s: %d %s %s", path, r.Status, r.Header.Get("Content-Type"), r.Body)
	}
	return string(r.Body)
}

// pjWaitLog waits until the log at path holds want.
func pjWaitLog(t *testing.T, a *apptest.App, key, path, want string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := pjLogs(t, a, key, path)
		if strings.Contains(got, want) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %q did not appear; log:\n%s", path, want, got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestLogsTail(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	a.StartWorker(a.WorkerConfig())
	tn := a.NewTenant("active")
	pid := a.ReadyProject(tn, "logged")
	path := "/api/tenant/projects/" + pid
	pjWantError(t, a.Do("GET", path+"/logs", tn.Key, nil), http.StatusNotFound, "log_not_found", "logs of a project that never ran")

	eid := pjRun(t, a, tn.Key, pid)
	a.WaitProject(tn.Key, pid, 30*time.Second, apptest.StatusIs("completed"))
	r := a.Do("GET", path+"/logs", tn.Key, nil)
	full := string(r.Body)
	if r.Status != http.StatusOK || r.Header.Get("Content-Type") != "text/plain; charset=utf-8" || r.Header.Get("X-Execution-Id") != eid ||
		!strings.HasPrefix(full, "=== q2o execution "+eid+", attempt 1") || !strings.Contains(full, "PROGRESS 100 done\n") {
		t.Fatalf("logs: %d %v\n%s", r.Status, r.Header, full)
	}
	lines := strings.SplitAfter(strings.TrimSuffix(full, "\n"), "\n")
	if got := pjLogs(t, a, tn.Key, path+"/logs?tail=2"); got != strings.Join(lines[len(lines)-2:], "")+"\n" {
		t.Errorf("tail=2: %q, want the last two of %q", got, lines)
	}
	if got := pjLogs(t, a, tn.Key, path+"/logs?tail=0"); got != "" {
		t.Errorf("tail=0: %q", got)
	}
	if got := pjLogs(t, a, tn.Key, path+"/logs?tail=10000&execution_id="+eid); got != full {
		t.Errorf("by execution id: %q, want %q", got, full)
	}
	// The ended run's log is kept apart from run.log.
	e := a.Must(http.StatusOK, a.Do("GET", path+"/executions/"+eid, tn.Key, nil))
	if lp := a.Paths(eid).Log; lp != filepath.Join(a.OutputRoot, "_artifacts", pid, eid+".log") {
		t.Errorf("log_path %v", lp)
	}
	if u := e["log_url"]; u != path+"/logs?execution_id="+eid {
		t.Errorf("log_url %v", u)
	}

	for _, q := range []string{"tail=-1", "tail=abc", "tail=10001", "tail=1.5", "tail=99999999999999999999"} {
		r := a.Do("GET", path+"/logs?"+q, tn.Key, nil)
		pjWantError(t, r, http.StatusBadRequest, "invalid_tail", q)
		if r.Status == http.StatusBadRequest && errFieldOf(t, r) != "tail" {
			t.Errorf("%s: field %q", q, errFieldOf(t, r))
		}
	}
	other := a.ReadyProject(tn, "other")
	otherExec := pjRun(t, a, tn.Key, other)
	for _, id := range []string{"nope", "00000000-0000-0000-0000-000000000000", eid + "0", otherExec} {
		pjWantError(t, a.Do("GET", path+"/logs?execution_id="+id, tn.Key, nil), http.StatusNotFound, "execution_not_found", "execution_id="+id)
	}
}

func TestLogsOfAPendingRunAndHostileFiles(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{}) // no worker: runs stay pending
	tn := a.NewTenant("active")
	pid := a.ReadyProject(tn, "pending")
	path := "/api/tenant/projects/" + pid
	eid := pjRun(t, a, tn.Key, pid)
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
	if got := pjLogs(t, a, tn.Key, path+"/logs"); got != "" {
		t.Errorf("an earlier run's log shown for this one: %q", got)
	}
	if err := os.WriteFile(runLog, []byte("=== q2o execution "+eid+", attempt 1, started x ===\nthis run\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := pjLogs(t, a, tn.Key, path+"/logs?tail=1"); got != "this run\n" {
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
		pjWantError(t, r, http.StatusNotFound, "log_not_found", name)
		if strings.Contains(string(r.Body), "SECRET") {
			t.Errorf("%s: the linked file was served", name)
		}
	}
}

// pjSSE opens a followed log.
func pjSSE(t *testing.T, a *apptest.App, key, path, lastEventID string) *http.Response {
	t.Helper()
	req, err := http.NewRequest("GET", a.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Accept", "text/event-stream")
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	res, err := (&http.Client{Timeout: 90 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" {
		b, _ := io.ReadAll(res.Body)
		apptest.CheckOpenAPI(t, req, apptest.Response{Status: res.StatusCode, Header: res.Header, Body: b})
		t.Fatalf("SSE %s: %d %s %s", path, res.StatusCode, res.Header.Get("Content-Type"), b)
	}
	apptest.CheckOpenAPI(t, req, apptest.Response{Status: res.StatusCode, Header: res.Header})
	return res
}

type pjEvent struct{ id, event, data string }

// pjReadEvents reads events until the "end" event or the stream's end.
func pjReadEvents(t *testing.T, body io.Reader) []pjEvent {
	t.Helper()
	var evs []pjEvent
	var cur pjEvent
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if cur != (pjEvent{}) {
				evs = append(evs, cur)
				if cur.event == "end" {
					return evs
				}
			}
			cur = pjEvent{}
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "id: "):
			cur.id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "event: "):
			cur.event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			cur.data = strings.TrimPrefix(line, "data: ")
		default:
			t.Errorf("unexpected SSE line %q", line)
		}
	}
	return evs
}

func TestLogsFollow(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	tn := a.NewTenant("active")
	pid := a.ReadyProject(tn, "followed")
	path := "/api/tenant/projects/" + pid
	eid := pjRun(t, a, tn.Key, pid)

	// Follow from before the run starts until it ends.
	res := pjSSE(t, a, tn.Key, path+"/logs", "")
	if res.Header.Get("X-Execution-Id") != eid {
		t.Errorf("X-Execution-Id %q", res.Header.Get("X-Execution-Id"))
	}
	a.StartWorker(a.WorkerConfig("--seconds 2"))
	evs := pjReadEvents(t, res.Body)
	if len(evs) == 0 || evs[len(evs)-1].event != "end" || evs[len(evs)-1].data != "completed" {
		t.Fatalf("stream did not end with the run: %v", evs)
	}
	var data []string
	for _, ev := range evs[:len(evs)-1] {
		data = append(data, ev.data)
		if !strings.HasPrefix(ev.id, eid+"/") {
			t.Errorf("event id %q", ev.id)
		}
	}
	joined := strings.Join(data, "\n")
	for _, want := range []string{"=== q2o execution " + eid, "starting the agents", "PROGRESS 50 writing code", "PROGRESS 100 done"} {
		if !strings.Contains(joined, want) {
			t.Errorf("followed log lacks %q:\n%s", want, joined)
		}
	}
	if full := pjLogs(t, a, tn.Key, path+"/logs?tail=10000"); joined+"\n" != full {
		t.Errorf("followed lines differ from the log:\n%s\n---\n%s", joined, full)
	}

	// An ended run: the tail, then the end at once.
	evs = pjReadEvents(t, pjSSE(t, a, tn.Key, path+"/logs?tail=1", "").Body)
	if len(evs) != 2 || evs[0].data != data[len(data)-1] || evs[1].event != "end" {
		t.Errorf("tail=1 of an ended run: %v", evs)
	}
	// Last-Event-ID resumes after the line it names.
	var mid pjEvent
	for i, ev := range pjReadEvents(t, pjSSE(t, a, tn.Key, path+"/logs?tail=10000", "").Body) {
		if i == 1 {
			mid = ev
		}
	}
	evs = pjReadEvents(t, pjSSE(t, a, tn.Key, path+"/logs?tail=1", mid.id).Body)
	var rest []string
	for _, ev := range evs[:len(evs)-1] {
		rest = append(rest, ev.data)
	}
	if want := data[2:]; strings.Join(rest, "\n") != strings.Join(want, "\n") {
		t.Errorf("resumed after %q: %q, want %q", mid.id, rest, want)
	}
}

func TestProjectRoutesOtherTenant404(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	owner := a.NewTenant("active")
	pid := a.ReadyProject(owner, "owned")
	eid := pjRun(t, a, owner.Key, pid)
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
		pjWantError(t, a.Do(rt.method, rt.path, intruder.Key, rt.body), http.StatusNotFound, rt.code, "intruder "+rt.method+" "+rt.path)
		// And without a key: 401.
		pjWantError(t, a.Do(rt.method, rt.path, "", rt.body), http.StatusUnauthorized, "unauthorized", "no key "+rt.method+" "+rt.path)
	}
	for _, p := range []string{"/api/tenant/projects/status", "/api/tenant/projects"} {
		pjWantError(t, a.Do("GET", p, "", nil), http.StatusUnauthorized, "unauthorized", "no key "+p)
		m := pjList(t, a, intruder.Key, p+"?q=owned")
		if m["total"] != float64(0) {
			t.Errorf("%s shows another tenant's project: %v", p, m)
		}
	}
	// Malformed ids are 404 too.
	for _, rt := range routes[:6] {
		path := strings.Replace(rt.path, pid, "not-a-uuid", 1)
		pjWantError(t, a.Do(rt.method, path, owner.Key, rt.body), http.StatusNotFound, "project_not_found", "malformed "+rt.method+" "+path)
	}
	// Nothing changed for the owner.
	p := a.Must(http.StatusOK, a.Do("GET", base, owner.Key, nil))
	if p["name"] != "owned" || p["is_active"] != true || p["execution_status"] != "pending" {
		t.Errorf("owner's project after the intruder: %v", p)
	}
}

func TestCancelAndResumeConcurrent(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	tn := a.NewTenant("active")
	pid := a.ReadyProject(tn, "raced")
	path := "/api/tenant/projects/" + pid
	eid := pjRun(t, a, tn.Key, pid)

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
	e := a.Must(http.StatusOK, a.Do("GET", path+"/executions/"+eid, tn.Key, nil))
	paused := 0
	for _, ev := range e["events"].([]any) {
		if ev.(map[string]any)["kind"] == "cancelled" {
			paused++
		}
	}
	if paused != 1 {
		t.Errorf("%d cancelled events, want 1", paused)
	}
	if got := race("resume"); got["202"] != 1 || got["409 not_paused"]+got["409 run_in_progress"] != 9 {
		t.Errorf("10 concurrent resumes: %v", got)
	}
	if m := pjList(t, a, tn.Key, path+"/executions"); m["total"] != float64(2) {
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
		m := a.Must(http.StatusOK, a.Do("GET", path, tn.Key, nil))
		if len(m["items"].([]any)) != 10 || m["per_page"] != float64(10) || m["total_pages"] != float64(2) {
			t.Errorf("%s: %d items, per_page %v, %v pages", path, len(m["items"].([]any)), m["per_page"], m["total_pages"])
		}
		m = a.Must(http.StatusOK, a.Do("GET", path+"?per_page=50", tn.Key, nil))
		if len(m["items"].([]any)) != 12 || m["per_page"] != float64(50) || m["total_pages"] != float64(1) {
			t.Errorf("%s?per_page=50: %d items, %v pages", path, len(m["items"].([]any)), m["total_pages"])
		}
		for _, bad := range []string{"0", "51", "ten"} {
			pjWantError(t, a.Do("GET", path+"?per_page="+bad, tn.Key, nil), http.StatusBadRequest, "invalid_per_page", "per_page="+bad)
		}
	}
}
