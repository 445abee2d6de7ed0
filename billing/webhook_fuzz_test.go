package billing

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/q2o/q2o/billing/billingtest"
	"github.com/q2o/q2o/models"
)

// FuzzWebhookEvent: any body, signed with the endpoint's secret, is either
// refused with one of the webhook's 400 codes, or verified and translated
// into q2o's terms without a panic: a subscription event always names its
// subscription, an invoice event its invoice, and the event keeps its id,
// type and time. `make test` runs the seeds; `make fuzz` explores.
func FuzzWebhookEvent(f *testing.F) {
	sub := billingtest.Subscription{ID: "sub_1", Customer: "cus_1", Status: "active", Price: "price_pro",
		PeriodEnd: time.Unix(1_800_000_000, 0), TenantID: "01a23100-0000-7000-8000-000000000001"}.Object()
	for _, e := range []billingtest.Event{
		{ID: "evt_1", Type: "customer.subscription.updated", Object: sub},
		{ID: "evt_2", Type: "customer.subscription.deleted", Object: map[string]any{"id": "sub_1", "status": "canceled"}},
		{ID: "evt_3", Type: "customer.subscription.created", Object: map[string]any{"id": ""}},
		{ID: "evt_4", Type: "checkout.session.completed", Object: map[string]any{"id": "cs_1", "mode": "subscription",
			"client_reference_id": "not-a-uuid", "customer": "cus_1", "subscription": sub}},
		{ID: "evt_5", Type: "checkout.session.completed", Object: map[string]any{"id": "cs_2", "mode": "payment"}},
		{ID: "evt_6", Type: "invoice.paid", Object: map[string]any{"id": "in_1", "customer": "cus_1", "amount_paid": -1, "created": -5}},
		{ID: "evt_7", Type: "invoice.payment_failed", Object: map[string]any{"id": 5}},
		{ID: "evt_8", Type: "customer.created", Object: map[string]any{"id": "cus_1"}},
		{ID: "evt_9", Type: "customer.subscription.updated", Object: map[string]any{"id": "sub_1", "items": "nope"}},
	} {
		f.Add(e.JSON(f))
	}
	for _, raw := range []string{`{}`, `[]`, `null`, `{"object":"event","api_version":"2020-08-27"}`,
		`{"id":"evt_x","object":"event","type":"invoice.paid","api_version":"2023-10-16","data":null}`,
		`{"id":"evt_x","object":"event","type":"invoice.paid","api_version":"2023-10-16","data":{"object":[]}}`} {
		f.Add([]byte(raw))
	}
	b := testBilling()
	refusals := map[string]bool{"invalid_event": true, "unsupported_api_version": true}
	f.Fuzz(func(t *testing.T, payload []byte) {
		ev, err := b.VerifyEvent(payload, billingtest.Sign(payload, billingtest.WebhookSecret, time.Time{}))
		if err != nil {
			if appErr, ok := models.AsError(err); !ok || !refusals[appErr.Code] || appErr.Kind.HTTPStatus() != 400 {
				t.Fatalf("VerifyEvent(%q): %v, want invalid_event or unsupported_api_version", payload, err)
			}
			return
		}
		if !json.Valid(payload) || ev.ID == "" || ev.Type == "" || ev.Data == nil {
			t.Fatalf("VerifyEvent(%q) accepted an incomplete event: %+v", payload, ev)
		}
		se, err := b.translate(context.Background(), ev)
		if err != nil {
			if !errors.Is(err, ErrInvalidEvent) {
				t.Fatalf("translate(%q): %v, want nil or invalid_event", payload, err)
			}
			return
		}
		if se.ID != ev.ID || se.Type != string(ev.Type) || se.Created.Unix() != ev.Created {
			t.Fatalf("translate(%q) lost the event's id, type or time: %+v", payload, se)
		}
		switch ev.Type {
		case "customer.subscription.created", "customer.subscription.updated", "customer.subscription.deleted",
			"customer.subscription.paused", "customer.subscription.resumed":
			if se.Subscription == nil || se.Subscription.ID == "" {
				t.Fatalf("translate(%q): a subscription event without its subscription: %+v", payload, se)
			}
		case "invoice.paid", "invoice.payment_failed":
			if se.Invoice == nil || se.Invoice.ID == "" || se.Invoice.Status == "" {
				t.Fatalf("translate(%q): an invoice event without its invoice: %+v", payload, se)
			}
		}
		if se.Checkout != nil && se.Subscription != nil && se.Subscription.ID != se.Checkout.SubscriptionID {
			t.Fatalf("translate(%q): a checkout with another subscription's state: %+v", payload, se)
		}
	})
}
