package service

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/q2o/q2o/jobs"
	"github.com/q2o/q2o/models"
)

// ErrHeldElsewhere means another worker holds a live lease on the execution:
// this delivery is a duplicate and must not start main.py. The task is
// retried later, by which time the other attempt has finished it (and the
// retry finds nothing to do) or has died (and its lease has expired).
var ErrHeldElsewhere = errors.New("execution is running on another worker")

// ErrPreviousRunStopping is ClaimExecution's answer while an earlier run of
// the same project was stopped but its main.py may still be ending (its
// worker has not said it is gone, and its lease has not run out): the new
// run waits, so that two runs never share the project folder.
var ErrPreviousRunStopping = errors.New("the project's previous run is still stopping")

// updateLatestProject updates the execution's project, but only while this
// execution is the project's latest: an old run never overwrites a newer one.
func (s *Service) updateLatestProject(tx *gorm.DB, e *models.Execution, fields map[string]any) error {
	fields["updated_at"] = s.Now()
	return tx.Model(&models.Project{}).Where("id = ? AND latest_execution_id = ?", e.ProjectID, e.ID).Updates(fields).Error
}

// Heartbeat extends the lease of a running attempt and reports whether it may
// go on: false when the execution was paused (or otherwise taken from this
// attempt), and then the caller stops main.py.
func (s *Service) Heartbeat(ctx context.Context, execID uuid.UUID, attempt int, lease time.Duration) (bool, error) {
	res := s.DB.WithContext(ctx).Model(&models.Execution{}).
		Where("id = ? AND attempt = ? AND status = ?", execID, attempt, models.StatusRunning).
		Update("lease_until", s.Now().Add(lease))
	if res.Error != nil {
		return true, res.Error // a database hiccup is no reason to kill a run
	}
	return res.RowsAffected == 1, nil
}

// Lease names one running attempt whose lease a worker renews.
type Lease struct {
	ID      uuid.UUID
	Attempt int
}

// RenewLeases extends, in one statement, the leases of the attempts that
// workerID runs, and returns the ones that may go on: an attempt missing
// from the answer was paused or cancelled, or is no longer this worker's,
// and its caller stops main.py. On an error every run goes on (a database
// hiccup is no reason to kill a run; the leases may lapse).
func (s *Service) RenewLeases(ctx context.Context, workerID string, runs []Lease, lease time.Duration) (map[uuid.UUID]bool, error) {
	if len(runs) == 0 {
		return map[uuid.UUID]bool{}, nil
	}
	ids := make([]string, len(runs))
	attempts := make([]string, len(runs))
	for i, r := range runs {
		ids[i], attempts[i] = r.ID.String(), strconv.Itoa(r.Attempt)
	}
	var alive []uuid.UUID
	err := s.DB.WithContext(ctx).Raw(`UPDATE executions SET lease_until = ?
		WHERE worker_id = ? AND status = ? AND (id, attempt) IN (SELECT * FROM unnest(?::uuid[], ?::int[]))
		RETURNING id`, s.Now().Add(lease), workerID, models.StatusRunning,
		"{"+strings.Join(ids, ",")+"}", "{"+strings.Join(attempts, ",")+"}").Scan(&alive).Error
	if err != nil {
		return nil, err
	}
	ok := make(map[uuid.UUID]bool, len(alive))
	for _, id := range alive {
		ok[id] = true
	}
	return ok, nil
}

// RecordProgress stores a PROGRESS line of a running attempt.
func (s *Service) RecordProgress(ctx context.Context, execID uuid.UUID, attempt, percent int, message string) error {
	return s.inTx(ctx, func(tx *gorm.DB, _ *outbox) error {
		var e models.Execution
		err := tx.Where("id = ? AND attempt = ? AND status = ?", execID, attempt, models.StatusRunning).Take(&e).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil // no longer ours: drop it quietly
		}
		if err != nil {
			return err
		}
		if err := s.addEvent(tx, execID, attempt, models.EventProgress, message, &percent); err != nil {
			return err
		}
		s.emit(tx, liveEvent(&e, LiveProgress, models.StatusRunning, percent, message))
		return s.updateLatestProject(tx, &e, map[string]any{"progress": percent, "progress_message": message})
	})
}

// Outcome is how a run attempt ended.
type Outcome struct {
	Status   models.ExecutionStatus // completed or failed
	ExitCode *int
	Error    string
	LogPath  string
	// Exited is true when main.py ended by itself, not stopped by the
	// worker: its outcome then stands even over a pause or a cancel that
	// landed while it was ending (one outcome per run: the one main.py
	// produced).
	Exited bool
	// Zip, on a completed outcome, is the run's zip, already written by
	// the worker that saw main.py exit: it is recorded in the same
	// transaction, and no project:zip task is queued (that task is the
	// fallback when the worker could not write it).
	Zip *ZipFile `json:",omitempty"`
}

// ZipFile is a written zip of a run's output.
type ZipFile struct {
	Path   string
	Size   int64
	SHA256 string
}

