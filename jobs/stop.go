package jobs

import (
	"errors"
	"log/slog"

	"github.com/hibiken/asynq"

	"github.com/q2o/q2o/models"
)

// TaskStopper is the part of asynq's Inspector that StopRuns uses; the
// consumer's own interface (service.QueueControl) has the same methods.
type TaskStopper interface {
	DeleteTask(queue, id string) error
	CancelProcessing(id string) error
}

// StopRuns takes the project:run tasks of stopped (paused or cancelled)
// executions off the queue, best effort: a task still waiting is deleted;
// one that cannot be deleted (being processed, or Redis did not answer) is
// cancelled on whichever worker holds it. A task that is not there (still in
// the outbox, or already done) needs nothing: the worker reads the row first
// and does nothing for a stopped execution.
//
// It returns the ids of the tasks it sent a cancel for: asynq puts a
// cancelled task back as a retry, which the caller may delete once it has
// stopped. Failed cancels are logged at debug level on log (nil: dropped).
func StopRuns(q TaskStopper, execs []models.Execution, log *slog.Logger) (cancelled []string) {
	for _, e := range execs {
		id := e.ID.String()
		err := q.DeleteTask(QueueRuns, id)
		if err == nil || errors.Is(err, asynq.ErrTaskNotFound) {
			continue
		}
		if cErr := q.CancelProcessing(id); cErr != nil && log != nil {
			log.Debug("cancel run task", "execution_id", id, "error", cErr)
		}
		cancelled = append(cancelled, id)
	}
	return cancelled
}
