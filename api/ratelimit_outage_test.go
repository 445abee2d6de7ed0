package api_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/q2o/q2o/api"
	"github.com/q2o/q2o/internal/apptest"
)

// TestRateLimitsHoldWhileRedisIsDown: with the limiter's Redis unreachable,
// the sign-in and activation limits still refuse past their budget (429
// with Retry-After), counted in the replica's memory.
func TestRateLimitsHoldWhileRedisIsDown(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	down := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 100 * time.Millisecond, MaxRetries: -1,
		DialerRetries: 1, DialerRetryTimeout: time.Millisecond})
	t.Cleanup(func() { _ = down.Close() })
	ts := httptest.NewServer(api.New(a.Svc, api.Config{AdminToken: apptest.AdminToken, Redis: down}, a.Log).Handler())
	t.Cleanup(ts.Close)
	b := *a
	b.URL = ts.URL

	email, _ := otpTenant(t, a)
	count := func(n int, path string, body func(i int) map[string]any) (passed int) {
		t.Helper()
		for i := range n {
			r := b.Do("POST", path, "", body(i))
			if r.Status == http.StatusTooManyRequests {
				if r.ErrorCode(t) != "rate_limited" || r.Header.Get("Retry-After") == "" {
					t.Errorf("%s over the limit: %s (Retry-After %q)", path, r.Body, r.Header.Get("Retry-After"))
				}
				continue
			}
			passed++
		}
		return passed
	}
	lower := strings.ToLower(email)
	if n := count(25, "/api/auth/otp/request", func(int) map[string]any { return map[string]any{"email": lower} }); n != 5 {
		t.Errorf("%d of 25 code requests for one email went through with Redis down, want 5", n)
	}
	if n := count(15, "/api/auth/otp/verify", func(int) map[string]any { return map[string]any{"email": lower, "code": "000000"} }); n != 10 {
		t.Errorf("%d of 15 code tries for one email went through with Redis down, want 10", n)
	}
	if n := count(25, "/api/public/activate-project", func(int) map[string]any { return map[string]any{"code": "ABCDE-FGHJK-LMNPQ-RSTUV"} }); n != 20 {
		t.Errorf("%d of 25 activations from one IP went through with Redis down, want 20", n)
	}
}
