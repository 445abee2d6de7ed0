package worker

import (
	"context"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"github.com/q2o/q2o/artifacts"
)

// HandleZip writes the zip of a completed execution's output (project:zip).
// It does nothing for an execution that is not completed or already zipped.
func (w *Worker) HandleZip(ctx context.Context, t *asynq.Task) error {
	execID, err := decodeExecution(t)
	if err != nil {
		return err
	}
	e, ok, err := w.svc.ExecutionToZip(ctx, execID)
	if err != nil {
		return taskError(err)
	}
	if !ok {
		return nil
	}
	path, err := artifacts.ZipPath(w.cfg.OutputRoot, e.ProjectID.String(), e.ID.String())
	if err != nil {
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	start := time.Now()
	res, err := artifacts.WriteZip(ctx, e.OutputDir, path)
	if err != nil {
		return fmt.Errorf("zip output: %w", err)
	}
	if m := w.cfg.Metrics; m != nil {
		m.ObserveZip(time.Since(start), res.Size)
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
