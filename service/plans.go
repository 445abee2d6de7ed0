package service

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/q2o/q2o/models"
)

// This file is the plans' side of billing: the Stripe price each plan is
// sold at, and moving a tenant up to another plan.

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
