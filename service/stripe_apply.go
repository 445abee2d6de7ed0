package service

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/q2o/q2o/models"
)

// This file applies a StripeEvent (stripe_event.go) to the tenant's rows:
// ApplyStripeEvent and the appliers of each kind of event.

// ApplyStripeEvent records a verified Stripe event and applies it, in one
// transaction: a redelivered event changes nothing (Duplicate), an event
// older than the state it would overwrite is recorded as stale, and a status
// that stops allowing runs writes a tenant:pause task to the outbox in the
// same transaction (after PastDueGrace for past_due).
func (s *Service) ApplyStripeEvent(ctx context.Context, ev StripeEvent, pol BillingPolicy) (StripeEventResult, error) {
	var res StripeEventResult
	err := s.inTx(ctx, func(tx *gorm.DB, ob *outbox) error {
		res = StripeEventResult{}
		rec := models.StripeEventRecord{ID: ev.ID, Type: ev.Type, Created: ev.Created.UTC(), Livemode: ev.Livemode,
			Outcome: StripeIgnored, ProcessedAt: s.Now()}
		// A concurrent delivery of the same event waits here for ours to
		// commit, then finds the row.
		ins := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&rec)
		if ins.Error != nil {
			return fmt.Errorf("record stripe event: %w", ins.Error)
		}
		if ins.RowsAffected == 0 {
			var seen models.StripeEventRecord
			if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Where("id = ?", ev.ID).Take(&seen).Error; err != nil {
				return err
			}
			// An event that found no tenant may be sent again (from the
			// Dashboard) once the operator has linked the customer: it is
			// then applied. Any other is done.
			if seen.Outcome != StripeUnmatched {
				res = StripeEventResult{Outcome: seen.Outcome, Duplicate: true, Note: "already processed"}
				if seen.TenantID != nil {
					res.TenantID = *seen.TenantID
				}
				return nil
			}
		}
		var objectID string
		var err error
		switch {
		case ev.Checkout != nil:
			objectID = ev.Checkout.ID
			err = s.applyCheckout(tx, ob, ev, pol, &res)
		case ev.Subscription != nil:
			objectID = ev.Subscription.ID
			err = s.applySubscriptionEvent(tx, ob, ev, pol, &res)
		case ev.Invoice != nil:
			objectID = ev.Invoice.ID
			err = s.applyInvoice(tx, ev, &res)
		default:
			res.Outcome, res.Note = StripeIgnored, "event type not handled"
		}
		if err != nil {
			return err
		}
		upd := map[string]any{"outcome": res.Outcome, "note": res.Note, "processed_at": s.Now()}
		if objectID != "" {
			upd["object_id"] = objectID
		}
		if res.TenantID != uuid.Nil {
			upd["tenant_id"] = res.TenantID
		}
		return tx.Model(&models.StripeEventRecord{}).Where("id = ?", ev.ID).Updates(upd).Error
	})
	return res, err
}

// applyCheckout links the Stripe customer and subscription to the tenant the
// session names, then applies the subscription when its state is known.
func (s *Service) applyCheckout(tx *gorm.DB, ob *outbox, ev StripeEvent, pol BillingPolicy, res *StripeEventResult) error {
	co := ev.Checkout
	if co.TenantID == uuid.Nil {
		res.Outcome, res.Note = StripeUnmatched, "the session has no client_reference_id or metadata tenant_id"
		return nil
	}
	sub, err := lockSubscription(tx, co.TenantID)
	if err != nil {
		if _, ok := models.AsError(err); ok {
			res.Outcome, res.Note = StripeUnmatched, "no tenant "+co.TenantID.String()
			return nil
		}
		return err
	}
	res.TenantID = co.TenantID
	if co.CustomerID != "" {
		var other int64
		if err := tx.Model(&models.Tenant{}).Where("stripe_customer_id = ? AND id <> ?", co.CustomerID, co.TenantID).
			Count(&other).Error; err != nil {
			return err
		}
		if other > 0 {
			res.Outcome, res.Note = StripeUnmatched, "customer "+co.CustomerID+" belongs to another tenant"
			return nil
		}
		if err := tx.Model(&models.Tenant{}).Where("id = ?", co.TenantID).
			Updates(map[string]any{"stripe_customer_id": co.CustomerID, "updated_at": s.Now()}).Error; err != nil {
			return err
		}
	}
	if co.SubscriptionID != "" && (sub.StripeSubscriptionID == nil || *sub.StripeSubscriptionID != co.SubscriptionID) {
		// A subscription row linked elsewhere would break the unique key:
		// unlink it there first (it was that tenant's earlier checkout).
		if err := tx.Model(&models.Subscription{}).Where("stripe_subscription_id = ? AND tenant_id <> ?", co.SubscriptionID, co.TenantID).
			Update("stripe_subscription_id", nil).Error; err != nil {
			return err
		}
		if err := tx.Model(&models.Subscription{}).Where("tenant_id = ?", co.TenantID).
			Updates(map[string]any{"stripe_subscription_id": co.SubscriptionID, "updated_at": s.Now()}).Error; err != nil {
			return err
		}
		sub.StripeSubscriptionID = &co.SubscriptionID
	}
	res.Outcome, res.Note = StripeApplied, "customer and subscription linked"
	if ev.Subscription != nil && ev.Subscription.ID == co.SubscriptionID {
		note := res.Note
		if err := s.applySubscription(tx, ob, &sub, ev, pol, res); err != nil {
			return err
		}
		if res.Outcome != StripeApplied {
			res.Outcome, res.Note = StripeApplied, note+"; subscription state: "+res.Note
		}
	}
	return nil
}

