package worker

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/q2o/q2o/artifacts"
	"github.com/q2o/q2o/artifacts/store"
	"github.com/q2o/q2o/models"
	"github.com/q2o/q2o/service"
)

// HandleZip writes the zip of a completed execution's output (project:zip),
// the fallback for a run whose zip could not be made in the run. It does
// nothing for an execution that is not completed or already zipped.
//
// With a remote store (Q2O_ARTIFACTS=s3) it first looks in the bucket: an
// upload that succeeded but whose recording did not is recorded as it is.
// Otherwise the zip can only be made where the run's output is, the scratch
// folder of the worker host that ran it (kept when its upload failed): a
// worker whose scratch does not hold that execution's output answers an
// error, and asynq retries the task, on whichever worker takes it.
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
	e.OutputDir = w.scratchDir(e)
	z, err := w.uploadedZip(ctx, e)
	if err != nil {
		return err
	}
	if z == nil {
		if z, err = w.writeZip(ctx, e); err != nil {
			return err
		}
	}
	if store.Remote(w.svc.Artifacts) && e.LogPath == nil && w.holdsOutput(e) {
		// The run's log could not be kept either: it is in the scratch
		// that goes once the zip is recorded.
		ref, err := w.svc.KeepRunLog(ctx, e, w.cfg.UploadRetry)
		if err == nil {
			err = w.svc.RecordRunLog(ctx, e.ID, e.Attempt, ref)
		}
		if err != nil {
			return fmt.Errorf("keep the run's log: %w", err)
		}
	}
	if err := w.svc.RecordZip(ctx, e.ID, z.Path, z.Size, z.SHA256); err != nil {
		return err
	}
	w.dropScratch(e)
	w.pruneArtifacts(ctx, e.ProjectID)
	return nil
}

// uploadedZip finds the zip of e already in a remote store, with the
// SHA-256 its upload recorded; nil when there is none (or the store is the
// local folder, where a zip in place is recorded by writeZip as usual).
func (w *Worker) uploadedZip(ctx context.Context, e models.Execution) (*service.ZipFile, error) {
	st := w.svc.Artifacts
	if !store.Remote(st) {
		return nil, nil
	}
	key, err := artifacts.ZipKey(e.ProjectID.String(), e.ID.String())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	o, err := st.Stat(ctx, key)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, err
	case o.SHA256 == "": // not tagged: the upload did not finish
		return nil, nil
	}
	return &service.ZipFile{Path: st.Ref(key), Size: o.Size, SHA256: o.SHA256}, nil
}

// writeZip writes the zip of execution e's output folder and puts it into
// the artifacts store; the run's handler (report, endExited) and the
// project:zip task (its fallback) both call it. The zip is written into
// this worker's Q2O_OUTPUT_ROOT/_artifacts, which in local mode is where
// the store keeps it; a remote store gets it uploaded (multipart, tried
// again for Q2O_S3_UPLOAD_RETRY while the store fails, its SHA-256 checked
// against the zip's), and the local copy is removed once it is there.
func (w *Worker) writeZip(ctx context.Context, e models.Execution) (*service.ZipFile, error) {
	path, err := artifacts.ZipPath(w.cfg.OutputRoot, e.ProjectID.String(), e.ID.String())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	key, err := artifacts.ZipKey(e.ProjectID.String(), e.ID.String())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	st := w.svc.Artifacts
	if store.Remote(st) && !w.holdsOutput(e) {
		return nil, fmt.Errorf("zip output: this worker's scratch (%s) does not hold the output of execution %s; the worker host that ran it can make it", e.OutputDir, e.ID)
	}
	start := time.Now()
	res, err := artifacts.WriteZip(ctx, e.OutputDir, path)
	if err != nil {
		return nil, fmt.Errorf("zip output: %w", err)
	}
	if m := w.cfg.Metrics; m != nil {
		m.ObserveZip(time.Since(start), res.Size)
	}
	log := w.log.With("execution_id", e.ID.String())
	log.Info("output zipped", "path", res.Path, "bytes", res.Size, "files", res.Files)
	o, err := store.PutFileRetrying(ctx, st, key, path, w.cfg.UploadRetry, func(err error, wait time.Duration) {
		log.Warn("store the zip: the artifacts store failed; trying again", "in", wait.String(), "error", err)
	})
	if err != nil {
		return nil, fmt.Errorf("store the zip: %w", err)
	}
	if o.SHA256 != "" && o.SHA256 != res.SHA256 {
		_ = st.Delete(ctx, key)
		return nil, fmt.Errorf("store the zip: the store holds SHA-256 %s, the zip written was %s", o.SHA256, res.SHA256)
	}
	if o.Size != res.Size {
		return nil, fmt.Errorf("store the zip: the store holds %d bytes, the zip written was %d", o.Size, res.Size)
	}
	if store.Remote(st) {
		log.Info("zip uploaded", "ref", st.Ref(key), "bytes", o.Size)
	}
	return &service.ZipFile{Path: st.Ref(key), Size: res.Size, SHA256: res.SHA256}, nil
}

