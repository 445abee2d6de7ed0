package ratelimit_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	"github.com/q2o/q2o/internal/testenv"
	"github.com/q2o/q2o/models"
	"github.com/q2o/q2o/ratelimit"
)

func redisClient(t *testing.T, url string) *redis.Client {
	t.Helper()
	o, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(o)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// A rule allows its burst, then refuses with an *Exceeded that is a
// rate_limited application error with a wait of whole seconds.
func TestAllowThenExceeded(t *testing.T) {
	t.Parallel()
	rdb := redisClient(t, testenv.RedisURL(t))
	l := ratelimit.New(rdb, slog.New(slog.DiscardHandler))
	ctx := context.Background()
	rule := ratelimit.Rule{Name: "test:burst", Limit: redis_rate.Limit{Rate: 3, Burst: 3, Period: time.Minute}}
	for i := range 3 {
		if err := l.Allow(ctx, rule, "10.0.0.1"); err != nil {
			t.Fatalf("request %d: %v", i+1, err)
		}
	}
	err := l.Allow(ctx, rule, "10.0.0.1")
	var ex *ratelimit.Exceeded
	if !errors.As(err, &ex) {
		t.Fatalf("4th request: %v, want *Exceeded", err)
	}
	if ex.RetryAfter < time.Second || ex.RetryAfter > time.Minute || ex.RetryAfter%time.Second != 0 || ex.Rule != rule.Name {
		t.Errorf("Exceeded %+v", ex)
	}
	appErr, ok := models.AsError(err)
	if !ok || appErr.Kind != models.KindRateLimited || appErr.Code != "rate_limited" ||
		!strings.HasPrefix(appErr.Message, "too many requests; try again in ") || !strings.HasSuffix(appErr.Message, " s") {
		t.Errorf("application error %+v", appErr)
	}
	// Another key has a bucket of its own.
	if err := l.Allow(ctx, rule, "10.0.0.2"); err != nil {
		t.Errorf("another key: %v", err)
	}
	// The bucket is where it has always been: q2o:rl:<name>:<key> (under
	// redis_rate's own "rate:" prefix).
	if n, err := rdb.Exists(ctx, "rate:q2o:rl:test:burst:10.0.0.1").Result(); err != nil || n != 1 {
		t.Errorf("bucket key: %d, %v", n, err)
	}
}

// The bucket names stay what the API has used, so that limits carry over a
// deploy and the API and the portal count in the same buckets.
func TestRuleNames(t *testing.T) {
	t.Parallel()
	for rule, want := range map[*ratelimit.Rule]string{
		&ratelimit.OTPRequestPerEmail: "otp:request:email",
		&ratelimit.OTPVerifyPerEmail:  "otp:verify:email",
		&ratelimit.OTPPerIP:           "otp:request:ip",
		&ratelimit.OTPVerifyPerIP:     "otp:verify:ip",
		&ratelimit.Activate:           "activate",
		&ratelimit.Download:           "download",
		&ratelimit.PublicEvents:       "public-events",
	} {
		if rule.Name != want || rule.Limit.Rate < 1 || rule.Limit.Period <= 0 {
			t.Errorf("rule %+v, want name %q and a limit", *rule, want)
		}
	}
	if k := ratelimit.EmailKey("ops@example.com"); len(k) != 24 || strings.Contains(k, "ops") || k != ratelimit.EmailKey("ops@example.com") {
		t.Errorf("EmailKey = %q", k)
	}
}

// Without Redis every request goes through. With Redis down the limits
// still hold, counted in the process's memory, and the outage is logged.
func TestAllowWithoutRedis(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rule := ratelimit.Rule{Name: "test:none", Limit: redis_rate.Limit{Rate: 1, Burst: 1, Period: time.Hour}}
	var nilLimiter *ratelimit.Limiter
	for _, l := range []*ratelimit.Limiter{nilLimiter, ratelimit.New(nil, nil)} {
		for range 3 {
			if err := l.Allow(ctx, rule, "k"); err != nil {
				t.Fatalf("no Redis: %v", err)
			}
		}
	}
	var logs testenv.SyncBuffer
	down := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 200 * time.Millisecond, MaxRetries: -1,
		DialerRetries: 1, DialerRetryTimeout: time.Millisecond})
	t.Cleanup(func() { _ = down.Close() })
	l := ratelimit.New(down, slog.New(slog.NewTextHandler(&logs, nil)))
	burst := ratelimit.Rule{Name: "test:down", Limit: redis_rate.Limit{Rate: 5, Burst: 5, Period: 15 * time.Minute}}
	for i := range 5 {
		if err := l.Allow(ctx, burst, "k"); err != nil {
			t.Fatalf("Redis down, request %d of a burst of 5: %v", i+1, err)
		}
	}
	for i := range 3 {
		err := l.Allow(ctx, burst, "k")
		var ex *ratelimit.Exceeded
		if !errors.As(err, &ex) || ex.RetryAfter < time.Minute || ex.Rule != burst.Name {
			t.Fatalf("Redis down, request %d over the burst: %v, want *Exceeded with a wait of minutes", i+6, err)
		}
	}
	if err := l.Allow(ctx, burst, "other"); err != nil {
		t.Errorf("Redis down, another key: %v", err)
	}
	if !strings.Contains(logs.String(), "rate limiter unavailable") {
		t.Errorf("outage not logged: %q", logs.String())
	}
}

// While Redis is down the limiter does not make every request wait for a
// dial that fails (it counts in memory for a while before trying again),
// and once Redis is back its buckets decide again.
func TestRedisOutageAndRecovery(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server not installed")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_, port, _ := net.SplitHostPort(addr)
	_ = ln.Close()
	start := func() *exec.Cmd {
		t.Helper()
		cmd := exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		probe := redis.NewClient(&redis.Options{Addr: addr})
		defer probe.Close()
		for deadline := time.Now().Add(10 * time.Second); probe.Ping(context.Background()).Err() != nil; {
			if time.Now().After(deadline) {
				t.Fatal("private redis-server did not answer")
			}
			time.Sleep(20 * time.Millisecond)
		}
		return cmd
	}
	server := start()
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1}) // go-redis's own dial retries (5 × 100 ms)
	t.Cleanup(func() { _ = rdb.Close() })
	l := ratelimit.New(rdb, slog.New(slog.DiscardHandler))
	ctx := context.Background()
	rule := ratelimit.Rule{Name: "test:outage", Limit: redis_rate.Limit{Rate: 100, Burst: 100, Period: time.Minute}}
	if err := l.Allow(ctx, rule, "k"); err != nil {
		t.Fatal(err)
	}

	_ = server.Process.Kill()
	_ = server.Wait()
	began := time.Now()
	for i := range 20 {
		if err := l.Allow(ctx, rule, "k"); err != nil {
			t.Fatalf("request %d during the outage: %v", i+1, err)
		}
	}
	if took := time.Since(began); took > 1500*time.Millisecond {
		t.Errorf("20 requests during the outage took %s: each waited for Redis", took)
	}

	start()
	time.Sleep(2500 * time.Millisecond) // past the limiter's retry delay
	if err := l.Allow(ctx, rule, "back"); err != nil {
		t.Fatal(err)
	}
	if n, err := rdb.Exists(ctx, "rate:q2o:rl:test:outage:back").Result(); err != nil || n != 1 {
		t.Errorf("after Redis came back the bucket is not in Redis: %d %v", n, err)
	}
}
