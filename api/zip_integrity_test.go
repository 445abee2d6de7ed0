package api_test

import (
	"archive/zip"
	"bytes"
	"net/http"
	"os"
	"testing"

	"github.com/q2o/q2o/internal/apptest"
)

// A zip changed after it was recorded — same size, one byte different — is
// never served under its recorded ETag: the download answers zip_missing
// and the zip is made again.
func TestPublicDownloadZipTampered(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	_, stop := a.StartWorker(a.WorkerConfig())
	tn := a.NewTenant("active")
	pid, _, code := clientProject(t, a, tn, "tampered zip")
	eid := runProject(t, a, tn, pid)
	e := waitZipped(t, a, tn, pid, eid)
	stop()
	if r := download(t, a, pid, code, nil); r.Status != http.StatusOK {
		t.Fatalf("download of the recorded zip: %d %s", r.Status, r.Body)
	}
	path := e["zip_path"].(string)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}

	r := download(t, a, pid, code, nil)
	if r.Status != http.StatusNotFound || r.ErrorCode(t) != "zip_missing" {
		t.Fatalf("download of a changed zip: %d %s", r.Status, r.Body)
	}
	a.StartWorker(a.WorkerConfig())
	r = waitDownload(t, a, pid, code)
	if _, err := zip.NewReader(bytes.NewReader(r.Body), int64(len(r.Body))); err != nil {
		t.Errorf("the zip made again is not a zip: %v", err)
	}
}
