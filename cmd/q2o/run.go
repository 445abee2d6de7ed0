package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/q2o/q2o/api"
	"github.com/q2o/q2o/artifacts/store"
	"github.com/q2o/q2o/billing"
	"github.com/q2o/q2o/configs"
	"github.com/q2o/q2o/db"
	"github.com/q2o/q2o/internal/app"
	"github.com/q2o/q2o/jobs"
	"github.com/q2o/q2o/mail"
	"github.com/q2o/q2o/service"
	"github.com/q2o/q2o/worker"
	"github.com/q2o/q2o/worker/sandbox"
)

// uploadRetry is Q2O_S3_UPLOAD_RETRY, for the object store: the local
// folder is written once, as it always was.
func uploadRetry(cfg configs.Config) store.Retry {
	if cfg.Artifacts != "s3" {
		return store.Retry{}
	}
	return store.Retry{For: cfg.S3UploadRetry}
}

func newLogger(cfg configs.Config) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, opts))
}

// run starts the API, the worker or both, and the outbox relay, and stops
// them all when ctx ends (SIGTERM): the API drains in-flight requests and the
// worker hands its unfinished runs back, each within Q2O_SHUTDOWN_TIMEOUT.
func run(ctx context.Context, cfg configs.Config, withAPI, withWorker bool) error {
	log := newLogger(cfg)
	gdb, err := db.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close(gdb)
	if err := db.CheckCurrent(ctx, gdb); err != nil {
		return err
	}
	redisOpt, rdb, err := app.RedisClients(app.Redis{URL: cfg.RedisURL, Sentinels: cfg.RedisSentinels,
		MasterName: cfg.RedisMasterName, SentinelPassword: cfg.RedisSentinelPassword})
	if err != nil {
		return err
	}
	defer rdb.Close()

	var mailer service.Mailer
	if cfg.SMTPHost != "" {
		m, err := mail.New(mail.Config{Host: cfg.SMTPHost, Port: cfg.SMTPPort, Username: cfg.SMTPUsername,
			Password: cfg.SMTPPassword, From: cfg.SMTPFrom, Security: mail.Security(cfg.SMTPTLS)})
		if err != nil {
			return err
		}
		mailer = m
	} else if withAPI {
		log.Warn("Q2O_SMTP_HOST is not set: OTP sign-in codes are written to this log (development only)")
	}

	artifactStore, err := app.OpenArtifacts(ctx, app.Artifacts{Mode: cfg.Artifacts, OutputRoot: cfg.OutputRoot,
		S3: store.S3Config{Endpoint: cfg.S3Endpoint, Bucket: cfg.S3Bucket, Region: cfg.S3Region,
			AccessKeyID: cfg.S3AccessKeyID, SecretAccessKey: cfg.S3SecretAccessKey, PathStyle: cfg.S3PathStyle,
			Prefix: cfg.S3Prefix, CreateBucket: cfg.S3CreateBucket}})
	if err != nil {
		return fmt.Errorf("Q2O_ARTIFACTS=%s: %w", cfg.Artifacts, err)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Live events go through Redis; the SSE streams end when ctx does.
	parts := app.New(ctx, app.Config{OutputRoot: cfg.OutputRoot,
		Jobs:       jobs.Options{RunTimeout: cfg.RunTimeout, KillGrace: cfg.KillGrace, Retention: cfg.TaskRetention},
		SessionTTL: cfg.SessionTTL, PastDueGrace: cfg.PastDueGrace, PresignAbove: int64(cfg.S3PresignAbove),
	}, app.Deps{DB: gdb, Redis: rdb, Queue: redisOpt, Mailer: mailer, Artifacts: artifactStore, Log: log})
	defer parts.Close() // after sign-in mails still on their way, each bounded in time
	// The live logs' settings are the worker's: the API only reads them.
	logs := parts.LogStreams
	logs.MaxBytes, logs.FlushEvery, logs.Linger = int64(cfg.LogStreamBytes), cfg.LogStreamFlush, cfg.LogStreamLinger
	svc, enq, mets := parts.Svc, parts.Enq, parts.Metrics
	setBuildInfo(mets)
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	start := func(name string, fn func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(ctx); err != nil {
				errs <- fmt.Errorf("%s: %w", name, err)
				cancel()
			}
		}()
	}

	start("outbox relay", func(ctx context.Context) error { enq.Relay(ctx, cfg.OutboxInterval); return nil })
	start("reconciler", func(ctx context.Context) error { svc.ReconcileLoop(ctx); return nil })
	if withWorker {
		var box *sandbox.Config
		if cfg.Sandbox == "on" {
			uid, gid, err := sandbox.LookupUser(cfg.RunnerUser)
			if err != nil {
				return fmt.Errorf("Q2O_RUNNER_USER: %w", err)
			}
			box = &sandbox.Config{UID: uid, GID: gid, Network: cfg.RunnerNetwork == "on", MemoryBytes: int64(cfg.RunnerMemory),
				Processes: cfg.RunnerProcs, FileBytes: int64(cfg.OutputLimit), ReadOnly: cfg.RunnerRO}
		}
		w := parts.Worker(worker.Config{
			OutputRoot: cfg.OutputRoot, Runner: cfg.Runner, RunnerArgs: cfg.RunnerArgs, RunnerPassEnv: cfg.RunnerPassEnv, RunTimeout: cfg.RunTimeout,
			KillGrace: cfg.KillGrace, WatchInterval: cfg.WatchInterval, Concurrency: cfg.WorkerConcurrency,
			PollInterval: cfg.WorkerPollInterval, ShutdownTimeout: cfg.ShutdownTimeout,
			Queues: cfg.QueueWeights, Sandbox: box, OutputLimit: int64(cfg.OutputLimit), KeepRuns: cfg.KeepRuns,
			ProgressPatterns: cfg.ProgressPatternSet(), UploadRetry: uploadRetry(cfg),
		})
		start("worker", w.Run)
	}
	ready := func(ctx context.Context) error {
		if err := db.CheckCurrent(ctx, gdb); err != nil {
			return fmt.Errorf("postgres: %w", err)
		}
		if err := rdb.Ping(ctx).Err(); err != nil {
			return fmt.Errorf("redis: %w", err)
		}
		return nil
	}
	if cfg.MetricsAddr != "" {
		start("metrics", func(ctx context.Context) error {
			return serve(ctx, "metrics", cfg.MetricsAddr, cfg.ShutdownTimeout, api.MetricsHandler(mets), log)
		})
	}
	if withWorker && !withAPI && cfg.WorkerHealthAddr != "" {
		start("worker health", func(ctx context.Context) error {
			return serve(ctx, "worker health", cfg.WorkerHealthAddr, cfg.ShutdownTimeout,
				api.HealthHandler(ready, mets, cfg.MetricsAddr == ""), log)
		})
	}
	if withAPI {
		srv, err := parts.HTTP(ctx, app.HTTPConfig{AdminToken: cfg.AdminToken, Ready: ready,
			TrustedProxies: cfg.TrustedProxyNets(), MetricsOnAPI: cfg.MetricsAddr == "",
			MonitoringReadOnly: cfg.MonitoringReadOnly, PublicURL: cfg.PublicURL, StripePrices: cfg.StripePrices,
			Billing: &billing.Config{SecretKey: cfg.StripeSecretKey, WebhookSecret: cfg.StripeWebhookSecret,
				APIBase: cfg.StripeAPIBase, Refetch: cfg.StripeRefetch, Proration: cfg.StripeProration,
				PastDueGrace: cfg.PastDueGrace, ReturnURL: cfg.BillingReturnURL},
			WebBilling: cfg.StripeSecretKey != ""})
		if err != nil {
			return err
		}
		start("api", func(ctx context.Context) error {
			return serve(ctx, "api", cfg.HTTPAddr, cfg.ShutdownTimeout, srv.Handler(), log)
		})
	}
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return errors.Join(all...)
}

// serve runs an HTTP server on addr until ctx ends, then drains in-flight
// requests for up to timeout.
func serve(ctx context.Context, name, addr string, timeout time.Duration, h http.Handler, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	log.Info(name+" listening", "addr", ln.Addr().String())
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	log.Info(name + " shutting down")
	return hs.Shutdown(shutdownCtx)
}
