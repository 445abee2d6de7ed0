package worker_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/q2o/q2o/artifacts"
	"github.com/q2o/q2o/artifacts/store"
	"github.com/q2o/q2o/internal/apptest"
	"github.com/q2o/q2o/jobs"
	"github.com/q2o/q2o/models"
	"github.com/q2o/q2o/worker"
	"github.com/q2o/q2o/worker/runner"
)

// A run cancelled and followed by the project's next run before its worker
// reports main.py's exit: FinishExecution refuses the outcome, and the zip
// written in the run, which no row points at, is deleted from the store. The
// moment is set by hand (cancel and the next run between the claim and the
// report), not by sleeping.
func TestRefusedFinishDiscardsZip(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	w := worker.New(a.Svc, a.RedisOpt, a.WorkerConfig(), a.Log)
	ctx := context.Background()
	tn := a.NewTenant("active")
	pid := a.ReadyProject(tn, "refused finish")
	c, err := a.Svc.ClaimExecution(ctx, uuid.MustParse(run(t, a, tn, pid)), "refused-test", time.Minute)
	if err != nil || !c.Run {
		t.Fatalf("claim: %+v, %v", c, err)
	}
	if _, err := a.Svc.CancelRun(ctx, c.Execution.TenantID, c.Project.ID); err != nil {
		t.Fatal(err)
	}
	next := run(t, a, tn, pid) // a later run: the cancelled one's exit no longer counts

	err = w.Report(ctx, asynq.NewTask(jobs.TypeProjectRun, nil), worker.End{How: worker.EndExited, Claim: c, Res: runner.Result{ExitCode: 0}})
	if err != nil {
		t.Fatalf("report: %v", err)
	}
	var e models.Execution
	if err := a.DB.Take(&e, "id = ?", c.Execution.ID).Error; err != nil {
		t.Fatal(err)
	}
	if e.Status != models.StatusCancelled || e.ZipPath != nil {
		t.Fatalf("execution %s, zip %v: want cancelled with no zip (the finish refused)", e.Status, e.ZipPath)
	}
	key, err := artifacts.ZipKey(c.Project.ID.String(), c.Execution.ID.String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Svc.Artifacts.Stat(ctx, key); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the refused run's zip %s: Stat %v, want ErrNotFound (deleted)", key, err)
	}
	t.Logf("next run %s", next)
}

// A finish that was recorded keeps its zip: the row points at it.
func TestRecordedFinishKeepsZip(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	w := worker.New(a.Svc, a.RedisOpt, a.WorkerConfig(), a.Log)
	ctx := context.Background()
	tn := a.NewTenant("active")
	pid := a.ReadyProject(tn, "recorded finish")
	c, err := a.Svc.ClaimExecution(ctx, uuid.MustParse(run(t, a, tn, pid)), "recorded-test", time.Minute)
	if err != nil || !c.Run {
		t.Fatalf("claim: %+v, %v", c, err)
	}
	err = w.Report(ctx, asynq.NewTask(jobs.TypeProjectRun, nil), worker.End{How: worker.EndExited, Claim: c, Res: runner.Result{ExitCode: 0}})
	if err != nil {
		t.Fatalf("report: %v", err)
	}
	var e models.Execution
	if err := a.DB.Take(&e, "id = ?", c.Execution.ID).Error; err != nil {
		t.Fatal(err)
	}
	if e.Status != models.StatusCompleted || e.ZipPath == nil {
		t.Fatalf("execution %s, zip %v: want completed with its zip", e.Status, e.ZipPath)
	}
	key, _ := artifacts.ZipKey(c.Project.ID.String(), c.Execution.ID.String())
	if _, err := a.Svc.Artifacts.Stat(ctx, key); err != nil {
		t.Errorf("the recorded zip %s: Stat %v", key, err)
	}
}
