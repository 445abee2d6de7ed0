package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/q2o/q2o/artifacts"
	"github.com/q2o/q2o/service"
	"github.com/q2o/q2o/worker/runner"
	"github.com/q2o/q2o/worker/sandbox"
)

// lease is how long a claimed execution stays ours without a heartbeat; a
// crashed worker's run may be taken over after it.
func (w *Worker) lease() time.Duration { return max(30*time.Second, 5*w.cfg.WatchInterval) }

// HandleRun runs main.py for one execution (the project:run task): attempt
// runs it and says how it ended; report records that and returns asynq's
// verdict.
//
// It is idempotent: it claims the execution row first and does nothing for
// one that is finished or paused, or that another worker is running. While
// main.py runs it renews its lease and watches the row, and stops main.py's
// process group when the row is paused. A non-zero exit or a timeout is a
// failed run (SkipRetry); a failure of ours (database, output folder) is
// retried; a shutdown puts the task back for another worker.
func (w *Worker) HandleRun(ctx context.Context, t *asynq.Task) error {
	execID, err := decodeExecution(t)
	if err != nil {
		return err
	}
	return w.report(ctx, t, w.attempt(ctx, execID))
}

// attempt claims the execution and, when this delivery may run it, runs
// main.py once. It records nothing of how the attempt ended (report does),
// but what decides the ending: the claim, progress, the lease.
func (w *Worker) attempt(ctx context.Context, execID uuid.UUID) runEnd {
	end := runEnd{log: w.log.With("execution_id", execID.String())}
	claim, err := w.svc.ClaimExecution(ctx, execID, w.cfg.ID, w.lease())
	switch {
	case errors.Is(err, service.ErrHeldElsewhere):
		return end.with(endHeldElsewhere, err)
	case errors.Is(err, service.ErrPreviousRunStopping):
		return end.with(endPreviousStopping, err)
	case err != nil:
		return end.with(endClaimFailed, err)
	case !claim.Run:
		end.reason = claim.Reason
		return end.with(endNotClaimed, nil)
	}
	e, p := claim.Execution, claim.Project
	e.OutputDir = w.scratchDir(e) // with s3: this host's own folder
	end.e, end.p = e, p
	end.log = end.log.With("project_id", p.ID.String(), "tenant_id", e.TenantID.String(), "attempt", e.Attempt)

	// A main.py that ended while its outcome could not be recorded is not
	// run again: its outcome is.
	if saved, ok, err := loadOutcome(w.outcomePath(p.ID, e.ID)); err != nil {
		end.log.Warn("read the run's outcome file", "error", err)
	} else if ok {
		end.saved = saved
		return end.with(endRecovered, nil)
	}
	return w.runMain(ctx, end)
}

