package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"

	"github.com/q2o/q2o/models"
	"github.com/q2o/q2o/service"
	"github.com/q2o/q2o/worker/runner"
)

// ending is how one attempt at a run ended.
type ending int

const (
	// endNotClaimed: the execution is finished or paused, or its tenant may
	// no longer run (reason says which); nothing to do.
	endNotClaimed ending = iota + 1
	// endClaimFailed: ClaimExecution failed (err): the execution does not
	// exist, or the database did not answer.
	endClaimFailed
	// endHeldElsewhere: another worker holds the execution's live lease;
	// this delivery is a duplicate.
	endHeldElsewhere
	// endPreviousStopping: the project's previous run is still ending.
	endPreviousStopping
	// endRecovered: main.py had ended in an earlier attempt whose outcome
	// (saved) was not recorded; it is recorded now, not run again.
	endRecovered
	// endSetupFailed: the output folder or run.log could not be made (err;
	// reason for the execution's events): ours, so retried.
	endSetupFailed
	// endMisconfigured: the runner command template is wrong (err).
	endMisconfigured
	// endNotStarted: main.py could not be started (err).
	endNotStarted
	// endOutputExceeded: the run's folder outgrew Q2O_RUNNER_OUTPUT_LIMIT.
	endOutputExceeded
	// endTimedOut: the run outlasted Q2O_RUN_TIMEOUT and was stopped.
	endTimedOut
	// endPaused: the execution was paused or cancelled while main.py ran,
	// and main.py was stopped.
	endPaused
	// endInterrupted: the worker stopped (or asynq cancelled the task)
	// while main.py ran (err: ctx's); another attempt starts it again.
	endInterrupted
	// endExited: main.py exited by itself (res.ExitCode).
	endExited
)

// runEnd is what attempt hands report.
type runEnd struct {
	how    ending
	err    error
	reason string
	// e and p are the claimed execution and its project (zero before the
	// claim).
	e     models.Execution
	p     models.Project
	res   runner.Result   // main.py's, once it was started
	saved service.Outcome // endRecovered
	log   *slog.Logger
}

func (r runEnd) with(how ending, err error) runEnd {
	r.how, r.err = how, err
	return r
}

// report records how an attempt ended and returns asynq's verdict: every
// ending's metric label, service call and verdict are in its one switch.
func (w *Worker) report(ctx context.Context, t *asynq.Task, r runEnd) error {
	e, log := r.e, r.log
	bg := context.WithoutCancel(ctx) // an ended run is recorded even as the worker stops
	// finished counts the run's end and writes it as the task's result, for
	// the monitoring UI (asynq keeps it with the task).
	finished := func(label string, exitCode *int) {
		w.observeRun(label, r.res.Duration)
		writeResult(t, runResult{Outcome: label, ExitCode: exitCode, Attempt: e.Attempt, DurationMS: r.res.Duration.Milliseconds(),
			TenantID: e.TenantID.String(), ProjectID: r.p.ID.String()})
	}
	// fail records a failed run; logPath is its kept log, if any.
	fail := func(msg, logPath string) error {
		recorded, err := w.svc.FinishExecution(bg, e.ID, e.Attempt,
			service.Outcome{Status: models.StatusFailed, Error: msg, LogPath: logPath})
		if err != nil {
			return err
		}
		if recorded && logPath != "" {
			w.dropScratch(e)
		}
		log.Warn("run failed", "error", msg)
		return fmt.Errorf("%s: %w", msg, asynq.SkipRetry)
	}

	switch r.how {
	case endNotClaimed:
		log.Info("run: nothing to do", "reason", r.reason)
		return nil
	case endClaimFailed:
		err := taskError(r.err)
		if errors.Is(err, asynq.SkipRetry) {
			log.Warn("run: the execution cannot be claimed; dropping the task", "error", r.err)
		}
		return err
	case endHeldElsewhere:
		// The other attempt's lease tells when it may be taken over.
		return snooze(10*time.Second, r.err)
	case endPreviousStopping:
		return snooze(time.Second, r.err)
	case endRecovered:
		recorded, err := w.recordOutcome(ctx, w.outcomePath(r.p.ID, e.ID), e.ID, e.Attempt, r.saved)
		if err != nil {
			return err
		}
		log.Info("main.py had already ended: its outcome is recorded, not run again", "status", r.saved.Status, "recorded", recorded)
		finished(string(r.saved.Status), r.saved.ExitCode)
		if r.saved.Status == models.StatusFailed {
			return fmt.Errorf("main.py had exited with an error: %w", asynq.SkipRetry)
		}
		return nil
	case endSetupFailed:
		_ = w.svc.ReleaseExecution(bg, e.ID, e.Attempt, r.reason)
		return r.err
	case endMisconfigured:
		return fail("the runner command is misconfigured: "+r.err.Error(), "")
	case endNotStarted:
		finished("failed", nil)
		return fail("main.py could not be started: "+r.err.Error(), w.keepLog(bg, r))
	case endOutputExceeded:
		finished("failed", nil)
		return fail(fmt.Sprintf("stopped: the run wrote more than Q2O_RUNNER_OUTPUT_LIMIT (%s) into its folder", byteSize(w.cfg.OutputLimit)), w.keepLog(bg, r))
	case endTimedOut:
		finished("timed_out", nil)
		return fail(fmt.Sprintf("timed out: the run took longer than Q2O_RUN_TIMEOUT (%s) and was stopped", w.cfg.RunTimeout), w.keepLog(bg, r))
	case endPaused:
		// FinishExecution does not run for a stopped execution: its log is
		// kept here, and main.py said gone, so the project's next run may
		// start.
		finished("paused", nil)
		if path := w.keepLog(bg, r); path != "" {
			if err := w.svc.RecordRunLog(bg, e.ID, e.Attempt, path); err != nil {
				log.Warn("record kept run.log", "error", err)
			}
		}
		w.stopConfirmed(bg, r)
		log.Info("run stopped: the execution was paused or cancelled")
		return nil
	case endInterrupted:
		finished("interrupted", nil)
		_ = w.svc.ReleaseExecution(bg, e.ID, e.Attempt, "worker stopped during the run; it will start again from the beginning")
		log.Info("run interrupted; released for another attempt")
		return fmt.Errorf("run interrupted: %w", r.err)
	case endExited:
		code := r.res.ExitCode
		outcome := service.Outcome{Status: models.StatusCompleted, ExitCode: &code, Exited: true}
		if code != 0 {
			outcome.Status = models.StatusFailed
			outcome.Error = failureText(r.res)
		} else {
			outcome.Zip = w.zipInRun(bg, r)
		}
		// The zip first: with s3 an outage of the store is waited out by
		// the zip's upload, the larger one, and the log follows.
		outcome.LogPath = w.keepLog(bg, r)
		recorded, err := w.recordOutcome(ctx, w.outcomePath(r.p.ID, e.ID), e.ID, e.Attempt, outcome)
		if err != nil {
			return err
		}
		if recorded && outcome.Zip != nil {
			w.pruneArtifacts(bg, e.ProjectID)
		}
		if recorded && outcome.LogPath != "" && (outcome.Zip != nil || outcome.Status == models.StatusFailed) {
			w.dropScratch(e) // with s3: all it held is in the bucket
		}
		if !recorded {
			// Stopped meanwhile, and the stop stands: main.py is gone all the
			// same. The zip written in the run has no row pointing at it; it
			// goes before the stop is confirmed, so before a later attempt
			// of the execution could write its own under the same key.
			if outcome.Zip != nil {
				w.discardZip(bg, e, *outcome.Zip)
			}
			w.stopConfirmed(bg, r)
		}
		finished(string(outcome.Status), outcome.ExitCode)
		log.Info("run finished", "status", outcome.Status, "exit_code", code, "recorded", recorded, "duration", r.res.Duration.String())
		if outcome.Status == models.StatusFailed {
			return fmt.Errorf("main.py exited with code %d: %w", code, asynq.SkipRetry)
		}
		return nil
	}
	return fmt.Errorf("run: unknown ending %d", r.how) // a new ending without its case
}

