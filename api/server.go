// Package api is q2o's HTTP API (Echo): routes, middleware for credentials
// and limits, thin handlers that decode, call one service method and encode,
// and the one mapping from application errors to HTTP answers.
package api

import (
	"context"
	"crypto/subtle"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/redis/go-redis/v9"

	"github.com/q2o/q2o/events"
	"github.com/q2o/q2o/metrics"
	"github.com/q2o/q2o/models"
	"github.com/q2o/q2o/ratelimit"
	"github.com/q2o/q2o/service"
)

// Config is what the API needs beyond the service.
type Config struct {
	// AdminToken guards /api/admin; empty turns the admin routes off.
	AdminToken string
	// Ready reports whether the dependencies answer, for /readyz.
	Ready func(ctx context.Context) error
	// TrustedProxies are the networks of the reverse proxies in front of
	// the API; X-Forwarded-For is believed only from them, so a client
	// cannot dodge a per-IP rate limit with a made-up header.
	TrustedProxies []*net.IPNet
	// Redis is shared by the parts of the API that need it (live events,
	// rate limits).
	Redis *redis.Client
	// TenantCookie and ClientCookie name the portal's cookies, for what a
	// browser cannot send with a header (EventSource, a download link);
	// empty turns each off. TenantCookie holds a tenant's session token
	// (q2s_…): requireTenant takes it, on GET and HEAD only, when there is
	// no Authorization header. ClientCookie holds a client's credential (a
	// client session token, q2c_…, or an activation code): the client's
	// events and download take it after X-Activation-Code and ?code=.
	TenantCookie string
	ClientCookie string
	// Metrics, when set, counts requests; MetricsOnAPI also serves them at
	// /metrics (behind the admin token) for operators without a separate
	// metrics listener.
	Metrics      *metrics.Metrics
	MetricsOnAPI bool
	// Monitoring, when set, mounts the asynq web UI at /monitoring (behind
	// the admin token); MonitoringReadOnly hides its delete/cancel buttons.
	Monitoring         asynq.RedisConnOpt
	MonitoringReadOnly bool
	// RedactPathKey, when set, is the echo.Context key a handler sets (to
	// true) when its path holds a secret, such as the portal's
	// /status/<activation code>: the access log then writes the route
	// instead of the path.
	RedactPathKey string
	// Events serves the live-event streams (SSE); nil takes the service's
	// event publisher when it is one (an *events.Broker), and without
	// either the streams answer events_unavailable.
	Events LiveEvents
	// LogStreams, when set, serve followed logs of live runs from Redis
	// (the worker's host writes them there), so that any replica follows a
	// run on any worker host; without, the stored log alone serves them.
	LogStreams *events.LogStreams
}

// LiveEvents is what the SSE routes need of the live-events broker:
// following a tenant's events, and knowing when the server shuts down.
// *events.Broker is one.
type LiveEvents interface {
	Follow(ctx context.Context, tenantID uuid.UUID, lastID string) (*events.Follower, error)
	Closed() <-chan struct{}
	KeepAlive() time.Duration
}

// Server is the HTTP API.
type Server struct {
	echo    *echo.Echo
	svc     *service.Service
	cfg     Config
	log     *slog.Logger
	limiter *ratelimit.Limiter // without Redis it allows everything
}

// New builds the API around svc.
func New(svc *service.Service, cfg Config, log *slog.Logger) *Server {
	if cfg.Events == nil {
		cfg.Events, _ = svc.Events.(LiveEvents)
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = errorHandler(log)
	e.IPExtractor = ipExtractor(cfg.TrustedProxies)
	s := &Server{echo: e, svc: svc, cfg: cfg, log: log, limiter: ratelimit.New(cfg.Redis, log)}

	e.Use(middleware.RequestID())
	if cfg.Metrics != nil {
		e.Use(s.observe)
	}
	e.Use(s.accessLog())
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{DisablePrintStack: true}))
	e.Use(limitBody(maxBody))

	// Each resource's file declares its routes next to its handlers.
	// Middleware goes on each route rather than on a group: a group's
	// middleware makes Echo answer 404 instead of 405 for a wrong method.
	tenant := e.Group("/api/tenant")
	s.adminRoutes(e)
	s.projectRoutes(tenant)
	s.executionRoutes(tenant)
	s.logRoutes(tenant)
	s.accountRoutes(tenant)
	s.authRoutes(e)
	s.eventRoutes(e, tenant)
	s.publicRoutes(e)
	s.billingRoutes(tenant)
	s.opsRoutes(e)
	return s
}

