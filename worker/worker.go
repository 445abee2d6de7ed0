// Package worker is the asynq worker: its server, the handlers of q2o's
// tasks, and (in package runner) the supervision of main.py.
package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/q2o/q2o/artifacts/store"
	"github.com/q2o/q2o/events"
	"github.com/q2o/q2o/jobs"
	"github.com/q2o/q2o/metrics"
	"github.com/q2o/q2o/service"
	"github.com/q2o/q2o/worker/runner"
	"github.com/q2o/q2o/worker/sandbox"
)

// Config is what the worker needs.
type Config struct {
	OutputRoot      string
	Runner          string
	RunnerArgs      string
	RunnerPassEnv   []string
	RunTimeout      time.Duration
	KillGrace       time.Duration
	WatchInterval   time.Duration
	Concurrency     int
	PollInterval    time.Duration
	ShutdownTimeout time.Duration
	// ID names this worker in execution rows; default host:pid:random.
	ID string
	// Queues are the asynq queue weights; jobs.QueueWeights when nil.
	Queues map[string]int
	// Metrics, when set, counts runs by outcome.
	Metrics *metrics.Metrics
	// Sandbox, when set, runs every main.py in a sandbox with these
	// settings (package sandbox); nil runs it unconfined (Q2O_SANDBOX=off).
	Sandbox *sandbox.Config
	// OutputLimit is the most bytes a run's folder may hold (0: no limit).
	OutputLimit int64
	// KeepRuns is how many of a project's newest runs keep their zip and
	// log (Q2O_KEEP_RUNS); 0 keeps all.
	KeepRuns int
	// UploadRetry is how long the upload of a run's zip or log is tried
	// again while the artifacts store fails (Q2O_S3_UPLOAD_RETRY).
	UploadRetry store.Retry
	// ProgressPatterns turn lines of main.py's output into progress
	// (Q2O_PROGRESS_PATTERNS); nil is the PROGRESS line alone.
	ProgressPatterns *runner.ProgressPatterns
	// LogStreams, when set, publishes each run's log live through Redis,
	// for the API's followers on any host.
	LogStreams *events.LogStreams
}

// Worker runs q2o's tasks.
type Worker struct {
	svc       *service.Service
	cfg       Config
	log       *slog.Logger
	redis     asynq.RedisConnOpt
	inspector *asynq.Inspector
	// handlers counts running handlers, so that shutdown waits for each
	// main.py to be stopped and its execution released.
	handlers sync.WaitGroup
	// beats renews the running executions' leases.
	beats beats
	// woken counts the times an idle server's wait for a task (waker) ended
	// because a task came.
	woken atomic.Int64
}

// New returns a worker that takes tasks from the Redis at redis.
func New(svc *service.Service, redis asynq.RedisConnOpt, cfg Config, log *slog.Logger) *Worker {
	if cfg.ID == "" {
		host, _ := os.Hostname()
		cfg.ID = fmt.Sprintf("%s:%d:%s", host, os.Getpid(), uuid.NewString()[:8])
	}
	return &Worker{svc: svc, cfg: cfg, log: log.With("worker_id", cfg.ID), redis: redis, inspector: asynq.NewInspector(redis)}
}

// Mux routes each task type to its handler.
func (w *Worker) Mux() *asynq.ServeMux {
	mux := asynq.NewServeMux()
	mux.HandleFunc(jobs.TypeProjectRun, w.tracked(w.HandleRun))
	mux.HandleFunc(jobs.TypeProjectZip, w.tracked(w.HandleZip))
	mux.HandleFunc(jobs.TypeTenantPause, w.tracked(w.HandlePause))
	return mux
}

func (w *Worker) tracked(h asynq.HandlerFunc) asynq.HandlerFunc {
	return func(ctx context.Context, t *asynq.Task) error {
		w.handlers.Add(1)
		defer w.handlers.Done()
		return h(ctx, t)
	}
}

