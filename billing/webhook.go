package billing

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/q2o/q2o/models"
	"github.com/q2o/q2o/service"
)

// Webhook refusals: each is a 400 that changes nothing, so Stripe (or
// whoever sent it) sees why.
var (
	ErrMissingSignature = models.Errorf(models.KindInvalid, "missing_signature", "the Stripe-Signature header is missing")
	ErrBadSignature     = models.Errorf(models.KindInvalid, "invalid_signature", "the Stripe-Signature header does not match the body and the endpoint's signing secret")
	ErrStaleSignature   = models.Errorf(models.KindInvalid, "stale_signature", "the Stripe-Signature timestamp is outside the tolerance (5 minutes either way): a replay?")
	ErrInvalidEvent     = models.Errorf(models.KindInvalid, "invalid_event", "the body is not a Stripe event")
)

// refetchTimeout bounds the re-read of a subscription: the webhook answers
// fast, and falls back to the event's own copy when Stripe is slow.
const refetchTimeout = 3 * time.Second

// VerifyEvent checks the Stripe-Signature header against the raw body and
// returns the event (stripe-go's webhook.ConstructEvent: signature, a
// timestamp within the tolerance, and the API version stripe-go pins).
// Errors: missing_signature, invalid_signature, stale_signature,
// unsupported_api_version, invalid_event (all 400).
func (b *Billing) VerifyEvent(payload []byte, signature string) (stripe.Event, error) {
	tolerance := b.cfg.Tolerance
	if tolerance <= 0 {
		tolerance = webhook.DefaultTolerance
	}
	// stripe-go refuses only a timestamp too far in the past; one from the
	// future would stay replayable until long after it was made.
	if at, ok := signatureTime(signature); ok && at.After(time.Now().Add(tolerance)) {
		return stripe.Event{}, ErrStaleSignature
	}
	ev, err := webhook.ConstructEventWithOptions(payload, signature, b.cfg.WebhookSecret,
		webhook.ConstructEventOptions{Tolerance: tolerance})
	switch {
	case err == nil:
	case errors.Is(err, webhook.ErrNotSigned):
		return ev, ErrMissingSignature
	case errors.Is(err, webhook.ErrInvalidHeader), errors.Is(err, webhook.ErrNoValidSignature):
		return ev, ErrBadSignature
	case errors.Is(err, webhook.ErrTooOld):
		return ev, ErrStaleSignature
	default:
		// The signature was good: the body itself is wrong.
		// Only a body that says it is an event, of some other version, is
		// a version problem; anything else signed is not an event at all.
		var head struct {
			Object     string `json:"object"`
			APIVersion string `json:"api_version"`
		}
		if json.Unmarshal(payload, &head) == nil && head.Object == "event" && head.APIVersion != "" && head.APIVersion != stripe.APIVersion {
			return ev, models.Errorf(models.KindInvalid, "unsupported_api_version",
				"the event has API version %q; this endpoint takes %s (set the webhook endpoint's API version in Stripe)",
				head.APIVersion, stripe.APIVersion)
		}
		return ev, ErrInvalidEvent
	}
	if ev.ID == "" || ev.Type == "" || ev.Data == nil {
		return ev, ErrInvalidEvent
	}
	return ev, nil
}

// signatureTime reads the t= timestamp of a Stripe-Signature header.
func signatureTime(header string) (time.Time, bool) {
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || k != "t" {
			continue
		}
		sec, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return time.Time{}, false
		}
		return time.Unix(sec, 0), true
	}
	return time.Time{}, false
}

// HandleWebhook verifies a webhook delivery and applies its event. Only
// database work happens inside the request (and, with Refetch, one read from
// Stripe); pausing runs is a task written in the same transaction.
func (b *Billing) HandleWebhook(ctx context.Context, payload []byte, signature string) (service.StripeEventResult, error) {
	ev, err := b.VerifyEvent(payload, signature)
	if err != nil {
		return service.StripeEventResult{}, err
	}
	se, err := b.translate(ctx, ev)
	if err != nil {
		return service.StripeEventResult{}, err
	}
	res, err := b.svc.ApplyStripeEvent(ctx, se, b.policy())
	if err != nil {
		return res, err
	}
	b.log.Info("stripe event", "event_id", ev.ID, "type", ev.Type, "outcome", res.Outcome, "duplicate", res.Duplicate,
		"tenant_id", res.TenantID.String(), "note", res.Note)
	return res, nil
}

