package service

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/q2o/q2o/models"
)

// This file applies Stripe's webhook events to the database. Package billing
// verifies and translates them (it alone knows stripe-go); what arrives here
// is already trusted and in q2o's terms.
//
// Ordering. Stripe delivers events more than once and in any order. Each
// event id is recorded once in stripe_events, in the transaction of its
// effect, so a redelivery has no second effect. A subscription keeps the
// `created` time of the event that last set it (subscriptions.
// stripe_event_created); an event created before that is recorded as stale
// and changes nothing. Events created in the same second (Stripe's
// resolution) apply in arrival order, except that a subscription Stripe has
// ended (canceled, incomplete_expired) never comes back to life from an
// event about that same subscription: Stripe never revives one. When the
// subscription was re-read from Stripe just before (Q2O_STRIPE_REFETCH), it is
// the current state and is applied whatever the event's time.

// Outcomes of a Stripe event, as recorded in stripe_events.outcome.
const (
	StripeApplied   = "applied"
	StripeStale     = "stale"
	StripeIgnored   = "ignored"
	StripeUnmatched = "unmatched"
)

// StripeSubscription is the part of a Stripe subscription q2o keeps.
type StripeSubscription struct {
	ID                string
	CustomerID        string
	Status            models.SubscriptionStatus
	PriceID           string
	CurrentPeriodEnd  *time.Time
	TrialEnd          *time.Time
	CancelAtPeriodEnd bool
	// TenantID is the subscription's metadata tenant_id, if any (q2o sets it
	// on the subscriptions its Checkout Sessions create).
	TenantID uuid.UUID
}

// StripeInvoice is the part of a Stripe invoice kept in the billing history.
type StripeInvoice struct {
	ID               string
	CustomerID       string
	SubscriptionID   string
	Number           string
	Status           string
	AmountDue        int64
	AmountPaid       int64
	Currency         string
	HostedInvoiceURL string
	InvoicePDF       string
	PeriodStart      *time.Time
	PeriodEnd        *time.Time
	Created          time.Time
}

// StripeCheckout is a completed Checkout Session in subscription mode.
type StripeCheckout struct {
	ID             string
	CustomerID     string
	SubscriptionID string
	// TenantID is the session's client_reference_id or metadata tenant_id.
	TenantID uuid.UUID
}

// StripeEvent is one verified Stripe event in q2o's terms. At most one of
// Checkout and Invoice is set; Subscription is set for subscription events,
// and for a checkout whose subscription is known.
type StripeEvent struct {
	ID       string
	Type     string
	Created  time.Time
	Livemode bool

	Checkout     *StripeCheckout
	Subscription *StripeSubscription
	Invoice      *StripeInvoice
	// Refetched says Subscription was read from Stripe just now: it is the
	// current state, newer than any event.
	Refetched bool
}

// BillingPolicy holds the billing settings the rules depend on.
type BillingPolicy struct {
	// PastDueGrace lets a past_due tenant's running projects go on this long
	// before they are paused (0: at once). New runs are refused meanwhile.
	PastDueGrace time.Duration
}

// StripeEventResult is what became of an event.
type StripeEventResult struct {
	Outcome   string    `json:"outcome"`
	Duplicate bool      `json:"duplicate"`
	TenantID  uuid.UUID `json:"-"`
	Note      string    `json:"note,omitempty"`
}

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

// ResumeResult is what resume-all did with one paused project.
type ResumeResult struct {
	ProjectID   uuid.UUID              `json:"project_id"`
	ExecutionID *uuid.UUID             `json:"execution_id,omitempty"`
	Status      models.ExecutionStatus `json:"status,omitempty"`
	Error       *ResumeError           `json:"error,omitempty"`
}

