package api_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stripe/stripe-go/v76"
	"gorm.io/gorm"

	"github.com/q2o/q2o/billing"
	"github.com/q2o/q2o/billing/billingtest"
	"github.com/q2o/q2o/internal/apptest"
	"github.com/q2o/q2o/jobs"
	"github.com/q2o/q2o/models"
	"github.com/q2o/q2o/service"
)

func billingApp(t *testing.T, cfg billing.Config) *apptest.App {
	t.Helper()
	cfg.WebhookSecret = billingtest.WebhookSecret
	a := apptest.New(t, apptest.Options{Billing: &cfg})
	if err := a.Svc.SetPlanPrices(context.Background(), map[string]string{"starter": "price_starter", "pro": "price_pro"}); err != nil {
		t.Fatal(err)
	}
	return a
}

// subRow is a tenant's subscription and plan as stored.
type subRow struct {
	Status               string
	StripeSubscriptionID *string
	CurrentPeriodEnd     *time.Time
	TrialEnd             *time.Time
	CancelAtPeriodEnd    bool
	StripeEventCreated   *time.Time
	PastDueSince         *time.Time
	PlanCode             string
	StripeCustomerID     *string
}

func subscriptionOf(t *testing.T, a *apptest.App, tenantID string) subRow {
	t.Helper()
	var r subRow
	err := a.DB.Raw(`SELECT s.status, s.stripe_subscription_id, s.current_period_end, s.trial_end, s.cancel_at_period_end,
		s.stripe_event_created, s.past_due_since, t.plan_code, t.stripe_customer_id
		FROM subscriptions s JOIN tenants t ON t.id = s.tenant_id WHERE s.tenant_id = ?`, tenantID).Scan(&r).Error
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// link gives the tenant a Stripe customer and subscription, as a checkout would.
func link(t *testing.T, a *apptest.App, tenantID, customer, sub string) {
	t.Helper()
	apptest.Set[models.Tenant](t, a.DB, "stripe_customer_id", customer, "id = ?", tenantID)
	apptest.Set[models.Subscription](t, a.DB, "stripe_subscription_id", sub, "tenant_id = ?", tenantID)
}

func pauseRows(t *testing.T, a *apptest.App) (sent, waiting int64) {
	t.Helper()
	sent = int64(len(apptest.Outbox(t, a.DB, jobs.TypeTenantPause, "next_attempt_at <= now() + interval '1 second'")))
	waiting = int64(len(apptest.Outbox(t, a.DB, jobs.TypeTenantPause, "next_attempt_at > now() + interval '1 second'")))
	return sent, waiting
}

func mustDeliver(t *testing.T, a *apptest.App, e billingtest.Event) billingtest.Response {
	t.Helper()
	r := billingtest.Deliver(t, a.URL, e)
	if r.Status != http.StatusOK {
		t.Fatalf("%s: status %d: %s", e.Type, r.Status, r.Raw)
	}
	return r
}

func TestStripeWebhookOffWithoutSecret(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	body := billingtest.Event{Type: "customer.subscription.updated", Object: map[string]any{"id": "sub_1"}}.JSON(t)
	r := billingtest.Post(t, a.URL, body, billingtest.Sign(body, billingtest.WebhookSecret, time.Time{}))
	if r.Status != http.StatusNotFound {
		t.Fatalf("webhook without a secret: %d %s, want 404", r.Status, r.Raw)
	}
}

func TestStripeWebhookRefusals(t *testing.T) {
	t.Parallel()
	a := billingApp(t, billing.Config{})
	tn := a.NewTenant("active")
	link(t, a, tn.ID, "cus_refuse", "sub_refuse")
	ev := billingtest.Event{Type: "customer.subscription.updated",
		Object: billingtest.Subscription{ID: "sub_refuse", Customer: "cus_refuse", Status: "canceled"}.Object()}
	good := ev.JSON(t)
	oldVersion := ev
	oldVersion.APIVersion = "2020-08-27"
	oldBody := oldVersion.JSON(t)
	big := []byte(`{"id":"evt_big","pad":"` + strings.Repeat("x", 70<<10) + `"}`)
	cases := []struct {
		name      string
		body      []byte
		signature string
		status    int
		code      string
	}{
		{"no signature", good, "", 400, "missing_signature"},
		{"wrong secret", good, billingtest.Sign(good, "whsec_wrong", time.Time{}), 400, "invalid_signature"},
		{"garbage header", good, "nonsense", 400, "invalid_signature"},
		{"no v1", good, fmt.Sprintf("t=%d", time.Now().Unix()), 400, "invalid_signature"},
		{"body changed", append([]byte(" "), good...), billingtest.Sign(good, billingtest.WebhookSecret, time.Time{}), 400, "invalid_signature"},
		{"stale", good, billingtest.Sign(good, billingtest.WebhookSecret, time.Now().Add(-10*time.Minute)), 400, "stale_signature"},
		{"from the future", good, billingtest.Sign(good, billingtest.WebhookSecret, time.Now().Add(time.Hour)), 400, "stale_signature"},
		{"signed, not an event", []byte(`{}`), billingtest.Sign([]byte(`{}`), billingtest.WebhookSecret, time.Time{}), 400, "invalid_event"},
		{"wrong api version", oldBody, billingtest.Sign(oldBody, billingtest.WebhookSecret, time.Time{}), 400, "unsupported_api_version"},
		{"not an event", []byte(`[1,2]`), billingtest.Sign([]byte(`[1,2]`), billingtest.WebhookSecret, time.Time{}), 400, "invalid_event"},
		{"too large", big, billingtest.Sign(big, billingtest.WebhookSecret, time.Time{}), 413, "body_too_large"},
	}
	for _, c := range cases {
		r := billingtest.Post(t, a.URL, c.body, c.signature)
		if r.Status != c.status || r.Code() != c.code {
			t.Errorf("%s: %d %s, want %d %s", c.name, r.Status, r.Raw, c.status, c.code)
		}
	}
	events := apptest.CountTable(t, a.DB, "stripe_events", "")
	pauses := len(apptest.Outbox(t, a.DB, jobs.TypeTenantPause, ""))
	if s := subscriptionOf(t, a, tn.ID); events != 0 || pauses != 0 || s.Status != "active" {
		t.Errorf("refused deliveries changed something: %d events, %d pauses, status %s", events, pauses, s.Status)
	}
	// The same event, signed properly, goes through.
	if r := billingtest.Post(t, a.URL, good, billingtest.Sign(good, billingtest.WebhookSecret, time.Time{})); r.Status != 200 {
		t.Fatalf("good delivery: %d %s", r.Status, r.Raw)
	}
	if s := subscriptionOf(t, a, tn.ID); s.Status != "canceled" {
		t.Errorf("status %s after a good delivery, want canceled", s.Status)
	}
}

func TestStripeCheckoutLinksTenant(t *testing.T) {
	t.Parallel()
	a := billingApp(t, billing.Config{})
	byRef, byMeta := a.NewTenant("trialing"), a.NewTenant("trialing")
	mustDeliver(t, a, billingtest.Event{Type: "checkout.session.completed", Object: map[string]any{
		"id": "cs_1", "object": "checkout.session", "mode": "subscription", "client_reference_id": byRef.ID,
		"customer": "cus_ref", "subscription": "sub_ref", "metadata": map[string]any{},
	}})
	mustDeliver(t, a, billingtest.Event{Type: "checkout.session.completed", Object: map[string]any{
		"id": "cs_2", "object": "checkout.session", "mode": "subscription", "customer": "cus_meta",
		"subscription": billingtest.Subscription{ID: "sub_meta", Customer: "cus_meta", Status: "active", Price: "price_pro"}.Object(),
		"metadata":     map[string]any{"tenant_id": byMeta.ID},
	}})
	r := subscriptionOf(t, a, byRef.ID)
	if r.StripeCustomerID == nil || *r.StripeCustomerID != "cus_ref" || r.StripeSubscriptionID == nil || *r.StripeSubscriptionID != "sub_ref" || r.Status != "trialing" {
		t.Errorf("checkout by client_reference_id: %+v", r)
	}
	m := subscriptionOf(t, a, byMeta.ID)
	if m.StripeCustomerID == nil || *m.StripeCustomerID != "cus_meta" || m.Status != "active" || m.PlanCode != "pro" {
		t.Errorf("checkout by metadata with an expanded subscription: %+v", m)
	}
	// A session naming no tenant is recorded, answered 200, and changes nothing.
	res := mustDeliver(t, a, billingtest.Event{Type: "checkout.session.completed", Object: map[string]any{
		"id": "cs_3", "object": "checkout.session", "mode": "subscription", "customer": "cus_x", "subscription": "sub_x"}})
	if res.Body["outcome"] != "unmatched" {
		t.Errorf("session without tenant: %s", res.Raw)
	}
}

func TestStripeSubscriptionEvents(t *testing.T) {
	t.Parallel()
	a := billingApp(t, billing.Config{})
	tn := a.NewTenant("trialing")
	link(t, a, tn.ID, "cus_ev", "sub_ev")
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	end := base.Add(30 * 24 * time.Hour)
	trialEnd := base.Add(7 * 24 * time.Hour)
	steps := []struct {
		typ, status string
		cancelAtEnd bool
		wantPauses  int64
	}{
		{"customer.subscription.created", "trialing", false, 0},
		{"customer.subscription.updated", "active", true, 0},
		{"customer.subscription.paused", "paused", false, 1},
		{"customer.subscription.resumed", "active", false, 1},
		{"customer.subscription.deleted", "canceled", false, 2},
	}
	for i, st := range steps {
		sub := billingtest.Subscription{ID: "sub_ev", Customer: "cus_ev", Status: st.status, Price: "price_pro",
			PeriodEnd: end.Add(time.Duration(i) * time.Hour), TrialEnd: trialEnd, CancelAtPeriodEnd: st.cancelAtEnd}
		res := mustDeliver(t, a, billingtest.Event{Type: st.typ, Object: sub.Object(), Created: base.Add(time.Duration(i) * time.Minute)})
		if res.Body["outcome"] != "applied" {
			t.Errorf("%s: %s", st.typ, res.Raw)
		}
		r := subscriptionOf(t, a, tn.ID)
		if r.Status != st.status || r.PlanCode != "pro" || r.CancelAtPeriodEnd != st.cancelAtEnd ||
			r.CurrentPeriodEnd == nil || !r.CurrentPeriodEnd.Equal(sub.PeriodEnd) || r.TrialEnd == nil || !r.TrialEnd.Equal(trialEnd) {
			t.Errorf("after %s: %+v", st.typ, r)
		}
		if sent, _ := pauseRows(t, a); sent != st.wantPauses {
			t.Errorf("after %s: %d tenant:pause rows, want %d", st.typ, sent, st.wantPauses)
		}
	}
	// Events of other types are recorded as ignored.
	res := mustDeliver(t, a, billingtest.Event{Type: "customer.created", Object: map[string]any{"id": "cus_ev", "object": "customer"}})
	if res.Body["outcome"] != "ignored" {
		t.Errorf("customer.created: %s", res.Raw)
	}
	if n := apptest.CountTable(t, a.DB, "stripe_events", "outcome = ? AND type = ?", service.StripeIgnored, "customer.created"); n != 1 {
		t.Errorf("ignored event recorded %d times", n)
	}
}

func TestStripeRedeliveryHasNoSecondEffect(t *testing.T) {
	t.Parallel()
	a := billingApp(t, billing.Config{})
	tn := a.NewTenant("active")
	link(t, a, tn.ID, "cus_re", "sub_re")
	ev := billingtest.Event{ID: billingtest.EventID(), Type: "customer.subscription.updated",
		Object: billingtest.Subscription{ID: "sub_re", Customer: "cus_re", Status: "unpaid"}.Object()}
	first := mustDeliver(t, a, ev)
	// Meanwhile a newer event makes it active again; a redelivery of the
	// first must not undo that nor pause a second time.
	mustDeliver(t, a, billingtest.Event{Type: "customer.subscription.updated", Created: time.Now().Add(time.Second),
		Object: billingtest.Subscription{ID: "sub_re", Customer: "cus_re", Status: "active"}.Object()})
	again := mustDeliver(t, a, ev)
	if first.Body["duplicate"] != false || again.Body["duplicate"] != true || again.Body["outcome"] != "applied" {
		t.Errorf("first %s, redelivery %s", first.Raw, again.Raw)
	}
	events := apptest.CountTable(t, a.DB, "stripe_events", "id = ?", ev.ID)
	pauses := len(apptest.Outbox(t, a.DB, jobs.TypeTenantPause, ""))
	if s := subscriptionOf(t, a, tn.ID); events != 1 || pauses != 1 || s.Status != "active" {
		t.Errorf("after redelivery: %d event rows, %d pauses, status %s", events, pauses, s.Status)
	}
	// Each delivery is counted by type and result for Prometheus.
	typ := "customer.subscription.updated"
	if applied, dup := testutil.ToFloat64(a.Metrics.StripeEvents.WithLabelValues(typ, "applied")),
		testutil.ToFloat64(a.Metrics.StripeEvents.WithLabelValues(typ, "duplicate")); applied != 2 || dup != 1 {
		t.Errorf("q2o_stripe_events_total: applied %v, duplicate %v; want 2 and 1", applied, dup)
	}
}

func TestStripeInvoices(t *testing.T) {
	t.Parallel()
	a := billingApp(t, billing.Config{})
	tn := a.NewTenant("active")
	link(t, a, tn.ID, "cus_inv", "sub_inv")
	at := time.Now().Add(-time.Hour).Truncate(time.Second)
	inv := func(status string, paid int64) map[string]any {
		return map[string]any{"id": "in_1", "object": "invoice", "customer": "cus_inv", "subscription": "sub_inv",
			"status": status, "amount_due": 4900, "amount_paid": paid, "currency": "eur", "number": "Q2O-0001",
			"hosted_invoice_url": "https://invoice.example/in_1", "created": at.Unix(),
			"period_start": at.Unix(), "period_end": at.Add(30 * 24 * time.Hour).Unix()}
	}
	mustDeliver(t, a, billingtest.Event{Type: "invoice.payment_failed", Object: inv("open", 0), Created: at})
	mustDeliver(t, a, billingtest.Event{Type: "invoice.paid", Object: inv("paid", 4900), Created: at.Add(time.Minute)})
	// A late copy of the failure does not undo the payment.
	late := mustDeliver(t, a, billingtest.Event{Type: "invoice.payment_failed", Object: inv("open", 0), Created: at.Add(30 * time.Second)})
	if late.Body["outcome"] != "stale" {
		t.Errorf("late invoice event: %s", late.Raw)
	}
	var rows []struct {
		Status           string
		AmountPaid       int64
		Currency         string
		HostedInvoiceURL string
		TenantID         string
	}
	a.DB.Raw("SELECT status, amount_paid, currency, hosted_invoice_url, tenant_id FROM invoices").Scan(&rows)
	if len(rows) != 1 || rows[0].Status != "paid" || rows[0].AmountPaid != 4900 || rows[0].Currency != "eur" ||
		rows[0].TenantID != tn.ID || rows[0].HostedInvoiceURL == "" {
		t.Errorf("invoices: %+v", rows)
	}
	// An invoice of no known customer is recorded as unmatched.
	other := inv("paid", 1)
	other["id"], other["customer"], other["subscription"] = "in_2", "cus_nobody", "sub_nobody"
	if r := mustDeliver(t, a, billingtest.Event{Type: "invoice.paid", Object: other}); r.Body["outcome"] != "unmatched" {
		t.Errorf("unknown customer's invoice: %s", r.Raw)
	}
}

// TestStripeOutOfOrder delivers one subscription's events in shuffled orders
// (and some twice): the state always ends as the newest event says.
func TestStripeOutOfOrder(t *testing.T) {
	t.Parallel()
	a := billingApp(t, billing.Config{})
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	seqs := map[string][]string{
		"ends active":   {"incomplete", "active", "past_due", "unpaid", "active"},
		"ends past_due": {"trialing", "active", "past_due", "active", "past_due"},
		"ends canceled": {"active", "past_due", "active", "canceled"},
	}
	for name, statuses := range seqs {
		for round := range 4 {
			tn := a.NewTenant("active")
			subID := fmt.Sprintf("sub_%d_%d", round, time.Now().UnixNano())
			link(t, a, tn.ID, "cus_"+subID, subID)
			type delivery struct {
				ev     billingtest.Event
				status string
			}
			var ds []delivery
			for i, st := range statuses {
				typ := "customer.subscription.updated"
				if st == "canceled" {
					typ = "customer.subscription.deleted"
				}
				ds = append(ds, delivery{billingtest.Event{ID: billingtest.EventID(), Type: typ, Created: base.Add(time.Duration(i) * time.Minute),
					Object: billingtest.Subscription{ID: subID, Customer: "cus_" + subID, Status: st,
						PeriodEnd: base.Add(time.Duration(i) * 24 * time.Hour)}.Object()}, st})
			}
			rng := rand.New(rand.NewPCG(uint64(round), 7))
			order := append([]delivery{}, ds...)
			rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
			order = append(order, order[0], order[len(order)/2]) // redeliveries
			for _, d := range order {
				mustDeliver(t, a, d.ev)
			}
			last := len(statuses) - 1
			r := subscriptionOf(t, a, tn.ID)
			wantEnd := base.Add(time.Duration(last) * 24 * time.Hour)
			if r.Status != statuses[last] || r.CurrentPeriodEnd == nil || !r.CurrentPeriodEnd.Equal(wantEnd) ||
				r.StripeEventCreated == nil || !r.StripeEventCreated.Equal(base.Add(time.Duration(last)*time.Minute)) {
				t.Errorf("%s, round %d: final %+v, want %s", name, round, r, statuses[last])
			}
		}
	}
}

func TestStripePastDueGrace(t *testing.T) {
	t.Parallel()
	a := billingApp(t, billing.Config{PastDueGrace: time.Hour})
	tn := a.NewTenant("active")
	link(t, a, tn.ID, "cus_grace", "sub_grace")
	pid := a.ReadyProject(tn, "graceful")
	at := time.Now().Add(-time.Minute)
	mustDeliver(t, a, billingtest.Event{Type: "customer.subscription.updated", Created: at,
		Object: billingtest.Subscription{ID: "sub_grace", Customer: "cus_grace", Status: "past_due"}.Object()})
	if sent, waiting := pauseRows(t, a); sent != 0 || waiting != 1 {
		t.Fatalf("past_due with grace: %d pauses due now, %d waiting; want 0 and 1", sent, waiting)
	}
	if r := subscriptionOf(t, a, tn.ID); r.Status != "past_due" || r.PastDueSince == nil {
		t.Errorf("past_due: %+v", r)
	}
	// New runs are refused during the grace.
	if r := a.Do("POST", "/api/tenant/projects/"+pid+"/run", tn.Key, nil); r.Status != http.StatusPaymentRequired {
		t.Errorf("RUN during grace: %d %s", r.Status, r.Body)
	}
	// Unpaid ends the grace: paused at once.
	mustDeliver(t, a, billingtest.Event{Type: "customer.subscription.updated", Created: at.Add(time.Second),
		Object: billingtest.Subscription{ID: "sub_grace", Customer: "cus_grace", Status: "unpaid"}.Object()})
	if sent, _ := pauseRows(t, a); sent != 1 {
		t.Errorf("unpaid after past_due: %d pauses due now, want 1", sent)
	}
}

func TestStripeOperatorSuspensionWins(t *testing.T) {
	t.Parallel()
	a := billingApp(t, billing.Config{})
	tn := a.NewTenant("suspended")
	link(t, a, tn.ID, "cus_susp", "sub_susp")
	mustDeliver(t, a, billingtest.Event{Type: "customer.subscription.updated",
		Object: billingtest.Subscription{ID: "sub_susp", Customer: "cus_susp", Status: "active", Price: "price_pro"}.Object()})
	if r := subscriptionOf(t, a, tn.ID); r.Status != "suspended" || r.PlanCode != "pro" {
		t.Errorf("suspended tenant after an active event: %+v", r)
	}
}

// TestStripeRefetch re-reads the subscription from Stripe (stripe-mock) before
// applying: stripe-mock answers every subscription as active, so an event
// saying past_due ends active, and even an old event is applied.
func TestStripeRefetch(t *testing.T) {
	t.Parallel()
	mock := billingtest.StripeMockURL(t)
	a := billingApp(t, billing.Config{SecretKey: "sk_test_123", APIBase: mock, Refetch: true})
	tn := a.NewTenant("active")
	link(t, a, tn.ID, "cus_rf", "sub_rf")
	apptest.Set[models.Subscription](t, a.DB, "status", models.SubPastDue, "tenant_id = ?", tn.ID)
	apptest.Set[models.Subscription](t, a.DB, "stripe_event_created", gorm.Expr("now()"), "tenant_id = ?", tn.ID)
	res := mustDeliver(t, a, billingtest.Event{Type: "customer.subscription.updated", Created: time.Now().Add(-time.Hour),
		Object: billingtest.Subscription{ID: "sub_rf", Customer: "cus_rf", Status: "past_due"}.Object()})
	if r := subscriptionOf(t, a, tn.ID); res.Body["outcome"] != "applied" || r.Status != string(stripe.SubscriptionStatusActive) {
		t.Errorf("refetched: %s; subscription %+v", res.Raw, r)
	}
}

func TestBillingPage(t *testing.T) {
	t.Parallel()
	a := billingApp(t, billing.Config{})
	tn := a.NewTenant("active") // on plan starter
	link(t, a, tn.ID, "cus_page", "sub_page")
	a.Code(tn.ID, map[string]any{"count": 2})
	end := time.Now().Add(20 * 24 * time.Hour).Truncate(time.Second)
	mustDeliver(t, a, billingtest.Event{Type: "customer.subscription.updated", Object: billingtest.Subscription{
		ID: "sub_page", Customer: "cus_page", Status: "active", Price: "price_starter", PeriodEnd: end, CancelAtPeriodEnd: true}.Object()})
	for i, status := range []string{"paid", "open"} {
		mustDeliver(t, a, billingtest.Event{Type: "invoice.paid", Object: map[string]any{
			"id": fmt.Sprintf("in_page_%d", i), "object": "invoice", "customer": "cus_page", "subscription": "sub_page",
			"status": status, "amount_due": 4900, "amount_paid": 4900, "currency": "usd",
			"hosted_invoice_url": "https://invoice.example/" + status, "created": time.Now().Add(time.Duration(i) * time.Hour).Unix()}})
	}
	p := a.Must(http.StatusOK, a.Do("GET", "/api/tenant/billing", tn.Key, nil))
	plan := p["plan"].(map[string]any)
	sub := p["subscription"].(map[string]any)
	codes := p["activation_codes"].(map[string]any)
	invoices := p["invoices"].([]any)
	avail := p["available_plans"].([]any)
	if plan["code"] != "starter" || plan["price_cents"] != float64(4900) || plan["monthly_code_quota"] != float64(50) {
		t.Errorf("plan: %v", plan)
	}
	if sub["status"] != "active" || sub["cancel_at_period_end"] != true || sub["current_period_end"] != end.UTC().Format(time.RFC3339) {
		t.Errorf("subscription: %v", sub)
	}
	if codes["used_this_month"] != float64(2) || codes["remaining"] != float64(48) {
		t.Errorf("activation codes: %v", codes)
	}
	if len(invoices) != 2 || invoices[0].(map[string]any)["id"] != "in_page_1" || invoices[0].(map[string]any)["hosted_invoice_url"] == nil {
		t.Errorf("invoices (newest first): %v", invoices)
	}
	if len(avail) != 1 || avail[0].(map[string]any)["code"] != "pro" {
		t.Errorf("available plans: %v", avail)
	}
	// Another tenant sees its own page, not this one's invoices.
	other := a.NewTenant("trialing")
	if inv := a.Must(http.StatusOK, a.Do("GET", "/api/tenant/billing", other.Key, nil))["invoices"].([]any); len(inv) != 0 {
		t.Errorf("other tenant sees invoices: %v", inv)
	}
	if r := a.Do("GET", "/api/tenant/billing", "", nil); r.Status != http.StatusUnauthorized {
		t.Errorf("no key: %d", r.Status)
	}
}

func TestBillingUpgradeAndPortal(t *testing.T) {
	t.Parallel()
	mock := billingtest.StripeMockURL(t)
	a := billingApp(t, billing.Config{SecretKey: "sk_test_123", APIBase: mock, Proration: "create_prorations",
		ReturnURL: "https://portal.example/billing"})
	fresh := a.NewTenant("trialing") // no Stripe subscription yet
	r := a.Must(http.StatusOK, a.Do("POST", "/api/tenant/billing/upgrade", fresh.Key, map[string]any{"plan": "pro"}))
	if u, _ := r["checkout_url"].(string); !strings.HasPrefix(u, "http") {
		t.Errorf("upgrade without a subscription: %v", r)
	}
	if code := a.Do("POST", "/api/tenant/billing/portal", fresh.Key, nil).ErrorCode(t); code != "no_stripe_customer" {
		t.Errorf("portal without a customer: %s", code)
	}

	subscribed := a.NewTenant("active") // starter
	link(t, a, subscribed.ID, "cus_up", "sub_up")
	r = a.Must(http.StatusOK, a.Do("POST", "/api/tenant/billing/upgrade", subscribed.Key, map[string]any{"plan": "pro"}))
	if page, _ := r["billing"].(map[string]any); page == nil || page["plan"].(map[string]any)["code"] != "pro" {
		t.Errorf("upgrade of a subscription: %v", r)
	}
	u := a.Must(http.StatusOK, a.Do("POST", "/api/tenant/billing/portal", subscribed.Key, nil))
	if s, _ := u["url"].(string); !strings.HasPrefix(s, "http") {
		t.Errorf("portal: %v", u)
	}
	cases := []struct {
		body   any
		status int
		code   string
	}{
		{map[string]any{"plan": "trial"}, 422, "downgrade_not_supported"},
		{map[string]any{"plan": "gold"}, 404, "unknown_plan"},
		{map[string]any{"plan": "pro"}, 409, "already_on_plan"},
		{map[string]any{}, 400, "missing_field"},
		{"{", 400, "invalid_json"},
	}
	for _, c := range cases {
		res := a.Do("POST", "/api/tenant/billing/upgrade", subscribed.Key, c.body)
		if res.Status != c.status || res.ErrorCode(t) != c.code {
			t.Errorf("upgrade %v: %d %s, want %d %s", c.body, res.Status, res.Body, c.status, c.code)
		}
	}
}

func TestBillingWithoutStripeKey(t *testing.T) {
	t.Parallel()
	a := billingApp(t, billing.Config{})
	tn := a.NewTenant("active")
	for _, path := range []string{"/api/tenant/billing/upgrade", "/api/tenant/billing/portal"} {
		r := a.Do("POST", path, tn.Key, map[string]any{"plan": "pro"})
		if path == "/api/tenant/billing/portal" {
			r = a.Do("POST", path, tn.Key, nil)
		}
		if r.Status != http.StatusServiceUnavailable || r.ErrorCode(t) != "billing_unavailable" {
			t.Errorf("%s without a key: %d %s", path, r.Status, r.Body)
		}
	}
}

// An event that found no tenant is applied when it is sent again after the
// customer was linked; an applied one never twice.
func TestStripeUnmatchedEventAppliedWhenResent(t *testing.T) {
	t.Parallel()
	a := billingApp(t, billing.Config{})
	tn := a.NewTenant("active")
	ev := billingtest.Event{ID: billingtest.EventID(), Type: "customer.subscription.updated",
		Object: billingtest.Subscription{ID: "sub_late", Customer: "cus_late", Status: "canceled"}.Object()}
	if r := mustDeliver(t, a, ev); r.Body["outcome"] != "unmatched" {
		t.Fatalf("before linking: %s", r.Raw)
	}
	link(t, a, tn.ID, "cus_late", "")
	apptest.Set[models.Subscription](t, a.DB, "stripe_subscription_id", nil, "tenant_id = ?", tn.ID)
	if r := mustDeliver(t, a, ev); r.Body["outcome"] != "applied" || r.Body["duplicate"] != false {
		t.Fatalf("resent after linking: %s", r.Raw)
	}
	if s := subscriptionOf(t, a, tn.ID); s.Status != "canceled" || s.StripeSubscriptionID == nil || *s.StripeSubscriptionID != "sub_late" {
		t.Errorf("subscription: %+v", s)
	}
	if r := mustDeliver(t, a, ev); r.Body["duplicate"] != true {
		t.Errorf("third delivery: %s", r.Raw)
	}
}

func TestSetPlanPrices(t *testing.T) {
	t.Parallel()
	a := billingApp(t, billing.Config{})
	ctx := context.Background()
	// Prices move between plans; an unknown plan changes nothing.
	if err := a.Svc.SetPlanPrices(ctx, map[string]string{"starter": "price_pro", "pro": "price_pro2"}); err != nil {
		t.Fatal(err)
	}
	if err := a.Svc.SetPlanPrices(ctx, map[string]string{"gold": "price_gold", "pro": "price_x"}); err == nil {
		t.Error("unknown plan accepted")
	}
	var got []models.Plan
	if err := a.DB.Order("code").Find(&got).Error; err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"pro": "price_pro2", "starter": "price_pro", "trial": ""}
	seen := map[string]string{}
	for _, p := range got {
		seen[p.Code] = apptest.Deref(p.StripePriceID)
	}
	for code, price := range want {
		if p, ok := seen[code]; !ok || p != price {
			t.Errorf("plan %s: price %q (present %v), want %q", code, p, ok, price)
		}
	}
}

