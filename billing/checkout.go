package billing

import (
	"context"
	"errors"
	"net/url"

	"github.com/google/uuid"
	"github.com/stripe/stripe-go/v76"

	"github.com/q2o/q2o/models"
	"github.com/q2o/q2o/service"
)

// ErrUnavailable answers the routes that call Stripe when no secret key is set.
var ErrUnavailable = models.Errorf(models.KindUnavailable, "billing_unavailable",
	"billing is not configured on this server (Q2O_STRIPE_SECRET_KEY)")

// stripeFailed logs a failed Stripe call and answers 503 with a stable code;
// Stripe's own text stays in the log.
func (b *Billing) stripeFailed(op string, err error) error {
	var se *stripe.Error
	if errors.As(err, &se) {
		b.log.Warn("stripe call failed", "op", op, "status", se.HTTPStatusCode, "code", se.Code, "request_id", se.RequestID, "error", se.Msg)
	} else {
		b.log.Warn("stripe call failed", "op", op, "error", err)
	}
	return models.Errorf(models.KindUnavailable, "stripe_error", "Stripe did not accept the request (%s); try again shortly", op)
}

// returnURL is where Stripe sends the tenant back, with a marker of why.
func (b *Billing) returnURL(result string) string {
	u, err := url.Parse(b.cfg.ReturnURL)
	if err != nil || b.cfg.ReturnURL == "" {
		return "http://localhost:8080/billing?billing=" + result
	}
	q := u.Query()
	q.Set("billing", result)
	u.RawQuery = q.Encode()
	return u.String()
}

// Upgrade moves the tenant up to plan: a tenant with a live Stripe
// subscription has its subscription item's price changed (proration as
// configured) and gets its billing page back; one without gets a Checkout
// Session in subscription mode to pay at.
// Errors: those of service.PlanUpgrade, billing_unavailable, stripe_error (503).
func (b *Billing) Upgrade(ctx context.Context, tenantID uuid.UUID, plan string) (service.UpgradeResult, error) {
	if b.stripe == nil {
		return service.UpgradeResult{}, ErrUnavailable
	}
	pc, err := b.svc.PlanUpgrade(ctx, tenantID, plan)
	if err != nil {
		return service.UpgradeResult{}, err
	}
	if pc.SubscriptionID == "" {
		params := &stripe.CheckoutSessionParams{
			Mode:              stripe.String(string(stripe.CheckoutSessionModeSubscription)),
			LineItems:         []*stripe.CheckoutSessionLineItemParams{{Price: stripe.String(pc.PriceID), Quantity: stripe.Int64(1)}},
			ClientReferenceID: stripe.String(tenantID.String()),
			SuccessURL:        stripe.String(b.returnURL("success")),
			CancelURL:         stripe.String(b.returnURL("cancel")),
			SubscriptionData:  &stripe.CheckoutSessionSubscriptionDataParams{Metadata: map[string]string{"tenant_id": tenantID.String()}},
		}
		params.Context = ctx
		params.AddMetadata("tenant_id", tenantID.String())
		if pc.CustomerID != "" {
			params.Customer = stripe.String(pc.CustomerID)
		} else {
			params.CustomerEmail = stripe.String(pc.Email)
		}
		cs, err := b.stripe.CheckoutSessions.New(params)
		if err != nil {
			return service.UpgradeResult{}, b.stripeFailed("create checkout session", err)
		}
		return service.UpgradeResult{CheckoutURL: cs.URL}, nil
	}

	get := &stripe.SubscriptionParams{}
	get.Context = ctx
	sub, err := b.stripe.Subscriptions.Get(pc.SubscriptionID, get)
	if err != nil {
		return service.UpgradeResult{}, b.stripeFailed("read subscription", err)
	}
	if sub.Items == nil || len(sub.Items.Data) == 0 || sub.Items.Data[0] == nil {
		return service.UpgradeResult{}, b.stripeFailed("read subscription", errors.New("the subscription has no items"))
	}
	upd := &stripe.SubscriptionParams{
		Items:             []*stripe.SubscriptionItemsParams{{ID: stripe.String(sub.Items.Data[0].ID), Price: stripe.String(pc.PriceID)}},
		ProrationBehavior: stripe.String(b.cfg.Proration),
	}
	upd.Context = ctx
	upd.AddMetadata("tenant_id", tenantID.String())
	if _, err := b.stripe.Subscriptions.Update(pc.SubscriptionID, upd); err != nil {
		return service.UpgradeResult{}, b.stripeFailed("change subscription price", err)
	}
	if err := b.svc.RecordPlanChange(ctx, pc); err != nil {
		return service.UpgradeResult{}, err
	}
	b.log.Info("plan changed", "tenant_id", tenantID.String(), "plan", pc.Plan, "subscription", pc.SubscriptionID)
	page, err := b.svc.Billing(ctx, tenantID)
	if err != nil {
		return service.UpgradeResult{}, err
	}
	return service.UpgradeResult{Billing: &page}, nil
}

// Portal returns the URL of a Stripe Customer Portal session for the tenant.
// Errors: no_stripe_customer (409), billing_unavailable, stripe_error (503).
func (b *Billing) Portal(ctx context.Context, tenantID uuid.UUID) (string, error) {
	if b.stripe == nil {
		return "", ErrUnavailable
	}
	customer, err := b.svc.StripeCustomer(ctx, tenantID)
	if err != nil {
		return "", err
	}
	params := &stripe.BillingPortalSessionParams{Customer: stripe.String(customer), ReturnURL: stripe.String(b.returnURL("portal"))}
	params.Context = ctx
	ps, err := b.stripe.BillingPortalSessions.New(params)
	if err != nil {
		return "", b.stripeFailed("create portal session", err)
	}
	return ps.URL, nil
}
