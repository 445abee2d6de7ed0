package api_test

import (
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/q2o/q2o/api"
	"github.com/q2o/q2o/billing"
	"github.com/q2o/q2o/billing/billingtest"
	"github.com/q2o/q2o/internal/apptest"
	"github.com/q2o/q2o/ratelimit"
)

// serve starts an API with cfg over a's service and returns its URL.
func serve(t *testing.T, a *apptest.App, cfg api.Config) string {
	t.Helper()
	ts := httptest.NewServer(api.New(a.Svc, cfg, a.Log).Handler())
	t.Cleanup(ts.Close)
	return ts.URL
}

// Without Q2O_ADMIN_TOKEN the admin routes, /monitoring and the API's
// /metrics do not exist: no token, however empty, opens them.
func TestOperatorRoutesOffWithoutAdminToken(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	url := serve(t, a, api.Config{Redis: a.Redis, Monitoring: a.RedisOpt, Metrics: a.Metrics, MetricsOnAPI: true})
	tn := a.NewTenant("active")
	for _, c := range []struct{ method, path string }{
		{"POST", "/api/admin/tenants"}, {"POST", "/api/admin/tenants/" + tn.ID + "/activation-codes"},
		{"PUT", "/api/admin/tenants/" + tn.ID + "/subscription"}, {"POST", "/api/admin/activation-codes/x/revoke"},
		{"GET", "/monitoring"}, {"GET", "/monitoring/api/queues"}, {"GET", "/metrics"},
	} {
		for _, auth := range []string{"", "Bearer ", "Bearer " + apptest.AdminToken, "Basic b3BzOg=="} {
			req, _ := http.NewRequest(c.method, url+c.path, strings.NewReader(`{"name":"x","email":"x@example.com"}`))
			req.Header.Set("Content-Type", "application/json")
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusNotFound && res.StatusCode != http.StatusMethodNotAllowed {
				t.Errorf("%s %s with %q and no admin token set: %d, want 404", c.method, c.path, auth, res.StatusCode)
			}
		}
	}
}

// Q2O_MONITORING_READONLY leaves the asynq UI's reads and refuses its
// changes (pausing a queue, deleting tasks).
func TestMonitoringReadOnly(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	cfg := api.Config{AdminToken: apptest.AdminToken, Redis: a.Redis, Monitoring: a.RedisOpt}
	writable := serve(t, a, cfg)
	cfg.MonitoringReadOnly = true
	readOnly := serve(t, a, cfg)
	tn := a.NewTenant("active")
	a.Must(http.StatusAccepted, a.Do("POST", "/api/tenant/projects/"+a.ReadyProject(tn, "queued")+"/run", tn.Key, nil))
	do := func(base, method, path string) int {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, nil)
		req.SetBasicAuth("ops", apptest.AdminToken)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if s := do(readOnly, "GET", "/monitoring/api/queues"); s != http.StatusOK {
		t.Errorf("read-only: reading the queues: %d", s)
	}
	if s := do(readOnly, "POST", "/monitoring/api/queues/runs:pause"); s != http.StatusMethodNotAllowed {
		t.Errorf("read-only: pausing a queue: %d, want 405", s)
	}
	if s := do(readOnly, "DELETE", "/monitoring/api/queues/runs/pending_tasks:delete_all"); s != http.StatusMethodNotAllowed {
		t.Errorf("read-only: deleting tasks: %d, want 405", s)
	}
	// The same request on a writable UI does pause the queue.
	if s := do(writable, "POST", "/monitoring/api/queues/runs:pause"); s != http.StatusNoContent && s != http.StatusOK {
		t.Errorf("writable: pausing a queue: %d", s)
	}
}

// Q2O_TRUSTED_PROXIES: X-Forwarded-For names the client only when the
// connection comes from a trusted proxy; otherwise the connection's address
// is the client's, and a made-up header cannot dodge a per-IP limit.
func TestTrustedProxies(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	_, loopback, _ := net.ParseCIDR("127.0.0.0/8")
	trusting := serve(t, a, api.Config{Redis: a.Redis, TrustedProxies: []*net.IPNet{loopback}})
	direct := serve(t, a, api.Config{Redis: a.Redis})
	spend(t, a, ratelimit.Activate, "203.0.113.7", int(ratelimit.Activate.Limit.Burst)) // that client's budget is gone
	activate := func(base, xff string) int {
		t.Helper()
		req, _ := http.NewRequest("POST", base+"/api/public/activate-project", bytes.NewReader([]byte(`{"code":"ZZZZZ-ZZZZZ-ZZZZZ-ZZZZZ"}`)))
		req.Header.Set("Content-Type", "application/json")
		if xff != "" {
			req.Header.Set("X-Forwarded-For", xff)
		}
		return sendReq(t, req).Status
	}
	if s := activate(trusting, "203.0.113.7"); s != http.StatusTooManyRequests {
		t.Errorf("behind a trusted proxy, the limited client: %d, want 429", s)
	}
	if s := activate(trusting, "198.51.100.9"); s != http.StatusNotFound {
		t.Errorf("behind a trusted proxy, another client: %d, want 404 (not limited)", s)
	}
	// Without trusted proxies the header is ignored: the limited client's
	// header neither limits this connection nor frees it.
	if s := activate(direct, "203.0.113.7"); s != http.StatusNotFound {
		t.Errorf("direct, a forged X-Forwarded-For of a limited client: %d, want 404", s)
	}
	spend(t, a, ratelimit.Activate, "127.0.0.1", int(ratelimit.Activate.Limit.Burst)-1) // one went above
	if s := activate(direct, "198.51.100.9"); s != http.StatusTooManyRequests {
		t.Errorf("direct, a limited connection with a forged X-Forwarded-For: %d, want 429", s)
	}
}

// With Q2O_STRIPE_REFETCH on and Stripe unreachable, the event's own copy
// of the subscription is applied, under the ordering rule, and the webhook
// answers at once.
func TestStripeRefetchFallsBackToTheEvent(t *testing.T) {
	t.Parallel()
	a := billingApp(t, billing.Config{Refetch: true, SecretKey: "sk_test_unreachable", APIBase: "http://127.0.0.1:1"})
	tn := a.NewTenant("active")
	link(t, a, tn.ID, "cus_refetch_down", "sub_refetch_down")
	start := time.Now()
	r := mustDeliver(t, a, billingtest.Event{Type: "customer.subscription.updated",
		Object: billingtest.Subscription{ID: "sub_refetch_down", Customer: "cus_refetch_down", Status: "unpaid"}.Object()})
	if r.Body["outcome"] != "applied" || time.Since(start) > 10*time.Second {
		t.Errorf("with Stripe unreachable: %s after %s", r.Raw, time.Since(start))
	}
	if s := subscriptionOf(t, a, tn.ID); s.Status != "unpaid" {
		t.Errorf("status %s, want the event's unpaid", s.Status)
	}
	// An older event, applied from its own copy, is still stale.
	r = mustDeliver(t, a, billingtest.Event{Type: "customer.subscription.updated", Created: time.Now().Add(-time.Hour),
		Object: billingtest.Subscription{ID: "sub_refetch_down", Customer: "cus_refetch_down", Status: "active"}.Object()})
	if s := subscriptionOf(t, a, tn.ID); r.Body["outcome"] != "stale" || s.Status != "unpaid" {
		t.Errorf("an older event with Stripe unreachable: %s, status %s", r.Raw, s.Status)
	}
}
