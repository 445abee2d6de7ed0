package billing

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stripe/stripe-go/v76"

	"github.com/q2o/q2o/billing/billingtest"
	"github.com/q2o/q2o/models"
)

func testBilling() *Billing {
	return New(nil, Config{WebhookSecret: billingtest.WebhookSecret}, slog.New(slog.DiscardHandler))
}

func TestVerifyEventCodes(t *testing.T) {
	b := testBilling()
	ev := billingtest.Event{Type: "invoice.paid", Object: map[string]any{"id": "in_1", "object": "invoice"}}
	good := ev.JSON(t)
	ev.APIVersion = "2022-11-15"
	old := ev.JSON(t)
	sign := func(p []byte, at time.Time) string { return billingtest.Sign(p, billingtest.WebhookSecret, at) }
	cases := []struct {
		name      string
		body      []byte
		signature string
		code      string
	}{
		{"good", good, sign(good, time.Time{}), ""},
		{"missing", good, "", "missing_signature"},
		{"bad", good, billingtest.Sign(good, "whsec_other", time.Time{}), "invalid_signature"},
		{"malformed", good, "t=abc,v1=00", "invalid_signature"},
		{"stale", good, sign(good, time.Now().Add(-6*time.Minute)), "stale_signature"},
		{"an hour ahead", good, sign(good, time.Now().Add(time.Hour)), "stale_signature"},
		{"six minutes ahead", good, sign(good, time.Now().Add(6*time.Minute)), "stale_signature"},
		{"a minute ahead", good, sign(good, time.Now().Add(time.Minute)), ""},
		{"signed object, not an event", []byte(`{"object":"customer","id":"cus_1"}`), sign([]byte(`{"object":"customer","id":"cus_1"}`), time.Time{}), "invalid_event"},
		{"signed empty object", []byte(`{}`), sign([]byte(`{}`), time.Time{}), "invalid_event"},
		{"version", old, sign(old, time.Time{}), "unsupported_api_version"},
		{"not json", []byte("nope"), sign([]byte("nope"), time.Time{}), "invalid_event"},
		{"no id", []byte(`{"api_version":"` + stripe.APIVersion + `"}`), sign([]byte(`{"api_version":"`+stripe.APIVersion+`"}`), time.Time{}), "invalid_event"},
	}
	for _, c := range cases {
		_, err := b.VerifyEvent(c.body, c.signature)
		if got := models.ErrorCode(err); got != c.code {
			t.Errorf("%s: code %q, want %q (%v)", c.name, got, c.code, err)
		}
	}
}

func TestTranslate(t *testing.T) {
	b := testBilling()
	tenant := uuid.New()
	end := time.Now().Add(time.Hour).Truncate(time.Second).UTC()
	sub := billingtest.Subscription{ID: "sub_1", Customer: "cus_1", Status: "past_due", Price: "price_pro",
		PeriodEnd: end, TenantID: tenant.String(), CancelAtPeriodEnd: true}
	verify := func(e billingtest.Event) stripe.Event {
		body := e.JSON(t)
		ev, err := b.VerifyEvent(body, billingtest.Sign(body, billingtest.WebhookSecret, time.Time{}))
		if err != nil {
			t.Fatal(err)
		}
		return ev
	}
	se, err := b.translate(context.Background(), verify(billingtest.Event{Type: "customer.subscription.updated", Object: sub.Object()}))
	s := se.Subscription
	if err != nil || s == nil || s.ID != "sub_1" || s.CustomerID != "cus_1" || s.Status != models.SubPastDue ||
		s.PriceID != "price_pro" || s.CurrentPeriodEnd == nil || !s.CurrentPeriodEnd.Equal(end) || !s.CancelAtPeriodEnd ||
		s.TenantID != tenant || se.Refetched {
		t.Errorf("subscription: %+v %v", s, err)
	}
	se, err = b.translate(context.Background(), verify(billingtest.Event{Type: "checkout.session.completed", Object: map[string]any{
		"id": "cs_1", "object": "checkout.session", "mode": "subscription", "client_reference_id": tenant.String(),
		"customer": "cus_1", "subscription": "sub_1"}}))
	if err != nil || se.Checkout == nil || se.Checkout.TenantID != tenant || se.Checkout.SubscriptionID != "sub_1" || se.Subscription != nil {
		t.Errorf("checkout: %+v", se.Checkout)
	}
	se, err = b.translate(context.Background(), verify(billingtest.Event{Type: "checkout.session.completed", Object: map[string]any{
		"id": "cs_2", "object": "checkout.session", "mode": "payment"}}))
	if err != nil || se.Checkout != nil {
		t.Errorf("a payment-mode session is not ours: %+v %v", se.Checkout, err)
	}
	se, err = b.translate(context.Background(), verify(billingtest.Event{Type: "invoice.payment_failed", Object: map[string]any{
		"id": "in_1", "object": "invoice", "customer": "cus_1", "subscription": "sub_1", "status": "open",
		"amount_due": 100, "currency": "usd", "created": end.Unix()}}))
	if in := se.Invoice; err != nil || in == nil || in.Status != "open" || in.AmountDue != 100 || in.SubscriptionID != "sub_1" || !in.Created.Equal(end) {
		t.Errorf("invoice: %+v", se.Invoice)
	}
	se, err = b.translate(context.Background(), verify(billingtest.Event{Type: "customer.created", Object: map[string]any{"id": "cus_1"}}))
	if err != nil || se.Checkout != nil || se.Subscription != nil || se.Invoice != nil {
		t.Errorf("customer.created translated: %+v %v", se, err)
	}
	// Bodies of the handled types that are not what they say are refused,
	// with invalid_event, not translated into an empty change.
	for typ, obj := range map[string]map[string]any{
		"customer.subscription.updated": {"id": ""},
		"customer.subscription.deleted": {"id": 5},
		"invoice.paid":                  {"id": ""},
		"invoice.payment_failed":        {"id": []any{}},
		"checkout.session.completed":    {"mode": 5},
	} {
		if _, err := b.translate(context.Background(), verify(billingtest.Event{Type: typ, Object: obj})); !errors.Is(err, ErrInvalidEvent) {
			t.Errorf("%s with %v: %v, want invalid_event", typ, obj, err)
		}
	}
}