// FinishExecution records the end of a run attempt, if the attempt still owns
// the execution (a pause in the meantime wins; an outcome main.py produced
// by itself stands over a stop that landed while it was ending, unless a
// later run of the project has begun). A completed run's zip, when the
// worker wrote it, is recorded with it; otherwise it gets its project:zip
// task through the outbox. The run's slot is dispatched again in the same
// transaction. It reports whether it recorded the outcome.
func (s *Service) FinishExecution(ctx context.Context, execID uuid.UUID, attempt int, o Outcome) (bool, error) {
	recorded := false
	err := s.inTx(ctx, func(tx *gorm.DB, ob *outbox) error {
		statuses := []models.ExecutionStatus{models.StatusRunning}
		if o.Exited {
			statuses = append(statuses, models.StatusPaused, models.StatusCancelled)
		}
		now := s.Now()
		var errText *string
		if o.Error != "" {
			errText = &o.Error
		}
		var logPath *string
		if o.LogPath != "" {
			logPath = &o.LogPath
		}
		zip := o.Zip
		if o.Status != models.StatusCompleted {
			zip = nil
		}
		args := map[string]any{"id": execID, "attempt": attempt, "statuses": statuses, "running": models.StatusRunning,
			"status": o.Status, "exit_code": o.ExitCode, "error": errText, "now": now, "log_path": logPath,
			"zip_path": nil, "zip_size": nil, "zip_sha256": nil}
		setZip := ""
		if zip != nil {
			setZip = ", zip_path = @zip_path, zip_size = @zip_size, zip_sha256 = @zip_sha256"
			args["zip_path"], args["zip_size"], args["zip_sha256"] = zip.Path, zip.Size, zip.SHA256
		}
		// The events, in order: completed (then zipped) or failed.
		kind, msg := models.EventFailed, o.Error
		setProject := "execution_status = @status, execution_error = @error, updated_at = @now"
		if o.Status == models.StatusCompleted {
			kind, msg = models.EventCompleted, "run completed"
			setProject += ", execution_completed_at = @now, progress = 100, progress_message = 'completed'"
		}
		zipped := ""
		if zip != nil {
			zipped = fmt.Sprintf("output zipped (%d bytes)", zip.Size)
		}
		args["kind"], args["msg"], args["zipped_kind"], args["zipped"] = kind, msg, models.EventZipped, zipped
		var rows []struct {
			models.Execution
			ProjectProgress *int
		}
		// A stopped run's own outcome stands only while no later run of
		// the project has begun (its zip would be of that run's folder).
		// The statement takes the dispatcher's lock too, for the
		// dispatch of the freed slot that follows.
		err := tx.Raw(`WITH f AS (
			  UPDATE executions e SET status = @status, exit_code = @exit_code, error = @error, finished_at = @now,
			    lease_until = NULL, log_path = @log_path, updated_at = @now`+setZip+`
			  WHERE e.id = @id AND e.attempt = @attempt AND e.status IN @statuses
			    AND (e.status = @running OR NOT EXISTS (SELECT 1 FROM executions l
			          WHERE l.project_id = e.project_id AND l.created_at > e.created_at))
			  RETURNING e.*),
			ev AS (
			  INSERT INTO execution_events (execution_id, kind, message, attempt, created_at)
			  SELECT f.id, v.kind, v.message, @attempt, @now FROM f,
			    (VALUES (1, @kind, @msg), (2, @zipped_kind, @zipped)) v (n, kind, message)
			  WHERE v.n = 1 OR v.message <> '' ORDER BY v.n),
			pr AS (
			  UPDATE projects p SET `+setProject+`
			  FROM f WHERE p.id = f.project_id AND p.latest_execution_id = f.id
			  RETURNING p.progress)
			SELECT f.*, (SELECT progress FROM pr) AS project_progress FROM (`+dispatchLockSQL+`) dispatcher LEFT JOIN f ON true`,
			args).Scan(&rows).Error
		if err != nil {
			return err
		}
		if len(rows) == 0 || rows[0].ID == uuid.Nil {
			_, err = s.dispatchLocked(tx, ob) // whoever stopped it freed the slot; dispatch anyway
			return err
		}
		e := &rows[0].Execution
		recorded = true
		progress := 100 // the failed event shows the progress the project keeps
		if p := rows[0].ProjectProgress; o.Status != models.StatusCompleted {
			progress = 0
			if p != nil {
				progress = *p
			}
		}
		s.emit(tx, liveEvent(e, string(o.Status), o.Status, progress, msg))
		if zip != nil {
			s.emit(tx, liveEvent(e, LiveZipped, o.Status, 100, zipped))
		} else if o.Status == models.StatusCompleted {
			if err := ob.add(jobs.ZipMessage(jobs.Run{ExecutionID: e.ID, TenantID: e.TenantID, ProjectID: e.ProjectID})); err != nil {
				return err
			}
		}
		_, err = s.dispatchLocked(tx, ob) // a slot is free (the lock was taken above)
		return err
	})
	return recorded, err
}