// applySubscriptionEvent finds the tenant of a subscription event and
// applies it.
func (s *Service) applySubscriptionEvent(tx *gorm.DB, ob *outbox, ev StripeEvent, pol BillingPolicy, res *StripeEventResult) error {
	ss := ev.Subscription
	tenantID, err := s.stripeTenant(tx, ss.ID, ss.CustomerID, ss.TenantID)
	if err != nil {
		return err
	}
	if tenantID == uuid.Nil {
		res.Outcome, res.Note = StripeUnmatched, "no tenant has this subscription or customer"
		return nil
	}
	sub, err := lockSubscription(tx, tenantID)
	if err != nil {
		return err
	}
	res.TenantID = tenantID
	return s.applySubscription(tx, ob, &sub, ev, pol, res)
}

// stripeTenant finds the tenant of a Stripe subscription: by the linked
// subscription id, then by customer id, then by the metadata tenant_id (a
// subscription event may arrive before its checkout.session.completed).
func (s *Service) stripeTenant(tx *gorm.DB, subscriptionID, customerID string, metaTenant uuid.UUID) (uuid.UUID, error) {
	var ids []uuid.UUID
	if subscriptionID != "" {
		if err := tx.Model(&models.Subscription{}).Where("stripe_subscription_id = ?", subscriptionID).Pluck("tenant_id", &ids).Error; err != nil {
			return uuid.Nil, err
		}
		if len(ids) > 0 {
			return ids[0], nil
		}
	}
	if customerID != "" {
		if err := tx.Model(&models.Tenant{}).Where("stripe_customer_id = ?", customerID).Pluck("id", &ids).Error; err != nil {
			return uuid.Nil, err
		}
		if len(ids) > 0 {
			return ids[0], nil
		}
	}
	if metaTenant != uuid.Nil {
		if err := tx.Model(&models.Tenant{}).Where("id = ?", metaTenant).Pluck("id", &ids).Error; err != nil {
			return uuid.Nil, err
		}
		if len(ids) > 0 {
			return ids[0], nil
		}
	}
	return uuid.Nil, nil
}

// replacesSubscription reports whether an event about a subscription other
// than the tenant's linked one may take the link over: only the creation of
// a live subscription, newer than the event that set the current one (a
// checkout links its subscription before this is asked).
func replacesSubscription(ev StripeEvent, sub *models.Subscription) bool {
	if ev.Type != "customer.subscription.created" || ev.Subscription.Status.EndedByStripe() {
		return false
	}
	return sub.StripeEventCreated == nil || !ev.Created.Before(*sub.StripeEventCreated)
}

