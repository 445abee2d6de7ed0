package apptest

import (
	"net/http/httptest"
	"time"

	"github.com/hibiken/asynq"

	"github.com/q2o/q2o/api"
	"github.com/q2o/q2o/events"
	"github.com/q2o/q2o/jobs"
	"github.com/q2o/q2o/service"
)

// ReplicaOptions change how a replica is built.
type ReplicaOptions struct {
	// Heartbeat, when set, is the keep-alive interval of the replica's
	// event streams (events.Broker.Heartbeat).
	Heartbeat time.Duration
}

// Replica starts a second API server over a's database and Redis DB, as
// another replica of the API would be: its own service, Redis clients,
// enqueuer and live-events broker, sharing nothing in memory with a. The
// App it returns talks to the replica (Do, NewTenant, StartWorker…); its
// DB, Redis URL and output root are a's.
func (a *App) Replica(opts ReplicaOptions) *App {
	t := a.t
	t.Helper()
	r := *a
	client := asynq.NewClient(a.RedisOpt)
	t.Cleanup(func() { _ = client.Close() })
	r.Enq = &jobs.Enqueuer{DB: a.DB, Client: client, Log: a.Log, SendTimeout: a.Enq.SendTimeout, Options: a.Enq.Options}
	r.Svc = service.New(a.DB, r.Enq, a.OutputRoot, a.Log)
	r.Svc.Mailer, r.Svc.SessionTTL = a.Svc.Mailer, a.Svc.SessionTTL
	t.Cleanup(r.Svc.Wait)
	inspector := asynq.NewInspector(a.RedisOpt)
	t.Cleanup(func() { _ = inspector.Close() })
	r.Svc.Queue = inspector
	r.Redis = a.RedisClient()
	broker := events.New(t.Context(), r.Redis, a.Log)
	if opts.Heartbeat > 0 {
		broker.Heartbeat = opts.Heartbeat
	}
	r.Svc.Events = broker
	srv := api.New(r.Svc, api.Config{AdminToken: AdminToken, Redis: r.Redis}, a.Log)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	r.URL = ts.URL
	return &r
}

// Broker is the app's live-events broker.
func (a *App) Broker() *events.Broker {
	a.t.Helper()
	b, ok := a.Svc.Events.(*events.Broker)
	if !ok {
		a.t.Fatalf("the app's service publishes events to %T, not an *events.Broker", a.Svc.Events)
	}
	return b
}
