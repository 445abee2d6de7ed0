package service

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/schema"

	"github.com/q2o/q2o/jobs"
	"github.com/q2o/q2o/models"
)

// Claim is the outcome of ClaimExecution.
type Claim struct {
	// Run is true when the caller now owns this attempt and must run it.
	Run       bool
	Reason    string // why not, when Run is false
	Execution models.Execution
	Project   models.Project
}

// startedAgain is the started event's message of an attempt after the first.
const startedAgain = "run started again (attempt %d) after the previous attempt was interrupted"

func startedMessage(attempt int) string {
	if attempt > 1 {
		return fmt.Sprintf(startedAgain, attempt)
	}
	return "run started"
}

// ClaimExecution takes an execution for one run attempt: it reads the row
// first (a task can be delivered twice), refuses one that is finished or
// paused, pauses it when the tenant may no longer run, and otherwise marks it
// running with attempt+1 and a lease held by workerID; the run's outbox row
// is marked sent with it (its delivery is evident).
// Errors: execution_not_found (404), ErrHeldElsewhere, ErrPreviousRunStopping.
func (s *Service) ClaimExecution(ctx context.Context, execID uuid.UUID, workerID string, lease time.Duration) (Claim, error) {
	var c Claim
	// Most deliveries may run: one statement, a transaction of its own,
	// claims those; the others are told why by the row.
	ev, ok, err := s.claim(s.DB.WithContext(ctx), execID, workerID, lease, &c)
	if err != nil {
		return c, err
	}
	if ok {
		s.publish(ctx, ev)
		return c, nil
	}
	err = s.inTx(ctx, func(tx *gorm.DB, _ *outbox) error {
		return s.refuseClaim(tx, execID, workerID, lease, &c)
	})
	return c, err
}

// projectColumns is the select list of projects p's columns as
// project__<column>, the names claim scans them by.
var projectColumns = sync.OnceValue(func() string {
	sch, err := schema.Parse(&models.Project{}, &sync.Map{}, schema.NamingStrategy{})
	if err != nil {
		panic(err) // a struct of this package: it parses
	}
	var cols []string
	for _, f := range sch.Fields {
		if f.DBName != "" {
			cols = append(cols, "p."+f.DBName+" AS project__"+f.DBName)
		}
	}
	return strings.Join(cols, ", ")
})

// claim claims the execution in one statement when every condition holds
// (not finished, not held under a live lease, no earlier run of the
// project still stopping, a subscription that may run), with its started
// event, its project's state and its outbox row, and reads its project
// with it. It returns the live event to publish once that commits; ok is
// false, and nothing changed, when a condition does not hold.
func (s *Service) claim(tx *gorm.DB, execID uuid.UUID, workerID string, lease time.Duration, c *Claim) (ev ProjectEvent, ok bool, err error) {
	now := s.Now()
	mayRun := models.StatusesWhere(models.SubscriptionStatuses, models.SubscriptionStatus.MayRun)
	finished := models.StatusesWhere(models.ExecutionStatuses, models.ExecutionStatus.Finished)
	stopped := models.StatusesWhere(models.ExecutionStatuses, models.ExecutionStatus.Stopped)
	var claimed []struct {
		models.Execution
		Project models.Project `gorm:"embedded;embeddedPrefix:project__"`
	}
	err = tx.Raw(`WITH c AS (
		  UPDATE executions e SET status = @running, attempt = e.attempt + 1, started_at = @now, worker_id = @worker,
		    lease_until = @until, updated_at = @now, exit_code = NULL, error = NULL
		  FROM subscriptions sub
		  WHERE e.id = @id AND sub.tenant_id = e.tenant_id AND sub.status IN @may_run
		    AND e.status NOT IN @finished
		    AND NOT (e.status = @running AND coalesce(e.lease_until > @now, false))
		    AND NOT EXISTS (SELECT 1 FROM executions o WHERE o.project_id = e.project_id AND o.id <> e.id
		          AND o.status IN @stopped AND o.lease_until > @now)
		  RETURNING e.*),
		ev AS (
		  INSERT INTO execution_events (execution_id, kind, message, attempt, created_at)
		  SELECT id, @kind, CASE WHEN attempt > 1 THEN format(@again, attempt) ELSE @first END, attempt, @now FROM c),
		pr AS (
		  UPDATE projects p SET execution_status = @running, execution_started_at = @now, execution_completed_at = NULL,
		    execution_error = NULL, progress = 0, progress_message = 'started', updated_at = @now
		  FROM c WHERE p.id = c.project_id AND p.latest_execution_id = c.id),
		ob AS (`+jobs.MarkClaimedSQL("task", "task_like", "now")+` AND EXISTS (SELECT 1 FROM c))
		SELECT c.*, `+projectColumns()+` FROM c JOIN projects p ON p.id = c.project_id`,
		map[string]any{"id": execID, "running": models.StatusRunning, "now": now, "worker": workerID,
			"until": now.Add(lease), "may_run": mayRun, "finished": finished,
			"stopped": stopped,
			"kind":    models.EventStarted, "again": strings.Replace(startedAgain, "%d", "%s", 1), "first": startedMessage(1),
			"task": execID.String(), "task_like": execID.String() + ":takeover:%"}).Scan(&claimed).Error
	if err != nil || len(claimed) == 0 {
		return ev, false, err
	}
	e := &claimed[0].Execution
	c.Execution, c.Project, c.Run = *e, claimed[0].Project, true
	return liveEvent(e, string(models.StatusRunning), models.StatusRunning, 0, startedMessage(e.Attempt)), true, nil
}

// refuseClaim tells why claim did not claim the execution, with its row
// locked: finished or paused (c.Reason), held elsewhere or waiting for the
// previous run to stop (the errors), or a subscription that may no longer
// run (the run is paused). Should every condition hold after all (it
// changed in between), it claims.
func (s *Service) refuseClaim(tx *gorm.DB, execID uuid.UUID, workerID string, lease time.Duration, c *Claim) error {
	var e models.Execution
	if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Where("id = ?", execID).Take(&e).Error; err != nil {
		return notFound(err, models.ErrExecutionNotFound)
	}
	c.Execution = e
	now := s.Now()
	if e.Status.Finished() {
		c.Reason = "execution already " + string(e.Status)
		return nil
	}
	if e.Status == models.StatusRunning && e.LeaseUntil != nil && e.LeaseUntil.After(now) {
		return ErrHeldElsewhere
	}
	var stopping int64
	err := tx.Model(&models.Execution{}).
		Where("project_id = ? AND id <> ? AND status IN ? AND lease_until > ?", e.ProjectID, e.ID,
			models.StatusesWhere(models.ExecutionStatuses, models.ExecutionStatus.Stopped), now).Count(&stopping).Error
	if err != nil {
		return err
	}
	if stopping > 0 {
		return ErrPreviousRunStopping
	}
	var sub models.Subscription
	if err := tx.Where("tenant_id = ?", e.TenantID).Take(&sub).Error; err != nil {
		return err
	}
	if !sub.Status.MayRun() {
		c.Reason = fmt.Sprintf("subscription %s", sub.Status)
		return s.stopExecutions(tx, []models.Execution{e}, models.StatusPaused, c.Reason)
	}
	ev, ok, err := s.claim(tx, execID, workerID, lease, c)
	if err == nil && !ok {
		err = fmt.Errorf("claim execution %s: its state changed while it was claimed", execID)
	}
	if ok {
		s.emit(tx, ev)
	}
	return err
}
