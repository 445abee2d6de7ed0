package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
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

// ClaimWindow is how long a project:run row waits for its claim before
// the relay sends it again. Send does not mark a run's row sent (that would
// be a commit per run): the worker's claim does, in its own transaction,
// since a claimed run was evidently delivered (MarkClaimedSQL). A row whose
// task never reached Redis is still unsent once the window has passed, and
// the relay sends it; one that did reach Redis but waits longer for a
// worker is sent again harmlessly (its TaskID is taken) and marked then.
const ClaimWindow = 5 * time.Second

// AwaitClaim makes the relay leave a project:run row alone for ClaimWindow
// from now (the wall clock, as the relay's now() is), when the writer sends
// it itself right after commit (Send): its claim, not the relay, is to
// mark it.
func AwaitClaim(m *models.OutboxMessage) {
	if due := time.Now().Add(ClaimWindow); m.TaskType == TypeProjectRun && m.NextAttemptAt.Before(due) {
		m.NextAttemptAt = due
	}
}

// MarkClaimedSQL is the statement, to be used as a data-modifying CTE of a
// claim, that marks sent the unsent project:run rows of one execution (its
// own TaskID and its takeovers'): named parameter task is the execution id
// as text, taskLike task+":takeover:%", now the time.
func MarkClaimedSQL(task, taskLike, now string) string {
	return `UPDATE outbox SET enqueued_at = @` + now + ` WHERE enqueued_at IS NULL AND task_type = '` + TypeProjectRun +
		`' AND (task_id = @` + task + ` OR task_id LIKE @` + taskLike + `)`
}

// AddAlong is Add in the same statement as with, data-modifying common
// table expressions ("name AS (UPDATE …), …" with withArgs for its ?
// placeholders) that the caller's change needs: one round trip for both.
func AddAlong(tx *gorm.DB, with string, withArgs []any, msgs ...models.OutboxMessage) ([]models.OutboxMessage, error) {
	if len(msgs) == 0 {
		return nil, nil
	}
	var b strings.Builder
	args := append([]any{}, withArgs...)
	b.WriteString("WITH " + with + " INSERT INTO outbox (task_type, task_id, queue, payload, next_attempt_at) VALUES ")
	for i, m := range msgs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(?, ?, ?, ?, ?)")
		due := m.NextAttemptAt
		if due.IsZero() {
			due = time.Now()
		}
		args = append(args, m.TaskType, m.TaskID, m.Queue, string(m.Payload), due)
	}
	b.WriteString(" RETURNING id, created_at")
	var ids []struct {
		ID        int64
		CreatedAt time.Time
	}
	if err := tx.Raw(b.String(), args...).Scan(&ids).Error; err != nil {
		return nil, fmt.Errorf("write outbox: %w", err)
	}
	if len(ids) != len(msgs) {
		return nil, fmt.Errorf("write outbox: %d rows written of %d", len(ids), len(msgs))
	}
	out := make([]models.OutboxMessage, len(msgs))
	for i, m := range msgs {
		m.ID, m.CreatedAt = ids[i].ID, ids[i].CreatedAt
		out[i] = m
	}
	return out, nil
}

// Send tries to put each row's task on Redis now and records the outcome:
// rows sent in one statement, except project:run rows, which their claim
// marks (see ClaimWindow); a failure per row. A failure is not returned:
// the row stays in the outbox and the Relay sends it later, so the
// caller's operation has succeeded either way.
func (e *Enqueuer) Send(ctx context.Context, msgs ...models.OutboxMessage) {
	db := e.DB.WithContext(context.WithoutCancel(ctx))
	var sent []int64
	for _, m := range msgs {
		err := e.enqueue(ctx, m)
		switch {
		case err != nil:
			if mErr := e.markFailed(db, m, err); mErr != nil {
				e.Log.Warn("outbox: record send", "task_id", m.TaskID, "error", mErr)
			}
		case m.TaskType != TypeProjectRun:
			sent = append(sent, m.ID)
		}
	}
	if err := markSent(db, sent); err != nil {
		e.Log.Warn("outbox: record send", "rows", len(sent), "error", err)
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

// markSent records that the rows ids are on Redis, in one statement.
func markSent(tx *gorm.DB, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	return tx.Model(&models.OutboxMessage{}).Where("id IN ?", ids).
		Updates(map[string]any{"enqueued_at": time.Now(), "attempts": gorm.Expr("attempts + 1"), "last_error": nil}).Error
}

func (e *Enqueuer) markFailed(tx *gorm.DB, m models.OutboxMessage, sendErr error) error {
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
// records the outcome: the rows sent in one statement, a failure per row.
// It returns how many it sent.
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
		var ok []int64
		for _, m := range msgs {
			if sendErr := e.enqueue(ctx, m); sendErr != nil {
				if err := e.markFailed(tx, m, sendErr); err != nil {
					return err
				}
				continue
			}
			ok = append(ok, m.ID)
		}
		sent = len(ok)
		return markSent(tx, ok)
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
