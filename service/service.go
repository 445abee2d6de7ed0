// Package service holds q2o's operations: each one applies the rules of
// package models inside one database transaction and, where it starts work,
// writes the task to the outbox in that same transaction and sends it after
// commit. Both the API and the worker call it; neither holds business rules.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/q2o/q2o/artifacts/store"
	"github.com/q2o/q2o/events"
	"github.com/q2o/q2o/jobs"
	"github.com/q2o/q2o/models"
)

// Sender sends outbox rows after commit; *jobs.Enqueuer is one.
type Sender interface {
	Send(ctx context.Context, msgs ...models.OutboxMessage)
}

// Service is q2o's operations over one database: its Deps (DB, Events,
// Now… are fields of the Service) and the background work it started.
type Service struct {
	Deps

	bg   sync.WaitGroup // background work started by a request; see Wait
	auth authCache      // checked credentials (AuthCacheTTL)
}

// Deps are what a Service is built from. DB and Log are required; the rest
// may be left out.
type Deps struct {
	DB *gorm.DB
	// Outbox sends outbox rows after commit; nil leaves them for the relay.
	Outbox     Sender
	OutputRoot string
	// Artifacts is where run zips and kept logs are stored (Q2O_ARTIFACTS);
	// nil is the folder OutputRoot, as before the store existed.
	Artifacts store.Store
	// PresignAbove, when > 0 and Artifacts can presign (s3), makes the
	// download of a zip of at least this many bytes a redirect to a
	// presigned URL of its object (Q2O_S3_PRESIGN_ABOVE); 0 streams every
	// zip through the API.
	PresignAbove int64
	Log          *slog.Logger
	// Now is the clock; New sets the wall clock, in UTC, when it is nil.
	Now func() time.Time
	// Events, when set, receives status and progress changes for live
	// followers (SSE).
	Events EventPublisher
	// LogStreams, when set, are the live run logs (RunLog's LiveTail reads
	// a live run's tail from them).
	LogStreams *events.LogStreams
	// Queue, when set, lets the service take runs off the queue and cancel
	// them on their worker (best effort; the database decides).
	Queue QueueControl
	// Mailer sends sign-in codes; nil writes them to the log (development).
	Mailer Mailer
	// SessionTTL is how long a sign-in session lasts (DefaultSessionTTL
	// when zero).
	SessionTTL time.Duration
	// PastDueGrace lets a past_due tenant's runs go on this long before
	// they are paused, when an operator sets the status (Stripe's events
	// carry theirs in BillingPolicy; both come from Q2O_PAST_DUE_GRACE).
	PastDueGrace time.Duration
	// PendingGrace is how long a pending run waits before Reconcile looks
	// for its task (DefaultPendingGrace when zero).
	PendingGrace time.Duration
}

// New returns the Service over d: the one way one is built, by
// internal/app's wiring (cmd/q2o and the tests) and by the commands that need
// only the database.
func New(d Deps) *Service {
	if d.Now == nil {
		d.Now = func() time.Time { return time.Now().UTC() }
	}
	if d.Artifacts == nil {
		d.Artifacts = store.Folder(d.OutputRoot)
	}
	return &Service{Deps: d}
}

// inTx runs fn in a transaction and, after a successful commit, publishes
// the live events fn emitted (see emit) and then sends the outbox rows fn
// wrote, in that order, so that a client never sees a run's "running"
// before its "pending".
func (s *Service) inTx(ctx context.Context, fn func(tx *gorm.DB, out *outbox) error) error {
	em := &emitted{}
	var ob outbox
	err := s.DB.WithContext(context.WithValue(ctx, emittedKey{}, em)).Transaction(func(tx *gorm.DB) error {
		ob = outbox{tx: tx, sends: s.Outbox != nil}
		return fn(tx, &ob)
	})
	if err != nil {
		return err
	}
	for _, ev := range em.events {
		s.publish(ctx, ev)
	}
	if len(ob.sent) > 0 && s.Outbox != nil {
		s.Outbox.Send(ctx, ob.sent...)
	}
	return nil
}

// outbox collects the rows written in one transaction.
type outbox struct {
	tx    *gorm.DB
	sends bool // they are sent after commit (a Sender is set)
	sent  []models.OutboxMessage
}

func (o *outbox) add(msgs ...models.OutboxMessage) error {
	return o.addAlong("", nil, msgs...)
}

// addAlong is add in one statement with the data-modifying CTEs with (see
// jobs.AddAlong); with empty, the rows alone.
func (o *outbox) addAlong(with string, args []any, msgs ...models.OutboxMessage) error {
	msgs = append([]models.OutboxMessage(nil), msgs...)
	if o.sends {
		for i := range msgs {
			jobs.AwaitClaim(&msgs[i])
		}
	}
	var rows []models.OutboxMessage
	var err error
	if with == "" {
		rows, err = jobs.Add(o.tx, msgs...)
	} else {
		rows, err = jobs.AddAlong(o.tx, with, args, msgs...)
	}
	if err != nil {
		return err
	}
	o.sent = append(o.sent, rows...)
	return nil
}

// notFound turns gorm's ErrRecordNotFound into the given application error.
func notFound(err error, appErr *models.Error) error {
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return appErr
	}
	return err
}

func (s *Service) addEvent(tx *gorm.DB, execID uuid.UUID, attempt int, kind, msg string, progress *int) error {
	ev := models.ExecutionEvent{ExecutionID: execID, Kind: kind, Message: msg, Progress: progress, Attempt: attempt, CreatedAt: s.Now()}
	if err := tx.Create(&ev).Error; err != nil {
		return fmt.Errorf("record %s event: %w", kind, err)
	}
	return nil
}
