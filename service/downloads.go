package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"gorm.io/gorm"

	"github.com/q2o/q2o/artifacts"
	"github.com/q2o/q2o/artifacts/store"
	"github.com/q2o/q2o/jobs"
	"github.com/q2o/q2o/models"
)

// This file is the downloads of run zips, for a client (OpenDownload) and
// for the tenant (OpenExecutionDownload), and making a missing zip again.

// Download errors.
var (
	// ErrZipMissing: the zip was recorded but its file is gone from disk; it
	// is being made again.
	ErrZipMissing = models.Errorf(models.KindNotFound, "zip_missing",
		"the zip of this project is missing and is being made again; try again shortly")
	// ErrZipGone: the zip of an earlier run (not the project's latest) is
	// not on disk, and cannot be made again: the project folder now holds a
	// later run's output.
	ErrZipGone = models.Errorf(models.KindNotFound, "zip_missing",
		"the zip of this run is no longer kept; only the latest run's zip can be made again")
	// ErrZipLost: the zip was recorded but its object is gone from the
	// bucket (Q2O_ARTIFACTS=s3). It cannot be made again: the worker removed
	// the run's scratch output once the upload succeeded.
	ErrZipLost = models.Errorf(models.KindNotFound, "zip_missing",
		"the zip of this run is missing from the object store and cannot be made again; run the project again")
)

func errNotCompleted(status models.ExecutionStatus) error {
	if status == "" {
		return models.Errorf(models.KindConflict, "project_not_completed", "the project has not run yet; its download is ready once a run has completed")
	}
	return models.Errorf(models.KindConflict, "project_not_completed",
		"the project's run is %s; its download is ready once a run has completed", status)
}

// Download is the zip of a completed run, opened for a client or a tenant.
// When Pending is true the zip is still being made and File is nil;
// otherwise the caller must close File. File seeks (Range requests): it is
// the *os.File itself in local mode (so a download can use sendfile) and a
// reader of the object, whose reads are ranged GETs, with s3.
type Download struct {
	ProjectName string
	ExecutionID uuid.UUID
	Pending     bool
	File        io.ReadSeekCloser
	ModTime     time.Time
	SHA256      string // hex; empty if not recorded
	// Presign, when set, gives a URL (valid PresignTTL) where the client
	// may GET the zip from the object store itself, answered with the given
	// Content-Disposition (Q2O_S3_PRESIGN_ABOVE). File is open all the same,
	// for what a redirect does not answer (HEAD, If-None-Match).
	Presign func(ctx context.Context, disposition string) (string, error)
}

// PresignTTL is how long a presigned download URL is valid.
const PresignTTL = 15 * time.Minute

// OpenDownload opens the zip of project projectID's last completed
// execution for a client holding credential (an activation code or a client
// session token, see ProjectForCode): a project being run again, or whose
// latest run failed or was stopped, still serves the zip of its last good
// run; one that never completed a run answers project_not_completed.
//
// While the completed execution's zip is not recorded yet it answers Pending
// and makes sure the project:zip task exists (see ensureZipTask). When the
// recorded file has vanished from disk (or is not the file recorded), it
// forgets the zip, enqueues project:zip again and answers zip_missing
// (ErrZipMissing). With a remote store (Q2O_ARTIFACTS=s3) the zip is read
// from the bucket; a recorded object that is gone (or not of the recorded
// size) answers zip_missing (ErrZipLost) and is not made again: the scratch
// it came from was removed once it was uploaded.
// Errors: not_found (404), project_not_completed (409), zip_missing (404).
func (s *Service) OpenDownload(ctx context.Context, projectID uuid.UUID, credential string) (Download, error) {
	p, err := s.ProjectForCode(ctx, projectID, credential)
	if err != nil {
		return Download{}, err
	}
	e, err := s.lastCompleted(ctx, p.ID)
	if err != nil {
		return Download{}, err
	}
	if e == nil {
		var status models.ExecutionStatus
		if p.ExecutionStatus != nil {
			status = *p.ExecutionStatus
		}
		return Download{}, errNotCompleted(status)
	}
	return s.openExecutionZip(ctx, &p, e)
}

