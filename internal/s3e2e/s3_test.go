package s3e2e_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/q2o/q2o/internal/apptest"
	"github.com/q2o/q2o/internal/testenv"
)

// seaweed is the package's S3 server (TestMain). TestS3Outage stops its
// gateway, so the tests here do not run in parallel.
var seaweed *testenv.Seaweed

func TestMain(m *testing.M) {
	w, err := testenv.StartSeaweed()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	seaweed = w
	code := m.Run()
	w.Close()
	os.Exit(code)
}

// s3Client reads the app's bucket through the S3 API, not through q2o.
func s3Client(t *testing.T, a *apptest.App) *minio.Client {
	t.Helper()
	c, err := minio.New(strings.TrimPrefix(a.S3.Endpoint, "http://"), &minio.Options{
		Creds: credentials.NewStaticV4(a.S3.AccessKeyID, a.S3.SecretAccessKey, ""), Region: a.S3.Region,
		BucketLookup: minio.BucketLookupPath})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// object is what the bucket holds under name: its bytes and the SHA-256 tag
// the upload recorded; nil bytes when there is no such object.
func object(t *testing.T, a *apptest.App, name string) (body []byte, shaTag string) {
	t.Helper()
	ctx := context.Background()
	c := s3Client(t, a)
	if _, err := c.StatObject(ctx, a.S3.Bucket, name, minio.StatObjectOptions{}); err != nil {
		if minio.ToErrorResponse(err).Code == "NoSuchKey" {
			return nil, ""
		}
		t.Fatalf("stat %s: %v", name, err)
	}
	o, err := c.GetObject(ctx, a.S3.Bucket, name, minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if body, err = io.ReadAll(o); err != nil {
		t.Fatal(err)
	}
	tags, err := c.GetObjectTagging(ctx, a.S3.Bucket, name, minio.GetObjectTaggingOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return body, tags.ToMap()["q2o-sha256"]
}

func objectName(a *apptest.App, pid, eid, ext string) string {
	return a.S3.Prefix + "_artifacts/" + pid + "/" + eid + ext
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// waitEnded waits until execution eid's run has ended and its zip (for a
// completed one) is recorded, and returns the execution as the tenant sees it.
func waitEnded(t *testing.T, a *apptest.App, key, pid, eid string, within time.Duration) map[string]any {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		e := a.Must(http.StatusOK, a.Do("GET", "/api/tenant/projects/"+pid+"/executions/"+eid, key, nil))
		switch st, _ := e["status"].(string); {
		case st == "completed" && e["download_url"] != nil, st == "failed":
			return e
		}
		if time.Now().After(deadline) {
			t.Fatalf("execution %s did not end with its zip within %s: %v", eid, within, e)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func get(t *testing.T, a *apptest.App, method, path string, header map[string]string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, a.URL+path, nil)
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
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	apptest.CheckOpenAPI(t, req, apptest.Response{Status: res.StatusCode, Header: res.Header, Body: b})
	return res.StatusCode, res.Header, b
}

func missing(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s is still there (%v)", path, err)
	}
}

// A run with Q2O_ARTIFACTS=s3: its zip and log are in the bucket (checked
// through the S3 API, with the recorded SHA-256), the downloads through
// the API are the object byte for byte with Range, HEAD and ETag, the log
// is served from the bucket after the run, nothing is left in the worker's
// scratch, and retention deletes the objects of a pruned run.
func TestS3Run(t *testing.T) {
	a := apptest.New(t, apptest.Options{S3: seaweed})
	cfg := a.WorkerConfig()
	cfg.KeepRuns = 1
	a.StartWorker(cfg)
	tn := a.NewTenant("active")
	pid := a.Project(tn.Key, "Bucket run")
	_, code := a.Code(tn.ID, nil)
	a.Must(http.StatusOK, a.Do("POST", "/api/tenant/projects/"+pid+"/assign-activation-code", tn.Key, map[string]any{"code": code}))

	eid := a.Run(tn.Key, pid)
	e := waitEnded(t, a, tn.Key, pid, eid, 60*time.Second)
	if e["status"] != "completed" {
		t.Fatalf("run: %v", e)
	}
	paths := a.Paths(eid)
	zipName, logName := objectName(a, pid, eid, ".zip"), objectName(a, pid, eid, ".log")
	if want := "s3://" + a.S3.Bucket + "/" + zipName; paths.Zip != want {
		t.Errorf("zip_path %q, want %q", paths.Zip, want)
	}
	if want := "s3://" + a.S3.Bucket + "/" + logName; paths.Log != want {
		t.Errorf("log_path %q, want %q", paths.Log, want)
	}

	t.Run("the zip is in the bucket with its SHA-256", func(t *testing.T) {
		body, tag := object(t, a, zipName)
		if body == nil {
			t.Fatalf("no object %s", zipName)
		}
		if got := sha(body); got != e["zip_sha256"] || tag != got || int64(len(body)) != int64(e["zip_size"].(float64)) {
			t.Errorf("object: %d bytes, sha %s, tag %s; execution %v", len(body), got, tag, e)
		}
	})
	zipBody, _ := object(t, a, zipName)

	t.Run("downloads are the object, with Range, HEAD and ETag", func(t *testing.T) {
		client := map[string]string{"X-Activation-Code": code}
		tenant := map[string]string{"Authorization": "Bearer " + tn.Key}
		routes := map[string]map[string]string{
			"/api/public/projects/" + pid + "/download":                        client,
			"/api/tenant/projects/" + pid + "/executions/" + eid + "/download": tenant,
		}
		for path, auth := range routes {
			with := func(extra map[string]string) map[string]string {
				h := map[string]string{}
				for k, v := range auth {
					h[k] = v
				}
				for k, v := range extra {
					h[k] = v
				}
				return h
			}
			st, h, b := get(t, a, "GET", path, auth)
			if st != http.StatusOK || !bytes.Equal(b, zipBody) {
				t.Fatalf("%s: %d, %d bytes (object: %d)", path, st, len(b), len(zipBody))
			}
			etag := h.Get("Etag")
			if etag != `"`+sha(zipBody)+`"` || h.Get("Accept-Ranges") != "bytes" {
				t.Errorf("%s: ETag %q, Accept-Ranges %q", path, etag, h.Get("Accept-Ranges"))
			}
			st, h, b = get(t, a, "GET", path, with(map[string]string{"Range": "bytes=10-99", "If-Range": etag}))
			if st != http.StatusPartialContent || !bytes.Equal(b, zipBody[10:100]) ||
				h.Get("Content-Range") != fmt.Sprintf("bytes 10-99/%d", len(zipBody)) {
				t.Errorf("%s range: %d, %d bytes, %q", path, st, len(b), h.Get("Content-Range"))
			}
			st, _, b = get(t, a, "GET", path, with(map[string]string{"Range": "bytes=-20"}))
			if st != http.StatusPartialContent || !bytes.Equal(b, zipBody[len(zipBody)-20:]) {
				t.Errorf("%s suffix range: %d, %d bytes", path, st, len(b))
			}
			st, h, b = get(t, a, "HEAD", path, auth)
			if st != http.StatusOK || len(b) != 0 || h.Get("Content-Length") != fmt.Sprint(len(zipBody)) {
				t.Errorf("%s HEAD: %d, %d bytes, Content-Length %q", path, st, len(b), h.Get("Content-Length"))
			}
			if st, _, _ = get(t, a, "GET", path, with(map[string]string{"If-None-Match": etag})); st != http.StatusNotModified {
				t.Errorf("%s If-None-Match: %d", path, st)
			}
		}
	})

	t.Run("the log is served from the bucket", func(t *testing.T) {
		body, _ := object(t, a, logName)
		if !strings.Contains(string(body), "=== q2o execution "+eid) || !strings.Contains(string(body), "starting the agents") {
			t.Fatalf("the log object: %q", body)
		}
		// The API's own folder never held it: the worker ran elsewhere.
		missing(t, filepath.Join(a.OutputRoot, pid, "run.log"))
		logs := a.Logs(tn.Key, "/api/tenant/projects/"+pid+"/logs?execution_id="+eid+"&tail=10000")
		if logs != string(body) {
			t.Errorf("the tail is not the object:\n%s\nobject:\n%s", logs, body)
		}
		if tail := a.Logs(tn.Key, "/api/tenant/projects/"+pid+"/logs?execution_id="+eid+"&tail=1"); !strings.HasSuffix(string(body), tail) || strings.Count(tail, "\n") != 1 {
			t.Errorf("tail=1: %q", tail)
		}
		res := a.SSE(tn.Key, "/api/tenant/projects/"+pid+"/logs?execution_id="+eid+"&tail=10000", "")
		evs := apptest.ReadEvents(t, res.Body)
		var lines []string
		for _, ev := range evs[:len(evs)-1] {
			lines = append(lines, ev.Data)
		}
		if last := evs[len(evs)-1]; last.Event != "end" || last.Data != "completed" ||
			strings.Join(lines, "\n")+"\n" != string(body) {
			t.Errorf("followed log: %v", evs)
		}
	})

	t.Run("the worker's scratch copy is gone", func(t *testing.T) {
		missing(t, filepath.Join(a.ScratchRoot, pid))
		missing(t, filepath.Join(a.ScratchRoot, "_artifacts", pid, eid+".zip"))
		missing(t, filepath.Join(a.ScratchRoot, "_artifacts", pid, eid+".outcome.json"))
		missing(t, filepath.Join(a.ScratchRoot, "_artifacts", pid))
	})

	t.Run("retention deletes the objects", func(t *testing.T) {
		eid2 := a.Run(tn.Key, pid)
		if e2 := waitEnded(t, a, tn.Key, pid, eid2, 60*time.Second); e2["status"] != "completed" {
			t.Fatalf("second run: %v", e2)
		}
		deadline := time.Now().Add(10 * time.Second)
		for a.Paths(eid).Zip != "" && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if p := a.Paths(eid); p.Zip != "" || p.Log != "" {
			t.Fatalf("the first run was not pruned: %+v", p)
		}
		for _, name := range []string{zipName, logName} {
			if body, _ := object(t, a, name); body != nil {
				t.Errorf("%s is still in the bucket", name)
			}
		}
		if body, _ := object(t, a, objectName(a, pid, eid2, ".zip")); body == nil {
			t.Error("the kept run's zip was deleted")
		}

		// A zip gone from the bucket cannot be made again (the scratch is
		// gone): zip_missing, without Retry-After, and nothing is queued.
		name := objectName(a, pid, eid2, ".zip")
		if err := s3Client(t, a).RemoveObject(context.Background(), a.S3.Bucket, name, minio.RemoveObjectOptions{}); err != nil {
			t.Fatal(err)
		}
		st, h, b := get(t, a, "GET", "/api/tenant/projects/"+pid+"/executions/"+eid2+"/download", map[string]string{"Authorization": "Bearer " + tn.Key})
		if st != http.StatusNotFound || !strings.Contains(string(b), `"zip_missing"`) || h.Get("Retry-After") != "" {
			t.Errorf("download of a zip gone from the bucket: %d %s (Retry-After %q)", st, b, h.Get("Retry-After"))
		}
		if a.Paths(eid2).Zip == "" {
			t.Error("the recorded zip was forgotten: a download would wait for a zip nobody can make")
		}
		if n := len(apptest.Outbox(t, a.DB, "project:zip", "task_id = ?", "zip:"+eid2)); n != 0 {
			t.Errorf("%d project:zip tasks queued for it", n)
		}
	})
}