// ipExtractor takes the client's IP from the connection, or from
// X-Forwarded-For when the connection comes from a trusted proxy.
func ipExtractor(trusted []*net.IPNet) echo.IPExtractor {
	if len(trusted) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, n := range trusted {
		opts = append(opts, echo.TrustIPRange(n))
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}

// Limiter is the API's rate limiter, for the wiring to hand to the portal:
// both count in the same buckets.
func (s *Server) Limiter() *ratelimit.Limiter { return s.limiter }

// Echo is the server's router, for the web portal to add its pages to
// (same origin, same middleware, one error handler in front of both).
func (s *Server) Echo() *echo.Echo { return s.echo }

// Handler is the API as an http.Handler.
func (s *Server) Handler() http.Handler { return s.echo }

// Routes lists every registered route, for the docs test.
func (s *Server) Routes() []*echo.Route { return s.echo.Routes() }

// ctxKey keeps request-scoped values private to this package.
type ctxKey int

const (
	tenantKey ctxKey = iota
	credentialKey
)

// stillSignedIn returns a check that the credential which authenticated
// this request (an API key or a session) still does, for the same tenant: a
// long answer (an event stream, a followed log) calls it as it goes and
// ends once the key is revoked, or the session has ended or expired.
// The check returns unauthorized (401) when the credential is gone.
func (s *Server) stillSignedIn(c echo.Context) func(ctx context.Context) error {
	token, _ := c.Request().Context().Value(credentialKey).(string)
	tenant := tenantID(c)
	return func(ctx context.Context) error {
		id, err := s.svc.AuthenticateNow(ctx, token) // not the cache: a long answer ends once its credential does
		if err != nil {
			return err
		}
		if id != tenant {
			return models.ErrUnauthorized
		}
		return nil
	}
}

// tenantID is the tenant requireTenant authenticated, or uuid.Nil on a
// route without it.
func tenantID(c echo.Context) uuid.UUID { return tenantIn(c.Request().Context()) }

// tenantIn is tenantID for a typed handler, which has the request's context.
func tenantIn(ctx context.Context) uuid.UUID {
	id, _ := ctx.Value(tenantKey).(uuid.UUID)
	return id
}

func requestID(c echo.Context) string {
	return c.Response().Header().Get(echo.HeaderXRequestID)
}

func bearer(c echo.Context) (string, bool) {
	h := c.Request().Header.Get(echo.HeaderAuthorization)
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return "", false
	}
	return strings.TrimSpace(token), true
}

func (s *Server) requireAdmin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		token, ok := bearer(c)
		if !ok || subtle.ConstantTimeCompare([]byte(token), []byte(s.cfg.AdminToken)) != 1 {
			return models.Errorf(models.KindUnauthorized, "unauthorized", "the admin token is required: Authorization: Bearer <Q2O_ADMIN_TOKEN>")
		}
		return next(c)
	}
}

// requireTenant authenticates the tenant by its bearer token (an API key or
// a session token), or, with no Authorization header, by the session token
// in the TenantCookie (see tenantCookie). The tenant id goes into the
// request's context.
func (s *Server) requireTenant(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		token, ok := bearer(c)
		if !ok && c.Request().Header.Get(echo.HeaderAuthorization) == "" {
			token, ok = s.tenantCookie(c)
		}
		if !ok {
			return models.ErrUnauthorized
		}
		id, err := s.svc.Authenticate(c.Request().Context(), token)
		if err != nil {
			return err
		}
		ctx := context.WithValue(c.Request().Context(), tenantKey, id)
		c.SetRequest(c.Request().WithContext(context.WithValue(ctx, credentialKey, token)))
		return next(c)
	}
}

// limitIP refuses a request over rule's budget for the client's IP (429
// rate_limited), before anything of the request is read.
func (s *Server) limitIP(rule ratelimit.Rule) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if err := s.limiter.Allow(c.Request().Context(), rule, c.RealIP()); err != nil {
				return err
			}
			return next(c)
		}
	}
}

// tenantCookie returns the session token in the TenantCookie, for a GET or
// HEAD only: a browser sends cookies with requests that other sites make, so
// a cookie must never be enough to change anything (CSRF); those requests
// need the Authorization header. Only a session token is taken: an API key
// does not belong in a browser's cookie jar.
func (s *Server) tenantCookie(c echo.Context) (string, bool) {
	if s.cfg.TenantCookie == "" {
		return "", false
	}
	if m := c.Request().Method; m != http.MethodGet && m != http.MethodHead {
		return "", false
	}
	ck, err := c.Cookie(s.cfg.TenantCookie)
	if err != nil || !strings.HasPrefix(ck.Value, service.SessionTokenPrefix) {
		return "", false
	}
	return ck.Value, true
}

// accessLog logs one line per request with its request id and tenant id.
func (s *Server) accessLog() echo.MiddlewareFunc {
	return middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
		LogStatus: true, LogURIPath: true, LogMethod: true, LogLatency: true, LogRequestID: true, LogRoutePath: true,
		HandleError: true,
		LogValuesFunc: func(c echo.Context, v middleware.RequestLoggerValues) error {
			path := v.URIPath
			if s.cfg.RedactPathKey != "" {
				if redact, _ := c.Get(s.cfg.RedactPathKey).(bool); redact {
					path = v.RoutePath
				}
			}
			attrs := []any{"request_id", v.RequestID, "method", v.Method, "route", v.RoutePath, "path", path,
				"status", v.Status, "latency_ms", float64(v.Latency.Microseconds()) / 1000}
			if id := tenantID(c); id != uuid.Nil {
				attrs = append(attrs, "tenant_id", id.String())
			}
			s.log.Info("request", attrs...)
			return nil
		},
	})
}