// OpenExecutionDownload opens the zip of one completed execution of one of
// the tenant's projects, for the tenant, with OpenDownload's answers while
// the zip is being made (Pending) or has vanished (zip_missing, made again).
// Only the project's latest execution can have its zip made again (its
// output is what the project folder holds); an earlier one whose zip is not
// on disk answers zip_missing (ErrZipGone) and nothing is made.
// Errors: execution_not_found (404, also for another tenant's or project's
// execution), execution_not_completed (409), zip_missing (404).
func (s *Service) OpenExecutionDownload(ctx context.Context, tenantID, projectID, executionID uuid.UUID) (Download, error) {
	var p models.Project
	err := s.DB.WithContext(ctx).Where("id = ? AND tenant_id = ?", projectID, tenantID).Take(&p).Error
	if err != nil {
		return Download{}, notFound(err, models.ErrExecutionNotFound)
	}
	var e models.Execution
	err = s.DB.WithContext(ctx).Where("id = ? AND project_id = ? AND tenant_id = ?", executionID, projectID, tenantID).Take(&e).Error
	if err != nil {
		return Download{}, notFound(err, models.ErrExecutionNotFound)
	}
	if e.Status != models.StatusCompleted {
		return Download{}, models.Errorf(models.KindConflict, "execution_not_completed",
			"the run is %s; only a completed run has a zip", e.Status)
	}
	return s.openExecutionZip(ctx, &p, &e)
}

// openExecutionZip opens the zip of completed execution e of project p: the
// zip-opening part shared by OpenDownload and OpenExecutionDownload (see
// them for Pending and zip_missing). The zip is made (again) only for the
// project's latest execution.
func (s *Service) openExecutionZip(ctx context.Context, p *models.Project, e *models.Execution) (Download, error) {
	latest := p.LatestExecutionID != nil && *p.LatestExecutionID == e.ID
	d := Download{ProjectName: p.Name, ExecutionID: e.ID}
	if e.ZipPath == nil {
		if !latest {
			return Download{}, ErrZipGone
		}
		if err := s.ensureZipTask(ctx, e.ID); err != nil {
			return Download{}, err
		}
		d.Pending = true
		return d, nil
	}
	f, modTime, err := s.openZip(ctx, *e.ZipPath, e.ZipSize, e.ZipSHA256)
	if errors.Is(err, fs.ErrNotExist) {
		if store.Remote(s.Artifacts) {
			s.Log.Warn("zip object missing from the store", "execution_id", e.ID, "ref", *e.ZipPath, "error", err)
			return Download{}, ErrZipLost
		}
		if !latest {
			s.Log.Warn("zip file of an earlier run missing", "execution_id", e.ID, "path", *e.ZipPath, "error", err)
			return Download{}, ErrZipGone
		}
		s.Log.Warn("zip file missing; making it again", "execution_id", e.ID, "path", *e.ZipPath, "error", err)
		if err := s.forgetZip(ctx, e.ID, *e.ZipPath); err != nil {
			return Download{}, err
		}
		if err := s.ensureZipTask(ctx, e.ID); err != nil {
			return Download{}, err
		}
		return Download{}, ErrZipMissing
	}
	if err != nil {
		return Download{}, fmt.Errorf("open zip: %w", err)
	}
	d.File, d.ModTime = f, modTime
	if e.ZipSHA256 != nil {
		d.SHA256 = *e.ZipSHA256
	}
	d.Presign = s.presigner(*e.ZipPath, e.ZipSize)
	return d, nil
}

// presigner is Download.Presign for the zip at ref, or nil when downloads
// of its size stream through the API.
func (s *Service) presigner(ref string, size *int64) func(context.Context, string) (string, error) {
	ps, ok := s.Artifacts.(store.Presigner)
	if !ok || s.PresignAbove <= 0 || size == nil || *size < s.PresignAbove {
		return nil
	}
	key, err := s.Artifacts.Key(ref)
	if err != nil {
		return nil
	}
	return func(ctx context.Context, disposition string) (string, error) {
		u, err := ps.PresignGet(ctx, key, PresignTTL, disposition, "application/zip")
		if err != nil {
			return "", err
		}
		return u.String(), nil
	}
}

// openZip opens the recorded zip ref through the store, checked against
// what was recorded of it (size, and in local mode the SHA-256, see
// artifacts.CheckZip). A zip that is missing, outside the store, or not the
// one recorded wraps fs.ErrNotExist.
func (s *Service) openZip(ctx context.Context, ref string, size *int64, sha *string) (io.ReadSeekCloser, time.Time, error) {
	key, err := s.Artifacts.Key(ref)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("%w: %w", err, fs.ErrNotExist)
	}
	r, err := s.Artifacts.Open(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, time.Time{}, fmt.Errorf("%w: %w", err, fs.ErrNotExist)
	}
	if err != nil {
		return nil, time.Time{}, err
	}
	if f, ok := store.OSFile(r); ok {
		fi, err := artifacts.CheckZip(f, size, sha)
		if err != nil {
			_ = r.Close()
			return nil, time.Time{}, err
		}
		return f, fi.ModTime(), nil
	}
	// In the bucket: the object of the recorded size. Its SHA-256 was
	// checked against the zip's as it was uploaded; hashing it again here
	// would read the whole object for every download.
	o := r.Object()
	if size != nil && o.Size != *size {
		_ = r.Close()
		return nil, time.Time{}, fmt.Errorf("%s: %d bytes, recorded %d: %w", ref, o.Size, *size, fs.ErrNotExist)
	}
	return r, o.ModTime, nil
}