// discardZip deletes zip z of execution e from the artifacts store (and, with
// a remote store, the local copy) when FinishExecution refused e's outcome:
// nothing records it, and no project:zip task will. It keeps the zip when
// the row does point at it (a finish that was recorded though its answer was
// lost) or when a later attempt of e has begun (it writes the same key).
func (w *Worker) discardZip(ctx context.Context, e models.Execution, z service.ZipFile) {
	log := w.log.With("execution_id", e.ID.String(), "zip", z.Path)
	cur, _, err := w.svc.ExecutionToZip(ctx, e.ID)
	if err != nil {
		log.Warn("discard the unrecorded zip: read the execution; the zip is left in the store", "error", err)
		return
	}
	if cur.Attempt != e.Attempt || cur.ZipPath != nil && *cur.ZipPath == z.Path {
		return
	}
	key, err := artifacts.ZipKey(e.ProjectID.String(), e.ID.String())
	if err != nil {
		return
	}
	if err := w.svc.Artifacts.Delete(ctx, key); err != nil {
		log.Warn("discard the unrecorded zip; it is left in the store", "error", err)
		return
	}
	if store.Remote(w.svc.Artifacts) {
		if path, err := artifacts.ZipPath(w.cfg.OutputRoot, e.ProjectID.String(), e.ID.String()); err == nil {
			_ = os.Remove(path)
		}
	}
	log.Info("unrecorded zip discarded: the run was stopped before its completion was recorded")
}

// scratchDir is the folder main.py of e runs in on this worker. In local
// mode it is the execution's recorded output folder, which the API reads
// too (a folder they share). With a remote store it is this worker's own
// Q2O_OUTPUT_ROOT/<project_id>: nothing is shared between hosts but the
// bucket, and the API's Q2O_OUTPUT_ROOT need not be the workers'.
func (w *Worker) scratchDir(e models.Execution) string {
	if !store.Remote(w.svc.Artifacts) {
		return e.OutputDir
	}
	dir, err := artifacts.ProjectDir(w.cfg.OutputRoot, e.ProjectID.String())
	if err != nil {
		return e.OutputDir
	}
	return dir
}

// holdsOutput reports whether e's scratch folder holds e's output: its
// run.log is e's (a later run of the project empties it).
func (w *Worker) holdsOutput(e models.Execution) bool {
	f, err := artifacts.OpenPlainFile(filepath.Join(e.OutputDir, artifacts.RunLog))
	if err != nil {
		return false
	}
	defer f.Close()
	return artifacts.HoldsRun(f, e.ID.String())
}

// dropScratch removes e's scratch folder once what it held is in a remote
// store (its zip and log recorded): the host keeps only the runs in
// flight. The local store keeps the folder, as it always has, until the
// project's next run.
func (w *Worker) dropScratch(e models.Execution) {
	if !store.Remote(w.svc.Artifacts) {
		return
	}
	// A zip left by an upload that failed (found in the bucket since).
	if zip, err := artifacts.ZipPath(w.cfg.OutputRoot, e.ProjectID.String(), e.ID.String()); err == nil {
		if err := os.Remove(zip); err == nil || errors.Is(err, fs.ErrNotExist) {
			_ = os.Remove(filepath.Dir(zip)) // the project's _artifacts folder, once empty
		}
	}
	if !w.holdsOutput(e) {
		return
	}
	if err := os.RemoveAll(e.OutputDir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		w.log.Warn("remove the run's scratch folder", "execution_id", e.ID.String(), "dir", e.OutputDir, "error", err)
		return
	}
	w.log.Info("scratch folder removed: the run's zip and log are in the store", "execution_id", e.ID.String(), "dir", e.OutputDir)
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
