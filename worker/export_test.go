package worker

import (
	"context"
	"time"

	"github.com/hibiken/asynq"

	"github.com/q2o/q2o/service"
	"github.com/q2o/q2o/worker/runner"
)

// Ending and its values name the ways an attempt ends, for report's tests.
type Ending = ending

const (
	EndNotClaimed       = endNotClaimed
	EndClaimFailed      = endClaimFailed
	EndHeldElsewhere    = endHeldElsewhere
	EndPreviousStopping = endPreviousStopping
	EndRecovered        = endRecovered
	EndSetupFailed      = endSetupFailed
	EndMisconfigured    = endMisconfigured
	EndNotStarted       = endNotStarted
	EndOutputExceeded   = endOutputExceeded
	EndTimedOut         = endTimedOut
	EndPaused           = endPaused
	EndInterrupted      = endInterrupted
	EndExited           = endExited
)

// End is an attempt's end as attempt would hand it to report.
type End struct {
	How    Ending
	Claim  service.Claim
	Res    runner.Result
	Err    error
	Reason string
	Saved  service.Outcome
}

// Report runs report on end.
func (w *Worker) Report(ctx context.Context, t *asynq.Task, end End) error {
	return w.report(ctx, t, runEnd{how: end.How, err: end.Err, reason: end.Reason,
		e: end.Claim.Execution, p: end.Claim.Project, res: end.Res, saved: end.Saved, log: w.log})
}

// Snoozed reports whether err is a snooze verdict, and for how long.
func Snoozed(err error) (time.Duration, bool) { return snoozed(err) }

// Woken is how many times w's idle servers stopped waiting because a task
// came (see waker).
func Woken(w *Worker) int64 { return w.woken.Load() }
