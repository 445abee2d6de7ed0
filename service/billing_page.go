package service

import (
	"context"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/q2o/q2o/models"
)

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
