package service

import (
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/q2o/q2o/jobs"
	"github.com/q2o/q2o/models"
)

// This file is what a change of subscription status does, whoever makes it
// (a Stripe event, ApplyStripeEvent, or an operator, SetSubscriptionStatus):
// the same columns change and the same pause is written, as
// models.PauseFor decides.

// statusChange is the subscription columns that moving from was to status
// at now sets: the status, and past_due_since (when the tenant fell past
// due; cleared once it is not).
func statusChange(was, status models.SubscriptionStatus, now time.Time) map[string]any {
	upd := map[string]any{"status": status, "updated_at": now}
	switch {
	case status == models.SubPastDue && was != models.SubPastDue:
		upd["past_due_since"] = now
	case status != models.SubPastDue:
		upd["past_due_since"] = nil
	}
	return upd
}

// pauseIfInactive writes the tenant:pause task that models.PauseFor asks
// for, in tx: sent after commit for a pause at once; for one after the
// grace, left in the outbox until it is due (the relay sends it then, and
// the pause does nothing if the subscription may run again by then).
func (s *Service) pauseIfInactive(tx *gorm.DB, ob *outbox, tenantID uuid.UUID, was, status models.SubscriptionStatus, grace time.Duration, reason string) error {
	p := models.PauseFor(was, status, grace)
	if !p.Needed() {
		return nil
	}
	msg := jobs.PauseMessage(tenantID, reason)
	if !p.Now {
		msg.NextAttemptAt = s.Now().Add(p.After)
		_, err := jobs.Add(tx, msg) // not sent now: the relay sends it when due
		return err
	}
	return ob.add(msg)
}
