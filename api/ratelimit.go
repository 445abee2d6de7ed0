package api

import (
	"strconv"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/labstack/echo/v4"

	"github.com/q2o/q2o/models"
)

// allow counts one request against bucket (e.g. "otp:email:<hash>") in Redis,
// so the limit holds across API replicas (GCRA, go-redis/redis_rate). Over
// the limit it sets Retry-After and returns rate_limited (429). When Redis
// cannot be reached it lets the request through and logs it: a limiter
// outage must not take the API down with it.
func (s *Server) allow(c echo.Context, bucket string, limit redis_rate.Limit) error {
	if s.limiter == nil {
		return nil
	}
	res, err := s.limiter.Allow(c.Request().Context(), "q2o:rl:"+bucket, limit)
	if err != nil {
		s.log.Warn("rate limiter unavailable; request let through", "bucket", bucket, "error", err)
		return nil
	}
	if res.Allowed == 0 {
		secs := int(res.RetryAfter.Round(time.Second) / time.Second)
		c.Response().Header().Set("Retry-After", strconv.Itoa(max(1, secs)))
		return models.Errorf(models.KindRateLimited, "rate_limited", "too many requests; try again in %d s", max(1, secs))
	}
	return nil
}
