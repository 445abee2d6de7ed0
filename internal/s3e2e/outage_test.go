package s3e2e_test

import (
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/q2o/q2o/artifacts/store"
	"github.com/q2o/q2o/internal/apptest"
	"github.com/q2o/q2o/internal/testenv"
)

// waitFor waits until cond holds, failing the test after within.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func status(t *testing.T, a *apptest.App, key, pid, eid string) string {
	t.Helper()
	e := a.Must(http.StatusOK, a.Do("GET", "/api/tenant/projects/"+pid+"/executions/"+eid, key, nil))
	s, _ := e["status"].(string)
	return s
}

// The object store down for 10 s while a run ends: the worker tries the
// uploads of its log and zip again until the store is back, the run is not
// recorded meanwhile, and it ends completed with its zip and log in the
// bucket.
func TestS3Outage(t *testing.T) {
	var logs testenv.SyncBuffer
	a := apptest.New(t, apptest.Options{S3: seaweed, LogTo: &logs})
	a.StartWorker(a.WorkerConfig("--mode", "sleep", "--seconds", "1"))
	tn := a.NewTenant("active")
	pid := a.ReadyProject(tn, "Outage")
	eid := a.Run(tn.Key, pid)

	// main.py is running in the worker's scratch: take the store down
	// before it ends.
	apptest.WaitFile(t, filepath.Join(a.ScratchRoot, pid, "main.pid"), 30*time.Second)
	seaweed.StopS3()
	down := time.Now()
	t.Cleanup(func() { _ = seaweed.StartS3() })

	waitFor(t, 30*time.Second, "the zip's upload tried again", func() bool {
		return strings.Contains(logs.String(), "store the zip: the artifacts store failed; trying again")
	})
	time.Sleep(time.Until(down.Add(10 * time.Second)))
	if st := status(t, a, tn.Key, pid, eid); st != "running" {
		t.Fatalf("with the store down the run is %s; it must wait for its uploads", st)
	}
	if err := seaweed.StartS3(); err != nil {
		t.Fatal(err)
	}
	t.Logf("the store was down for %s", time.Since(down).Round(100*time.Millisecond))

	e := waitEnded(t, a, tn.Key, pid, eid, 90*time.Second)
	if e["status"] != "completed" {
		t.Fatalf("after the outage: %v", e)
	}
	body, tag := object(t, a, objectName(a, pid, eid, ".zip"))
	if body == nil || sha(body) != e["zip_sha256"] || tag != e["zip_sha256"] {
		t.Errorf("zip object: %d bytes, sha %s, tag %s; execution %v", len(body), sha(body), tag, e)
	}
	if log, _ := object(t, a, objectName(a, pid, eid, ".log")); !strings.Contains(string(log), "woke up") {
		t.Errorf("log object: %q", log)
	}
	if n := strings.Count(logs.String(), "store the zip: the artifacts store failed; trying again"); n < 2 {
		t.Errorf("the zip's upload tried again %d times", n)
	}
	missing(t, filepath.Join(a.ScratchRoot, pid))
}

