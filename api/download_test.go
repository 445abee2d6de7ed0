package api_test

import (
	"archive/zip"
	"bytes"
	"context"
	"net/http"
	"os"
	"strconv"
	"testing"

	"github.com/q2o/q2o/api"
	"github.com/q2o/q2o/internal/apptest"
	"github.com/q2o/q2o/models"
)

func executionDownloadPath(pid, eid string) string {
	return "/api/tenant/projects/" + pid + "/executions/" + eid + "/download"
}

// tenantDownload sends a tenant's download request with extra headers.
func tenantDownload(t *testing.T, a *apptest.App, method, key, pid, eid string, header map[string]string) apptest.Response {
	t.Helper()
	h := map[string]string{"Authorization": "Bearer " + key}
	for k, v := range header {
		h[k] = v
	}
	return send(t, a, method, executionDownloadPath(pid, eid), h, "")
}

// A tenant downloads the zip of any completed run of its project, the
// latest or an earlier one, with the client download's semantics; a browser
// may use the portal's session cookie.
func TestTenantDownload200(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	_, stop := a.StartWorker(a.WorkerConfig())
	tn, token := sessionTenant(t, a)
	pid, _, code := clientProject(t, a, tn, "Tenant zips")
	e1 := waitZipped(t, a, tn, pid, runProject(t, a, tn, pid))
	eid1 := e1["id"].(string)
	e2 := waitZipped(t, a, tn, pid, runProject(t, a, tn, pid))
	eid2 := e2["id"].(string)
	stop()

	for _, e := range []map[string]any{e1, e2} {
		r := tenantDownload(t, a, "GET", tn.Key, pid, e["id"].(string), nil)
		if r.Status != http.StatusOK {
			t.Fatalf("download of %s: %d %s", e["id"], r.Status, r.Body)
		}
		size := int64(e["zip_size"].(float64))
		for h, want := range map[string]string{
			"Content-Type":        "application/zip",
			"Content-Disposition": `attachment; filename="Tenant zips.zip"`,
			"Content-Length":      strconv.FormatInt(size, 10),
			"Etag":                `"` + e["zip_sha256"].(string) + `"`,
			"Accept-Ranges":       "bytes",
			"Cache-Control":       "private, no-cache",
		} {
			if got := r.Header.Get(h); got != want {
				t.Errorf("%s: %q, want %q", h, got, want)
			}
		}
		if _, err := zip.NewReader(bytes.NewReader(r.Body), int64(len(r.Body))); err != nil || int64(len(r.Body)) != size {
			t.Errorf("not the zip (%d bytes, want %d): %v", len(r.Body), size, err)
		}
	}

	// The latest run's zip is the one the client gets.
	latest := tenantDownload(t, a, "GET", tn.Key, pid, eid2, nil)
	if pub := download(t, a, pid, code, nil); pub.Status != http.StatusOK || !bytes.Equal(pub.Body, latest.Body) {
		t.Errorf("client download: %d, %d bytes; want the latest run's zip", pub.Status, len(pub.Body))
	}
	etag := latest.Header.Get("Etag")
	part := tenantDownload(t, a, "GET", tn.Key, pid, eid2, map[string]string{"Range": "bytes=0-9", "If-Range": etag})
	if part.Status != http.StatusPartialContent || !bytes.Equal(part.Body, latest.Body[:10]) {
		t.Errorf("range: %d, %d bytes", part.Status, len(part.Body))
	}
	if nm := tenantDownload(t, a, "GET", tn.Key, pid, eid2, map[string]string{"If-None-Match": etag}); nm.Status != http.StatusNotModified {
		t.Errorf("If-None-Match: %d", nm.Status)
	}
	if r := tenantDownload(t, a, "GET", tn.Key, pid, eid2, map[string]string{"Range": "bytes=99999999-"}); r.Status != http.StatusRequestedRangeNotSatisfiable ||
		r.ErrorCode(t) != "range_not_satisfiable" {
		t.Errorf("range outside: %d %s", r.Status, r.Body)
	}
	head := tenantDownload(t, a, "HEAD", tn.Key, pid, eid1, nil)
	if head.Status != http.StatusOK || len(head.Body) != 0 || head.Header.Get("Content-Length") != strconv.FormatInt(int64(e1["zip_size"].(float64)), 10) {
		t.Errorf("HEAD: %d %v", head.Status, head.Header)
	}

	// A download link in the portal carries only the session cookie.
	url := cookieServer(t, a, api.Config{TenantCookie: tenantCookie, ClientCookie: clientCookie})
	for _, method := range []string{"GET", "HEAD"} {
		r := withCookie(t, method, url+executionDownloadPath(pid, eid1), tenantCookie, token, nil, "")
		if r.Status != http.StatusOK || r.Header.Get("Content-Type") != "application/zip" {
			t.Errorf("%s with the session cookie: %d %v", method, r.Status, r.Header)
		}
	}
	// So does the client's, with its client session.
	cs, err := a.Svc.OpenClientSession(context.Background(), code)
	if err != nil {
		t.Fatal(err)
	}
	if r := withCookie(t, "GET", url+downloadPath(pid), clientCookie, cs.Token, nil, ""); r.Status != http.StatusOK || !bytes.Equal(r.Body, latest.Body) {
		t.Errorf("client download with the client cookie: %d, %d bytes", r.Status, len(r.Body))
	}
}

