package service

import (
	"context"

	"github.com/hibiken/asynq"
	"gorm.io/gorm"

	"github.com/q2o/q2o/models"
)

// ProjectEvent is models.ProjectEvent, under the name the service's callers
// know it by.
type ProjectEvent = models.ProjectEvent

// The kinds of ProjectEvent that are not a status (see models).
const (
	LiveProgress = models.LiveProgress
	LiveZipped   = models.LiveZipped
)

// EventPublisher delivers ProjectEvents to whoever follows them (every API
// replica). Publishing is best effort: the database stays the truth.
type EventPublisher interface {
	Publish(ctx context.Context, ev ProjectEvent)
}

// QueueControl is the part of asynq's Inspector the service uses to take a
// run off the queue or stop it on the worker that holds it.
type QueueControl interface {
	DeleteTask(queue, id string) error
	CancelProcessing(id string) error
	GetTaskInfo(queue, id string) (*asynq.TaskInfo, error)
}

// publish sends ev if a publisher is set.
func (s *Service) publish(ctx context.Context, ev ProjectEvent) {
	if s.Events != nil {
		if ev.At.IsZero() {
			ev.At = s.Now()
		}
		s.Events.Publish(context.WithoutCancel(ctx), ev)
	}
}

// emittedKey is the context key of the events a transaction emits.
type emittedKey struct{}

// emitted collects the events of one transaction until it commits.
type emitted struct{ events []ProjectEvent }

// emit records ev for publication once tx commits. tx must come from inTx
// (publishing before the commit could announce a change that is then rolled
// back); in any other transaction the event is dropped, logged at debug level.
func (s *Service) emit(tx *gorm.DB, ev ProjectEvent) {
	if s.Events == nil {
		return
	}
	if ev.At.IsZero() {
		ev.At = s.Now()
	}
	em, ok := tx.Statement.Context.Value(emittedKey{}).(*emitted)
	if !ok {
		s.Log.Debug("live event not emitted: not in inTx", "kind", ev.Kind, "execution_id", ev.ExecutionID)
		return
	}
	em.events = append(em.events, ev)
}

// liveEvent is the event of execution e's change.
func liveEvent(e *models.Execution, kind string, status models.ExecutionStatus, progress int, msg string) ProjectEvent {
	return ProjectEvent{TenantID: e.TenantID, ProjectID: e.ProjectID, ExecutionID: e.ID, Kind: kind,
		Status: status, Progress: progress, Message: msg}
}

// runProgress is the progress the project shows for execution e, for the
// events of changes that keep it (failed, paused); 0 when e is no longer
// the project's latest run, or when nobody follows events.
func (s *Service) runProgress(tx *gorm.DB, e *models.Execution) (int, error) {
	if s.Events == nil {
		return 0, nil
	}
	var p []int
	err := tx.Model(&models.Project{}).Where("id = ? AND latest_execution_id = ?", e.ProjectID, e.ID).
		Pluck("progress", &p).Error
	if err != nil || len(p) == 0 {
		return 0, err
	}
	return p[0], nil
}