// translate turns a Stripe event into the service's terms, re-reading the
// subscription from Stripe first when Refetch is on.
func (b *Billing) translate(ctx context.Context, ev stripe.Event) (service.StripeEvent, error) {
	se := service.StripeEvent{ID: ev.ID, Type: string(ev.Type), Created: time.Unix(ev.Created, 0).UTC(), Livemode: ev.Livemode}
	raw := ev.Data.Raw
	switch ev.Type {
	case "checkout.session.completed":
		var cs stripe.CheckoutSession
		if err := json.Unmarshal(raw, &cs); err != nil {
			return se, ErrInvalidEvent
		}
		if cs.Mode != stripe.CheckoutSessionModeSubscription {
			return se, nil // a one-off payment: nothing of ours
		}
		co := &service.StripeCheckout{ID: cs.ID, TenantID: tenantRef(cs.ClientReferenceID, cs.Metadata)}
		if cs.Customer != nil {
			co.CustomerID = cs.Customer.ID
		}
		se.Checkout = co
		if cs.Subscription != nil {
			co.SubscriptionID = cs.Subscription.ID
			if cs.Subscription.Status != "" { // expanded
				se.Subscription = subscription(cs.Subscription)
			}
			b.refetch(ctx, &se, co.SubscriptionID)
		}
	case "customer.subscription.created", "customer.subscription.updated", "customer.subscription.deleted",
		"customer.subscription.paused", "customer.subscription.resumed":
		var s stripe.Subscription
		if err := json.Unmarshal(raw, &s); err != nil || s.ID == "" {
			return se, ErrInvalidEvent
		}
		se.Subscription = subscription(&s)
		b.refetch(ctx, &se, s.ID)
	case "invoice.paid", "invoice.payment_failed":
		var in stripe.Invoice
		if err := json.Unmarshal(raw, &in); err != nil || in.ID == "" {
			return se, ErrInvalidEvent
		}
		se.Invoice = invoice(&in)
	}
	return se, nil
}

// refetch replaces the event's copy of the subscription with Stripe's
// current one, when Refetch is on. On failure the event's own copy is
// applied, under the ordering rule.
func (b *Billing) refetch(ctx context.Context, se *service.StripeEvent, id string) {
	if !b.cfg.Refetch || b.stripe == nil || id == "" {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, refetchTimeout)
	defer cancel()
	params := &stripe.SubscriptionParams{}
	params.Context = ctx
	s, err := b.stripe.Subscriptions.Get(id, params)
	if err != nil {
		b.log.Warn("re-read subscription from Stripe; applying the event's copy", "subscription", id, "event_id", se.ID, "error", err)
		return
	}
	fresh := subscription(s)
	if se.Subscription != nil && fresh.TenantID == uuid.Nil {
		fresh.TenantID = se.Subscription.TenantID
	}
	se.Subscription, se.Refetched = fresh, true
}

// tenantRef reads the tenant a Checkout Session is for.
func tenantRef(clientRef string, meta map[string]string) uuid.UUID {
	for _, v := range []string{clientRef, meta["tenant_id"]} {
		if id, err := uuid.Parse(strings.TrimSpace(v)); err == nil {
			return id
		}
	}
	return uuid.Nil
}

func unixTime(sec int64) *time.Time {
	if sec <= 0 {
		return nil
	}
	t := time.Unix(sec, 0).UTC()
	return &t
}

func subscription(s *stripe.Subscription) *service.StripeSubscription {
	out := &service.StripeSubscription{ID: s.ID, Status: models.SubscriptionStatus(s.Status),
		CurrentPeriodEnd: unixTime(s.CurrentPeriodEnd), TrialEnd: unixTime(s.TrialEnd), CancelAtPeriodEnd: s.CancelAtPeriodEnd,
		TenantID: tenantRef("", s.Metadata)}
	if s.Customer != nil {
		out.CustomerID = s.Customer.ID
	}
	if s.Items != nil {
		for _, it := range s.Items.Data {
			if it != nil && it.Price != nil && it.Price.ID != "" {
				out.PriceID = it.Price.ID
				break
			}
		}
	}
	return out
}

func invoice(in *stripe.Invoice) *service.StripeInvoice {
	out := &service.StripeInvoice{ID: in.ID, Number: in.Number, Status: string(in.Status), AmountDue: in.AmountDue,
		AmountPaid: in.AmountPaid, Currency: string(in.Currency), HostedInvoiceURL: in.HostedInvoiceURL,
		InvoicePDF: in.InvoicePDF, PeriodStart: unixTime(in.PeriodStart), PeriodEnd: unixTime(in.PeriodEnd),
		Created: time.Unix(in.Created, 0).UTC()}
	if in.Customer != nil {
		out.CustomerID = in.Customer.ID
	}
	if in.Subscription != nil {
		out.SubscriptionID = in.Subscription.ID
	}
	if out.Status == "" { // an older payload without a status
		out.Status = "open"
		if in.Paid {
			out.Status = "paid"
		}
	}
	return out
}