// TestStripePreviousSubscriptionNeverRevives: a past_due tenant on sub_B
// gets a delayed update about its old sub_A (active, oldest created); it
// neither becomes active nor is linked back to sub_A. A subscription created
// later (a genuinely new one) does take over.
func TestStripePreviousSubscriptionNeverRevives(t *testing.T) {
	t.Parallel()
	a := billingApp(t, billing.Config{})
	tn := a.NewTenant("active")
	link(t, a, tn.ID, "cus_prev", "sub_prev_B")
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	mustDeliver(t, a, billingtest.Event{Type: "customer.subscription.updated", Created: base.Add(10 * time.Minute),
		Object: billingtest.Subscription{ID: "sub_prev_B", Customer: "cus_prev", Status: "past_due"}.Object()})
	for _, typ := range []string{"customer.subscription.updated", "customer.subscription.resumed", "customer.subscription.created"} {
		r := mustDeliver(t, a, billingtest.Event{Type: typ, Created: base,
			Object: billingtest.Subscription{ID: "sub_prev_A", Customer: "cus_prev", Status: "active"}.Object()})
		if r.Body["outcome"] != "stale" {
			t.Errorf("%s about the old subscription: %s, want stale", typ, r.Raw)
		}
		if s := subscriptionOf(t, a, tn.ID); s.Status != "past_due" || s.StripeSubscriptionID == nil || *s.StripeSubscriptionID != "sub_prev_B" {
			t.Fatalf("after %s about sub_prev_A: status %s, linked to %v; want past_due on sub_prev_B", typ, s.Status, *s.StripeSubscriptionID)
		}
	}
	// A newer event, even for the same new subscription id, that is not a
	// creation does not move the link either.
	r := mustDeliver(t, a, billingtest.Event{Type: "customer.subscription.updated", Created: base.Add(20 * time.Minute),
		Object: billingtest.Subscription{ID: "sub_prev_C", Customer: "cus_prev", Status: "active"}.Object()})
	if r.Body["outcome"] != "stale" {
		t.Errorf("update about an unlinked subscription: %s, want stale", r.Raw)
	}
	r = mustDeliver(t, a, billingtest.Event{Type: "customer.subscription.created", Created: base.Add(30 * time.Minute),
		Object: billingtest.Subscription{ID: "sub_prev_C", Customer: "cus_prev", Status: "active"}.Object()})
	if s := subscriptionOf(t, a, tn.ID); r.Body["outcome"] != "applied" || s.Status != "active" ||
		s.StripeSubscriptionID == nil || *s.StripeSubscriptionID != "sub_prev_C" {
		t.Errorf("a newer subscription's creation: %s; state %+v", r.Raw, s)
	}
}

