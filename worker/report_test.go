package worker_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/q2o/q2o/internal/apptest"
	"github.com/q2o/q2o/jobs"
	"github.com/q2o/q2o/models"
	"github.com/q2o/q2o/service"
	"github.com/q2o/q2o/worker"
	"github.com/q2o/q2o/worker/runner"
)

// verdict is what a handler's error tells asynq.
type verdict string

const (
	done    verdict = "done"   // nil: the task is finished
	skip    verdict = "skip"   // SkipRetry: archived, a retry would not help
	retry   verdict = "retry"  // any other error: retried with backoff, a failure
	snoozeV verdict = "snooze" // put back for later, not a failure
)

// noChange is a row's label when no run-finished metric counts the end.
const noChange = "no label"

func verdictOf(err error) (verdict, time.Duration) {
	if after, ok := worker.Snoozed(err); ok {
		return snoozeV, after
	}
	switch {
	case err == nil:
		return done, 0
	case errors.Is(err, asynq.SkipRetry):
		return skip, 0
	}
	return retry, 0
}

var runLabels = []string{"completed", "failed", "paused", "timed_out", "interrupted"}

// TestReport: each way an attempt ends maps to one metric label, one change
// of the execution row and one verdict for asynq.
func TestReport(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	cfg := a.WorkerConfig()
	cfg.OutputLimit = 1 << 20
	w := worker.New(a.Svc, a.RedisOpt, cfg, a.Log)
	ctx := context.Background()
	zero := 0

	type row struct {
		name  string
		end   worker.End
		setup func(t *testing.T, c service.Claim) // before report, after the claim
		label string                              // run-finished metric, or noChange
		// status is the execution row's after report; "" when the row is
		// not claimed in this row.
		status   models.ExecutionStatus
		errorHas string // in the row's error
		// lease is "cleared" (main.py said gone, so the project's next run
		// may start) or "released" (ended now, so another attempt may
		// start); "" is not checked.
		lease     string
		verdict   verdict
		snoozeFor time.Duration
		wraps     error
	}
	rows := []row{
		{name: "not claimed", end: worker.End{How: worker.EndNotClaimed, Reason: "execution already completed"},
			label: noChange, verdict: done},
		{name: "no such execution", end: worker.End{How: worker.EndClaimFailed, Err: models.ErrExecutionNotFound},
			label: noChange, verdict: skip},
		{name: "claim: database down", end: worker.End{How: worker.EndClaimFailed, Err: errors.New("connection refused")},
			label: noChange, verdict: retry},
		{name: "held elsewhere", end: worker.End{How: worker.EndHeldElsewhere, Err: service.ErrHeldElsewhere},
			label: noChange, verdict: snoozeV, snoozeFor: 10 * time.Second, wraps: service.ErrHeldElsewhere},
		{name: "previous run stopping", end: worker.End{How: worker.EndPreviousStopping, Err: service.ErrPreviousRunStopping},
			label: noChange, verdict: snoozeV, snoozeFor: time.Second, wraps: service.ErrPreviousRunStopping},
		{name: "recovered completed", end: worker.End{How: worker.EndRecovered,
			Saved: service.Outcome{Status: models.StatusCompleted, ExitCode: &zero, Exited: true}},
			label: "completed", status: models.StatusCompleted, verdict: done},
		{name: "recovered failed", end: worker.End{How: worker.EndRecovered,
			Saved: service.Outcome{Status: models.StatusFailed, Error: "main.py exited with code 1", Exited: true}},
			label: "failed", status: models.StatusFailed, errorHas: "code 1", verdict: skip},
		{name: "setup failed", end: worker.End{How: worker.EndSetupFailed, Err: errors.New("open run.log: denied"), Reason: "run.log: denied"},
			label: noChange, status: models.StatusRunning, lease: "released", verdict: retry},
		{name: "misconfigured", end: worker.End{How: worker.EndMisconfigured, Err: errors.New("unknown placeholder {nope}")},
			label: noChange, status: models.StatusFailed, errorHas: "misconfigured: unknown placeholder", verdict: skip},
		{name: "not started", end: worker.End{How: worker.EndNotStarted, Err: os.ErrNotExist, Res: runner.Result{ExitCode: -1}},
			label: "failed", status: models.StatusFailed, errorHas: "could not be started", verdict: skip},
		{name: "output exceeded", end: worker.End{How: worker.EndOutputExceeded, Res: runner.Result{ExitCode: -1, Signal: "killed"}},
			label: "failed", status: models.StatusFailed, errorHas: "Q2O_RUNNER_OUTPUT_LIMIT (1MiB)", verdict: skip},
		{name: "timed out", end: worker.End{How: worker.EndTimedOut, Res: runner.Result{ExitCode: -1, Stopped: true}},
			label: "timed_out", status: models.StatusFailed, errorHas: "Q2O_RUN_TIMEOUT (1m0s)", verdict: skip},
		{name: "paused", end: worker.End{How: worker.EndPaused, Res: runner.Result{ExitCode: -1, Stopped: true}},
			setup: func(t *testing.T, c service.Claim) {
				if _, err := a.Svc.CancelRun(ctx, c.Execution.TenantID, c.Project.ID); err != nil {
					t.Fatal(err)
				}
			},
			label: "paused", status: models.StatusCancelled, lease: "cleared", verdict: done},
		{name: "interrupted", end: worker.End{How: worker.EndInterrupted, Err: context.Canceled, Res: runner.Result{ExitCode: -1, Stopped: true}},
			label: "interrupted", status: models.StatusRunning, lease: "released", verdict: retry, wraps: context.Canceled},
		{name: "exited 0", end: worker.End{How: worker.EndExited, Res: runner.Result{ExitCode: 0}},
			label: "completed", status: models.StatusCompleted, verdict: done},
		{name: "exited 3", end: worker.End{How: worker.EndExited, Res: runner.Result{ExitCode: 3, StderrTail: "Traceback: boom"}},
			label: "failed", status: models.StatusFailed, errorHas: "code 3; last lines of stderr:\nTraceback: boom", verdict: skip},
		{name: "exited after a cancel: its exit decides", end: worker.End{How: worker.EndExited, Res: runner.Result{ExitCode: 0}},
			setup: func(t *testing.T, c service.Claim) {
				if _, err := a.Svc.CancelRun(ctx, c.Execution.TenantID, c.Project.ID); err != nil {
					t.Fatal(err)
				}
			},
			label: "completed", status: models.StatusCompleted, verdict: done},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			end := r.end
			if r.status != "" {
				tn := a.NewTenant("active")
				pid := a.ReadyProject(tn, "Report "+r.name)
				c, err := a.Svc.ClaimExecution(ctx, uuid.MustParse(run(t, a, tn, pid)), "report-test", time.Minute)
				if err != nil || !c.Run {
					t.Fatalf("claim: %+v, %v", c, err)
				}
				end.Claim = c
				if r.setup != nil {
					r.setup(t, c)
				}
			}
			before := map[string]float64{}
			for _, l := range runLabels {
				before[l] = testutil.ToFloat64(a.Metrics.RunsFinished.WithLabelValues(l))
			}

			err := w.Report(ctx, asynq.NewTask(jobs.TypeProjectRun, nil), end)

			for _, l := range runLabels {
				want := before[l]
				if l == r.label {
					want++
				}
				if got := testutil.ToFloat64(a.Metrics.RunsFinished.WithLabelValues(l)); got != want {
					t.Errorf("runs finished %q: %v, want %v (label %q)", l, got, want, r.label)
				}
			}
			if v, after := verdictOf(err); v != r.verdict || after != r.snoozeFor {
				t.Errorf("verdict %s %v (%v), want %s %v", v, after, err, r.verdict, r.snoozeFor)
			}
			if r.wraps != nil && !errors.Is(err, r.wraps) {
				t.Errorf("error %v does not wrap %v", err, r.wraps)
			}
			if r.status == "" {
				return
			}
			var e models.Execution
			if err := a.DB.Take(&e, "id = ?", end.Claim.Execution.ID).Error; err != nil {
				t.Fatal(err)
			}
			if e.Status != r.status {
				t.Errorf("status %s, want %s", e.Status, r.status)
			}
			if gotErr := deref(e.Error); r.errorHas != "" && !strings.Contains(gotErr, r.errorHas) {
				t.Errorf("error %q lacks %q", gotErr, r.errorHas)
			}
			switch {
			case r.lease == "cleared" && e.LeaseUntil != nil:
				t.Errorf("lease_until %v, want cleared", e.LeaseUntil)
			case r.lease == "released" && (e.LeaseUntil == nil || e.LeaseUntil.After(time.Now())):
				t.Errorf("lease_until %v, want released (now or earlier)", e.LeaseUntil)
			}
		})
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