// LatestCompletedExecution returns the newest completed execution of one of
// the tenant's projects (whatever later runs are doing), or nil when the
// project has none.
// Errors: project_not_found (404, also for another tenant's project).
func (s *Service) LatestCompletedExecution(ctx context.Context, tenantID, projectID uuid.UUID) (*models.Execution, error) {
	if _, err := s.Project(ctx, tenantID, projectID); err != nil {
		return nil, err
	}
	return s.lastCompleted(ctx, projectID)
}

// lastCompleted is the newest completed execution of a project, or nil: the
// one whose zip the client downloads, whatever later runs are doing.
func (s *Service) lastCompleted(ctx context.Context, projectID uuid.UUID) (*models.Execution, error) {
	var e models.Execution
	// Ids are UUIDv7: id orders executions created in the same instant.
	err := s.DB.WithContext(ctx).Where("project_id = ? AND status = ?", projectID, models.StatusCompleted).
		Order("created_at DESC, id DESC").Take(&e).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the last completed execution: %w", err)
	}
	return &e, nil
}

// forgetZip clears an execution's recorded zip, if it is still path, so
// that project:zip writes it again.
func (s *Service) forgetZip(ctx context.Context, execID uuid.UUID, path string) error {
	return s.DB.WithContext(ctx).Model(&models.Execution{}).Where("id = ? AND zip_path = ?", execID, path).
		Updates(map[string]any{"zip_path": nil, "zip_size": nil, "zip_sha256": nil, "updated_at": s.Now()}).Error
}

// taskInfoGetter is the part of asynq's Inspector that tells what became of
// a task. s.Queue provides it when it is an *asynq.Inspector (as wired).
type taskInfoGetter interface {
	GetTaskInfo(queue, id string) (*asynq.TaskInfo, error)
}

// ensureZipTask makes sure the project:zip task of a completed, unzipped
// execution will run: it does nothing while the task waits in the outbox
// (unsent) or is pending, scheduled, retrying or running on Redis, and
// otherwise writes it to the outbox again and sends it. A task that Redis
// keeps as completed (retention) or archived (out of retries) would refuse a
// new one with its TaskID, so it is deleted first. Two requests racing here
// at worst enqueue it twice, and the TaskID refuses the second.
func (s *Service) ensureZipTask(ctx context.Context, execID uuid.UUID) error {
	msg := jobs.ZipMessage(jobs.Run{ExecutionID: execID})
	unsent, err := jobs.Unsent(s.DB.WithContext(ctx), msg.TaskID)
	if err != nil {
		return fmt.Errorf("read outbox: %w", err)
	}
	if unsent {
		return nil
	}
	queued, err := s.taskQueued(msg.Queue, msg.TaskID)
	if err != nil {
		// Redis cannot tell us: enqueue anyway. The outbox row waits for the
		// relay if Redis is down, and a task already there refuses it.
		s.Log.Warn("zip task: cannot read the queue; enqueueing again", "execution_id", execID, "error", err)
	}
	if queued {
		return nil
	}
	return s.inTx(ctx, func(tx *gorm.DB, ob *outbox) error {
		var n int64
		err := tx.Model(&models.Execution{}).
			Where("id = ? AND status = ? AND zip_path IS NULL", execID, models.StatusCompleted).Count(&n).Error
		if err != nil || n == 0 {
			return err // zipped in the meantime: nothing to do
		}
		s.Log.Info("zip task missing; enqueued again", "execution_id", execID)
		return ob.add(msg)
	})
}

// taskQueued reports whether task id is on Redis and will still run. It
// deletes a completed or archived one, which would not.
func (s *Service) taskQueued(queue, id string) (bool, error) {
	insp, ok := s.Queue.(taskInfoGetter)
	if !ok {
		return false, nil // cannot tell: a duplicate enqueue is refused anyway
	}
	info, err := insp.GetTaskInfo(queue, id)
	switch {
	case errors.Is(err, asynq.ErrTaskNotFound), errors.Is(err, asynq.ErrQueueNotFound):
		return false, nil
	case err != nil:
		return false, err
	}
	if info.State != asynq.TaskStateCompleted && info.State != asynq.TaskStateArchived {
		return true, nil
	}
	if err := s.Queue.DeleteTask(queue, id); err != nil && !errors.Is(err, asynq.ErrTaskNotFound) {
		return false, err
	}
	return false, nil
}
