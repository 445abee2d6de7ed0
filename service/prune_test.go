package service

import (
	"context"
	"testing"
	"time"
)

// Sent outbox rows older than OutboxKeep go; recent and unsent ones stay.
func TestPruneOutbox(t *testing.T) {
	t.Parallel()
	s := newTestService(t)
	old, recent := s.Now().Add(-OutboxKeep-time.Hour), s.Now().Add(-time.Hour)
	for _, row := range []struct {
		taskID string
		sent   *time.Time
	}{{"old-sent", &old}, {"recent-sent", &recent}, {"unsent", nil}} {
		exec(t, s, `INSERT INTO outbox (task_type, task_id, queue, payload, enqueued_at) VALUES ('project:run', ?, 'runs', '{}', ?)`,
			row.taskID, row.sent)
	}
	n, err := s.PruneOutbox(context.Background())
	if err != nil || n != 1 {
		t.Fatalf("PruneOutbox: %d, %v; want 1", n, err)
	}
	var left []string
	s.DB.Raw("SELECT task_id FROM outbox ORDER BY task_id").Scan(&left)
	if len(left) != 2 || left[0] != "recent-sent" || left[1] != "unsent" {
		t.Errorf("left: %v", left)
	}
}
