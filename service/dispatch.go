package service

import (
	"context"
	"fmt"
	"slices"
	"strings"
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
		var err error
		sent, err = s.dispatchIn(tx, ob)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("dispatch: %w", err)
	}
	return sent, nil
}

// dispatchIn is Dispatch inside tx, in three statements: the dispatcher's
// lock (held until tx ends), one read of the slots and the waiting runs,
// and, when some go, one write of their dispatch and their outbox rows.
// RUN and a run's end call it in their own transaction, so that a run's
// acceptance or end and the dispatch it allows commit together.
func (s *Service) dispatchIn(tx *gorm.DB, ob *outbox) (int, error) {
	if err := tx.Exec(dispatchLockSQL).Error; err != nil {
		return 0, err
	}
	return s.dispatchLocked(tx, ob)
}

// dispatchLockSQL takes the dispatcher's lock until the transaction ends. A
// caller whose statement just before the dispatch can take it takes it
// there, as a FROM item, "(dispatchLockSQL) dispatcher" (a volatile call in a
// subquery's output is always made), and calls dispatchLocked: one round
// trip less.
var dispatchLockSQL = fmt.Sprintf("SELECT pg_advisory_xact_lock(%d) AS dispatch_locked", dispatchLock)

// dispatchTryLockSQL is dispatchLockSQL that does not wait: dispatch_locked
// says whether it took the lock.
var dispatchTryLockSQL = fmt.Sprintf("SELECT pg_try_advisory_xact_lock(%d) AS dispatch_locked", dispatchLock)

// dispatchLocked is dispatchIn once tx holds the dispatcher's lock.
func (s *Service) dispatchLocked(tx *gorm.DB, ob *outbox) (int, error) {
	now := s.Now()
	next, err := s.nextToDispatch(tx, now)
	if err != nil || len(next) == 0 {
		return 0, err
	}
	execs, tenants := make([]uuid.UUID, len(next)), make([]uuid.UUID, 0, len(next))
	msgs := make([]models.OutboxMessage, len(next))
	for i, d := range next {
		execs[i] = d.ExecutionID
		if !slices.Contains(tenants, d.TenantID) {
			tenants = append(tenants, d.TenantID)
		}
		msgs[i] = jobs.RunMessage(jobs.Run{ExecutionID: d.ExecutionID, TenantID: d.TenantID, ProjectID: d.ProjectID})
	}
	err = ob.addAlong(`dispatched AS (UPDATE executions SET dispatched_at = ?, updated_at = ? WHERE id IN ?),
		turn AS (UPDATE tenants SET last_dispatched_at = ? WHERE id IN ?)`,
		[]any{now, now, execs, now, tenants}, msgs...)
	if err != nil {
		return 0, err
	}
	return len(next), nil
}

// dispatchable is the run Dispatch sends next.
type dispatchable struct {
	ExecutionID uuid.UUID
	TenantID    uuid.UUID
	ProjectID   uuid.UUID
}

// unknownSlots bounds one dispatch while no worker has been heard from.
const unknownSlots = 1000

// nextToDispatch picks the runs to send now, in order: while a slot is
// free, the oldest waiting run of the tenant dispatched to longest ago,
// among the tenants with a waiting run and a free place under their limit
// (models.RunLimit: the plan's, one while trialing); a tenant that gets one
// goes to the back of the turn. One statement reads the free slots and, for
// each tenant with waiting runs, its limit, its running runs and its oldest
// waiting runs, as many as could go; the turns are taken here.
func (s *Service) nextToDispatch(tx *gorm.DB, now time.Time) ([]dispatchable, error) {
	var rows []struct {
		Free             int
		TenantID         *uuid.UUID
		Status           models.SubscriptionStatus
		PlanMax          int
		Active           int
		LastDispatchedAt *time.Time
		ExecutionID      uuid.UUID
		ProjectID        uuid.UUID
	}
	err := tx.Raw(`
		WITH free AS (
		  SELECT CASE WHEN count(*) = 0 THEN @unknown ELSE coalesce(sum(concurrency), 0)
		         - (SELECT count(*) FROM executions WHERE status IN @live AND dispatched_at IS NOT NULL) END AS n
		  FROM workers WHERE seen_at > @seen),
		runs AS (
		  SELECT t.id AS tenant_id, sub.status, p.max_concurrent_runs AS plan_max, a.n AS active,
		         t.last_dispatched_at, w.id AS execution_id, w.project_id, w.rn
		  FROM (SELECT DISTINCT tenant_id FROM executions WHERE status = @pending AND dispatched_at IS NULL) waiting
		  JOIN tenants t ON t.id = waiting.tenant_id
		  JOIN subscriptions sub ON sub.tenant_id = t.id
		  JOIN plans p ON p.code = t.plan_code
		  CROSS JOIN LATERAL (SELECT count(*) AS n FROM executions b WHERE b.tenant_id = t.id
		          AND b.status IN @live AND b.dispatched_at IS NOT NULL) a
		  CROSS JOIN LATERAL (SELECT id, project_id, row_number() OVER (ORDER BY queued_at, id) AS rn
		          FROM executions e WHERE e.tenant_id = t.id AND e.status = @pending AND e.dispatched_at IS NULL
		          ORDER BY e.queued_at, e.id LIMIT (SELECT greatest(n, 0) FROM free)) w
		  WHERE w.rn <= greatest(p.max_concurrent_runs, 1) - a.n)
		SELECT free.n AS free, runs.* FROM free LEFT JOIN runs ON true
		ORDER BY runs.last_dispatched_at NULLS FIRST, runs.tenant_id, runs.rn`,
		map[string]any{"unknown": unknownSlots, "seen": now.Add(-workerSeenWithin),
			"live":    []models.ExecutionStatus{models.StatusPending, models.StatusRunning},
			"pending": models.StatusPending}).Scan(&rows).Error
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	// The turn: tenants in the order read (dispatched to longest ago
	// first); one that gets a run is then dispatched to now, after every
	// tenant not yet served, ties by id as the next read would order them.
	type tenant struct {
		id            uuid.UUID
		active, limit int
		runs          []dispatchable
	}
	var waiting []*tenant
	for _, r := range rows {
		if r.TenantID == nil {
			continue // no run waits
		}
		if n := len(waiting); n == 0 || waiting[n-1].id != *r.TenantID {
			waiting = append(waiting, &tenant{id: *r.TenantID, active: r.Active, limit: models.RunLimit(r.Status, r.PlanMax)})
		}
		t := waiting[len(waiting)-1]
		t.runs = append(t.runs, dispatchable{ExecutionID: r.ExecutionID, TenantID: t.id, ProjectID: r.ProjectID})
	}
	var served []*tenant // dispatched to now, by id
	var out []dispatchable
	for free := rows[0].Free; free > 0; free-- {
		pick := func(ts []*tenant) *tenant {
			for _, t := range ts {
				if len(t.runs) > 0 && t.active < t.limit {
					return t
				}
			}
			return nil
		}
		t := pick(waiting)
		if t != nil {
			waiting = slices.DeleteFunc(waiting, func(x *tenant) bool { return x == t })
			served = append(served, t)
			slices.SortFunc(served, func(a, b *tenant) int { return strings.Compare(a.id.String(), b.id.String()) })
		} else if t = pick(served); t == nil {
			break
		}
		out = append(out, t.runs[0])
		t.runs, t.active = t.runs[1:], t.active+1
	}
	return out, nil
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
