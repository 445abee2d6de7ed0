package jobs

import (
	"context"
	"errors"
	"log/slog"
	"time"

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

// RetryDropper is the part of asynq's Inspector that DropRetries uses.
type RetryDropper interface {
	GetTaskInfo(queue, id string) (*asynq.TaskInfo, error)
	DeleteTask(queue, id string) error
}

// DropRetries deletes the retry task asynq makes of each run task StopRuns
// cancelled (ids; a cancelled task goes to retry whatever its handler
// returns), waiting up to wait for those still active. The retry would find
// its row stopped and do nothing; deleting it keeps the queue clean. A task
// still active after the wait (its worker missed the cancel and stops
// main.py at its next row watch, or has died) is left: its row is stopped,
// so no attempt of it starts main.py again. It returns how many it deleted
// and the ids it left.
func DropRetries(ctx context.Context, q RetryDropper, ids []string, wait time.Duration, log *slog.Logger) (deleted int, left []string) {
	deadline := time.Now().Add(wait)
	for len(ids) > 0 && time.Now().Before(deadline) && ctx.Err() == nil {
		var still []string
		for _, id := range ids {
			info, err := q.GetTaskInfo(QueueRuns, id)
			switch {
			case errors.Is(err, asynq.ErrTaskNotFound):
			case err != nil:
				if log != nil {
					log.Debug("look up cancelled run", "execution_id", id, "error", err)
				}
				still = append(still, id)
			case info.State == asynq.TaskStateActive:
				still = append(still, id)
			case info.State == asynq.TaskStateRetry, info.State == asynq.TaskStatePending, info.State == asynq.TaskStateScheduled:
				if err := q.DeleteTask(QueueRuns, id); err != nil && !errors.Is(err, asynq.ErrTaskNotFound) {
					still = append(still, id)
				} else {
					deleted++
				}
			}
		}
		ids = still
		if len(ids) > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return deleted, ids
}
