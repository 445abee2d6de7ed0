package apptest

import (
	"context"
	"net/http/httptest"
	"time"

	"github.com/q2o/q2o/events"
	"github.com/q2o/q2o/internal/app"
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
// DB, Redis URL, output root and artifacts store are a's.
func (a *App) Replica(opts ReplicaOptions) *App {
	t := a.t
	t.Helper()
	r := *a
	r.Redis = a.RedisClient()
	r.parts = app.New(t.Context(), app.Config{OutputRoot: a.OutputRoot, SendTimeout: a.Enq.SendTimeout,
		Jobs: a.Enq.Options, SessionTTL: a.Svc.SessionTTL, PastDueGrace: a.Svc.PastDueGrace,
	}, app.Deps{DB: a.DB, Redis: r.Redis, Queue: a.RedisOpt, Artifacts: a.Artifacts, Mailer: a.Svc.Mailer, Log: a.Log})
	t.Cleanup(func() { _ = r.parts.Close() })
	if opts.Heartbeat > 0 {
		r.parts.Broker.Heartbeat = opts.Heartbeat
	}
	r.Svc, r.Enq, r.Metrics = r.parts.Svc, r.parts.Enq, r.parts.Metrics
	srv, err := r.parts.HTTP(context.Background(), app.HTTPConfig{AdminToken: AdminToken})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	r.URL = ts.URL
	return &r
}

// Broker is the app's live-events broker.
func (a *App) Broker() *events.Broker {
	a.t.Helper()
	return a.parts.Broker
}
