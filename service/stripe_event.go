package service

import (
	"time"

	"github.com/google/uuid"

	"github.com/q2o/q2o/models"
)

// This file is Stripe's webhook events in q2o's terms, which ApplyStripeEvent
// (stripe_apply.go) applies to the database. Package billing
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