// TestStripePastDueGraceRunsOut: the pause a past_due event leaves waiting
// is sent once the grace is over, and it pauses the running project of a
// tenant still past_due; a tenant that paid within the grace keeps running
// when its pause comes.
func TestStripePastDueGraceRunsOut(t *testing.T) {
	t.Parallel()
	const grace = 2 * time.Second
	a := billingApp(t, billing.Config{PastDueGrace: grace})
	late, paid := a.NewTenant("active"), a.NewTenant("active")
	link(t, a, late.ID, "cus_late", "sub_late")
	link(t, a, paid.ID, "cus_paid", "sub_paid")
	latePID, paidPID := a.ReadyProject(late, "late"), a.ReadyProject(paid, "paid")
	a.Run(late.Key, latePID)
	a.Run(paid.Key, paidPID)
	at := time.Now().Add(-time.Minute)
	for _, s := range []string{"late", "paid"} {
		mustDeliver(t, a, billingtest.Event{Type: "customer.subscription.updated", Created: at,
			Object: billingtest.Subscription{ID: "sub_" + s, Customer: "cus_" + s, Status: "past_due"}.Object()})
	}
	mustDeliver(t, a, billingtest.Event{Type: "customer.subscription.updated", Created: at.Add(time.Second),
		Object: billingtest.Subscription{ID: "sub_paid", Customer: "cus_paid", Status: "active"}.Object()})

	ctx := context.Background()
	if n, err := a.Enq.RelayOnce(ctx, 100); err != nil || n != 0 {
		t.Fatalf("during the grace the relay sent %d tasks (%v), want none", n, err)
	}
	time.Sleep(grace + 200*time.Millisecond)
	if n, err := a.Enq.RelayOnce(ctx, 100); err != nil || n != 2 {
		t.Fatalf("after the grace the relay sent %d tasks (%v), want the 2 pauses", n, err)
	}
	inspector := asynq.NewInspector(a.RedisOpt)
	t.Cleanup(func() { _ = inspector.Close() })
	info, err := inspector.GetQueueInfo("control")
	if err != nil || info.Pending != 2 {
		t.Fatalf("control queue after the grace: %+v %v", info, err)
	}
	// What the worker's tenant:pause handler does with each.
	for _, tn := range []apptest.Tenant{late, paid} {
		if _, err := a.Svc.PauseTenant(ctx, uuid.MustParse(tn.ID), "past_due grace over"); err != nil {
			t.Fatal(err)
		}
	}
	if s := apptest.StatusOf(a.GetProject(late.Key, latePID)); s != models.StatusPaused {
		t.Errorf("the still past_due tenant's project: %v, want paused", s)
	}
	if s := apptest.StatusOf(a.GetProject(paid.Key, paidPID)); s != models.StatusPending {
		t.Errorf("the tenant that paid within the grace: %v, want its run left alone", s)
	}
}
