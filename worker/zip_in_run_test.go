package worker_test

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/q2o/q2o/internal/apptest"
	"github.com/q2o/q2o/jobs"
	"github.com/q2o/q2o/models"
)

// The handler that saw main.py exit writes the zip and records it with the
// completion: the project is completed and zipped at once, and no
// project:zip task is queued.
func TestZipRecordedWithCompletion(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	a.StartWorker(a.WorkerConfig())
	tn := a.NewTenant("active")
	pid := a.ReadyProject(tn, "zipped in the run")
	eid := run(t, a, tn, pid)
	a.AwaitProject(tn.Key, pid, 30*time.Second, apptest.HasStatus(models.StatusCompleted))
	e := apptest.Row[models.Execution](t, a.DB, uuid.MustParse(eid))
	if e.ZipPath == nil || e.ZipSize == nil || *e.ZipSize <= 0 {
		t.Fatalf("completed execution without its zip: path %v size %v", e.ZipPath, e.ZipSize)
	}
	apptest.RequireOutbox(t, a.DB, jobs.TypeProjectZip, 0)
	if got := execution(t, a, tn, pid, eid); got.DownloadURL == nil {
		t.Errorf("no download URL: %+v", got)
	}
}