// ResumeError is why one project was not resumed.
type ResumeError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// ResumeAll resumes each of the tenant's paused (and not deleted) projects,
// oldest first, each as ResumeRun does (a new execution through RUN's
// gates): a project the gates refuse is reported with the reason and stays
// paused.
// Errors: subscription_inactive (402) when the subscription may not run.
func (s *Service) ResumeAll(ctx context.Context, tenantID uuid.UUID) ([]ResumeResult, error) {
	var sub models.Subscription
	if err := s.DB.WithContext(ctx).Where("tenant_id = ?", tenantID).Take(&sub).Error; err != nil {
		return nil, notFound(err, models.ErrUnauthorized)
	}
	if err := sub.Status.CheckMayRun(); err != nil {
		return nil, err
	}
	var ids []uuid.UUID
	err := s.DB.WithContext(ctx).Model(&models.Project{}).
		Where("tenant_id = ? AND is_active AND execution_status = ?", tenantID, models.StatusPaused).
		Order("updated_at, id").Pluck("id", &ids).Error
	if err != nil {
		return nil, err
	}
	out := make([]ResumeResult, 0, len(ids))
	for _, id := range ids {
		r := ResumeResult{ProjectID: id}
		started, err := s.ResumeRun(ctx, tenantID, id)
		var appErr *models.Error
		switch {
		case errors.As(err, &appErr):
			r.Error = &ResumeError{Code: appErr.Code, Message: appErr.Message}
		case err != nil:
			return nil, err
		default:
			r.ExecutionID, r.Status = &started.ExecutionID, started.Status
		}
		out = append(out, r)
	}
	return out, nil
}

// SetPlanPrices records which Stripe price each plan is sold at (plan code →
// price id, from Q2O_STRIPE_PRICES); plans not named keep theirs.
// Errors: unknown_plan (400).
func (s *Service) SetPlanPrices(ctx context.Context, prices map[string]string) error {
	if len(prices) == 0 {
		return nil
	}
	// In a fixed order, so that API replicas starting together never
	// deadlock on the plan rows.
	codes := slices.Sorted(maps.Keys(prices))
	return s.inTx(ctx, func(tx *gorm.DB, _ *outbox) error {
		var n int64
		if err := tx.Model(&models.Plan{}).Where("code IN ?", codes).Count(&n).Error; err != nil {
			return err
		}
		if int(n) != len(codes) {
			return models.FieldError("plan", "unknown_plan", "Q2O_STRIPE_PRICES names a plan that does not exist (plans: %v)", codes)
		}
		// Lock every plan row in order; prices may move between plans.
		var plans []models.Plan
		if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Order("code").Find(&plans).Error; err != nil {
			return err
		}
		for _, code := range codes {
			price := prices[code]
			if err := tx.Model(&models.Plan{}).Where("stripe_price_id = ? AND code <> ?", price, code).
				Update("stripe_price_id", nil).Error; err != nil {
				return err
			}
			if err := tx.Model(&models.Plan{}).Where("code = ? AND stripe_price_id IS DISTINCT FROM ?", code, price).
				Update("stripe_price_id", price).Error; err != nil {
				return err
			}
		}
		return nil
	})
}

// BillingOverview is the tenant's billing page.
type BillingOverview struct {
	Plan            BillingPlan          `json:"plan"`
	Subscription    BillingSubscription  `json:"subscription"`
	ActivationCodes CodeQuota            `json:"activation_codes"`
	Runs            RunQuota             `json:"runs"`
	Invoices        []models.Invoice     `json:"invoices"`
	AvailablePlans  []BillingPlan        `json:"available_plans"`
	Stripe          BillingStripeLinkage `json:"stripe"`
}

// BillingPlan is a plan as the billing page shows it.
type BillingPlan struct {
	Code              string `json:"code"`
	Name              string `json:"name"`
	PriceCents        int    `json:"price_cents"`
	Currency          string `json:"currency"`
	MonthlyCodeQuota  int    `json:"monthly_code_quota"`
	MaxConcurrentRuns int    `json:"max_concurrent_runs"`
}

