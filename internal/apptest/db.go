package apptest

// Reading and changing rows behind the API's back, named by the models type
// whose table they touch, so that a test says what it checks ("one
// tenant:pause task in the outbox") instead of spelling SQL and table names.

import (
	"testing"

	"gorm.io/gorm"

	"github.com/q2o/q2o/models"
)

// Count counts the rows of M's table that match where (every row when where
// is ""), e.g. Count[models.Execution](t, db, "status = ?", models.StatusPending).
func Count[M any](t testing.TB, db *gorm.DB, where string, args ...any) int64 {
	t.Helper()
	q := db.Model(new(M))
	if where != "" {
		q = q.Where(where, args...)
	}
	var n int64
	if err := q.Count(&n).Error; err != nil {
		t.Fatalf("count %T: %v", *new(M), err)
	}
	return n
}

// RequireCount fails the test unless Count[M] is want; what says what the
// rows are, for the message.
func RequireCount[M any](t testing.TB, db *gorm.DB, want int64, what, where string, args ...any) {
	t.Helper()
	if n := Count[M](t, db, where, args...); n != want {
		t.Errorf("%s: %d rows, want %d", what, n, want)
	}
}

// CountTable counts the rows of a table that has no models type (sessions,
// OTP codes, Stripe events…) matching where.
func CountTable(t testing.TB, db *gorm.DB, table, where string, args ...any) int64 {
	t.Helper()
	q := db.Table(table)
	if where != "" {
		q = q.Where(where, args...)
	}
	var n int64
	if err := q.Count(&n).Error; err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

// Outbox returns the outbox rows of a task type, oldest first; more
// conditions may follow in where.
func Outbox(t testing.TB, db *gorm.DB, taskType string, where string, args ...any) []models.OutboxMessage {
	t.Helper()
	q := db.Where("task_type = ?", taskType)
	if where != "" {
		q = q.Where(where, args...)
	}
	var rows []models.OutboxMessage
	if err := q.Order("id").Find(&rows).Error; err != nil {
		t.Fatalf("read outbox: %v", err)
	}
	return rows
}

// RequireOutbox fails the test unless the outbox holds n rows of taskType
// (jobs.TypeTenantPause, jobs.TypeProjectRun…).
func RequireOutbox(t testing.TB, db *gorm.DB, taskType string, n int) {
	t.Helper()
	if rows := Outbox(t, db, taskType, ""); len(rows) != n {
		t.Errorf("outbox: %d %s rows, want %d", len(rows), taskType, n)
	}
}

// Row reads the M with this id (a models record), failing the test when
// there is none.
func Row[M any](t testing.TB, db *gorm.DB, id any) M {
	t.Helper()
	var m M
	if err := db.Where("id = ?", id).Take(&m).Error; err != nil {
		t.Fatalf("read %T %v: %v", m, id, err)
	}
	return m
}

// Set changes one column of the rows of M's table that match where, behind
// the API's back (a code that expired, a field emptied by hand); value may
// be gorm.Expr("now() - interval '1 minute'"). It leaves updated_at as
// it was (a test changes a fact, not the row's activity).
func Set[M any](t testing.TB, db *gorm.DB, column string, value any, where string, args ...any) {
	t.Helper()
	if err := db.Model(new(M)).Where(where, args...).UpdateColumn(column, value).Error; err != nil {
		t.Fatalf("set %T.%s: %v", *new(M), column, err)
	}
}

// SetTable is Set for a table that has no models type.
func SetTable(t testing.TB, db *gorm.DB, table, column string, value any, where string, args ...any) {
	t.Helper()
	if err := db.Table(table).Where(where, args...).UpdateColumn(column, value).Error; err != nil {
		t.Fatalf("set %s.%s: %v", table, column, err)
	}
}
