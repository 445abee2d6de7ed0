package service

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/q2o/q2o/jobs"
	"github.com/q2o/q2o/models"
)

// pauseRows are the tenant:pause tasks written for tenantID, with when the
// relay may send each.
func pauseRows(t *testing.T, s *Service, tenantID uuid.UUID) []time.Time {
	t.Helper()
	var due []time.Time
	err := s.DB.Model(&models.OutboxMessage{}).Where("task_type = ? AND payload->>'tenant_id' = ?", jobs.TypeTenantPause, tenantID.String()).
		Order("id").Pluck("next_attempt_at", &due).Error
	if err != nil {
		t.Fatal(err)
	}
	return due
}

// An operator's status change pauses exactly as a Stripe event does
// (models.PauseFor): past_due waits for the grace, and canceled during the
// grace pauses at once.
func TestSetSubscriptionStatusHonoursPastDueGrace(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newTestService(t)
	s.PastDueGrace = time.Hour
	tenant := newTestTenant(t, s, models.SubActive)

	before := time.Now()
	if _, err := s.SetSubscriptionStatus(ctx, tenant, models.SubPastDue, ""); err != nil {
		t.Fatal(err)
	}
	due := pauseRows(t, s, tenant)
	if len(due) != 1 || due[0].Before(before.Add(59*time.Minute)) {
		t.Fatalf("after past_due with an hour's grace: pauses due %v, want one due in an hour", due)
	}
	var since *time.Time
	s.DB.Model(&models.Subscription{}).Where("tenant_id = ?", tenant).Pluck("past_due_since", &since)
	if since == nil {
		t.Error("past_due_since not set by an operator's past_due")
	}

	if _, err := s.SetSubscriptionStatus(ctx, tenant, models.SubCanceled, ""); err != nil {
		t.Fatal(err)
	}
	due = pauseRows(t, s, tenant)
	if len(due) != 2 || due[1].After(time.Now().Add(time.Minute)) {
		t.Fatalf("after canceled during the grace: pauses due %v, want a second one due now", due)
	}
}