// Run serves tasks until ctx is done, then shuts down: it stops taking
// tasks, lets running tasks go on for ShutdownTimeout, then stops main.py of
// the ones still running and puts their tasks back on the queue, so another
// worker runs them again from the start (attempt+1).
func (w *Worker) Run(ctx context.Context) error {
	if w.cfg.Sandbox != nil {
		if err := sandbox.Check(*w.cfg.Sandbox); err != nil {
			return fmt.Errorf("the sandbox for main.py cannot be set up on this machine, so the worker does not start (Q2O_SANDBOX=off runs main.py unconfined, for development only): %w", err)
		}
	} else {
		w.log.Warn("Q2O_SANDBOX=off: main.py runs unconfined, as the worker's user, and can read the worker's secrets and every project's files; use this for development only")
	}
	queues := w.queues()
	srv, srvWake, err := w.newWakingServer(asynq.Config{
		Concurrency:       w.cfg.Concurrency,
		Queues:            queues,
		TaskCheckInterval: w.cfg.PollInterval,
		ShutdownTimeout:   w.cfg.ShutdownTimeout,
		Logger:            asynqLogger{w.log},
		LogLevel:          asynq.WarnLevel,
		RetryDelayFunc:    retryDelay,
		IsFailure:         isFailure,
		ErrorHandler: asynq.ErrorHandlerFunc(func(ctx context.Context, t *asynq.Task, err error) {
			id, _ := asynq.GetTaskID(ctx)
			w.log.Warn("task failed", "task_type", t.Type(), "task_id", id, "error", err)
		}),
		// Completed tasks expire after Q2O_TASK_RETENTION (1 h by default):
		// sweeping them once a minute instead of every 8 s is as good.
		JanitorInterval: time.Minute,
	}, waitQueue(queues))
	if err != nil {
		return err
	}
	defer srvWake.close()
	if err := srv.Start(w.Mux()); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	// Control tasks also get slots of their own: a worker whose every slot
	// runs main.py still pauses a tenant at once.
	control, controlWake, err := w.newWakingServer(asynq.Config{
		Concurrency:       controlSlots,
		Queues:            map[string]int{jobs.QueueControl: 1},
		TaskCheckInterval: w.cfg.PollInterval,
		ShutdownTimeout:   w.cfg.ShutdownTimeout,
		Logger:            asynqLogger{w.log},
		LogLevel:          asynq.WarnLevel,
		JanitorInterval:   time.Minute,
	}, jobs.QueueControl)
	if err != nil {
		srv.Shutdown()
		return err
	}
	defer controlWake.close()
	if err := control.Start(w.Mux()); err != nil {
		srv.Shutdown()
		return fmt.Errorf("start worker control slots: %w", err)
	}
	w.log.Info("worker started", "concurrency", w.cfg.Concurrency, "queues", w.queues())
	// Its slots count for dispatching once it has said it is here (and
	// stop counting when it stops saying so: a crashed worker's after 15 s).
	beat := make(chan struct{})
	go func() {
		defer close(beat)
		t := time.NewTicker(workerBeat)
		defer t.Stop()
		for {
			if err := w.svc.WorkerSeen(context.WithoutCancel(ctx), w.cfg.ID, w.cfg.Concurrency); err != nil {
				w.log.Warn("worker heartbeat", "error", err)
			} else if _, err := w.svc.Dispatch(context.WithoutCancel(ctx)); err != nil {
				w.log.Warn("dispatch runs", "error", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	<-ctx.Done()
	<-beat
	if err := w.svc.WorkerGone(context.Background(), w.cfg.ID); err != nil {
		w.log.Warn("worker: forget its slots", "error", err)
	}
	w.log.Info("worker shutting down", "timeout", w.cfg.ShutdownTimeout.String())
	srvWake.stop()
	controlWake.stop()
	srv.Shutdown()
	control.Shutdown()
	done := make(chan struct{})
	go func() { w.handlers.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(w.cfg.KillGrace + 5*time.Second):
		w.log.Warn("worker: handlers still running after shutdown")
	}
	_ = w.inspector.Close()
	w.log.Info("worker stopped")
	return nil
}

// workerBeat is how often a worker says it is there (service.WorkerSeen).
const workerBeat = 5 * time.Second

// queues are the main server's queues: the configured weights without
// the control queue, which the control server alone polls (polling it
// twice only cost Redis round trips).
func (w *Worker) queues() map[string]int {
	weights := w.cfg.Queues
	if len(weights) == 0 {
		weights = jobs.QueueWeights
	}
	q := make(map[string]int, len(weights))
	for name, weight := range weights {
		if name != jobs.QueueControl {
			q[name] = weight
		}
	}
	return q
}

// waitQueue is the queue of weights an idle main server waits on (see
// waker): the heaviest, runs by default; the others are looked at every
// wakeWait.
func waitQueue(weights map[string]int) string {
	best, bestW := "", -1
	for name, weight := range weights {
		if weight > bestW || (weight == bestW && name < best) {
			best, bestW = name, weight
		}
	}
	return best
}

// observeRun records a finished run attempt.
func (w *Worker) observeRun(outcome string, d time.Duration) {
	if m := w.cfg.Metrics; m != nil {
		m.RunsFinished.WithLabelValues(outcome).Inc()
		m.RunDuration.WithLabelValues(outcome).Observe(d.Seconds())
	}
}

// controlSlots is how many control tasks (tenant:pause) a worker runs at
// once besides its Concurrency.
const controlSlots = 2

func decodeExecution(t *asynq.Task) (uuid.UUID, error) {
	var p jobs.ExecutionPayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil || p.ExecutionID == uuid.Nil {
		return uuid.Nil, fmt.Errorf("bad %s payload %q: %w", t.Type(), t.Payload(), asynq.SkipRetry)
	}
	return p.ExecutionID, nil
}

type asynqLogger struct{ l *slog.Logger }

func (a asynqLogger) Debug(args ...any) { a.l.Debug(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Info(args ...any)  { a.l.Info(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Warn(args ...any)  { a.l.Warn(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Error(args ...any) { a.l.Error(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Fatal(args ...any) {
	a.l.Error(fmt.Sprint(args...), "component", "asynq")
	os.Exit(1)
}