// StopConfirmed records that the main.py of a paused or cancelled attempt is
// gone: its lease ends, and the project's next run may start.
func (s *Service) StopConfirmed(ctx context.Context, execID uuid.UUID, attempt int) error {
	return s.DB.WithContext(ctx).Model(&models.Execution{}).
		Where("id = ? AND attempt = ? AND status IN ?", execID, attempt, models.StatusesWhere(models.ExecutionStatuses, models.ExecutionStatus.Stopped)).
		Updates(map[string]any{"lease_until": nil}).Error
}

// ReleaseExecution gives up a running attempt without ending it (the worker
// is shutting down): the lease ends now, so the task's next delivery starts
// the run again from the beginning as attempt+1.
func (s *Service) ReleaseExecution(ctx context.Context, execID uuid.UUID, attempt int, reason string) error {
	return s.inTx(ctx, func(tx *gorm.DB, _ *outbox) error {
		res := tx.Model(&models.Execution{}).Where("id = ? AND attempt = ? AND status = ?", execID, attempt, models.StatusRunning).
			Updates(map[string]any{"lease_until": s.Now(), "updated_at": s.Now()})
		if res.Error != nil || res.RowsAffected == 0 {
			return res.Error
		}
		return s.addEvent(tx, execID, attempt, models.EventRetrying, reason, nil)
	})
}

// PauseTenant marks every pending or running execution of the tenant, and
// its project, paused with the reason. Running it again changes nothing more.
// It returns the executions it paused. A tenant whose subscription may run
// again by the time it runs (a pause delayed by a grace period, or a status
// that came back) is left alone.
func (s *Service) PauseTenant(ctx context.Context, tenantID uuid.UUID, reason string) ([]models.Execution, error) {
	var live []models.Execution
	err := s.inTx(ctx, func(tx *gorm.DB, _ *outbox) error {
		// The subscription row first, as RUN locks it: no run starts meanwhile.
		var sub models.Subscription
		err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Where("tenant_id = ?", tenantID).Take(&sub).Error
		if err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
			return err
		}
		if err == nil && sub.Status.MayRun() {
			return nil
		}
		err = tx.Clauses(clause.Locking{Strength: "UPDATE"}).
			Where("tenant_id = ? AND status IN ?", tenantID, []models.ExecutionStatus{models.StatusPending, models.StatusRunning}).
			Order("id").Find(&live).Error
		if err != nil {
			return err
		}
		return s.stopExecutions(tx, live, models.StatusPaused, reason)
	})
	if err == nil && len(live) > 0 {
		s.dispatch(ctx) // other tenants' runs may take the slots
	}
	return live, err
}

func (s *Service) stopExecutions(tx *gorm.DB, execs []models.Execution, status models.ExecutionStatus, reason string) error {
	now := s.Now()
	kind := models.EventPaused
	if status == models.StatusCancelled {
		kind = models.EventCancelled
	}
	for i := range execs {
		e := &execs[i]
		change := map[string]any{"status": status, "error": reason, "finished_at": now, "updated_at": now}
		// A running one keeps its lease until its worker reports main.py
		// gone (StopConfirmed): a new run of the project waits for that.
		if e.Status != models.StatusRunning {
			change["lease_until"] = nil
		}
		err := tx.Model(e).Updates(change).Error
		if err != nil {
			return err
		}
		if err := s.addEvent(tx, e.ID, e.Attempt, kind, reason, nil); err != nil {
			return err
		}
		progress, err := s.runProgress(tx, e)
		if err != nil {
			return err
		}
		if err := s.updateLatestProject(tx, e, map[string]any{"execution_status": status, "execution_error": reason}); err != nil {
			return err
		}
		e.Status = status
		s.emit(tx, liveEvent(e, string(status), status, progress, reason))
	}
	return nil
}

// ExecutionToZip returns a completed execution whose zip is still to be
// made; ok is false when there is nothing to do.
func (s *Service) ExecutionToZip(ctx context.Context, execID uuid.UUID) (e models.Execution, ok bool, err error) {
	err = s.DB.WithContext(ctx).Where("id = ?", execID).Take(&e).Error
	if err != nil {
		return e, false, notFound(err, models.ErrExecutionNotFound)
	}
	return e, e.Status == models.StatusCompleted && e.ZipPath == nil, nil
}

// RecordZip stores where an execution's zip is, its size and checksum.
func (s *Service) RecordZip(ctx context.Context, execID uuid.UUID, path string, size int64, sha string) error {
	return s.inTx(ctx, func(tx *gorm.DB, _ *outbox) error {
		var e models.Execution
		if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Where("id = ?", execID).Take(&e).Error; err != nil {
			return err
		}
		err := tx.Model(&e).Updates(map[string]any{"zip_path": path, "zip_size": size, "zip_sha256": sha, "updated_at": s.Now()}).Error
		if err != nil {
			return err
		}
		msg := fmt.Sprintf("output zipped (%d bytes)", size)
		s.emit(tx, liveEvent(&e, LiveZipped, e.Status, 100, msg))
		return s.addEvent(tx, execID, e.Attempt, models.EventZipped, msg, nil)
	})
}
