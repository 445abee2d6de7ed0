package service

import (
	"context"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/q2o/q2o/jobs"
	"github.com/q2o/q2o/models"
)

// CancelReason is the reason recorded on a run the tenant cancelled.
const CancelReason = "cancelled by the tenant"

// ProjectChanges is what a tenant may edit on a project; a field left out
// (or null) stays as it is.
type ProjectChanges struct {
	Name        *string `json:"name"`
	Description *string `json:"description"`
	Objectives  *string `json:"objectives"`
}

var errProjectInactive = models.Errorf(models.KindConflict, "project_inactive", "the project has been deleted")

// lockProject reads one of the tenant's projects with a row lock: RUN takes
// the same lock, so a check made under it holds until commit.
// Errors: project_not_found (404).
func lockProject(tx *gorm.DB, tenantID, projectID uuid.UUID) (models.Project, error) {
	var p models.Project
	err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Where("id = ? AND tenant_id = ?", projectID, tenantID).Take(&p).Error
	return p, notFound(err, models.ErrProjectNotFound)
}

// UpdateProject edits a project's name, description or objectives, each
// checked as CreateProject checks it. It is refused while a run is pending
// or running (main.py has, or is about to get, the old text), checked with
// the project row locked.
// Errors: no_changes, blank_field, invalid_field, field_too_long (400),
// project_not_found (404), run_in_progress, project_inactive (409).
func (s *Service) UpdateProject(ctx context.Context, tenantID, projectID uuid.UUID, in ProjectChanges) (models.Project, error) {
	fields := map[string]any{}
	for _, f := range []struct {
		name string
		v    *string
		max  int
	}{{"name", in.Name, maxNameLen}, {"description", in.Description, maxTextLen}, {"objectives", in.Objectives, maxTextLen}} {
		if f.v == nil {
			continue
		}
		t, err := requiredText(f.name, f.v, f.max)
		if err != nil {
			return models.Project{}, err
		}
		fields[f.name] = t
	}
	if len(fields) == 0 {
		return models.Project{}, models.Errorf(models.KindInvalid, "no_changes", "give at least one of name, description, objectives")
	}
	var p models.Project
	err := s.inTx(ctx, func(tx *gorm.DB, _ *outbox) error {
		var err error
		if p, err = lockProject(tx, tenantID, projectID); err != nil {
			return err
		}
		if !p.IsActive {
			return errProjectInactive
		}
		if err := models.CheckNoLiveRun(p.ExecutionStatus); err != nil {
			return err
		}
		fields["updated_at"] = s.Now()
		if err := tx.Model(&p).Updates(fields).Error; err != nil {
			return err
		}
		return tx.Where("id = ?", p.ID).Take(&p).Error
	})
	return p, err
}

// DeleteProject deletes a project: it sets is_active to false, which takes
// it off the status page and out of its client's reach; its executions,
// output and zips stay. Deleting a deleted project changes nothing and is
// no error. It is refused while a run is pending or running, checked with
// the project row locked.
// Errors: project_not_found (404), run_in_progress (409).
func (s *Service) DeleteProject(ctx context.Context, tenantID, projectID uuid.UUID) error {
	return s.inTx(ctx, func(tx *gorm.DB, _ *outbox) error {
		p, err := lockProject(tx, tenantID, projectID)
		if err != nil {
			return err
		}
		if !p.IsActive {
			return nil
		}
		if err := models.CheckNoLiveRun(p.ExecutionStatus); err != nil {
			return err
		}
		return tx.Model(&p).Updates(map[string]any{"is_active": false, "updated_at": s.Now()}).Error
	})
}

// CancelRun stops the project's pending or running run. In one transaction
// the execution and the project become cancelled, with CancelReason and a
// cancelled event; the database decides, so a worker that picks the task up
// later does nothing, and the worker running main.py sees the row paused at
// its next watch and kills main.py's process group. After commit it also
// takes the task off the queue, or cancels it on its worker, through
// s.Queue (best effort: the row already stops the run).
// Errors: project_not_found (404), nothing_to_cancel (409).
func (s *Service) CancelRun(ctx context.Context, tenantID, projectID uuid.UUID) (models.Project, error) {
	var p models.Project
	var live []models.Execution
	// pauseExecutions emits the paused events; inTx publishes them
	// once the transaction has committed.
	err := s.inTx(ctx, func(tx *gorm.DB, _ *outbox) error {
		if err := tx.Where("id = ? AND tenant_id = ?", projectID, tenantID).Take(&p).Error; err != nil {
			return notFound(err, models.ErrProjectNotFound)
		}
		// The execution rows first, then the project's, in the order the
		// worker locks them, so the two never deadlock.
		err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).
			Where("project_id = ? AND tenant_id = ? AND status IN ?", projectID, tenantID,
				[]models.ExecutionStatus{models.StatusPending, models.StatusRunning}).
			Order("id").Find(&live).Error
		if err != nil {
			return err
		}
		if len(live) == 0 {
			return models.Errorf(models.KindConflict, "nothing_to_cancel", "the project has no run pending or running")
		}
		if err := s.stopExecutions(tx, live, models.StatusCancelled, CancelReason); err != nil {
			return err
		}
		return tx.Where("id = ?", projectID).Take(&p).Error
	})
	if err != nil {
		return p, err
	}
	s.stopTasks(live)
	s.dispatch(ctx) // the tenant's next waiting run may start
	return p, nil
}

// retryDropWait is how long a cancel waits, in the background, for the
// cancelled tasks of running runs to leave their workers, so as to delete
// the retry task asynq makes of each.
const retryDropWait = 10 * time.Second

// stopTasks takes stopped executions' tasks off the queue (jobs.StopRuns);
// the retry task asynq makes of each one it cancelled on its worker is
// deleted in the background (jobs.DropRetries; Wait waits for it), as
// tenant:pause does.
func (s *Service) stopTasks(execs []models.Execution) {
	if s.Queue == nil {
		return
	}
	cancelled := jobs.StopRuns(s.Queue, execs, s.Log)
	if len(cancelled) == 0 {
		return
	}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		deleted, left := jobs.DropRetries(context.Background(), s.Queue, cancelled, retryDropWait, s.Log)
		if deleted > 0 {
			s.Log.Info("deleted the retry tasks of cancelled runs", "count", deleted)
		}
		if len(left) > 0 {
			s.Log.Info("cancelled runs still active; their stopped rows keep them from running again", "executions", left)
		}
	}()
}

// ResumeRun runs a paused or cancelled project again: a new execution,
// through StartRun and so under every rule of RUN (subscription, code, trial
// limit).
// Errors: project_not_found (404), not_paused (409), and StartRun's.
func (s *Service) ResumeRun(ctx context.Context, tenantID, projectID uuid.UUID) (RunStarted, error) {
	p, err := s.Project(ctx, tenantID, projectID)
	if err != nil {
		return RunStarted{}, err
	}
	if p.ExecutionStatus == nil || !p.ExecutionStatus.Stopped() {
		status := "never run"
		if p.ExecutionStatus != nil {
			status = string(*p.ExecutionStatus)
		}
		return RunStarted{}, models.Errorf(models.KindConflict, "not_paused", "only a paused or cancelled project can be resumed; this one is %s", status)
	}
	// StartRun checks the project again under its locks: a resume racing
	// with another resume or a RUN gets run_in_progress.
	return s.StartRun(ctx, tenantID, projectID)
}
