package api_test

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"gorm.io/gorm"

	"github.com/q2o/q2o/internal/apptest"
	"github.com/q2o/q2o/jobs"
	"github.com/q2o/q2o/models"
	"github.com/q2o/q2o/ratelimit"
	"github.com/q2o/q2o/service"
)

// pubDo sends a request with extra headers (a.Do sets only Authorization).
func pubDo(t *testing.T, a *apptest.App, method, path string, header map[string]string, body string) apptest.Response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, a.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return sendReq(t, req) // checked against the OpenAPI document, like every answer
}

func activate(t *testing.T, a *apptest.App, code string) apptest.Response {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"code": code})
	return pubDo(t, a, "POST", "/api/public/activate-project", nil, string(b))
}

func downloadPath(pid string) string { return "/api/public/projects/" + pid + "/download" }

func download(t *testing.T, a *apptest.App, pid, code string, header map[string]string) apptest.Response {
	t.Helper()
	h := map[string]string{"X-Activation-Code": code}
	for k, v := range header {
		h[k] = v
	}
	return pubDo(t, a, "GET", downloadPath(pid), h, "")
}

// clientProject creates a project of tn with a fresh code assigned and
// returns the project id, the code's id and the code.
func clientProject(t *testing.T, a *apptest.App, tn apptest.Tenant, name string) (pid, codeID, code string) {
	t.Helper()
	pid = a.Project(tn.Key, name)
	codeID, code = a.Code(tn.ID, nil)
	a.Must(http.StatusOK, a.Do("POST", "/api/tenant/projects/"+pid+"/assign-activation-code", tn.Key, map[string]any{"code": code}))
	return pid, codeID, code
}

func runProject(t *testing.T, a *apptest.App, tn apptest.Tenant, pid string) string {
	t.Helper()
	return a.Run(tn.Key, pid)
}

