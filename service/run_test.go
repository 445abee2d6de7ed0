package service_test

// A run's life at the service level, beside the HTTP tests: StartRun, then
// a worker's ClaimExecution and FinishExecution. Each test builds its own
// service, database and fixtures with setup (river's testBundle shape) and
// states one rule.

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/q2o/q2o/internal/apptest"
	"github.com/q2o/q2o/jobs"
	"github.com/q2o/q2o/models"
	"github.com/q2o/q2o/service"
)

const lease = time.Minute

func TestStartRun(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	type testBundle struct {
		db         *gorm.DB
		outputRoot string
		tenant     uuid.UUID
		project    models.Project
	}
	setup := func(t *testing.T, status models.SubscriptionStatus) (*service.Service, *testBundle) {
		t.Helper()
		a := apptest.New(t, apptest.Options{})
		tn := apptest.CreateTenant(t, a.Svc, status)
		return a.Svc, &testBundle{db: a.DB, outputRoot: a.OutputRoot, tenant: tn,
			project: apptest.CreateReadyProject(t, a.Svc, tn, "run me")}
	}

	t.Run("AcceptsAReadyProjectAndDispatchesIt", func(t *testing.T) {
		t.Parallel()
		svc, bundle := setup(t, models.SubActive)
		res, err := svc.StartRun(ctx, bundle.tenant, bundle.project.ID)
		if err != nil {
			t.Fatal(err)
		}
		wantDir := filepath.Join(bundle.outputRoot, bundle.project.ID.String())
		if res.ExecutionID == uuid.Nil || res.Status != models.StatusPending || res.OutputFolderPath != wantDir {
			t.Errorf("StartRun: %+v, want a pending execution in %s", res, wantDir)
		}
		if fi, err := os.Stat(wantDir); err != nil || !fi.IsDir() {
			t.Errorf("output folder: %v", err)
		}
		e := apptest.Row[models.Execution](t, bundle.db, res.ExecutionID)
		if e.Status != models.StatusPending || e.Attempt != 0 || e.ProjectID != bundle.project.ID || e.TenantID != bundle.tenant ||
			e.DispatchedAt == nil {
			t.Errorf("execution row: %+v, want pending, attempt 0, dispatched", e)
		}
		p := apptest.Row[models.Project](t, bundle.db, bundle.project.ID)
		if apptest.StatusOf(p) != models.StatusPending || apptest.Deref(p.LatestExecutionID) != res.ExecutionID ||
			p.ProgressMessage != "queued" || apptest.Deref(p.OutputFolderPath) != wantDir {
			t.Errorf("project row: %+v", p)
		}
		// Its task went through the outbox, named by the execution id.
		rows := apptest.Outbox(t, bundle.db, jobs.TypeProjectRun, "")
		if len(rows) != 1 || rows[0].TaskID != res.ExecutionID.String() || rows[0].Queue != jobs.QueueRuns {
			t.Errorf("outbox: %+v, want one %s task %s", rows, jobs.TypeProjectRun, res.ExecutionID)
		}
		d, err := svc.Execution(ctx, bundle.tenant, bundle.project.ID, res.ExecutionID)
		if err != nil || len(d.Events) != 1 || d.Events[0].Kind != models.EventQueued {
			t.Errorf("events: %+v, %v; want one queued", d.Events, err)
		}
	})

	t.Run("RefusesASecondLiveRun", func(t *testing.T) {
		t.Parallel()
		svc, bundle := setup(t, models.SubActive)
		if _, err := svc.StartRun(ctx, bundle.tenant, bundle.project.ID); err != nil {
			t.Fatal(err)
		}
		_, err := svc.StartRun(ctx, bundle.tenant, bundle.project.ID)
		apptest.WantCode(t, err, "run_in_progress")
		apptest.RequireCount[models.Execution](t, bundle.db, 1, "executions", "project_id = ?", bundle.project.ID)
	})

	t.Run("RefusesAnInactiveSubscription", func(t *testing.T) {
		t.Parallel()
		svc, bundle := setup(t, models.SubActive)
		if _, err := svc.SetSubscriptionStatus(ctx, bundle.tenant, models.SubPastDue, "test"); err != nil {
			t.Fatal(err)
		}
		_, err := svc.StartRun(ctx, bundle.tenant, bundle.project.ID)
		apptest.WantCode(t, err, "subscription_inactive")
		apptest.RequireCount[models.Execution](t, bundle.db, 0, "executions", "")
	})

	t.Run("RefusesAnotherTenantsProject", func(t *testing.T) {
		t.Parallel()
		svc, bundle := setup(t, models.SubActive)
		other := apptest.CreateTenant(t, svc, models.SubActive)
		_, err := svc.StartRun(ctx, other, bundle.project.ID)
		apptest.WantCode(t, err, "project_not_found")
		apptest.RequireCount[models.Execution](t, bundle.db, 0, "executions", "")
	})

	t.Run("TrialingTenantsSecondRunWaitsUndispatched", func(t *testing.T) {
		t.Parallel()
		svc, bundle := setup(t, models.SubTrialing)
		// A trialing tenant has one project; the second comes from an
		// active spell.
		if _, err := svc.SetSubscriptionStatus(ctx, bundle.tenant, models.SubActive, "test"); err != nil {
			t.Fatal(err)
		}
		second := apptest.CreateReadyProject(t, svc, bundle.tenant, "second")
		if _, err := svc.SetSubscriptionStatus(ctx, bundle.tenant, models.SubTrialing, "test"); err != nil {
			t.Fatal(err)
		}
		first, err := svc.StartRun(ctx, bundle.tenant, bundle.project.ID)
		if err != nil {
			t.Fatal(err)
		}
		waiting, err := svc.StartRun(ctx, bundle.tenant, second.ID)
		if err != nil {
			t.Fatal(err)
		}
		if e := apptest.Row[models.Execution](t, bundle.db, first.ExecutionID); e.DispatchedAt == nil {
			t.Errorf("the first trial run was not dispatched: %+v", e)
		}
		if e := apptest.Row[models.Execution](t, bundle.db, waiting.ExecutionID); e.Status != models.StatusPending || e.DispatchedAt != nil {
			t.Errorf("the second trial run: %+v, want pending and not dispatched", e)
		}
		apptest.RequireOutbox(t, bundle.db, jobs.TypeProjectRun, 1)
	})
}

