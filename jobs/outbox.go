package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/q2o/q2o/models"
)

// Enqueuer sends outbox rows to Redis and marks them sent.
type Enqueuer struct {
	DB      *gorm.DB
	Client  *asynq.Client
	Options Options
	Log     *slog.Logger
	// SendTimeout bounds one enqueue, so that a caller is not held up long
	// while Redis is unreachable (the relay will send it later).
	SendTimeout time.Duration
}

// Add writes msgs to the outbox inside tx. Call Send with the returned rows
// after tx commits.
func Add(tx *gorm.DB, msgs ...models.OutboxMessage) ([]models.OutboxMessage, error) {
	if len(msgs) == 0 {
		return nil, nil
	}
	out := make([]models.OutboxMessage, len(msgs))
	copy(out, msgs)
	if err := tx.Create(&out).Error; err != nil {
		return nil, fmt.Errorf("write outbox: %w", err)
	}
	return out, nil
}

// Send tries to put each row's task on Redis now and records the outcome. A
// failure is not returned: the row stays in the outbox and the Relay sends it
// later, so the caller's operation has succeeded either way.
func (e *Enqueuer) Send(ctx context.Context, msgs ...models.OutboxMessage) {
	for _, m := range msgs {
		err := e.enqueue(ctx, m)
		if mErr := e.mark(e.DB.WithContext(context.WithoutCancel(ctx)), m, err); mErr != nil {
			e.Log.Warn("outbox: record send", "task_id", m.TaskID, "error", mErr)
		}
	}
}

// enqueue puts one row's task on Redis; a task already there counts as sent.
func (e *Enqueuer) enqueue(ctx context.Context, m models.OutboxMessage) error {
	timeout := e.SendTimeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	_, err := e.Client.EnqueueContext(ctx, e.Options.Task(m))
	if errors.Is(err, asynq.ErrTaskIDConflict) || errors.Is(err, asynq.ErrDuplicateTask) {
		return nil
	}
	return err
}

func (e *Enqueuer) mark(tx *gorm.DB, m models.OutboxMessage, sendErr error) error {
	if sendErr == nil {
		return tx.Model(&models.OutboxMessage{}).Where("id = ?", m.ID).
			Updates(map[string]any{"enqueued_at": time.Now(), "attempts": gorm.Expr("attempts + 1"), "last_error": nil}).Error
	}
	e.Log.Warn("outbox: task not sent yet; the relay will retry", "task_type", m.TaskType, "task_id", m.TaskID, "error", sendErr)
	return tx.Model(&models.OutboxMessage{}).Where("id = ?", m.ID).
		Updates(map[string]any{
			"attempts":        gorm.Expr("attempts + 1"),
			"last_error":      sendErr.Error(),
			"next_attempt_at": time.Now().Add(backoff(m.Attempts + 1)),
		}).Error
}

func backoff(attempts int) time.Duration {
	d := 500 * time.Millisecond << min(attempts, 6)
	return min(d, 30*time.Second)
}

// RelayOnce claims up to batch unsent rows that are due (FOR UPDATE SKIP
// LOCKED, so any number of processes may relay at once), sends them and
// records the outcome. It returns how many it sent.
func (e *Enqueuer) RelayOnce(ctx context.Context, batch int) (int, error) {
	sent := 0
	err := e.DB.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var msgs []models.OutboxMessage
		err := tx.Clauses(clause.Locking{Strength: "UPDATE", Options: "SKIP LOCKED"}).
			Where("enqueued_at IS NULL AND next_attempt_at <= now()").
			Order("id").Limit(batch).Find(&msgs).Error
		if err != nil {
			return fmt.Errorf("claim outbox rows: %w", err)
		}
		for _, m := range msgs {
			sendErr := e.enqueue(ctx, m)
			if sendErr == nil {
				sent++
			}
			if err := e.mark(tx, m, sendErr); err != nil {
				return err
			}
		}
		return nil
	})
	return sent, err
}

// Relay runs RelayOnce every interval until ctx is done.
func (e *Enqueuer) Relay(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		for {
			n, err := e.RelayOnce(ctx, 100)
			if err != nil && ctx.Err() == nil {
				e.Log.Warn("outbox relay", "error", err)
			}
			if n > 0 {
				e.Log.Info("outbox relay sent tasks", "count", n)
			}
			if n < 100 {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
