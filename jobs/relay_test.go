package jobs_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/q2o/q2o/internal/testenv"
	"github.com/q2o/q2o/jobs"
	"github.com/q2o/q2o/models"
)

// The background relay, not RelayOnce called by hand: it sends every due
// row (more than one batch of them), keeps a row that is not due yet (a
// past-due grace's pause) until its time and then sends it, and stops when
// its context ends.
func TestRelayLoopSendsDueRowsAndWaitsForTheRest(t *testing.T) {
	t.Parallel()
	gdb := testenv.Postgres(t)
	_, client, inspector := redisQueue(t)
	e := &jobs.Enqueuer{DB: gdb, Client: client, Log: slog.New(slog.DiscardHandler), SendTimeout: 5 * time.Second}

	const due = 150 // more than the relay's batch of 100
	msgs := make([]models.OutboxMessage, 0, due+1)
	for i := range due {
		m := jobs.PauseMessage(uuid.New(), fmt.Sprint("due ", i))
		m.NextAttemptAt = time.Now().Add(-time.Second)
		msgs = append(msgs, m)
	}
	later := jobs.PauseMessage(uuid.New(), "the grace ends")
	later.NextAttemptAt = time.Now().Add(2 * time.Second)
	msgs = append(msgs, later)
	rows, err := jobs.Add(gdb, msgs...)
	if err != nil {
		t.Fatal(err)
	}
	laterRow := rows[len(rows)-1]

	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); e.Relay(ctx, 100*time.Millisecond) }()
	t.Cleanup(func() { stop(); <-done })

	unsent := func() (n int64) {
		t.Helper()
		if err := gdb.Model(&models.OutboxMessage{}).Where("enqueued_at IS NULL").Count(&n).Error; err != nil {
			t.Fatal(err)
		}
		return n
	}
	deadline := time.Now().Add(10 * time.Second)
	for unsent() > 1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d rows unsent after 10 s", unsent())
		}
		time.Sleep(50 * time.Millisecond)
	}
	var row models.OutboxMessage
	if err := gdb.Where("id = ?", laterRow.ID).Take(&row).Error; err != nil {
		t.Fatal(err)
	}
	if row.EnqueuedAt != nil && row.EnqueuedAt.Before(later.NextAttemptAt) {
		t.Fatalf("the row due at %s was sent at %s", later.NextAttemptAt, row.EnqueuedAt)
	}
	info, err := inspector.GetQueueInfo(jobs.QueueControl)
	if err != nil || info.Pending < due {
		t.Fatalf("control queue: %+v %v, want %d pending", info, err, due)
	}
	for unsent() > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the row due later was never sent")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := inspector.GetTaskInfo(jobs.QueueControl, laterRow.TaskID); err != nil {
		t.Errorf("the later task is not on Redis: %v", err)
	}

	stop()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Error("the relay goes on after its context ended")
	}
}