func TestClaimAndFinishExecution(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	type testBundle struct {
		db      *gorm.DB
		tenant  uuid.UUID
		project models.Project
		exec    uuid.UUID // a pending run of project
	}
	setup := func(t *testing.T) (*service.Service, *testBundle) {
		t.Helper()
		a := apptest.New(t, apptest.Options{})
		tn := apptest.CreateTenant(t, a.Svc, models.SubActive)
		p := apptest.CreateReadyProject(t, a.Svc, tn, "claimed")
		res, err := a.Svc.StartRun(ctx, tn, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		return a.Svc, &testBundle{db: a.DB, tenant: tn, project: p, exec: res.ExecutionID}
	}
	// pause stops the tenant's runs as tenant:pause does once its
	// subscription stopped allowing runs.
	pause := func(t *testing.T, svc *service.Service, db *gorm.DB, tenant uuid.UUID) {
		t.Helper()
		apptest.Set[models.Subscription](t, db, "status", models.SubCanceled, "tenant_id = ?", tenant)
		if paused, err := svc.PauseTenant(ctx, tenant, "test pause"); err != nil || len(paused) != 1 {
			t.Fatalf("pause: %d executions paused, %v; want 1", len(paused), err)
		}
	}
	// finish reports how an attempt ended and returns whether it was
	// recorded.
	finish := func(t *testing.T, svc *service.Service, id uuid.UUID, attempt int, o service.Outcome) bool {
		t.Helper()
		ok, err := svc.FinishExecution(ctx, id, attempt, o)
		if err != nil {
			t.Fatalf("finish attempt %d: %v", attempt, err)
		}
		return ok
	}
	wantStatus := func(t *testing.T, db *gorm.DB, id uuid.UUID, want models.ExecutionStatus) {
		t.Helper()
		if e := apptest.Row[models.Execution](t, db, id); e.Status != want {
			t.Errorf("execution %s, want %s: %+v", e.Status, want, e)
		}
	}
	claim := func(t *testing.T, svc *service.Service, id uuid.UUID, worker string) service.Claim {
		t.Helper()
		c, err := svc.ClaimExecution(ctx, id, worker, lease)
		if err != nil {
			t.Fatalf("claim by %s: %v", worker, err)
		}
		return c
	}

	t.Run("ClaimStartsAttemptOneUnderALease", func(t *testing.T) {
		t.Parallel()
		svc, bundle := setup(t)
		// The run's task went to Redis at RUN; its outbox row waits for
		// the claim, which marks it sent (no commit of its own).
		unsent := func() int64 {
			return apptest.Count[models.OutboxMessage](t, bundle.db, "task_id = ? AND enqueued_at IS NULL", bundle.exec.String())
		}
		if n := unsent(); n != 1 {
			t.Fatalf("%d unsent outbox rows of the run before its claim, want 1", n)
		}
		c := claim(t, svc, bundle.exec, "worker-a")
		if !c.Run || c.Execution.Attempt != 1 || c.Execution.Status != models.StatusRunning || c.Project.ID != bundle.project.ID ||
			c.Project.Name != bundle.project.Name || c.Project.Objectives != bundle.project.Objectives || c.Project.TenantID != bundle.tenant {
			t.Fatalf("claim: %+v", c)
		}
		if n := unsent(); n != 0 {
			t.Errorf("%d unsent outbox rows of the run after its claim, want 0", n)
		}
		e := apptest.Row[models.Execution](t, bundle.db, bundle.exec)
		if e.Status != models.StatusRunning || e.Attempt != 1 || apptest.Deref(e.WorkerID) != "worker-a" ||
			e.LeaseUntil == nil || !e.LeaseUntil.After(time.Now()) || e.StartedAt == nil {
			t.Errorf("execution row after the claim: %+v", e)
		}
		if p := apptest.Row[models.Project](t, bundle.db, bundle.project.ID); apptest.StatusOf(p) != models.StatusRunning {
			t.Errorf("project after the claim: %s", apptest.StatusOf(p))
		}
	})

	t.Run("ASecondWorkerCannotClaimWhileTheLeaseHolds", func(t *testing.T) {
		t.Parallel()
		svc, bundle := setup(t)
		claim(t, svc, bundle.exec, "worker-a")
		c, err := svc.ClaimExecution(ctx, bundle.exec, "worker-b", lease)
		if err == nil || c.Run {
			t.Fatalf("second claim: %+v, %v; want it refused", c, err)
		}
		if e := apptest.Row[models.Execution](t, bundle.db, bundle.exec); apptest.Deref(e.WorkerID) != "worker-a" || e.Attempt != 1 {
			t.Errorf("the refused claim changed the execution: %+v", e)
		}
	})

	t.Run("ClaimOfAFinishedRunDoesNothing", func(t *testing.T) {
		t.Parallel()
		svc, bundle := setup(t)
		claim(t, svc, bundle.exec, "worker-a")
		if !finish(t, svc, bundle.exec, 1, service.Outcome{Status: models.StatusFailed, Error: "boom", Exited: true}) {
			t.Fatal("the failed attempt was not recorded")
		}
		c := claim(t, svc, bundle.exec, "worker-b")
		if c.Run || c.Reason == "" {
			t.Errorf("claim of a failed run: %+v, want no run and a reason", c)
		}
		if e := apptest.Row[models.Execution](t, bundle.db, bundle.exec); e.Attempt != 1 || e.Status != models.StatusFailed {
			t.Errorf("execution after the late claim: %+v", e)
		}
	})

	t.Run("ClaimPausesTheRunOfAnInactiveTenant", func(t *testing.T) {
		t.Parallel()
		svc, bundle := setup(t)
		apptest.Set[models.Subscription](t, bundle.db, "status", models.SubCanceled, "tenant_id = ?", bundle.tenant)
		c := claim(t, svc, bundle.exec, "worker-a")
		if c.Run {
			t.Fatalf("claim for a canceled tenant: %+v, want no run", c)
		}
		if e := apptest.Row[models.Execution](t, bundle.db, bundle.exec); e.Status != models.StatusPaused || e.Attempt != 0 {
			t.Errorf("execution: %+v, want paused before any attempt", e)
		}
	})

	t.Run("FinishCompletedRecordsItAndQueuesTheZip", func(t *testing.T) {
		t.Parallel()
		svc, bundle := setup(t)
		claim(t, svc, bundle.exec, "worker-a")
		code := 0
		if !finish(t, svc, bundle.exec, 1, service.Outcome{Status: models.StatusCompleted, ExitCode: &code, Exited: true}) {
			t.Fatal("the completed attempt was not recorded")
		}
		e := apptest.Row[models.Execution](t, bundle.db, bundle.exec)
		if e.Status != models.StatusCompleted || apptest.Deref(e.ExitCode) != 0 || e.ExitCode == nil || e.FinishedAt == nil || e.LeaseUntil != nil {
			t.Errorf("execution row: %+v", e)
		}
		p := apptest.Row[models.Project](t, bundle.db, bundle.project.ID)
		if apptest.StatusOf(p) != models.StatusCompleted || p.ExecutionCompletedAt == nil {
			t.Errorf("project row: %+v", p)
		}
		apptest.RequireOutbox(t, bundle.db, jobs.TypeProjectZip, 1)
	})

	t.Run("FinishFailedKeepsTheError", func(t *testing.T) {
		t.Parallel()
		svc, bundle := setup(t)
		claim(t, svc, bundle.exec, "worker-a")
		code := 2
		if !finish(t, svc, bundle.exec, 1, service.Outcome{Status: models.StatusFailed, ExitCode: &code, Error: "finished under 100%", Exited: true}) {
			t.Fatal("the failed attempt was not recorded")
		}
		e := apptest.Row[models.Execution](t, bundle.db, bundle.exec)
		if e.Status != models.StatusFailed || apptest.Deref(e.ExitCode) != 2 || apptest.Deref(e.Error) != "finished under 100%" {
			t.Errorf("execution row: %+v", e)
		}
		if p := apptest.Row[models.Project](t, bundle.db, bundle.project.ID); apptest.Deref(p.ExecutionError) != "finished under 100%" {
			t.Errorf("project error: %q", apptest.Deref(p.ExecutionError))
		}
		apptest.RequireOutbox(t, bundle.db, jobs.TypeProjectZip, 0)
	})

	t.Run("FinishOfAStaleAttemptIsNotRecorded", func(t *testing.T) {
		t.Parallel()
		svc, bundle := setup(t)
		claim(t, svc, bundle.exec, "worker-a")
		if finish(t, svc, bundle.exec, 2, service.Outcome{Status: models.StatusCompleted, Exited: true}) {
			t.Error("the end of attempt 2 was recorded while attempt 1 runs")
		}
		wantStatus(t, bundle.db, bundle.exec, models.StatusRunning)
	})

	// One outcome per run: a pause that lands while main.py runs wins over
	// the attempt the worker then kills, but main.py's own exit wins over a
	// pause that landed as it ended.
	zero := 0
	for _, c := range []struct {
		name     string
		outcome  service.Outcome
		recorded bool
		want     models.ExecutionStatus
	}{
		{"APauseWinsOverAStoppedAttemptsOutcome", service.Outcome{Status: models.StatusFailed, Error: "killed"}, false, models.StatusPaused},
		{"AnExitWinsOverAPauseThatLandedAsItEnded", service.Outcome{Status: models.StatusCompleted, ExitCode: &zero, Exited: true}, true, models.StatusCompleted},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			svc, bundle := setup(t)
			claim(t, svc, bundle.exec, "worker-a")
			pause(t, svc, bundle.db, bundle.tenant)
			if got := finish(t, svc, bundle.exec, 1, c.outcome); got != c.recorded {
				t.Errorf("the attempt's end recorded: %v, want %v", got, c.recorded)
			}
			wantStatus(t, bundle.db, bundle.exec, c.want)
		})
	}
}
