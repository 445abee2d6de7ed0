package worker

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/q2o/q2o/artifacts"
	"github.com/q2o/q2o/models"
	"github.com/q2o/q2o/service"
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
	z, err := w.writeZip(ctx, e)
	if err != nil {
		return err
	}
	if err := w.svc.RecordZip(ctx, e.ID, z.Path, z.Size, z.SHA256); err != nil {
		return err
	}
	w.pruneArtifacts(ctx, e.ProjectID)
	return nil
}

// writeZip writes the zip of execution e's output folder; the run's handler
// (report, endExited) and the project:zip task (its fallback) both call it.
func (w *Worker) writeZip(ctx context.Context, e models.Execution) (*service.ZipFile, error) {
	path, err := artifacts.ZipPath(w.cfg.OutputRoot, e.ProjectID.String(), e.ID.String())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	start := time.Now()
	res, err := artifacts.WriteZip(ctx, e.OutputDir, path)
	if err != nil {
		return nil, fmt.Errorf("zip output: %w", err)
	}
	if m := w.cfg.Metrics; m != nil {
		m.ObserveZip(time.Since(start), res.Size)
	}
	w.log.Info("output zipped", "execution_id", e.ID.String(), "path", res.Path, "bytes", res.Size, "files", res.Files)
	return &service.ZipFile{Path: res.Path, Size: res.Size, SHA256: res.SHA256}, nil
}

// pruneArtifacts drops the zips and logs of the project's runs older than
// its KeepRuns newest, once a new zip is recorded.
func (w *Worker) pruneArtifacts(ctx context.Context, projectID uuid.UUID) {
	if n, err := w.svc.PruneArtifacts(ctx, projectID, w.cfg.KeepRuns); err != nil {
		w.log.Warn("prune old runs' artifacts", "project_id", projectID.String(), "error", err)
	} else if n > 0 {
		w.log.Info("old runs' artifacts pruned", "project_id", projectID.String(), "runs", n, "kept", w.cfg.KeepRuns)
	}
}