// An upload that fails for longer than Q2O_S3_UPLOAD_RETRY: the run ends
// completed without its zip, the scratch output stays on the worker, and
// the project:zip task (retried by asynq while the store is down) uploads
// the zip from it once the store is back; downloads answer 202 meanwhile.
func TestS3ZipFallback(t *testing.T) {
	var logs testenv.SyncBuffer
	a := apptest.New(t, apptest.Options{S3: seaweed, LogTo: &logs})
	cfg := a.WorkerConfig("--mode", "sleep", "--seconds", "1")
	cfg.UploadRetry = store.Retry{For: 300 * time.Millisecond, First: 100 * time.Millisecond}
	a.StartWorker(cfg)
	tn := a.NewTenant("active")
	pid := a.ReadyProject(tn, "Fallback")
	eid := a.Run(tn.Key, pid)

	apptest.WaitFile(t, filepath.Join(a.ScratchRoot, pid, "main.pid"), 30*time.Second)
	seaweed.StopS3()
	t.Cleanup(func() { _ = seaweed.StartS3() })
	waitFor(t, 60*time.Second, "the run completed without its zip", func() bool {
		return status(t, a, tn.Key, pid, eid) == "completed"
	})
	if p := a.Paths(eid); p.Zip != "" || p.Log != "" {
		t.Fatalf("with the store down: %+v", p)
	}
	st, h, _ := get(t, a, "GET", "/api/tenant/projects/"+pid+"/executions/"+eid+"/download", map[string]string{"Authorization": "Bearer " + tn.Key})
	if st != http.StatusAccepted || h.Get("Retry-After") == "" {
		t.Errorf("download while the zip is not made: %d", st)
	}
	// The output waits in the worker's scratch for the task.
	apptest.WaitFile(t, filepath.Join(a.ScratchRoot, pid, "main.pid"), time.Second)
	if err := seaweed.StartS3(); err != nil {
		t.Fatal(err)
	}
	e := waitEnded(t, a, tn.Key, pid, eid, 120*time.Second)
	body, tag := object(t, a, objectName(a, pid, eid, ".zip"))
	if body == nil || sha(body) != e["zip_sha256"] || tag != e["zip_sha256"] {
		t.Errorf("zip object: %d bytes, sha %s, tag %s; execution %v", len(body), sha(body), tag, e)
	}
	st, _, got := get(t, a, "GET", "/api/tenant/projects/"+pid+"/executions/"+eid+"/download", map[string]string{"Authorization": "Bearer " + tn.Key})
	if st != http.StatusOK || sha(got) != sha(body) {
		t.Errorf("download after the fallback: %d, %d bytes", st, len(got))
	}
	if log, _ := object(t, a, objectName(a, pid, eid, ".log")); !strings.Contains(string(log), "woke up") {
		t.Errorf("the log, kept by the task: %q", log)
	}
	if logs := a.Logs(tn.Key, "/api/tenant/projects/"+pid+"/logs?execution_id="+eid); !strings.Contains(logs, "woke up") {
		t.Errorf("the log served: %q", logs)
	}
	waitFor(t, 10*time.Second, "the scratch removed", func() bool {
		_, err := os.Lstat(filepath.Join(a.ScratchRoot, pid))
		return errors.Is(err, fs.ErrNotExist)
	})
}

// With the object store down, a download and an ended run's log answer 503
// with Retry-After (a dependency is down), not 500 nor zip_missing, and
// nothing is forgotten: once it is back they are served again.
func TestS3ReadsWhileDown(t *testing.T) {
	a := apptest.New(t, apptest.Options{S3: seaweed})
	a.StartWorker(a.WorkerConfig())
	tn := a.NewTenant("active")
	pid := a.ReadyProject(tn, "Reads while down")
	eid := a.Run(tn.Key, pid)
	waitEnded(t, a, tn.Key, pid, eid, 60*time.Second)
	download := "/api/tenant/projects/" + pid + "/executions/" + eid + "/download"
	logs := "/api/tenant/projects/" + pid + "/logs?execution_id=" + eid
	auth := map[string]string{"Authorization": "Bearer " + tn.Key}

	seaweed.StopS3()
	t.Cleanup(func() { _ = seaweed.StartS3() })
	for _, path := range []string{download, logs} {
		st, h, b := get(t, a, "GET", path, auth)
		if st != http.StatusServiceUnavailable || h.Get("Retry-After") == "" {
			t.Errorf("%s with the store down: %d %s (Retry-After %q)", path, st, b, h.Get("Retry-After"))
		}
	}
	if err := seaweed.StartS3(); err != nil {
		t.Fatal(err)
	}
	if a.Paths(eid).Zip == "" {
		t.Fatal("the zip was forgotten during the outage")
	}
	if st, _, _ := get(t, a, "GET", download, auth); st != http.StatusOK {
		t.Errorf("download after the outage: %d", st)
	}
	if st, _, b := get(t, a, "GET", logs, auth); st != http.StatusOK || !strings.Contains(string(b), "starting the agents") {
		t.Errorf("log after the outage: %d %q", st, b)
	}
}