// BillingSubscription is the subscription as the billing page shows it.
type BillingSubscription struct {
	Status            models.SubscriptionStatus `json:"status"`
	CurrentPeriodEnd  *time.Time                `json:"current_period_end"`
	TrialEnd          *time.Time                `json:"trial_end"`
	CancelAtPeriodEnd bool                      `json:"cancel_at_period_end"`
	PastDueSince      *time.Time                `json:"past_due_since"`
}

// BillingStripeLinkage says whether the tenant is known to Stripe yet.
type BillingStripeLinkage struct {
	Customer     bool `json:"customer"`
	Subscription bool `json:"subscription"`
}

// invoicesShown is how many of the latest invoices the billing page lists.
const invoicesShown = 24

func billingPlan(p models.Plan) BillingPlan {
	return BillingPlan{Code: p.Code, Name: p.Name, PriceCents: p.PriceCents, Currency: p.Currency,
		MonthlyCodeQuota: p.MonthlyCodeQuota, MaxConcurrentRuns: p.MaxConcurrentRuns}
}

// Billing returns the tenant's billing page: plan, subscription, code quota
// this month, the latest invoices and the plans it may move up to.
// Errors: unauthorized (401, the tenant no longer exists).
func (s *Service) Billing(ctx context.Context, tenantID uuid.UUID) (BillingOverview, error) {
	var out BillingOverview
	err := s.DB.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var t models.Tenant
		if err := tx.Where("id = ?", tenantID).Take(&t).Error; err != nil {
			return notFound(err, models.ErrUnauthorized)
		}
		var row struct {
			models.Subscription
			PastDueSince *time.Time
		}
		if err := tx.Model(&models.Subscription{}).Where("tenant_id = ?", tenantID).Take(&row).Error; err != nil {
			return notFound(err, models.ErrUnauthorized)
		}
		var plans []models.Plan
		if err := tx.Order("sort_order, code").Find(&plans).Error; err != nil {
			return err
		}
		var current models.Plan
		for _, p := range plans {
			if p.Code == t.PlanCode {
				current = p
			}
		}
		out.Plan = billingPlan(current)
		out.AvailablePlans = []BillingPlan{}
		for _, p := range plans {
			if p.SortOrder > current.SortOrder && p.StripePriceID != nil {
				out.AvailablePlans = append(out.AvailablePlans, billingPlan(p))
			}
		}
		out.Subscription = BillingSubscription{Status: row.Status, CurrentPeriodEnd: row.CurrentPeriodEnd, TrialEnd: row.TrialEnd,
			CancelAtPeriodEnd: row.CancelAtPeriodEnd, PastDueSince: row.PastDueSince}
		out.Stripe = BillingStripeLinkage{Customer: t.StripeCustomerID != nil, Subscription: row.StripeSubscriptionID != nil}
		q, err := s.codeQuota(tx, tenantID, current.MonthlyCodeQuota)
		if err != nil {
			return err
		}
		out.ActivationCodes = q
		if out.Runs, err = s.runQuota(tx, tenantID, current.MonthlyRunQuota); err != nil {
			return err
		}
		out.Invoices = []models.Invoice{}
		return tx.Where("tenant_id = ?", tenantID).Order("invoice_created DESC, id").Limit(invoicesShown).Find(&out.Invoices).Error
	})
	return out, err
}

// PlanChange is what moving a tenant to another plan needs from Stripe's
// side: the target price, and the tenant's Stripe customer and subscription
// when it has them.
type PlanChange struct {
	TenantID       uuid.UUID
	Email          string
	Plan           string
	PriceID        string
	CustomerID     string
	SubscriptionID string
}

// UpgradeResult is the answer to an upgrade: a Checkout URL to pay for a
// first subscription, or the billing page after the change.
type UpgradeResult struct {
	CheckoutURL string           `json:"checkout_url,omitempty"`
	Billing     *BillingOverview `json:"billing,omitempty"`
}

