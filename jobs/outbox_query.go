package jobs

import (
	"context"
	"time"

	"gorm.io/gorm"

	"github.com/q2o/q2o/models"
)

// The outbox's queries other than sending (outbox.go): whether a task waits
// unsent, its backlog, pruning. The outbox's SQL is written only in jobs.

// Unsent reports whether the outbox holds a row not yet sent for any of
// taskIDs. A project:run row its writer sent at once and that awaits its
// claim (AwaitClaim: never tried by the relay, not due yet) does not
// count: whether it reached Redis, Redis tells.
func Unsent(tx *gorm.DB, taskIDs ...string) (bool, error) {
	var n int64
	err := tx.Model(&models.OutboxMessage{}).Where("task_id IN ? AND enqueued_at IS NULL AND NOT "+awaitingClaim, taskIDs).
		Count(&n).Error
	return n > 0, err
}

// awaitingClaim is true of a project:run row its writer sent at once and
// whose claim is to mark it (AwaitClaim): never tried by the relay, not due.
const awaitingClaim = "(task_type = '" + TypeProjectRun + "' AND attempts = 0 AND next_attempt_at > now())"

// Prune deletes up to limit outbox rows sent before before, oldest first,
// and returns how many it deleted.
func Prune(tx *gorm.DB, before time.Time, limit int) (int64, error) {
	res := tx.Exec(`DELETE FROM outbox WHERE id IN (
		SELECT id FROM outbox WHERE enqueued_at < ? ORDER BY id LIMIT ?)`, before, limit)
	return res.RowsAffected, res.Error
}

// Backlog reads the outbox's rows not yet on Redis: how many, and the age
// of the oldest (0 when none); a run's row awaiting its claim is left out
// (its writer sent it). metrics.New takes it, for q2o_outbox_backlog.
type Backlog struct{ DB *gorm.DB }

// Unsent returns the count of unsent rows and the age of the oldest.
func (b Backlog) Unsent(ctx context.Context) (int64, time.Duration, error) {
	var row struct {
		N   int64
		Age float64
	}
	err := b.DB.WithContext(ctx).Raw(`SELECT count(*) AS n, COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0) AS age
		FROM outbox WHERE enqueued_at IS NULL AND NOT ` + awaitingClaim).Scan(&row).Error
	return row.N, time.Duration(row.Age * float64(time.Second)), err
}
