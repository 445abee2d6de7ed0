// Package ratelimit counts requests against named limits in Redis (GCRA,
// go-redis/redis_rate), so that a limit holds across every API and portal
// replica. The API and the portal share one Limiter and the same buckets:
// a client cannot double its budget by switching between them.
package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	"github.com/q2o/q2o/models"
)

// Rule is a named limit. Name is the prefix of its buckets in Redis
// (q2o:rl:<name>:<key>, under redis_rate's own "rate:"); each key (a client IP, an email's hash) has a
// bucket of its own.
type Rule struct {
	Name  string
	Limit redis_rate.Limit
}

// The limits of q2o's routes. The sign-in limits stop a mailbox being
// flooded and a code being guessed (per email) and one client trying many
// emails (per IP). The client's routes are limited per IP; a client polling
// a zip that is being made follows Retry-After, well under Download.
var (
	OTPRequestPerEmail = Rule{Name: "otp:request:email", Limit: redis_rate.Limit{Rate: 5, Burst: 5, Period: 15 * time.Minute}}
	OTPVerifyPerEmail  = Rule{Name: "otp:verify:email", Limit: redis_rate.Limit{Rate: 10, Burst: 10, Period: 15 * time.Minute}}
	// OTPPerIP limits code requests per client IP; OTPVerifyPerIP, with the
	// same limit, code tries: the two have had buckets of their own from the
	// start, so that asking for a code does not use up the tries.
	OTPPerIP       = Rule{Name: "otp:request:ip", Limit: redis_rate.PerMinute(20)}
	OTPVerifyPerIP = Rule{Name: "otp:verify:ip", Limit: OTPPerIP.Limit}
	Activate       = Rule{Name: "activate", Limit: redis_rate.PerMinute(20)}
	Download       = Rule{Name: "download", Limit: redis_rate.PerMinute(60)}
	PublicEvents   = Rule{Name: "public-events", Limit: redis_rate.PerMinute(30)}
)

// Limiter counts requests in Redis. A nil *Limiter, or one made without
// Redis, allows everything.
//
// While Redis cannot be reached, each Limiter counts in memory instead
// (the same rules, GCRA as redis_rate does it), so the limits still hold
// per replica: a fleet of N API replicas allows at most N times a budget
// during an outage, never an unbounded number of sign-in codes, tries or
// activations. The in-memory buckets are only the fallback: once Redis
// answers again its buckets decide.
type Limiter struct {
	rl       *redis_rate.Limiter
	log      *slog.Logger
	fallback *memory
	// downUntil (unix nanoseconds) is when Redis is next tried after a
	// failure: meanwhile requests count in memory at once, instead of each
	// waiting for a dial that will fail.
	downUntil atomic.Int64
}

// redisRetry is how long the limiter counts in memory after Redis failed
// before it tries Redis again.
const redisRetry = 2 * time.Second

// New returns a Limiter over rdb; with a nil rdb it allows everything.
func New(rdb *redis.Client, log *slog.Logger) *Limiter {
	l := &Limiter{log: log}
	if rdb != nil {
		l.rl = redis_rate.NewLimiter(rdb)
		l.fallback = newMemory(time.Now)
	}
	return l
}

// Allow counts one request against key's bucket of rule r. Over the limit
// it returns an *Exceeded (a rate_limited application error, 429, with the
// wait). When Redis cannot be reached it counts in this process's memory
// instead and logs the outage: a limiter outage neither takes the API down
// nor lifts the limits.
func (l *Limiter) Allow(ctx context.Context, r Rule, key string) error {
	if l == nil || l.rl == nil {
		return nil
	}
	bucket := r.Name + ":" + key
	if time.Now().UnixNano() < l.downUntil.Load() {
		return l.allowInMemory(bucket, r)
	}
	res, err := l.rl.Allow(ctx, "q2o:rl:"+bucket, r.Limit)
	if err != nil {
		if ctx.Err() != nil {
			return l.allowInMemory(bucket, r) // the caller gave up, not Redis
		}
		l.downUntil.Store(time.Now().Add(redisRetry).UnixNano())
		if l.log != nil {
			l.log.WarnContext(ctx, "rate limiter unavailable; counting in memory", "bucket", bucket, "retry_in", redisRetry.String(), "error", err)
		}
		return l.allowInMemory(bucket, r)
	}
	if res.Allowed == 0 {
		return newExceeded(r.Name, res.RetryAfter)
	}
	return nil
}

func (l *Limiter) allowInMemory(bucket string, r Rule) error {
	if wait, ok := l.fallback.allow(bucket, r.Limit); !ok {
		return newExceeded(r.Name, wait)
	}
	return nil
}

// Exceeded is the refusal of a request over its limit. It unwraps to a
// *models.Error of kind RateLimited, code rate_limited, so that the one
// error mapping answers it 429; RetryAfter is for the Retry-After header.
type Exceeded struct {
	// RetryAfter is how long to wait before the next request is allowed:
	// whole seconds, at least one.
	RetryAfter time.Duration
	// Rule names the limit that refused the request.
	Rule string

	err *models.Error
}

func newExceeded(rule string, wait time.Duration) *Exceeded {
	secs := max(1, int(wait.Round(time.Second)/time.Second))
	return &Exceeded{RetryAfter: time.Duration(secs) * time.Second, Rule: rule,
		err: models.Errorf(models.KindRateLimited, "rate_limited", "too many requests; try again in %d s", secs)}
}

// Error says what was refused and for how long.
func (e *Exceeded) Error() string { return e.err.Error() }

// Unwrap returns the rate_limited application error.
func (e *Exceeded) Unwrap() error { return e.err }

// RetryAfterSeconds is RetryAfter in whole seconds, as the Retry-After
// header writes it.
func (e *Exceeded) RetryAfterSeconds() int { return int(e.RetryAfter / time.Second) }

// EmailKey names an email's bucket without writing the address into Redis.
func EmailKey(email string) string {
	h := sha256.Sum256([]byte(email))
	return hex.EncodeToString(h[:12])
}
