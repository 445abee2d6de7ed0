package jobs_test

import (
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
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

// A run's row whose task Redis lost after Send (a restart without its
// data, a failover to a replica that had not got it), and one whose Send
// failed (Redis down), are not left to a claim that cannot come: the
// relay sends both again, and only the failed one counts as unsent before
// its window ends (the reconciler does not copy a row Redis tells about).
func TestRelayResendsARunRowRedisLost(t *testing.T) {
	t.Parallel()
	gdb := testenv.Postgres(t)
	opt, client, _ := redisQueue(t)
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	e := &jobs.Enqueuer{DB: gdb, Client: client, Log: log, SendTimeout: 5 * time.Second}
	down := asynq.NewClient(asynq.RedisClientOpt{Addr: "127.0.0.1:1"}) // nothing listens there
	t.Cleanup(func() { _ = down.Close() })
	failing := &jobs.Enqueuer{DB: gdb, Client: down, Log: log, SendTimeout: time.Second}

	lost, never := jobs.RunMessage(jobs.Run{ExecutionID: uuid.New(), TenantID: uuid.New(), ProjectID: uuid.New()}),
		jobs.RunMessage(jobs.Run{ExecutionID: uuid.New(), TenantID: uuid.New(), ProjectID: uuid.New()})
	jobs.AwaitClaim(&lost)
	jobs.AwaitClaim(&never)
	rows, err := jobs.Add(gdb, lost, never)
	if err != nil {
		t.Fatal(err)
	}
	e.Send(ctx, rows[0])
	failing.Send(ctx, rows[1])
	rdb := opt.MakeRedisClient().(redis.UniversalClient)
	t.Cleanup(func() { _ = rdb.Close() })
	if err := rdb.FlushDB(ctx).Err(); err != nil { // the test's own Redis DB
		t.Fatal(err)
	}
	if unsent, err := jobs.Unsent(gdb, never.TaskID); err != nil || !unsent {
		t.Errorf("Unsent = %v, %v for a run row whose Send failed; want true", unsent, err)
	}
	// The claim window passes with no claim.
	if err := gdb.Model(&models.OutboxMessage{}).Where("id = ?", rows[0].ID).
		Update("next_attempt_at", time.Now().Add(-time.Second)).Error; err != nil {
		t.Fatal(err)
	}
	if err := gdb.Model(&models.OutboxMessage{}).Where("id = ?", rows[1].ID).
		Update("next_attempt_at", time.Now().Add(-time.Second)).Error; err != nil {
		t.Fatal(err)
	}
	if n, err := e.RelayOnce(ctx, 100); err != nil || n != 2 {
		t.Fatalf("relay sent %d, %v; want 2", n, err)
	}
	// On the queue's pending list (the Inspector would say "queue not
	// found": asynq's client registers a queue once per process, and the
	// flush took the registry too).
	pending, err := rdb.LRange(ctx, "asynq:{"+jobs.QueueRuns+"}:pending", 0, -1).Result()
	if err != nil || !slices.Contains(pending, lost.TaskID) || !slices.Contains(pending, never.TaskID) {
		t.Errorf("runs pending after the relay: %v, %v; want %s and %s", pending, err, lost.TaskID, never.TaskID)
	}
	if unsent, err := jobs.Unsent(gdb, lost.TaskID, never.TaskID); err != nil || unsent {
		t.Errorf("Unsent = %v, %v after the relay sent both; want false", unsent, err)
	}
}