// applySubscription sets the tenant's subscription (locked by the caller)
// from a Stripe subscription, unless the event is older than the state.
func (s *Service) applySubscription(tx *gorm.DB, ob *outbox, sub *models.Subscription, ev StripeEvent, pol BillingPolicy, res *StripeEventResult) error {
	ss := ev.Subscription
	if !ss.Status.Valid() {
		res.Outcome, res.Note = StripeIgnored, fmt.Sprintf("unknown subscription status %q", ss.Status)
		return nil
	}
	sameSub := sub.StripeSubscriptionID != nil && *sub.StripeSubscriptionID == ss.ID
	if sub.StripeSubscriptionID != nil && !sameSub && !replacesSubscription(ev, sub) {
		// The tenant has moved on to another subscription: news of an
		// earlier one (its end, or a delayed copy from when it was active)
		// neither revives the tenant nor moves its link back.
		res.Outcome, res.Note = StripeStale, "about subscription "+ss.ID+", not the tenant's current one"
		return nil
	}
	if !ev.Refetched && sameSub {
		if sub.StripeEventCreated != nil && ev.Created.Before(*sub.StripeEventCreated) {
			res.Outcome = StripeStale
			res.Note = fmt.Sprintf("event created %s, before the one that set the subscription (%s)",
				ev.Created.UTC().Format(time.RFC3339), sub.StripeEventCreated.UTC().Format(time.RFC3339))
			return nil
		}
		if sub.Status.EndedByStripe() && !ss.Status.EndedByStripe() {
			res.Outcome, res.Note = StripeStale, fmt.Sprintf("the subscription has ended (%s); Stripe never revives one", sub.Status)
			return nil
		}
	}

	was := sub.Status
	status := was.FromStripe(ss.Status)
	now := s.Now()
	created := ev.Created.UTC()
	if sub.StripeEventCreated != nil && sub.StripeEventCreated.After(created) {
		created = *sub.StripeEventCreated // a refetch never moves the mark back
	}
	upd := statusChange(was, status, now)
	upd["stripe_subscription_id"], upd["current_period_end"] = ss.ID, ss.CurrentPeriodEnd
	upd["trial_end"], upd["cancel_at_period_end"], upd["stripe_event_created"] = ss.TrialEnd, ss.CancelAtPeriodEnd, created
	if ss.PriceID != "" {
		upd["stripe_price_id"] = ss.PriceID
	}
	if !sameSub {
		if err := tx.Model(&models.Subscription{}).Where("stripe_subscription_id = ? AND tenant_id <> ?", ss.ID, sub.TenantID).
			Update("stripe_subscription_id", nil).Error; err != nil {
			return err
		}
	}
	if err := tx.Model(&models.Subscription{}).Where("tenant_id = ?", sub.TenantID).Updates(upd).Error; err != nil {
		return err
	}
	res.Outcome, res.Note = StripeApplied, fmt.Sprintf("subscription %s: %s → %s", ss.ID, was, status)

	if ss.PriceID != "" {
		var plans []string
		if err := tx.Model(&models.Plan{}).Where("stripe_price_id = ?", ss.PriceID).Pluck("code", &plans).Error; err != nil {
			return err
		}
		if len(plans) == 0 {
			res.Note += "; price " + ss.PriceID + " is no plan's, plan kept"
		} else if err := tx.Model(&models.Tenant{}).Where("id = ? AND plan_code <> ?", sub.TenantID, plans[0]).
			Updates(map[string]any{"plan_code": plans[0], "updated_at": now}).Error; err != nil {
			return err
		}
	}
	if ss.CustomerID != "" {
		// Link the customer too when the subscription event came first; a
		// customer id another tenant holds is left alone.
		err := tx.Model(&models.Tenant{}).
			Where("id = ? AND stripe_customer_id IS NULL AND NOT EXISTS (SELECT 1 FROM tenants o WHERE o.stripe_customer_id = ?)", sub.TenantID, ss.CustomerID).
			Update("stripe_customer_id", ss.CustomerID).Error
		if err != nil {
			return err
		}
	}
	sub.Status = status
	return s.pauseIfInactive(tx, ob, sub.TenantID, was, status, pol.PastDueGrace, "subscription "+string(status)+" (Stripe event "+ev.ID+")")
}

// applyInvoice upserts a billing-history row; an event older than the one
// that last set the row changes nothing.
func (s *Service) applyInvoice(tx *gorm.DB, ev StripeEvent, res *StripeEventResult) error {
	in := ev.Invoice
	tenantID, err := s.stripeTenant(tx, in.SubscriptionID, in.CustomerID, uuid.Nil)
	if err != nil {
		return err
	}
	if tenantID == uuid.Nil {
		res.Outcome, res.Note = StripeUnmatched, "no tenant has this invoice's subscription or customer"
		return nil
	}
	res.TenantID = tenantID
	str := func(v string) *string {
		if v == "" {
			return nil
		}
		return &v
	}
	row := models.Invoice{ID: in.ID, TenantID: tenantID, StripeSubscriptionID: str(in.SubscriptionID), Number: str(in.Number),
		Status: in.Status, AmountDue: in.AmountDue, AmountPaid: in.AmountPaid, Currency: in.Currency,
		HostedInvoiceURL: str(in.HostedInvoiceURL), InvoicePDF: str(in.InvoicePDF), PeriodStart: in.PeriodStart,
		PeriodEnd: in.PeriodEnd, InvoiceCreated: in.Created.UTC(), StripeEventCreated: ev.Created.UTC(), UpdatedAt: s.Now()}
	if row.Currency == "" {
		row.Currency = "usd"
	}
	q := tx.Clauses(clause.OnConflict{
		Columns: []clause.Column{{Name: "id"}},
		DoUpdates: clause.AssignmentColumns([]string{"status", "amount_due", "amount_paid", "currency", "number",
			"hosted_invoice_url", "invoice_pdf", "period_start", "period_end", "stripe_event_created", "updated_at"}),
		Where: clause.Where{Exprs: []clause.Expression{clause.Expr{SQL: "invoices.stripe_event_created <= excluded.stripe_event_created"}}},
	}).Create(&row)
	if q.Error != nil {
		return fmt.Errorf("record invoice: %w", q.Error)
	}
	if q.RowsAffected == 0 {
		res.Outcome, res.Note = StripeStale, "an event newer than this one already set invoice "+in.ID
		return nil
	}
	res.Outcome, res.Note = StripeApplied, fmt.Sprintf("invoice %s %s", in.ID, in.Status)
	return nil
}
