package worker_test

import (
	"context"
	"testing"
	"time"

	"github.com/q2o/q2o/internal/apptest"
	"github.com/q2o/q2o/models"
)

// Redis loses its data after RUN (a restart without persistence, a
// failover): the execution is still pending in Postgres, and the reconciler
// sends its task again, so the run completes instead of waiting for ever.
func TestRunSurvivesRedisLosingItsData(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	tn := a.NewTenant("active")
	pid := a.ReadyProject(tn, "lost in redis")
	run(t, a, tn, pid)
	if err := a.Redis.FlushDB(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	a.Svc.PendingGrace = 200 * time.Millisecond // before the worker shares the service
	a.StartWorker(a.WorkerConfig())
	// Nothing runs: the task is gone.
	time.Sleep(500 * time.Millisecond)
	if s := apptest.StatusOf(a.GetProject(tn.Key, pid)); s != models.StatusPending {
		t.Fatalf("before reconciling: %v", s)
	}
	n, err := a.Svc.Reconcile(context.Background())
	if err != nil || n != 1 {
		t.Fatalf("Reconcile: %d, %v; want 1 task sent", n, err)
	}
	a.AwaitProject(tn.Key, pid, 30*time.Second, apptest.HasStatus(models.StatusCompleted))
	// Once the run has its task, reconciling again sends nothing.
	if n, err := a.Svc.Reconcile(context.Background()); err != nil || n != 0 {
		t.Errorf("Reconcile after the run: %d, %v", n, err)
	}
}
