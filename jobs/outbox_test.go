package jobs_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/q2o/q2o/internal/testenv"
	"github.com/q2o/q2o/jobs"
	"github.com/q2o/q2o/models"
)

// Send puts every row's task on Redis; it marks the rows sent in one
// statement, except a run's row, which its claim marks: the relay leaves
// that row for jobs.ClaimWindow, then sends it again (its TaskID makes the
// copy harmless) and marks it. Unsent and Backlog do not count a run's row
// that awaits its claim.
func TestSendLeavesARunRowToItsClaim(t *testing.T) {
	t.Parallel()
	gdb := testenv.Postgres(t)
	_, client, inspector := redisQueue(t)
	e := &jobs.Enqueuer{DB: gdb, Client: client, Log: slog.New(slog.DiscardHandler), SendTimeout: 5 * time.Second}
	ctx := context.Background()

	execID := uuid.New()
	run := jobs.RunMessage(jobs.Run{ExecutionID: execID, TenantID: uuid.New(), ProjectID: uuid.New()})
	jobs.AwaitClaim(&run)
	if wait := time.Until(run.NextAttemptAt); wait < jobs.ClaimWindow-time.Second || wait > jobs.ClaimWindow {
		t.Fatalf("a run row awaiting its claim is due in %s, want about %s", wait, jobs.ClaimWindow)
	}
	pause := jobs.PauseMessage(uuid.New(), "test")
	jobs.AwaitClaim(&pause) // not a run's: unchanged
	if !pause.NextAttemptAt.IsZero() {
		t.Fatalf("AwaitClaim moved a tenant:pause row to %s", pause.NextAttemptAt)
	}
	// Written along another change, in one statement.
	var rows []models.OutboxMessage
	err := gdb.Transaction(func(tx *gorm.DB) error {
		var err error
		rows, err = jobs.AddAlong(tx, "probe AS (SELECT ?::int AS n)", []any{1}, run, pause)
		return err
	})
	if err != nil || len(rows) != 2 || rows[0].ID == 0 || rows[1].ID <= rows[0].ID {
		t.Fatalf("AddAlong: %+v, %v", rows, err)
	}
	e.Send(ctx, rows...)

	for _, c := range []struct {
		queue, id string
	}{{jobs.QueueRuns, run.TaskID}, {jobs.QueueControl, pause.TaskID}} {
		if _, err := inspector.GetTaskInfo(c.queue, c.id); err != nil {
			t.Errorf("task %s not on Redis after Send: %v", c.id, err)
		}
	}
	row := func(id int64) (m models.OutboxMessage) {
		t.Helper()
		if err := gdb.Where("id = ?", id).Take(&m).Error; err != nil {
			t.Fatal(err)
		}
		return m
	}
	if m := row(rows[1].ID); m.EnqueuedAt == nil {
		t.Error("the tenant:pause row is not marked sent after Send")
	}
	if m := row(rows[0].ID); m.EnqueuedAt != nil || m.Attempts != 0 {
		t.Errorf("the run row was marked by Send: %+v", m)
	}
	if unsent, err := jobs.Unsent(gdb, execID.String()); err != nil || unsent {
		t.Errorf("Unsent = %v, %v for a run row awaiting its claim; want false (Redis tells)", unsent, err)
	}
	if n, _, err := (jobs.Backlog{DB: gdb}).Unsent(ctx); err != nil || n != 0 {
		t.Errorf("backlog %d, %v; want 0", n, err)
	}
	// Within the window the relay leaves it alone.
	if n, err := e.RelayOnce(ctx, 100); err != nil || n != 0 {
		t.Fatalf("relay within the claim window sent %d, %v", n, err)
	}
	// No claim came (it will not here): once due, the relay sends it
	// again, which Redis refuses as a copy, and marks it.
	if err := gdb.Model(&models.OutboxMessage{}).Where("id = ?", rows[0].ID).
		Update("next_attempt_at", time.Now().Add(-time.Second)).Error; err != nil {
		t.Fatal(err)
	}
	if n, err := e.RelayOnce(ctx, 100); err != nil || n != 1 {
		t.Fatalf("relay after the window sent %d, %v; want 1", n, err)
	}
	if m := row(rows[0].ID); m.EnqueuedAt == nil {
		t.Error("the run row is not marked sent after the relay sent it")
	}
}