// While the latest run's zip is being made: 202 zip_pending; when its file
// has vanished: 404 zip_missing with Retry-After, and it is made again. An
// earlier run's lost zip cannot be made again: 404 zip_missing with no
// Retry-After, and nothing is enqueued.
func TestTenantDownloadZipPendingAndMissing(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	_, stop := a.StartWorker(a.WorkerConfig())
	tn := a.NewTenant("active")
	pid := a.ReadyProject(tn, "lost zips")
	e1 := waitZipped(t, a, tn, pid, runProject(t, a, tn, pid))
	e2 := waitZipped(t, a, tn, pid, runProject(t, a, tn, pid))
	eid1, eid2 := e1["id"].(string), e2["id"].(string)
	stop()

	if err := os.Remove(e1["zip_path"].(string)); err != nil {
		t.Fatal(err)
	}
	zipRows := outboxZipRows(t, a, eid1) // none: the run zipped in its handler
	r := tenantDownload(t, a, "GET", tn.Key, pid, eid1, nil)
	if r.Status != http.StatusNotFound || r.ErrorCode(t) != "zip_missing" || r.Header.Get("Retry-After") != "" {
		t.Errorf("an earlier run's lost zip: %d %v %s", r.Status, r.Header, r.Body)
	}
	if n := outboxZipRows(t, a, eid1); n != zipRows {
		t.Errorf("%d outbox rows for the earlier run's zip, want %d: nothing enqueued", n, zipRows)
	}

	if err := os.Remove(e2["zip_path"].(string)); err != nil {
		t.Fatal(err)
	}
	r = tenantDownload(t, a, "GET", tn.Key, pid, eid2, nil)
	if r.Status != http.StatusNotFound || r.ErrorCode(t) != "zip_missing" || r.Header.Get("Retry-After") != "5" {
		t.Fatalf("the latest run's lost zip: %d %v %s", r.Status, r.Header, r.Body)
	}
	r = tenantDownload(t, a, "GET", tn.Key, pid, eid2, nil)
	if r.Status != http.StatusAccepted || r.JSON(t)["code"] != "zip_pending" || r.Header.Get("Retry-After") != "5" {
		t.Fatalf("while it is made again: %d %v %s", r.Status, r.Header, r.Body)
	}
	if head := tenantDownload(t, a, "HEAD", tn.Key, pid, eid2, nil); head.Status != http.StatusAccepted || len(head.Body) != 0 {
		t.Errorf("HEAD while pending: %d, %d bytes", head.Status, len(head.Body))
	}

	a.StartWorker(a.WorkerConfig())
	waitZipped(t, a, tn, pid, eid2)
	if r := tenantDownload(t, a, "GET", tn.Key, pid, eid2, nil); r.Status != http.StatusOK {
		t.Errorf("after the zip was made again: %d %s", r.Status, r.Body)
	}
}

func TestTenantDownload409(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	tn := a.NewTenant("active")
	pid := a.ReadyProject(tn, "not done")
	eid := runProject(t, a, tn, pid) // no worker: it stays pending
	for _, status := range []string{"pending", "running", "failed", "paused"} {
		apptest.Set[models.Execution](t, a.DB, "status", status, "id = ?", eid)
		r := tenantDownload(t, a, "GET", tn.Key, pid, eid, nil)
		if r.Status != http.StatusConflict || r.ErrorCode(t) != "execution_not_completed" {
			t.Errorf("%s run: %d %s", status, r.Status, r.Body)
		}
		if head := tenantDownload(t, a, "HEAD", tn.Key, pid, eid, nil); head.Status != http.StatusConflict || len(head.Body) != 0 {
			t.Errorf("%s run, HEAD: %d, %d bytes", status, head.Status, len(head.Body))
		}
	}
}

func TestTenantDownload404(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	tn, other := a.NewTenant("active"), a.NewTenant("active")
	pid := a.ReadyProject(tn, "mine")
	pid2 := a.ReadyProject(tn, "my other")
	eid := runProject(t, a, tn, pid)
	apptest.Set[models.Execution](t, a.DB, "status", models.StatusCompleted, "id = ?", eid)
	for name, c := range map[string]struct{ key, pid, eid string }{
		"another tenant":         {other.Key, pid, eid},
		"another project's run":  {tn.Key, pid2, eid},
		"unknown execution":      {tn.Key, pid, "00000000-0000-7000-8000-000000000000"},
		"unknown project":        {tn.Key, "00000000-0000-7000-8000-000000000000", eid},
		"malformed execution id": {tn.Key, pid, "not-a-uuid"},
		"malformed project id":   {tn.Key, "not-a-uuid", eid},
		"upper-case id":          {tn.Key, pid, "A" + eid[1:]},
	} {
		r := tenantDownload(t, a, "GET", c.key, c.pid, c.eid, nil)
		if r.Status != http.StatusNotFound || r.ErrorCode(t) != "execution_not_found" {
			t.Errorf("%s: %d %s", name, r.Status, r.Body)
		}
		if head := tenantDownload(t, a, "HEAD", c.key, c.pid, c.eid, nil); head.Status != http.StatusNotFound || len(head.Body) != 0 {
			t.Errorf("%s, HEAD: %d, %d bytes", name, head.Status, len(head.Body))
		}
	}
}

func TestTenantDownload401(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	tn := a.NewTenant("active")
	pid := a.ReadyProject(tn, "guarded")
	eid := runProject(t, a, tn, pid)
	for _, key := range []string{"", "nope", apptest.Tampered(tn.Key)} {
		h := map[string]string{}
		if key != "" {
			h["Authorization"] = "Bearer " + key
		}
		if r := send(t, a, "GET", executionDownloadPath(pid, eid), h, ""); r.Status != http.StatusUnauthorized {
			t.Errorf("key %q: %d %s", key, r.Status, r.Body)
		}
	}
}
