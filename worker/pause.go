package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/q2o/q2o/jobs"
)

// HandlePause pauses a tenant's live runs: rows first (the database decides
// whether a run may go on, and every worker watches its rows), then a best
// effort to cancel running tasks and delete queued ones through asynq.
func (w *Worker) HandlePause(ctx context.Context, t *asynq.Task) error {
	var p jobs.PausePayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil || p.TenantID == uuid.Nil {
		return fmt.Errorf("bad tenant:pause payload %q: %w", t.Payload(), asynq.SkipRetry)
	}
	paused, err := w.svc.PauseTenant(ctx, p.TenantID, p.Reason)
	if err != nil {
		return taskError(err)
	}
	cancelled := jobs.StopRuns(w.inspector, paused, w.log)
	w.log.Info("tenant paused", "tenant_id", p.TenantID, "executions", len(paused), "reason", p.Reason)
	w.dropRetries(ctx, cancelled)
	return nil
}

// dropRetries deletes the retry task asynq makes of each cancelled run (a
// cancelled task goes to retry whatever its handler returns). The retry
// would find its row paused and do nothing; deleting it keeps the queue
// clean. A task still active after the wait (its worker missed the cancel
// and stops main.py at its next row watch, or has died) is left: its row is
// paused, so no attempt of it starts main.py again.
func (w *Worker) dropRetries(ctx context.Context, ids []string) {
	deleted, left := jobs.DropRetries(ctx, w.inspector, ids, max(10*time.Second, 3*w.cfg.WatchInterval), w.log)
	if deleted > 0 {
		w.log.Info("deleted the retry tasks of cancelled runs", "count", deleted)
	}
	if len(left) > 0 {
		w.log.Info("cancelled runs still active; their paused rows keep them from running again", "executions", left)
	}
}
