package api_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/q2o/q2o/internal/apptest"
	"github.com/q2o/q2o/models"
	"github.com/q2o/q2o/service"
)

// A re-run does not take the client's download away: while the project runs
// again, and after that run is stopped, the client still gets the zip of the
// last completed run, under its ETag.
func TestRerunKeepsTheClientsDownload(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	a.StartWorker(a.WorkerConfig("--mode sleep --seconds 1.5"))
	tn := a.NewTenant("active")
	pid, _, code := clientProject(t, a, tn, "re-run")
	first := waitZipped(t, a, tn, pid, runProject(t, a, tn, pid))
	etag := `"` + first["zip_sha256"].(string) + `"`
	got := download(t, a, pid, code, nil)
	if got.Status != http.StatusOK || got.Header.Get("ETag") != etag {
		t.Fatalf("download after the first run: %d %s", got.Status, got.Header.Get("ETag"))
	}

	runProject(t, a, tn, pid)
	a.AwaitProject(tn.Key, pid, 30*time.Second, apptest.HasStatus(models.StatusRunning))
	if r := download(t, a, pid, code, nil); r.Status != http.StatusOK || r.Header.Get("ETag") != etag || len(r.Body) != len(got.Body) {
		t.Errorf("download while the project runs again: %d %s", r.Status, r.Header.Get("ETag"))
	}
	answer := activate(t, a, code)
	m := apptest.Decode[service.PublicProject](t, http.StatusOK, answer)
	if !m.DownloadReady || apptest.Deref(m.DownloadURL) != "/api/public/projects/"+pid+"/download" || apptest.Deref(m.ExecutionStatus) != models.StatusRunning {
		t.Errorf("activate while the project runs again: %+v", m)
	}
	a.Cancel(tn.Key, pid)
	if r := download(t, a, pid, code, nil); r.Status != http.StatusOK || r.Header.Get("ETag") != etag {
		t.Errorf("download after the re-run was cancelled: %d %s", r.Status, r.Header.Get("ETag"))
	}
	for _, k := range []string{"output_folder_path", "zip_path", "log_path"} {
		if _, ok := answer.JSON(t)[k]; ok {
			t.Errorf("the client's answer shows the server path %s", k)
		}
	}
}
