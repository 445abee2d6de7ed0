package worker_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/q2o/q2o/internal/apptest"
	"github.com/q2o/q2o/models"
)

// A tenant's cancel of a running run leaves no retry of its cancelled task
// behind, as tenant:pause does not: asynq puts a task cancelled on its worker
// back as a retry (at least 15 s away), which the cancel deletes once the
// task has left its worker. Svc.Wait waits for that cleanup, so the check
// below needs no sleep: without it the task sits in retry.
func TestCancelLeavesNoRetry(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	a.StartWorker(a.WorkerConfig("--mode sleep --seconds 60"))
	tn := a.NewTenant("active")
	pid := a.ReadyProject(tn, "cancelled while running")
	eid := run(t, a, tn, pid)
	dir := apptest.Deref(a.AwaitProject(tn.Key, pid, 20*time.Second, apptest.HasStatus(models.StatusRunning)).OutputFolderPath)
	mainPID := pidIn(t, dir, "main.pid")
	insp := asynq.NewInspector(a.RedisOpt)
	defer insp.Close()
	waitUntil(t, "the run's task active", 10*time.Second, func() (bool, any) { s := taskState(insp, eid); return s == "active", s })

	a.Must(http.StatusOK, a.Do("POST", "/api/tenant/projects/"+pid+"/cancel", tn.Key, nil))
	waitUntil(t, "main.py gone", 10*time.Second, func() (bool, any) { return !apptest.Alive(mainPID), mainPID })
	a.Svc.Wait()
	if s := taskState(insp, eid); s != "gone" && s != "completed" {
		t.Errorf("the cancelled run's task is %s after the cancel's cleanup, want gone (or completed)", s)
	}
	if e := execution(t, a, tn, pid, eid); e.Status != models.StatusCancelled || e.Attempt != 1 {
		t.Errorf("execution: %+v", e)
	}
}
