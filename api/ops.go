package api

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynqmon"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/q2o/q2o/metrics"
	"github.com/q2o/q2o/models"
)

// MonitoringPath is where the asynq web UI is mounted.
const MonitoringPath = "/monitoring"

// opsRoutes mounts the endpoints for operators and their tools: /healthz,
// /readyz and the OpenAPI document for anyone; the asynq web UI (asynqmon)
// at /monitoring and, unless metrics have a listener of their own, /metrics
// — both behind the admin token, which a browser gives as the password of
// HTTP Basic auth (any user name). Only /healthz is a typed endpoint: the
// others are http.Handlers shared with a lone worker, or not JSON.
func (s *Server) opsRoutes(e *echo.Echo) {
	mount(e, get("/healthz", http.StatusOK), healthz)
	e.GET("/readyz", echo.WrapHandler(readiness(s.cfg.Ready, s.log)))
	e.GET("/api/openapi.yaml", openAPI)
	if s.cfg.AdminToken == "" {
		return
	}
	if s.cfg.Monitoring != nil {
		h := asynqmon.New(asynqmon.Options{
			RootPath:     MonitoringPath,
			RedisConnOpt: s.cfg.Monitoring,
			ReadOnly:     s.cfg.MonitoringReadOnly,
		})
		mon := echo.WrapHandler(h)
		e.Any(MonitoringPath, mon, s.requireOperator)
		e.Any(MonitoringPath+"/*", mon, s.requireOperator)
	}
	if s.cfg.Metrics != nil && s.cfg.MetricsOnAPI {
		e.GET("/metrics", echo.WrapHandler(MetricsHandler(s.cfg.Metrics)), s.requireOperator)
	}
}

// healthStatus is /healthz's answer: the process is up.
type healthStatus struct {
	Status string `json:"status"`
}

func healthz(context.Context, *none) (*healthStatus, error) { return &healthStatus{Status: "ok"}, nil }

// MetricsHandler serves m in the Prometheus text format.
func MetricsHandler(m *metrics.Metrics) http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
}

// requireOperator accepts the admin token as a Bearer token or as the
// password of HTTP Basic auth, and asks a browser for it.
func (s *Server) requireOperator(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		token, ok := bearer(c)
		if !ok {
			_, token, ok = c.Request().BasicAuth()
		}
		if !ok || subtle.ConstantTimeCompare([]byte(token), []byte(s.cfg.AdminToken)) != 1 {
			c.Response().Header().Set("WWW-Authenticate", `Basic realm="q2o operators", charset="UTF-8"`)
			return models.Errorf(models.KindUnauthorized, "unauthorized", "the admin token is required (Bearer, or as the Basic auth password)")
		}
		return next(c)
	}
}

// observe counts every request by route template (never the raw path, whose
// ids would make the label set unbounded) and status.
func (s *Server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		m := s.cfg.Metrics
		route := c.Path()
		if route == "" || strings.HasSuffix(route, "/*") && !strings.HasPrefix(route, MonitoringPath) {
			route = "unmatched"
		}
		// An answer is a stream once its header says text/event-stream (the
		// live events, a followed log): it lasts as long as the client
		// stays, so it is counted as a stream, never as request latency.
		streaming := false
		c.Response().Before(func() {
			if isEventStream(c.Response().Header().Get(echo.HeaderContentType)) {
				streaming = true
				m.StreamsTotal.WithLabelValues(route).Inc()
				m.StreamsOpen.WithLabelValues(route).Inc()
			}
		})
		err := next(c)
		if err != nil {
			c.Error(err) // write the error answer now, so its status is counted
		}
		m.HTTPRequests.WithLabelValues(route, c.Request().Method, strconv.Itoa(c.Response().Status)).Inc()
		if streaming {
			m.StreamsOpen.WithLabelValues(route).Dec()
		} else {
			m.HTTPDuration.WithLabelValues(route, c.Request().Method).Observe(time.Since(start).Seconds())
		}
		return nil
	}
}

// HealthHandler serves /healthz and /readyz (and /metrics when withMetrics)
// for a process without the API: a lone `q2o worker`. Its /readyz is the
// API's (see readiness); the details of a failure go to slog's default
// logger.
func HealthHandler(ready func(ctx context.Context) error, m *metrics.Metrics, withMetrics bool) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
	})
	mux.Handle("GET /readyz", readiness(ready, slog.Default()))
	if withMetrics && m != nil {
		mux.Handle("GET /metrics", MetricsHandler(m))
	}
	return mux
}

// NotReadyError names the dependency that is not ready; a Ready function
// may return one (or an error whose text starts "<dependency>: ", as
// `fmt.Errorf("postgres: %w", err)` makes) so that /readyz can say which.
type NotReadyError struct {
	Dependency string
	Err        error
}

func (e *NotReadyError) Error() string { return e.Dependency + ": " + e.Err.Error() }

func (e *NotReadyError) Unwrap() error { return e.Err }

// notReadyDependency is the name of the dependency an error of a Ready
// function is about, or "a dependency" when it does not say.
func notReadyDependency(err error) string {
	var nr *NotReadyError
	if errors.As(err, &nr) && nr.Dependency != "" {
		return nr.Dependency
	}
	name, _, ok := strings.Cut(err.Error(), ":")
	if ok && len(name) > 0 && len(name) <= 32 && strings.Trim(name, "abcdefghijklmnopqrstuvwxyz_-") == "" {
		return name
	}
	return "a dependency"
}

// readiness is /readyz, for the API and a lone worker alike: 200
// {"status":"ready"} when ready answers nil, else 503 not_ready naming only
// the dependency that failed. The failure's text (host names, users,
// addresses) goes to the log, never to whoever asks: /readyz needs no
// credential.
func readiness(ready func(ctx context.Context) error, log *slog.Logger) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if ready != nil {
			ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
			defer cancel()
			if err := ready(ctx); err != nil {
				dep := notReadyDependency(err)
				log.Warn("not ready", "dependency", dep, "error", err)
				w.WriteHeader(http.StatusServiceUnavailable)
				_ = json.NewEncoder(w).Encode(ErrorBody{ErrorDetail{Code: "not_ready", Message: "not ready: " + dep + " is not answering"}})
				return
			}
		}
		_, _ = w.Write([]byte(`{"status":"ready"}` + "\n"))
	}
}

// isEventStream tells whether a Content-Type is text/event-stream.
func isEventStream(contentType string) bool {
	mediaType, _, _ := strings.Cut(contentType, ";")
	return strings.EqualFold(strings.TrimSpace(mediaType), "text/event-stream")
}