// waitZipped waits until the execution's zip is recorded and returns the
// execution.
func waitZipped(t *testing.T, a *apptest.App, tn apptest.Tenant, pid, eid string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		e := a.Must(http.StatusOK, a.Do("GET", "/api/tenant/projects/"+pid+"/executions/"+eid, tn.Key, nil))
		for _, k := range []string{"zip_path", "log_path", "worker_id"} {
			if _, ok := e[k]; ok {
				t.Fatalf("the tenant's answer shows %s: %v", k, e)
			}
		}
		if u, _ := e["download_url"].(string); u != "" {
			if u != "/api/tenant/projects/"+pid+"/executions/"+eid+"/download" {
				t.Errorf("download_url %q", u)
			}
			e["zip_path"] = a.Paths(eid).Zip // for the tests that tamper with the file
			return e
		}
		if time.Now().After(deadline) {
			t.Fatalf("execution %s not zipped in time: %v", eid, e)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func keys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

var publicProjectKeys = []string{"description", "download_ready", "download_url", "execution_completed_at", "execution_started_at",
	"execution_status", "id", "latest_execution_id", "latest_execution_status", "name", "progress", "progress_message"}

func TestPublicActivate(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	tn := a.NewTenant("active")
	pid, codeID, code := clientProject(t, a, tn, "Client app")
	other, otherCodeID, _ := clientProject(t, a, tn, "Other project")

	for _, c := range []string{code, strings.ToLower(strings.ReplaceAll(code, "-", "")), "  " + strings.ToLower(code) + " "} {
		r := activate(t, a, c)
		m := a.Must(http.StatusOK, r)
		if got := keys(m); !slices.Equal(got, publicProjectKeys) {
			t.Errorf("code %q: keys %v, want exactly %v", c, got, publicProjectKeys)
		}
		if p := apptest.Decode[service.PublicProject](t, http.StatusOK, r); p.ID.String() != pid || p.Name != "Client app" ||
			p.Description != "a tool for Client app" || p.ExecutionStatus != nil || p.Progress != 0 || p.DownloadReady ||
			p.LatestExecutionID != nil || p.LatestExecutionStatus != nil {
			t.Errorf("code %q: %+v", c, p)
		}
		for _, secret := range []string{tn.ID, other, codeID, otherCodeID, "Other project", "ship it"} {
			if bytes.Contains(r.Body, []byte(secret)) {
				t.Errorf("code %q: the answer reveals %q: %s", c, secret, r.Body)
			}
		}
		if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("Cache-Control %q", cc)
		}
	}
}

func TestPublicActivateNotFound(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	tn := a.NewTenant("active")
	_, unassigned := a.Code(tn.ID, nil)
	_, revokedID, revoked := clientProject(t, a, tn, "revoked")
	a.Must(http.StatusOK, a.Do("POST", "/api/admin/activation-codes/"+revokedID+"/revoke", apptest.AdminToken, nil))
	_, expiredID, expired := clientProject(t, a, tn, "expired")
	apptest.Set[models.ActivationCode](t, a.DB, "expires_at", gorm.Expr("now() - interval '1 minute'"), "id = ?", expiredID)
	deletedPID, _, deleted := clientProject(t, a, tn, "deleted")
	apptest.Set[models.Project](t, a.DB, "is_active", false, "id = ?", deletedPID)

	want := activate(t, a, "ZZZZZ-ZZZZZ-ZZZZZ-ZZZZZ")
	if want.Status != http.StatusNotFound || want.ErrorCode(t) != "not_found" {
		t.Fatalf("wrong code: %d %s", want.Status, want.Body)
	}
	for name, c := range map[string]string{
		"unassigned": unassigned, "revoked": revoked, "expired": expired, "deleted project": deleted,
		"sql": "'; DROP TABLE projects; --", "wildcard": "%", "unicode": "ÄÖÜ-☃", "long": strings.Repeat("A", 10000),
	} {
		if r := activate(t, a, c); r.Status != want.Status || !bytes.Equal(r.Body, want.Body) {
			t.Errorf("%s: %d %s, want the same answer as a wrong code: %d %s", name, r.Status, r.Body, want.Status, want.Body)
		}
	}

	for _, c := range []struct{ body, code string }{
		{`{}`, "missing_field"},
		{`{"code":"  "}`, "missing_field"},
		{`{"code":null}`, "missing_field"},
		{`{"code":5}`, "invalid_type"},
		{`{"code":"x","tenant_id":"y"}`, "unknown_field"},
		{`not json`, "invalid_json"},
		{`["x"]`, "invalid_json"},
	} {
		r := pubDo(t, a, "POST", "/api/public/activate-project", nil, c.body)
		if r.Status != http.StatusBadRequest || r.ErrorCode(t) != c.code {
			t.Errorf("%s: %d %s, want 400 %s", c.body, r.Status, r.Body, c.code)
		}
	}
}

func TestPublicRateLimits(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	tn := a.NewTenant("active")
	pid, _, code := clientProject(t, a, tn, "limited")

	// 20 a minute per IP: 18 are spent at once, the last two go through.
	spend(t, a, ratelimit.Activate, "127.0.0.1", 18)
	for i := range 2 {
		if r := activate(t, a, "ZZZZZ-ZZZZZ-ZZZZZ-ZZZZ"+strconv.Itoa(i)); r.Status != http.StatusNotFound {
			t.Fatalf("request %d: %d %s", i+19, r.Status, r.Body)
		}
	}
	// The limit is per IP, not per code: the right code is refused too.
	r := activate(t, a, code)
	if r.Status != http.StatusTooManyRequests || r.ErrorCode(t) != "rate_limited" {
		t.Fatalf("21st activation: %d %s", r.Status, r.Body)
	}
	if s, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || s < 1 {
		t.Errorf("Retry-After %q", r.Header.Get("Retry-After"))
	}

	// Downloads have their own, larger budget.
	spend(t, a, ratelimit.Download, "127.0.0.1", 59)
	if r := download(t, a, pid, "wrong", nil); r.Status != http.StatusNotFound {
		t.Fatalf("download 60: %d %s", r.Status, r.Body)
	}
	r = download(t, a, pid, code, nil)
	if r.Status != http.StatusTooManyRequests || r.ErrorCode(t) != "rate_limited" || r.Header.Get("Retry-After") == "" {
		t.Errorf("61st download: %d %v %s", r.Status, r.Header, r.Body)
	}
}

func TestPublicDownload(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	a.StartWorker(a.WorkerConfig())
	tn := a.NewTenant("active")
	pid, _, code := clientProject(t, a, tn, "Client app")
	hostile := "Q3 \"Ä/B\\C\"\r\nreport"
	pid2, _, code2 := clientProject(t, a, tn, hostile)
	eid := runProject(t, a, tn, pid)
	eid2 := runProject(t, a, tn, pid2)
	e := waitZipped(t, a, tn, pid, eid)
	waitZipped(t, a, tn, pid2, eid2)

	m := apptest.Decode[service.PublicProject](t, http.StatusOK, activate(t, a, code))
	if !m.DownloadReady || apptest.Deref(m.ExecutionStatus) != models.StatusCompleted || apptest.Deref(m.LatestExecutionStatus) != models.StatusCompleted ||
		m.LatestExecutionID == nil || m.LatestExecutionID.String() != eid || m.Progress != 100 || m.ExecutionCompletedAt == nil {
		t.Errorf("activate after the run: %+v", m)
	}

	r := download(t, a, pid, code, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("download: %d %s", r.Status, r.Body)
	}
	size := int64(e["zip_size"].(float64))
	for h, want := range map[string]string{
		"Content-Type":        "application/zip",
		"Content-Disposition": `attachment; filename="Client app.zip"`,
		"Content-Length":      strconv.FormatInt(size, 10),
		"Etag":                `"` + e["zip_sha256"].(string) + `"`,
		"Accept-Ranges":       "bytes",
		"Cache-Control":       "private, no-cache",
	} {
		if got := r.Header.Get(h); got != want {
			t.Errorf("%s: %q, want %q", h, got, want)
		}
	}
	if int64(len(r.Body)) != size {
		t.Fatalf("body %d bytes, want %d", len(r.Body), size)
	}
	zr, err := zip.NewReader(bytes.NewReader(r.Body), size)
	if err != nil {
		t.Fatalf("the body is not a zip: %v", err)
	}
	names := map[string]bool{}
	for _, f := range zr.File {
		names[f.Name] = true
	}
	if !names["src/app.py"] || !names["README.md"] || names["run.log"] || names[".env"] {
		t.Errorf("zip entries: %v", names)
	}

	// ?code= works as well as the header, in any case and without dashes.
	q := pubDo(t, a, "GET", downloadPath(pid)+"?code="+strings.ToLower(strings.ReplaceAll(code, "-", "")), nil, "")
	if q.Status != http.StatusOK || !bytes.Equal(q.Body, r.Body) {
		t.Errorf("?code=: %d, %d bytes", q.Status, len(q.Body))
	}

	part := download(t, a, pid, code, map[string]string{"Range": "bytes=0-99"})
	if part.Status != http.StatusPartialContent || len(part.Body) != 100 || !bytes.Equal(part.Body, r.Body[:100]) ||
		part.Header.Get("Content-Range") != "bytes 0-99/"+strconv.FormatInt(size, 10) {
		t.Errorf("range: %d %v, %d bytes", part.Status, part.Header, len(part.Body))
	}
	// If-Range with the current ETag gives the range, with another the whole zip.
	part = download(t, a, pid, code, map[string]string{"Range": "bytes=100-", "If-Range": r.Header.Get("Etag")})
	if part.Status != http.StatusPartialContent || !bytes.Equal(part.Body, r.Body[100:]) {
		t.Errorf("If-Range with the ETag: %d, %d bytes", part.Status, len(part.Body))
	}
	part = download(t, a, pid, code, map[string]string{"Range": "bytes=100-", "If-Range": `"stale"`})
	if part.Status != http.StatusOK || len(part.Body) != len(r.Body) {
		t.Errorf("If-Range with a stale ETag: %d, %d bytes", part.Status, len(part.Body))
	}
	if nm := download(t, a, pid, code, map[string]string{"If-None-Match": r.Header.Get("Etag")}); nm.Status != http.StatusNotModified {
		t.Errorf("If-None-Match: %d", nm.Status)
	}
	// ServeContent's own refusals come in the one error shape too.
	for _, c := range []struct {
		header map[string]string
		status int
		code   string
	}{
		{map[string]string{"Range": "bytes=99999999-"}, http.StatusRequestedRangeNotSatisfiable, "range_not_satisfiable"},
		{map[string]string{"If-Match": `"nope"`}, http.StatusPreconditionFailed, "precondition_failed"},
	} {
		res := download(t, a, pid, code, c.header)
		if res.Status != c.status || res.Header.Get("Content-Type") != "application/json" || res.ErrorCode(t) != c.code {
			t.Errorf("%v: %d %s %s", c.header, res.Status, res.Header.Get("Content-Type"), res.Body)
		}
	}
	head := pubDo(t, a, "HEAD", downloadPath(pid), map[string]string{"X-Activation-Code": code}, "")
	if head.Status != http.StatusOK || len(head.Body) != 0 || head.Header.Get("Content-Length") != strconv.FormatInt(size, 10) ||
		head.Header.Get("Content-Type") != "application/zip" {
		t.Errorf("HEAD: %d %v, %d bytes", head.Status, head.Header, len(head.Body))
	}

	// A name that would break the header: ASCII fallback and RFC 5987 name.
	r2 := download(t, a, pid2, code2, nil)
	if r2.Status != http.StatusOK {
		t.Fatalf("download 2: %d %s", r2.Status, r2.Body)
	}
	cd := r2.Header.Get("Content-Disposition")
	if !strings.HasPrefix(cd, `attachment; filename="Q3 ___B_C___report.zip"; filename*=UTF-8''`) {
		t.Errorf("Content-Disposition %q", cd)
	}
	if _, params, err := mime.ParseMediaType(cd); err != nil || params["filename"] != "Q3 \"Ä_B_C\"__report.zip" {
		t.Errorf("Content-Disposition %q parses as %v, %v", cd, params, err)
	}

	// The code must open this very project; every miss is the same 404.
	other := a.NewTenant("active")
	otherPID, _, otherCode := clientProject(t, a, other, "Other tenant's")
	want := download(t, a, pid, "ZZZZZ-ZZZZZ-ZZZZZ-ZZZZZ", nil)
	if want.Status != http.StatusNotFound || want.ErrorCode(t) != "not_found" {
		t.Fatalf("wrong code: %d %s", want.Status, want.Body)
	}
	for name, c := range map[string]struct{ pid, code string }{
		"no code":                   {pid, ""},
		"another project's code":    {pid, code2},
		"code on another project":   {pid2, code},
		"another tenant's project":  {otherPID, code},
		"another tenant's code":     {pid, otherCode},
		"malformed project id":      {"not-a-uuid", code},
		"unknown project id":        {"00000000-0000-0000-0000-000000000000", code},
		"path traversal project id": {"..%2f..%2fetc", code},
	} {
		if r := download(t, a, c.pid, c.code, nil); r.Status != want.Status || !bytes.Equal(r.Body, want.Body) {
			t.Errorf("%s: %d %s, want %d %s", name, r.Status, r.Body, want.Status, want.Body)
		}
	}
}

func TestPublicDownloadNotCompleted(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	a.StartWorker(a.WorkerConfig("--mode sleep --seconds 30"))
	tn := a.NewTenant("active")
	pid, _, code := clientProject(t, a, tn, "slow")

	notCompleted := func(when string) {
		t.Helper()
		r := download(t, a, pid, code, nil)
		if r.Status != http.StatusConflict || r.ErrorCode(t) != "project_not_completed" {
			t.Errorf("%s: %d %s, want 409 project_not_completed", when, r.Status, r.Body)
		}
		head := pubDo(t, a, "HEAD", downloadPath(pid), map[string]string{"X-Activation-Code": code}, "")
		if head.Status != http.StatusConflict || len(head.Body) != 0 {
			t.Errorf("%s: HEAD %d, %d bytes", when, head.Status, len(head.Body))
		}
	}
	notCompleted("before any run")

	eid := runProject(t, a, tn, pid)
	a.AwaitProject(tn.Key, pid, 30*time.Second, apptest.HasStatus(models.StatusRunning))
	notCompleted("while running")
	m := apptest.Decode[service.PublicProject](t, http.StatusOK, activate(t, a, code))
	if apptest.Deref(m.ExecutionStatus) != models.StatusRunning || apptest.Deref(m.LatestExecutionStatus) != models.StatusRunning ||
		m.LatestExecutionID == nil || m.LatestExecutionID.String() != eid || m.DownloadReady || m.ExecutionStartedAt == nil {
		t.Errorf("activate while running: %+v", m)
	}

	// The subscription lapses: the run is paused, still nothing to download.
	a.SetSubscription(tn.ID, models.SubPastDue)
	a.AwaitProject(tn.Key, pid, 30*time.Second, apptest.HasStatus(models.StatusPaused))
	notCompleted("after a pause")

	// A failed run has no download either.
	apptest.Set[models.Execution](t, a.DB, "status", models.StatusFailed, "id = ?", eid)
	apptest.Set[models.Project](t, a.DB, "execution_status", models.StatusFailed, "id = ?", pid)
	notCompleted("after a failure")
}

// zipTaskState returns the state of the execution's project:zip task on
// Redis, or "" when there is none.
func zipTaskState(t *testing.T, a *apptest.App, eid string) string {
	t.Helper()
	insp := asynq.NewInspector(a.RedisOpt)
	defer insp.Close()
	info, err := insp.GetTaskInfo(jobs.QueueArtifacts, "zip:"+eid)
	if err != nil {
		return ""
	}
	return info.State.String()
}

func outboxZipRows(t *testing.T, a *apptest.App, eid string) int {
	t.Helper()
	return len(apptest.Outbox(t, a.DB, jobs.TypeProjectZip, "task_id = ?", "zip:"+eid))
}

// waitDownload polls the download until it answers 200 and returns it.
func waitDownload(t *testing.T, a *apptest.App, pid, code string) apptest.Response {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := download(t, a, pid, code, nil)
		if r.Status == http.StatusOK {
			return r
		}
		if r.Status != http.StatusAccepted && r.Status != http.StatusNotFound || time.Now().After(deadline) {
			t.Fatalf("download: %d %s", r.Status, r.Body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestPublicDownloadZipPending(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	_, stop := a.StartWorker(a.WorkerConfig())
	tn := a.NewTenant("active")
	pid, _, code := clientProject(t, a, tn, "pending zip")
	eid := runProject(t, a, tn, pid)
	waitZipped(t, a, tn, pid, eid)
	stop()

	// The zip's record and its outbox row are lost. The run zipped in its
	// own handler, so Redis holds no zip task; had the project:zip fallback
	// made it, Redis would still hold that finished task (retention), whose
	// TaskID would refuse a new one: either way a new zip must be made.
	for _, col := range []string{"zip_path", "zip_size", "zip_sha256"} {
		apptest.Set[models.Execution](t, a.DB, col, nil, "id = ?", eid)
	}
	if err := a.DB.Where("task_type = ?", jobs.TypeProjectZip).Delete(&models.OutboxMessage{}).Error; err != nil {
		t.Fatal(err)
	}
	if s := zipTaskState(t, a, eid); s != "" && s != "completed" {
		t.Fatalf("zip task state %q, want none (zipped in the run) or completed", s)
	}

	r := download(t, a, pid, code, nil)
	if r.Status != http.StatusAccepted || r.JSON(t)["code"] != "zip_pending" || r.Header.Get("Retry-After") != "5" {
		t.Fatalf("download of an unzipped run: %d %v %s", r.Status, r.Header, r.Body)
	}
	if n := outboxZipRows(t, a, eid); n != 1 {
		t.Errorf("%d outbox rows for the zip task, want 1", n)
	}
	if s := zipTaskState(t, a, eid); s != "pending" {
		t.Errorf("zip task state %q, want pending", s)
	}
	if m := apptest.Decode[service.PublicProject](t, http.StatusOK, activate(t, a, code)); m.DownloadReady || apptest.Deref(m.ExecutionStatus) != models.StatusCompleted {
		t.Errorf("activate: %+v", m)
	}
	// Asking again while the task waits adds nothing.
	if r := download(t, a, pid, code, nil); r.Status != http.StatusAccepted {
		t.Errorf("second download: %d %s", r.Status, r.Body)
	}
	if n := outboxZipRows(t, a, eid); n != 1 {
		t.Errorf("%d outbox rows for the zip task after a second try, want 1", n)
	}

	// A worker picks the task up and the zip is served.
	a.StartWorker(a.WorkerConfig())
	r = waitDownload(t, a, pid, code)
	if _, err := zip.NewReader(bytes.NewReader(r.Body), int64(len(r.Body))); err != nil {
		t.Errorf("not a zip: %v", err)
	}
}

func TestPublicDownloadZipVanished(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	_, stop := a.StartWorker(a.WorkerConfig())
	tn := a.NewTenant("active")
	pid, _, code := clientProject(t, a, tn, "vanished zip")
	eid := runProject(t, a, tn, pid)
	e := waitZipped(t, a, tn, pid, eid)
	stop()
	path := e["zip_path"].(string)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}

	r := download(t, a, pid, code, nil)
	if r.Status != http.StatusNotFound || r.ErrorCode(t) != "zip_missing" || r.Header.Get("Retry-After") != "5" {
		t.Fatalf("download of a vanished zip: %d %v %s", r.Status, r.Header, r.Body)
	}
	if zipPath := apptest.Row[models.Execution](t, a.DB, eid).ZipPath; zipPath != nil {
		t.Errorf("zip_path still %q", *zipPath)
	}
	if s := zipTaskState(t, a, eid); s != "pending" {
		t.Errorf("zip task state %q, want pending", s)
	}
	if r := download(t, a, pid, code, nil); r.Status != http.StatusAccepted {
		t.Errorf("download while the zip is remade: %d %s", r.Status, r.Body)
	}

	a.StartWorker(a.WorkerConfig())
	waitDownload(t, a, pid, code)
	if _, err := os.Stat(path); err != nil {
		t.Errorf("zip not written again: %v", err)
	}
}
