package api_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/q2o/q2o/api"
	"github.com/q2o/q2o/internal/apptest"
	"github.com/q2o/q2o/ratelimit"
)

// The server's Limiter is the one its routes count in: requests counted
// through it from outside (the portal) use up the API's budget, and the
// refusal carries Retry-After from the one error handler.
func TestLimiterSharedWithTheAPI429(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	srv := api.New(a.Svc, api.Config{Redis: a.Redis}, a.Log)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)

	ctx := context.Background()
	budget := int(ratelimit.Activate.Limit.Burst)
	for i := range budget {
		if err := srv.Limiter().Allow(ctx, ratelimit.Activate, "127.0.0.1"); err != nil {
			t.Fatalf("request %d through the shared limiter: %v", i+1, err)
		}
	}
	req, _ := http.NewRequest("POST", ts.URL+"/api/public/activate-project", nil)
	r := sendReq(t, req)
	if r.Status != http.StatusTooManyRequests || r.ErrorCode(t) != "rate_limited" {
		t.Fatalf("activate after the budget was used elsewhere: %d %s", r.Status, r.Body)
	}
	if s, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || s < 1 {
		t.Errorf("Retry-After %q", r.Header.Get("Retry-After"))
	}
	// Another IP's bucket is untouched.
	if err := srv.Limiter().Allow(ctx, ratelimit.Activate, "192.0.2.1"); err != nil {
		t.Errorf("another IP: %v", err)
	}
}
