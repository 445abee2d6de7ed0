package s3e2e_test

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/q2o/q2o/internal/apptest"
)

// noRedirect sends req and does not follow a redirect.
func noRedirect(t *testing.T, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	c := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, b
}

// With Q2O_S3_PRESIGN_ABOVE, a GET of a large enough zip is a 302 to a
// presigned URL of its object, which serves it (with Range) without
// credentials; HEAD and a matching If-None-Match are still answered by
// the API.
func TestS3PresignedDownload(t *testing.T) {
	a := apptest.New(t, apptest.Options{S3: seaweed, PresignAbove: 1})
	a.StartWorker(a.WorkerConfig())
	tn := a.NewTenant("active")
	pid := a.Project(tn.Key, "Presigned zip")
	_, code := a.Code(tn.ID, nil)
	a.Must(http.StatusOK, a.Do("POST", "/api/tenant/projects/"+pid+"/assign-activation-code", tn.Key, map[string]any{"code": code}))
	eid := a.Run(tn.Key, pid)
	e := waitEnded(t, a, tn.Key, pid, eid, 60*time.Second)
	zipBody, _ := object(t, a, objectName(a, pid, eid, ".zip"))
	if zipBody == nil || sha(zipBody) != e["zip_sha256"] {
		t.Fatalf("object: %d bytes; execution %v", len(zipBody), e)
	}
	for path, auth := range map[string][2]string{
		"/api/public/projects/" + pid + "/download":                        {"X-Activation-Code", code},
		"/api/tenant/projects/" + pid + "/executions/" + eid + "/download": {"Authorization", "Bearer " + tn.Key},
	} {
		req, _ := http.NewRequest("GET", a.URL+path, nil)
		req.Header.Set(auth[0], auth[1])
		res, b := noRedirect(t, req)
		apptest.CheckOpenAPI(t, req, apptest.Response{Status: res.StatusCode, Header: res.Header, Body: b})
		loc := res.Header.Get("Location")
		if res.StatusCode != http.StatusFound || !strings.HasPrefix(loc, a.S3.Endpoint+"/"+a.S3.Bucket+"/") || !strings.Contains(loc, "X-Amz-Signature=") {
			t.Fatalf("%s: %d, Location %q", path, res.StatusCode, loc)
		}
		// The URL alone fetches the zip, named as the API names it.
		got, _ := http.NewRequest("GET", loc, nil)
		res, b = noRedirect(t, got)
		if res.StatusCode != http.StatusOK || !bytes.Equal(b, zipBody) || res.Header.Get("Content-Disposition") != `attachment; filename="Presigned zip.zip"` ||
			res.Header.Get("Content-Type") != "application/zip" {
			t.Errorf("presigned GET: %d, %d bytes, %q %q", res.StatusCode, len(b), res.Header.Get("Content-Disposition"), res.Header.Get("Content-Type"))
		}
		got.Header.Set("Range", "bytes=5-14")
		if res, b = noRedirect(t, got); res.StatusCode != http.StatusPartialContent || !bytes.Equal(b, zipBody[5:15]) {
			t.Errorf("presigned range: %d, %q", res.StatusCode, b)
		}
		// HEAD and If-None-Match stay with the API.
		if st, h, _ := get(t, a, "HEAD", path, map[string]string{auth[0]: auth[1]}); st != http.StatusOK || h.Get("Etag") != `"`+sha(zipBody)+`"` {
			t.Errorf("%s HEAD: %d %q", path, st, h.Get("Etag"))
		}
		req.Header.Set("If-None-Match", `"`+sha(zipBody)+`"`)
		if res, _ := noRedirect(t, req); res.StatusCode != http.StatusNotModified {
			t.Errorf("%s If-None-Match: %d", path, res.StatusCode)
		}
	}
}