// keepLog copies run.log to the execution's own log file once the run has
// ended, so that its log stays readable after the next run empties run.log;
// it returns the copy's path, or "" (then run.log is all there is).
func (w *Worker) keepLog(ctx context.Context, r runEnd) string {
	path, err := w.svc.KeepRunLog(ctx, r.e, w.cfg.UploadRetry)
	if err != nil {
		r.log.Warn("keep run.log", "error", err)
		return ""
	}
	return path
}

// zipInRun writes the zip of a run whose main.py exited with 0, to be
// recorded with its outcome; nil when it could not (the project:zip task
// that FinishExecution then queues makes it).
func (w *Worker) zipInRun(ctx context.Context, r runEnd) *service.ZipFile {
	// The lease is renewed while the zip is written and uploaded (an upload
	// may wait out an outage of the object store): the run is not over.
	unwatch := w.beats.watch(w, service.Lease{ID: r.e.ID, Attempt: r.e.Attempt}, func() {})
	defer unwatch()
	z, err := w.writeZip(ctx, r.e)
	if err != nil {
		r.log.Warn("zip the run's output; the project:zip task will", "error", err)
		return nil
	}
	return z
}

// stopConfirmed tells the service that a stopped run's main.py is gone.
func (w *Worker) stopConfirmed(ctx context.Context, r runEnd) {
	if err := w.svc.StopConfirmed(ctx, r.e.ID, r.e.Attempt); err != nil {
		r.log.Warn("confirm the stopped run's end", "error", err)
	}
}

// byteSize writes n bytes the way the settings take them (10MiB, 2GiB).
func byteSize(n int64) string {
	for _, u := range []struct {
		name string
		size int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.size && n%u.size == 0 {
			return fmt.Sprintf("%d%s", n/u.size, u.name)
		}
	}
	return fmt.Sprintf("%d bytes", n)
}

// runResult is what a finished project:run task records as its result.
type runResult struct {
	Outcome    string `json:"outcome"`
	ExitCode   *int   `json:"exit_code"`
	Attempt    int    `json:"attempt"`
	DurationMS int64  `json:"duration_ms"`
	TenantID   string `json:"tenant_id"`
	ProjectID  string `json:"project_id"`
}

// writeResult stores r as the task's result (best effort: a task run
// outside a server, as in some tests, has no result writer).
func writeResult(t *asynq.Task, r runResult) {
	rw := t.ResultWriter()
	if rw == nil {
		return
	}
	b, err := json.Marshal(r)
	if err == nil {
		_, _ = rw.Write(b)
	}
}

// running counts main.py as started and in flight on the task's queue; the
// returned func, deferred around the run, takes it out of flight.
func (w *Worker) running(ctx context.Context) (done func()) {
	if w.cfg.Metrics == nil {
		return func() {}
	}
	queue, _ := asynq.GetQueueName(ctx)
	return w.cfg.Metrics.Running(queue)
}
