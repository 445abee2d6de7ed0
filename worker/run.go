package worker

import (
	"context"
	"encoding/json"
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
	"github.com/q2o/q2o/models"
	"github.com/q2o/q2o/service"
	"github.com/q2o/q2o/worker/runner"
	"github.com/q2o/q2o/worker/sandbox"
)

// lease is how long a claimed execution stays ours without a heartbeat; a
// crashed worker's run may be taken over after it.
func (w *Worker) lease() time.Duration { return max(30*time.Second, 5*w.cfg.WatchInterval) }

// HandleRun runs main.py for one execution (the project:run task).
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
	log := w.log.With("execution_id", execID.String())
	claim, err := w.svc.ClaimExecution(ctx, execID, w.cfg.ID, w.lease())
	var appErr *models.Error
	if errors.As(err, &appErr) && appErr.Kind == models.KindNotFound {
		log.Warn("run: no such execution; dropping the task")
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	if err != nil {
		return err
	}
	if !claim.Run {
		log.Info("run: nothing to do", "reason", claim.Reason)
		return nil
	}
	e, p := claim.Execution, claim.Project
	// finished counts the run's end and writes it as the task's result, for
	// the monitoring UI (asynq keeps it with the task).
	finished := func(outcome string, d time.Duration, exitCode *int) {
		w.observeRun(outcome, d)
		writeResult(t, runResult{Outcome: outcome, ExitCode: exitCode, Attempt: e.Attempt, DurationMS: d.Milliseconds(),
			TenantID: e.TenantID.String(), ProjectID: p.ID.String()})
	}
	log = log.With("project_id", p.ID.String(), "tenant_id", e.TenantID.String(), "attempt", e.Attempt)

	// fail records a failed run; logPath is its kept log, if any.
	fail := func(msg, logPath string) error {
		if _, err := w.svc.FinishExecution(context.WithoutCancel(ctx), e.ID, e.Attempt,
			service.Outcome{Status: models.StatusFailed, Error: msg, LogPath: logPath}); err != nil {
			return err
		}
		log.Warn("run failed", "error", msg)
		return fmt.Errorf("%s: %w", msg, asynq.SkipRetry)
	}

	// A main.py that ended while its outcome could not be recorded is not
	// run again: its outcome is.
	outcomeFile := w.outcomePath(p.ID, e.ID)
	if saved, ok, err := loadOutcome(outcomeFile); err != nil {
		log.Warn("read the run's outcome file", "error", err)
	} else if ok {
		recorded, err := w.recordOutcome(ctx, outcomeFile, e.ID, e.Attempt, saved)
		if err != nil {
			return err
		}
		log.Info("main.py had already ended: its outcome is recorded, not run again", "status", saved.Status, "recorded", recorded)
		finished(string(saved.Status), 0, saved.ExitCode)
		if saved.Status == models.StatusFailed {
			return fmt.Errorf("main.py had exited with an error: %w", asynq.SkipRetry)
		}
		return nil
	}

	if err := os.MkdirAll(e.OutputDir, 0o755); err != nil {
		_ = w.svc.ReleaseExecution(context.WithoutCancel(ctx), e.ID, e.Attempt, "output folder: "+err.Error())
		return fmt.Errorf("create output folder: %w", err)
	}
	vars := runner.Vars{ProjectID: p.ID.String(), ProjectName: p.Name, Description: p.Description,
		Objectives: p.Objectives, OutputDir: e.OutputDir, TenantID: e.TenantID.String(), ExecutionID: e.ID.String()}
	argv, err := runner.Argv(w.cfg.Runner, w.cfg.RunnerArgs, vars)
	if err != nil {
		return fail("the runner command is misconfigured: "+err.Error(), "")
	}
	logPath := filepath.Join(e.OutputDir, artifacts.RunLog)
	if err := startLog(logPath, e.Attempt, e.ID); err != nil {
		_ = w.svc.ReleaseExecution(context.WithoutCancel(ctx), e.ID, e.Attempt, "run.log: "+err.Error())
		return fmt.Errorf("open run.log: %w", err)
	}

	runCtx, cancelRun := context.WithTimeout(ctx, w.cfg.RunTimeout)
	defer cancelRun()
	var paused atomic.Bool
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		w.watch(runCtx, e.ID.String(), func() (bool, error) {
			return w.svc.Heartbeat(context.WithoutCancel(runCtx), e.ID, e.Attempt, w.lease())
		}, func() { paused.Store(true); cancelRun() })
	}()

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
	if w.cfg.Metrics != nil {
		w.cfg.Metrics.RunsStarted.Inc()
	}
	res, runErr := runner.Run(runCtx, runner.Spec{
		Argv: argv, Env: runner.Env(os.Environ(), vars, envOptions), Dir: e.OutputDir, LogPath: logPath, Grace: w.cfg.KillGrace,
		Sandbox: w.cfg.Sandbox, OutputLimit: w.cfg.OutputLimit, ProgressPatterns: w.cfg.ProgressPatterns, Log: log,
		OnProgress: progress.Offer,
	})
	progress.Close() // the last value is stored before the outcome
	timedOut := errors.Is(runCtx.Err(), context.DeadlineExceeded) && ctx.Err() == nil
	cancelRun()
	<-watchDone

	// keepLog copies run.log to the execution's own log file once the run
	// has ended, so that its log stays readable after the next run empties
	// run.log; it returns the copy's path, or "" (then run.log is all
	// there is).
	keepLog := func() string {
		path, err := w.svc.KeepRunLog(e)
		if err != nil {
			log.Warn("keep run.log", "error", err)
			return ""
		}
		return path
	}
	// recordKeptLog keeps the log of a run stopped because its execution
	// was paused (FinishExecution does not run then), and says that main.py
	// is gone, so the project's next run may start.
	recordKeptLog := func() {
		defer func() {
			if err := w.svc.StopConfirmed(context.WithoutCancel(ctx), e.ID, e.Attempt); err != nil {
				log.Warn("confirm the stopped run's end", "error", err)
			}
		}()
		if path := keepLog(); path != "" {
			if err := w.svc.RecordRunLog(context.WithoutCancel(ctx), e.ID, e.Attempt, path); err != nil {
				log.Warn("record kept run.log", "error", err)
			}
		}
	}

	switch {
	case runErr != nil:
		finished("failed", res.Duration, nil)
		return fail("main.py could not be started: "+runErr.Error(), keepLog())
	case res.OutputExceeded:
		finished("failed", res.Duration, nil)
		return fail(fmt.Sprintf("stopped: the run wrote more than Q2O_RUNNER_OUTPUT_LIMIT (%s) into its folder", byteSize(w.cfg.OutputLimit)), keepLog())
	case paused.Load() && res.Stopped:
		// Paused or cancelled, and main.py was still running: the stop is
		// the outcome. (One that had exited by itself keeps its own: below.)
		finished("paused", res.Duration, nil)
		recordKeptLog()
		log.Info("run stopped: the execution was paused or cancelled")
		return nil
	case res.Stopped && timedOut:
		finished("timed_out", res.Duration, nil)
		return fail(fmt.Sprintf("timed out: the run took longer than Q2O_RUN_TIMEOUT (%s) and was stopped", w.cfg.RunTimeout), keepLog())
	case res.Stopped:
		// Our ctx ended: the worker is shutting down or asynq cancelled the
		// task. A pause that raced with us has already been recorded.
		if ok, _ := w.svc.Heartbeat(context.WithoutCancel(ctx), e.ID, e.Attempt, w.lease()); !ok {
			finished("paused", res.Duration, nil)
			recordKeptLog()
			log.Info("run stopped: the execution was paused")
			return nil
		}
		finished("interrupted", res.Duration, nil)
		_ = w.svc.ReleaseExecution(context.WithoutCancel(ctx), e.ID, e.Attempt,
			"worker stopped during the run; it will start again from the beginning")
		log.Info("run interrupted; released for another attempt")
		return fmt.Errorf("run interrupted: %w", ctx.Err())
	}

	code := res.ExitCode
	outcome := service.Outcome{Status: models.StatusCompleted, ExitCode: &code, LogPath: keepLog(), Exited: true}
	if code != 0 {
		outcome.Status = models.StatusFailed
		outcome.Error = failureText(res)
	}
	recorded, err := w.recordOutcome(ctx, w.outcomePath(p.ID, e.ID), e.ID, e.Attempt, outcome)
	if err != nil {
		return err
	}
	if !recorded {
		// Stopped meanwhile, and the stop stands: main.py is gone all the same.
		if err := w.svc.StopConfirmed(context.WithoutCancel(ctx), e.ID, e.Attempt); err != nil {
			log.Warn("confirm the stopped run's end", "error", err)
		}
	}
	finished(string(outcome.Status), res.Duration, outcome.ExitCode)
	log.Info("run finished", "status", outcome.Status, "exit_code", code, "recorded", recorded, "duration", res.Duration.String())
	if outcome.Status == models.StatusFailed {
		return fmt.Errorf("main.py exited with code %d: %w", code, asynq.SkipRetry)
	}
	return nil
}