// runMain runs main.py for the claimed execution end.e: it sets up the
// output folder and run.log, renews the lease and watches the row while
// main.py runs, and tells from runner's result and the row how it ended.
func (w *Worker) runMain(ctx context.Context, end runEnd) runEnd {
	e, p, log := end.e, end.p, end.log
	if err := os.MkdirAll(e.OutputDir, 0o755); err != nil {
		end.reason = "output folder: " + err.Error()
		return end.with(endSetupFailed, fmt.Errorf("create output folder: %w", err))
	}
	vars := runner.Vars{ProjectID: p.ID.String(), ProjectName: p.Name, Description: p.Description,
		Objectives: p.Objectives, OutputDir: e.OutputDir, TenantID: e.TenantID.String(), ExecutionID: e.ID.String()}
	argv, err := runner.Argv(w.cfg.Runner, w.cfg.RunnerArgs, vars)
	if err != nil {
		return end.with(endMisconfigured, err)
	}
	logPath := filepath.Join(e.OutputDir, artifacts.RunLog)
	if err := startLog(logPath, e.Attempt, e.ID); err != nil {
		end.reason = "run.log: " + err.Error()
		return end.with(endSetupFailed, fmt.Errorf("open run.log: %w", err))
	}

	runCtx, cancelRun := context.WithTimeout(ctx, w.cfg.RunTimeout)
	defer cancelRun()
	var paused atomic.Bool
	unwatch := w.beats.watch(w, service.Lease{ID: e.ID, Attempt: e.Attempt}, func() { paused.Store(true); cancelRun() })

	envOptions := runner.EnvOptions{Pass: w.cfg.RunnerPassEnv}
	if w.cfg.Sandbox != nil {
		envOptions.PATH, envOptions.HOME = sandbox.PATH, "/tmp"
	}
	progress := newCoalescer(func(percent int, message string) {
		if err := w.svc.RecordProgress(context.WithoutCancel(ctx), e.ID, e.Attempt, percent, message); err != nil {
			log.Warn("record progress", "error", err)
		}
	})
	log.Info("run started", "argv0", argv[0], "sandbox", w.cfg.Sandbox != nil)
	defer w.running(ctx)()
	live, endLive := w.liveLog(e.ID)
	res, runErr := runner.Run(runCtx, runner.Spec{
		Argv: argv, Env: runner.Env(os.Environ(), vars, envOptions), Dir: e.OutputDir, LogPath: logPath, Grace: w.cfg.KillGrace,
		Sandbox: w.cfg.Sandbox, OutputLimit: w.cfg.OutputLimit, ProgressPatterns: w.cfg.ProgressPatterns, Log: log,
		OnProgress: progress.Offer, Live: live,
	})
	endLive()        // before the outcome: a follower that sees the run ended finds the log's end
	progress.Close() // the last value is stored before the outcome
	timedOut := errors.Is(runCtx.Err(), context.DeadlineExceeded) && ctx.Err() == nil
	unwatch()
	cancelRun()

	end.res = res
	switch {
	case runErr != nil:
		return end.with(endNotStarted, runErr)
	case res.OutputExceeded:
		return end.with(endOutputExceeded, nil)
	case paused.Load() && res.Stopped:
		// Paused or cancelled, and main.py was still running: the stop is
		// the outcome. (One that had exited by itself keeps its own.)
		return end.with(endPaused, nil)
	case res.Stopped && timedOut:
		return end.with(endTimedOut, nil)
	case res.Stopped:
		// Our ctx ended: the worker is shutting down or asynq cancelled the
		// task. A pause that raced with us has already been recorded.
		if ok, _ := w.svc.Heartbeat(context.WithoutCancel(ctx), e.ID, e.Attempt, w.lease()); !ok {
			return end.with(endPaused, nil)
		}
		return end.with(endInterrupted, ctx.Err())
	}
	return end.with(endExited, nil)
}

// errorTailLines is how many of stderr's last lines go into execution_error.
const errorTailLines = 20

func failureText(res runner.Result) string {
	var b strings.Builder
	if res.ExitCode >= 0 {
		fmt.Fprintf(&b, "main.py exited with code %d", res.ExitCode)
	} else {
		fmt.Fprintf(&b, "main.py was ended by a signal (%s)", res.Signal)
	}
	if tail := strings.TrimSpace(res.StderrTail); tail != "" {
		lines := strings.Split(tail, "\n")
		lines = lines[max(0, len(lines)-errorTailLines):]
		b.WriteString("; last lines of stderr:\n")
		b.WriteString(strings.Join(lines, "\n"))
	}
	return b.String()
}

// startLog starts run.log for a new execution, or marks a new attempt in it,
// with the header line by which the logs API tells whose output it holds.
func startLog(path string, attempt int, execID uuid.UUID) error {
	flags := os.O_CREATE | os.O_WRONLY | os.O_APPEND
	if attempt == 1 {
		flags = os.O_CREATE | os.O_WRONLY | os.O_TRUNC
	}
	f, err := os.OpenFile(path, flags|syscallNoFollow, 0o644)
	if err != nil {
		return err
	}
	_, err = io.WriteString(f, service.RunLogHeader(execID, attempt, time.Now()))
	if cErr := f.Close(); err == nil {
		err = cErr
	}
	return err
}
