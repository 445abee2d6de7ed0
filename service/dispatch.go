package service

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/q2o/q2o/jobs"
	"github.com/q2o/q2o/models"
)

// Dispatch: which pending run goes to a worker next is decided here, in
// Postgres; asynq carries the tasks. A run is dispatched (its task sent to
// Redis) while its tenant runs fewer than models.RunLimit and a worker slot
// is free, the tenants with waiting runs taking turns: the next slot goes to
// the tenant dispatched to longest ago. So one tenant's long queue holds at
// most its plan's limit of slots, and delays another tenant's run by at most
// one run ending. Dispatching happens after RUN, after every run's end, and
// in every process's reconcile loop, one dispatcher at a time (a
// transaction-scoped advisory lock).

// dispatchLock is the advisory lock key of the dispatcher ("q2o:dispatch").
const dispatchLock = 0x71326f64

// workerSeenWithin is how recent a worker's heartbeat must be for its slots
// to count.
const workerSeenWithin = 15 * time.Second

// WorkerSeen records that worker id is there with concurrency slots; a
// worker calls it every few seconds.
func (s *Service) WorkerSeen(ctx context.Context, id string, concurrency int) error {
	return s.DB.WithContext(ctx).Exec(`INSERT INTO workers (id, concurrency, seen_at) VALUES (?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET concurrency = EXCLUDED.concurrency, seen_at = EXCLUDED.seen_at`,
		id, concurrency, s.Now()).Error
}

// WorkerGone forgets worker id (it is shutting down).
func (s *Service) WorkerGone(ctx context.Context, id string) error {
	return s.DB.WithContext(ctx).Exec(`DELETE FROM workers WHERE id = ?`, id).Error
}

// dispatch runs Dispatch and logs a failure: the reconcile loop tries again.
func (s *Service) dispatch(ctx context.Context) {
	if _, err := s.Dispatch(context.WithoutCancel(ctx)); err != nil {
		s.Log.Warn("dispatch runs", "error", err)
	}
}