// watch calls heartbeat every WatchInterval until ctx is done, and calls stop
// once when heartbeat says the run may not go on.
func (w *Worker) watch(ctx context.Context, execID string, heartbeat func() (bool, error), stop func()) {
	t := time.NewTicker(w.cfg.WatchInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ok, err := heartbeat()
		if err != nil {
			w.log.Warn("run heartbeat", "execution_id", execID, "error", err)
			continue
		}
		if !ok {
			stop()
			return
		}
	}
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

// HandleZip writes the zip of a completed execution's output (project:zip).
// It does nothing for an execution that is not completed or already zipped.
func (w *Worker) HandleZip(ctx context.Context, t *asynq.Task) error {
	execID, err := decodeExecution(t)
	if err != nil {
		return err
	}
	e, ok, err := w.svc.ExecutionToZip(ctx, execID)
	if err != nil {
		var appErr *models.Error
		if errors.As(err, &appErr) {
			return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
		}
		return err
	}
	if !ok {
		return nil
	}
	path, err := artifacts.ZipPath(w.cfg.OutputRoot, e.ProjectID.String(), e.ID.String())
	if err != nil {
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	res, err := artifacts.WriteZip(ctx, e.OutputDir, path)
	if err != nil {
		return fmt.Errorf("zip output: %w", err)
	}
	if err := w.svc.RecordZip(ctx, e.ID, res.Path, res.Size, res.SHA256); err != nil {
		return err
	}
	w.log.Info("output zipped", "execution_id", e.ID.String(), "path", res.Path, "bytes", res.Size, "files", res.Files)
	if n, err := w.svc.PruneArtifacts(ctx, e.ProjectID, w.cfg.KeepRuns); err != nil {
		w.log.Warn("prune old runs' artifacts", "project_id", e.ProjectID.String(), "error", err)
	} else if n > 0 {
		w.log.Info("old runs' artifacts pruned", "project_id", e.ProjectID.String(), "runs", n, "kept", w.cfg.KeepRuns)
	}
	return nil
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
