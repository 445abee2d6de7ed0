// Package app wires q2o's parts together: the service with its enqueuer,
// queue inspector, live-events broker and metrics (New), the HTTP API with
// billing and the portal (HTTP), and the worker (Worker). cmd/q2o runs what
// it builds, and internal/apptest tests the same wiring, so a test app is
// put together exactly as a deployed one. It only wires: what each part
// does is its own package's.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"gorm.io/gorm"

	"github.com/q2o/q2o/api"
	"github.com/q2o/q2o/artifacts/store"
	"github.com/q2o/q2o/billing"
	"github.com/q2o/q2o/events"
	"github.com/q2o/q2o/jobs"
	"github.com/q2o/q2o/metrics"
	"github.com/q2o/q2o/service"
	"github.com/q2o/q2o/web"
	"github.com/q2o/q2o/worker"
)

// Deps are the connections the parts share, opened (and closed) by the
// caller.
type Deps struct {
	DB *gorm.DB
	// Redis carries the live events and the rate limits.
	Redis *redis.Client
	// Queue is asynq's Redis: the inspector's and the worker's.
	Queue asynq.RedisConnOpt
	// Enqueue is where tasks are sent; nil is Queue (a test points it at an
	// unreachable Redis to simulate Redis being down).
	Enqueue asynq.RedisConnOpt
	// Mailer sends sign-in codes; nil writes them to the log.
	Mailer service.Mailer
	// Artifacts is where run zips and kept logs are stored (OpenArtifacts);
	// nil is the folder Config.OutputRoot.
	Artifacts store.Store
	Log       *slog.Logger
}

// Config is the settings the wiring reads.
type Config struct {
	OutputRoot string
	// Jobs are the asynq options of the tasks (run timeout, kill grace).
	Jobs jobs.Options
	// SendTimeout bounds one enqueue (jobs.Enqueuer's default when zero).
	SendTimeout  time.Duration
	SessionTTL   time.Duration
	PastDueGrace time.Duration
	// PresignAbove is Q2O_S3_PRESIGN_ABOVE (service.Deps.PresignAbove).
	PresignAbove int64
}

// Artifacts is how the artifacts store is chosen (Q2O_ARTIFACTS and
// Q2O_S3_*).
type Artifacts struct {
	Mode       string // "local" (or "") or "s3"
	OutputRoot string
	S3         store.S3Config
}

// OpenArtifacts opens the store a names: the folder OutputRoot, or the
// bucket, checked (and created when missing and allowed) before anything
// starts, so that a wrong endpoint, bucket or key fails at start.
func OpenArtifacts(ctx context.Context, a Artifacts) (store.Store, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return store.New(ctx, a.Mode, a.OutputRoot, a.S3)
}

// App is the wired parts. Close it when done.
type App struct {
	Svc       *service.Service
	Enq       *jobs.Enqueuer
	Inspector *asynq.Inspector
	Broker    *events.Broker
	// LogStreams carry the run logs live, from the workers to the API.
	LogStreams *events.LogStreams
	Metrics    *metrics.Metrics

	deps   Deps
	client *asynq.Client
}

// New builds the service and what it needs: the outbox's enqueuer, the
// queue inspector, the live-events broker (whose followers end when ctx is
// done) and the metrics.
func New(ctx context.Context, cfg Config, d Deps) *App {
	enqOpt := d.Enqueue
	if enqOpt == nil {
		enqOpt = d.Queue
	}
	a := &App{deps: d, client: asynq.NewClient(enqOpt), Inspector: asynq.NewInspector(d.Queue)}
	a.Enq = &jobs.Enqueuer{DB: d.DB, Client: a.client, Log: d.Log, SendTimeout: cfg.SendTimeout, Options: cfg.Jobs}
	a.Broker = events.New(ctx, d.Redis, d.Log)
	a.LogStreams = events.NewLogStreams(d.Redis, d.Log)
	a.Metrics = metrics.New(a.Inspector, jobs.Backlog{DB: d.DB})
	mailer := d.Mailer
	if mailer != nil {
		mailer = a.Metrics.CountMail(mailer)
	}
	a.Svc = service.New(service.Deps{DB: d.DB, Outbox: a.Enq, OutputRoot: cfg.OutputRoot, Log: d.Log,
		Artifacts: d.Artifacts, PresignAbove: cfg.PresignAbove,
		Events: a.Broker, LogStreams: a.LogStreams, Queue: a.Inspector, Mailer: mailer, SessionTTL: cfg.SessionTTL, PastDueGrace: cfg.PastDueGrace})
	return a
}

// Close waits for the service's background work (sign-in mails, each
// bounded in time), then closes the queue clients.
func (a *App) Close() error {
	a.Svc.Wait()
	return errors.Join(a.Inspector.Close(), a.client.Close())
}

// HTTPConfig is what the HTTP side adds to Config.
type HTTPConfig struct {
	AdminToken         string
	Ready              func(ctx context.Context) error
	TrustedProxies     []*net.IPNet
	MetricsOnAPI       bool
	MonitoringReadOnly bool
	// PublicURL is the portal's Q2O_PUBLIC_URL.
	PublicURL string
	// StripePrices is Q2O_STRIPE_PRICES (plan code → price id).
	StripePrices map[string]string
	// Billing, when set, turns on the Stripe routes; WebBilling also gives
	// them to the portal's billing pages.
	Billing    *billing.Config
	WebBilling bool
}

// HTTP builds the API and the portal on it, over the app's service: one
// http.Handler (the server's Handler) serves both.
// Errors: Q2O_STRIPE_PRICES naming an unknown plan (service.SetPlanPrices),
// and the portal's templates.
func (a *App) HTTP(ctx context.Context, cfg HTTPConfig) (*api.Server, error) {
	log := a.deps.Log
	srv := api.New(a.Svc, api.Config{AdminToken: cfg.AdminToken, Ready: cfg.Ready, Redis: a.deps.Redis,
		TrustedProxies: cfg.TrustedProxies, TenantCookie: web.SessionCookie, ClientCookie: web.ClientCookie,
		RedactPathKey: web.RedactPathKey, Metrics: a.Metrics, MetricsOnAPI: cfg.MetricsOnAPI,
		Monitoring: a.deps.Queue, MonitoringReadOnly: cfg.MonitoringReadOnly, Events: a.Broker,
		LogStreams: a.LogStreams}, log)
	if err := a.Svc.SetPlanPrices(ctx, cfg.StripePrices); err != nil {
		return nil, fmt.Errorf("Q2O_STRIPE_PRICES: %w", err)
	}
	webCfg := web.Config{PublicURL: cfg.PublicURL, TrustedProxies: cfg.TrustedProxies, Limiter: srv.Limiter()}
	if cfg.Billing != nil {
		bill := billing.New(a.Svc, *cfg.Billing, log)
		srv.EnableBilling(bill)
		if cfg.WebBilling {
			webCfg.Billing = bill
		}
	}
	portal, err := web.New(a.Svc, webCfg, log)
	if err != nil {
		return nil, err
	}
	portal.Register(srv.Echo())
	return srv, nil
}

// Worker builds a worker over the app's service and queue, counting into
// the app's metrics unless cfg names others.
func (a *App) Worker(cfg worker.Config) *worker.Worker {
	if cfg.Metrics == nil {
		cfg.Metrics = a.Metrics
	}
	if cfg.LogStreams == nil {
		cfg.LogStreams = a.LogStreams
	}
	return worker.New(a.Svc, a.deps.Queue, cfg, a.deps.Log)
}
