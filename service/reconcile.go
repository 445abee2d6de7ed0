package service

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"gorm.io/gorm"

	"github.com/q2o/q2o/jobs"
	"github.com/q2o/q2o/models"
)

// Reconciling: Postgres says what should run; Redis may have lost it
// (restarted without persistence, a failover to an empty replica) or hold it
// for a worker that is gone. The outbox covers a task that never reached
// Redis; Reconcile covers the rest.
const (
	// ReconcileEvery is how often every q2o process reconciles.
	ReconcileEvery = 5 * time.Second
	// DefaultPendingGrace is how long a pending execution may wait before
	// its task is looked for (Service.PendingGrace): the first enqueue and
	// the outbox relay come first.
	DefaultPendingGrace = 10 * time.Second
	// reconcileBatch bounds the executions looked at per round.
	reconcileBatch = 200
	// OutboxKeep is how long a sent outbox row is kept (for an operator to
	// look at) before PruneOutbox deletes it.
	OutboxKeep = 7 * 24 * time.Hour
)

// PruneOutbox deletes outbox rows sent more than OutboxKeep ago, a batch at
// a time, so the table holds days, not a year, of runs. It returns how many
// it deleted.
func (s *Service) PruneOutbox(ctx context.Context) (int64, error) {
	return jobs.Prune(s.DB.WithContext(ctx), s.Now().Add(-OutboxKeep), 10000)
}

// Reconcile makes sure each execution that should run will: a pending one
// whose task is on neither the outbox nor Redis gets it again; a running one
// whose worker has not renewed its lease gets a takeover task (see
// jobs.TakeoverMessage), so another worker claims it at once rather than
// when asynq's own recovery notices (a minute or two). It returns how many
// tasks it wrote. Any number of processes may run it: TaskIDs refuse a
// second copy.
func (s *Service) Reconcile(ctx context.Context) (int, error) {
	insp, ok := s.Queue.(taskInfoGetter)
	if !ok {
		return 0, nil
	}
	now := s.Now()
	grace := s.PendingGrace
	if grace <= 0 {
		grace = DefaultPendingGrace
	}
	var stale []models.Execution
	err := s.DB.WithContext(ctx).
		Where("(status = ? AND dispatched_at IS NOT NULL AND queued_at < ?) OR (status = ? AND lease_until < ?)",
			models.StatusPending, now.Add(-grace), models.StatusRunning, now).
		Order("queued_at").Limit(reconcileBatch).Find(&stale).Error
	if err != nil {
		return 0, fmt.Errorf("find executions to reconcile: %w", err)
	}
	sent := 0
	for _, e := range stale {
		r := jobs.Run{ExecutionID: e.ID, TenantID: e.TenantID, ProjectID: e.ProjectID}
		msg := jobs.RunMessage(r)
		if e.Status == models.StatusRunning {
			msg = jobs.TakeoverMessage(r, e.Attempt)
		}
		need, err := s.needsTask(ctx, insp, e, msg)
		if err != nil {
			s.Log.Warn("reconcile: cannot tell whether the run's task is there", "execution_id", e.ID, "error", err)
			continue
		}
		if !need {
			continue
		}
		err = s.inTx(ctx, func(tx *gorm.DB, ob *outbox) error {
			// Still in the state we saw: a worker may have claimed it meanwhile.
			var n int64
			q := tx.Model(&models.Execution{}).Where("id = ? AND status = ?", e.ID, e.Status)
			if e.Status == models.StatusRunning {
				q = q.Where("attempt = ? AND lease_until < ?", e.Attempt, s.Now())
			}
			if err := q.Count(&n).Error; err != nil || n == 0 {
				return err
			}
			return ob.add(msg)
		})
		if err != nil {
			return sent, err
		}
		s.Log.Info("reconcile: the run's task was missing; sent it again", "execution_id", e.ID, "status", e.Status, "task_id", msg.TaskID)
		sent++
	}
	return sent, nil
}

// needsTask reports whether execution e lacks the task msg would be: none
// unsent in the outbox, none on Redis that will still run. A running
// execution's own task counts only while it waits (a task asynq still holds
// as active belongs to the worker that stopped renewing the lease).
func (s *Service) needsTask(ctx context.Context, insp taskInfoGetter, e models.Execution, msg models.OutboxMessage) (bool, error) {
	unsent, err := jobs.Unsent(s.DB.WithContext(ctx), e.ID.String(), msg.TaskID)
	if err != nil || unsent {
		return false, err
	}
	for _, id := range []string{msg.TaskID, e.ID.String()} {
		info, err := insp.GetTaskInfo(jobs.QueueRuns, id)
		switch {
		case errors.Is(err, asynq.ErrTaskNotFound), errors.Is(err, asynq.ErrQueueNotFound):
			continue
		case err != nil:
			return false, err
		}
		switch info.State {
		case asynq.TaskStatePending, asynq.TaskStateScheduled, asynq.TaskStateRetry:
			return false, nil
		case asynq.TaskStateActive:
			if e.Status == models.StatusPending || id == msg.TaskID {
				return false, nil
			}
		case asynq.TaskStateCompleted, asynq.TaskStateArchived:
			if id == msg.TaskID {
				// It ran and gave up, or is kept for retention: a new one
				// needs its TaskID free.
				if err := s.Queue.DeleteTask(jobs.QueueRuns, id); err != nil && !errors.Is(err, asynq.ErrTaskNotFound) {
					return false, err
				}
			}
		}
	}
	return true, nil
}

// ReconcileLoop runs Dispatch, PruneOutbox and Reconcile every
// ReconcileEvery until ctx ends.
func (s *Service) ReconcileLoop(ctx context.Context) {
	t := time.NewTicker(ReconcileEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := s.Dispatch(ctx); err != nil && ctx.Err() == nil {
			s.Log.Warn("dispatch runs", "error", err)
		}
		if _, err := s.PruneOutbox(ctx); err != nil && ctx.Err() == nil {
			s.Log.Warn("prune the outbox", "error", err)
		}
		if n, err := s.Reconcile(ctx); err != nil && ctx.Err() == nil {
			s.Log.Warn("reconcile", "error", err)
		} else if n > 0 {
			s.Log.Info("reconcile: tasks sent again", "count", n)
		}
	}
}