// PlanUpgrade checks that the tenant may move up to plan and returns what
// Stripe needs for it.
// Errors: missing_field (400), unknown_plan (404), already_on_plan (409),
// downgrade_not_supported, plan_not_for_sale (422), unauthorized (401).
func (s *Service) PlanUpgrade(ctx context.Context, tenantID uuid.UUID, plan string) (PlanChange, error) {
	if plan == "" {
		return PlanChange{}, models.FieldError("plan", "missing_field", "plan is required")
	}
	var t models.Tenant
	if err := s.DB.WithContext(ctx).Where("id = ?", tenantID).Take(&t).Error; err != nil {
		return PlanChange{}, notFound(err, models.ErrUnauthorized)
	}
	var sub models.Subscription
	if err := s.DB.WithContext(ctx).Where("tenant_id = ?", tenantID).Take(&sub).Error; err != nil {
		return PlanChange{}, notFound(err, models.ErrUnauthorized)
	}
	var target, current models.Plan
	if err := s.DB.WithContext(ctx).Where("code = ?", plan).Take(&target).Error; err != nil {
		return PlanChange{}, notFound(err, &models.Error{Kind: models.KindNotFound, Code: "unknown_plan",
			Message: fmt.Sprintf("no plan %q", plan), Field: "plan"})
	}
	if err := s.DB.WithContext(ctx).Where("code = ?", t.PlanCode).Take(&current).Error; err != nil {
		return PlanChange{}, err
	}
	switch {
	case target.Code == current.Code && sub.StripeSubscriptionID != nil:
		return PlanChange{}, models.Errorf(models.KindConflict, "already_on_plan", "the tenant is on plan %s already", plan)
	case target.SortOrder < current.SortOrder:
		return PlanChange{}, models.Errorf(models.KindUnprocessable, "downgrade_not_supported",
			"moving down from %s to %s is done in the billing portal (POST /api/tenant/billing/portal), at the end of the period", current.Code, target.Code)
	case target.StripePriceID == nil:
		return PlanChange{}, models.Errorf(models.KindUnprocessable, "plan_not_for_sale", "plan %s has no Stripe price", plan)
	}
	pc := PlanChange{TenantID: tenantID, Email: t.Email, Plan: target.Code, PriceID: *target.StripePriceID}
	if t.StripeCustomerID != nil {
		pc.CustomerID = *t.StripeCustomerID
	}
	if sub.StripeSubscriptionID != nil && !sub.Status.EndedByStripe() {
		pc.SubscriptionID = *sub.StripeSubscriptionID
	}
	return pc, nil
}

// RecordPlanChange stores a plan change Stripe has accepted; the
// customer.subscription.updated event that follows confirms it.
func (s *Service) RecordPlanChange(ctx context.Context, pc PlanChange) error {
	return s.inTx(ctx, func(tx *gorm.DB, _ *outbox) error {
		now := s.Now()
		if err := tx.Model(&models.Tenant{}).Where("id = ?", pc.TenantID).
			Updates(map[string]any{"plan_code": pc.Plan, "updated_at": now}).Error; err != nil {
			return err
		}
		return tx.Model(&models.Subscription{}).Where("tenant_id = ?", pc.TenantID).
			Updates(map[string]any{"stripe_price_id": pc.PriceID, "updated_at": now}).Error
	})
}

// StripeCustomer returns the tenant's Stripe customer id.
// Errors: no_stripe_customer (409), unauthorized (401).
func (s *Service) StripeCustomer(ctx context.Context, tenantID uuid.UUID) (string, error) {
	var t models.Tenant
	if err := s.DB.WithContext(ctx).Where("id = ?", tenantID).Take(&t).Error; err != nil {
		return "", notFound(err, models.ErrUnauthorized)
	}
	if t.StripeCustomerID == nil {
		return "", models.Errorf(models.KindConflict, "no_stripe_customer",
			"the tenant has no Stripe customer yet; subscribe first (POST /api/tenant/billing/upgrade)")
	}
	return *t.StripeCustomerID, nil
}
