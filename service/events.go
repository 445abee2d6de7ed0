package service

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/q2o/q2o/models"
)

// ProjectEvent is a change of a project's run that clients may follow live:
// a status change or a progress update.
type ProjectEvent struct {
	TenantID    uuid.UUID              `json:"tenant_id"`
	ProjectID   uuid.UUID              `json:"project_id"`
	ExecutionID uuid.UUID              `json:"execution_id"`
	Kind        string                 `json:"kind"` // an execution event kind (models.Event*)
	Status      models.ExecutionStatus `json:"status"`
	Progress    int                    `json:"progress"`
	Message     string                 `json:"message"`
	At          time.Time              `json:"at"`
}

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