// Dispatch sends as many waiting runs to Redis as there are free slots (see
// above) and returns how many it sent. With no worker heard from, the slots
// are unknown and only the tenants' limits hold.
func (s *Service) Dispatch(ctx context.Context) (int, error) {
	sent := 0
	err := s.inTx(ctx, func(tx *gorm.DB, ob *outbox) error {
		if err := tx.Exec("SELECT pg_advisory_xact_lock(?)", dispatchLock).Error; err != nil {
			return err
		}
		now := s.Now()
		var slots struct {
			Workers  int64
			Capacity int64
		}
		if err := tx.Raw(`SELECT count(*) AS workers, coalesce(sum(concurrency), 0) AS capacity FROM workers WHERE seen_at > ?`,
			now.Add(-workerSeenWithin)).Scan(&slots).Error; err != nil {
			return err
		}
		free := int64(1 << 30)
		if slots.Workers > 0 {
			var busy int64
			if err := tx.Model(&models.Execution{}).
				Where("status IN ? AND dispatched_at IS NOT NULL", []models.ExecutionStatus{models.StatusPending, models.StatusRunning}).
				Count(&busy).Error; err != nil {
				return err
			}
			free = slots.Capacity - busy
		}
		for ; free > 0; free-- {
			next, ok, err := s.nextToDispatch(tx)
			if err != nil || !ok {
				return err
			}
			if err := tx.Model(&models.Execution{}).Where("id = ?", next.ExecutionID).
				Updates(map[string]any{"dispatched_at": now, "updated_at": now}).Error; err != nil {
				return err
			}
			if err := tx.Exec(`UPDATE tenants SET last_dispatched_at = ? WHERE id = ?`, now, next.TenantID).Error; err != nil {
				return err
			}
			if err := ob.add(jobs.RunMessage(jobs.Run{ExecutionID: next.ExecutionID, TenantID: next.TenantID, ProjectID: next.ProjectID})); err != nil {
				return err
			}
			sent++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("dispatch: %w", err)
	}
	return sent, nil
}

// dispatchable is the run Dispatch sends next.
type dispatchable struct {
	ExecutionID uuid.UUID
	TenantID    uuid.UUID
	ProjectID   uuid.UUID
}

// nextToDispatch picks the oldest waiting run of the tenant that was
// dispatched to longest ago, among the tenants with a waiting run and a free
// place under their limit (models.RunLimit: the plan's, one while trialing).
func (s *Service) nextToDispatch(tx *gorm.DB) (dispatchable, bool, error) {
	var rows []struct {
		TenantID    uuid.UUID
		Status      models.SubscriptionStatus
		PlanMax     int
		Active      int
		ExecutionID uuid.UUID
		ProjectID   uuid.UUID
	}
	err := tx.Raw(`
		SELECT t.id AS tenant_id, sub.status, p.max_concurrent_runs AS plan_max,
		       (SELECT count(*) FROM executions b WHERE b.tenant_id = t.id
		          AND b.status IN @live AND b.dispatched_at IS NOT NULL) AS active,
		       w.id AS execution_id, w.project_id
		FROM (SELECT DISTINCT tenant_id FROM executions WHERE status = @pending AND dispatched_at IS NULL) waiting
		JOIN tenants t ON t.id = waiting.tenant_id
		JOIN subscriptions sub ON sub.tenant_id = t.id
		JOIN plans p ON p.code = t.plan_code
		CROSS JOIN LATERAL (SELECT id, project_id FROM executions e WHERE e.tenant_id = t.id AND e.status = @pending
		          AND e.dispatched_at IS NULL ORDER BY e.queued_at, e.id LIMIT 1) w
		ORDER BY t.last_dispatched_at NULLS FIRST, t.id`,
		sql.Named("live", []models.ExecutionStatus{models.StatusPending, models.StatusRunning}),
		sql.Named("pending", models.StatusPending)).Scan(&rows).Error
	if err != nil {
		return dispatchable{}, false, err
	}
	for _, r := range rows {
		if r.Active < models.RunLimit(r.Status, r.PlanMax) {
			return dispatchable{ExecutionID: r.ExecutionID, TenantID: r.TenantID, ProjectID: r.ProjectID}, true, nil
		}
	}
	return dispatchable{}, false, nil
}

// runsThisMonth counts the runs the tenant started this calendar month
// (UTC), for the plan's monthly run quota.
func (s *Service) runsThisMonth(tx *gorm.DB, tenantID uuid.UUID) (int64, error) {
	month, _ := quotaMonth(s.Now())
	var n int64
	err := tx.Model(&models.Execution{}).Where("tenant_id = ? AND created_at >= ?", tenantID, month).Count(&n).Error
	return n, err
}

// queuePosition is the place of a waiting execution in its tenant's queue
// (1: next), or nil once it is dispatched or not pending.
func (s *Service) queuePosition(tx *gorm.DB, e *models.Execution) (*int, error) {
	if e.Status != models.StatusPending || e.DispatchedAt != nil {
		return nil, nil
	}
	var ahead int64
	err := tx.Model(&models.Execution{}).
		Where("tenant_id = ? AND status = ? AND dispatched_at IS NULL AND (queued_at, id) < (?, ?)",
			e.TenantID, models.StatusPending, e.QueuedAt, e.ID).Count(&ahead).Error
	if err != nil {
		return nil, err
	}
	pos := int(ahead) + 1
	return &pos, nil
}

// RunQuota is the plan's monthly run quota and its use this calendar month
// (UTC): every run started counts, however it ended. MonthlyLimit and
// Remaining are nil when the plan has no limit.
type RunQuota struct {
	MonthlyLimit  *int      `json:"monthly_limit"`
	UsedThisMonth int       `json:"used_this_month"`
	Remaining     *int      `json:"remaining"`
	ResetsAt      time.Time `json:"resets_at"`
}

func (s *Service) runQuota(tx *gorm.DB, tenantID uuid.UUID, limit *int) (RunQuota, error) {
	used, err := s.runsThisMonth(tx, tenantID)
	if err != nil {
		return RunQuota{}, err
	}
	_, next := quotaMonth(s.Now())
	q := RunQuota{MonthlyLimit: limit, UsedThisMonth: int(used), ResetsAt: next}
	if limit != nil {
		left := max(0, *limit-int(used))
		q.Remaining = &left
	}
	return q, nil
}
