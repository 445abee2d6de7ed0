package jobs_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/q2o/q2o/internal/testenv"
	"github.com/q2o/q2o/jobs"
	"github.com/q2o/q2o/models"
)

// StopRuns deletes a waiting task, cancels one being processed on its
// worker (and says so), and leaves alone a run whose task is not there.
func TestStopRuns(t *testing.T) {
	t.Parallel()
	opt, client, inspector := redisQueue(t)
	o := jobs.Options{RunTimeout: time.Minute}
	waiting, active, absent := exec(), exec(), exec()

	// The active one runs on a worker until it is cancelled.
	started, cancelled := make(chan struct{}), make(chan struct{})
	srv := asynq.NewServer(opt, asynq.Config{Concurrency: 1, Queues: map[string]int{jobs.QueueRuns: 1},
		TaskCheckInterval: 20 * time.Millisecond, LogLevel: asynq.FatalLevel})
	mux := asynq.NewServeMux()
	mux.HandleFunc(jobs.TypeProjectRun, func(ctx context.Context, _ *asynq.Task) error {
		close(started)
		<-ctx.Done()
		close(cancelled)
		return ctx.Err()
	})
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	if _, err := client.Enqueue(o.Task(jobs.RunMessage(jobs.Run{ExecutionID: active.ID}))); err != nil {
		t.Fatal(err)
	}
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the active task did not start")
	}
	srv.Stop() // takes no more tasks: the waiting one stays waiting
	if _, err := client.Enqueue(o.Task(jobs.RunMessage(jobs.Run{ExecutionID: waiting.ID}))); err != nil {
		t.Fatal(err)
	}

	got := jobs.StopRuns(inspector, []models.Execution{waiting, active, absent}, slog.New(slog.DiscardHandler))

	if want := []string{active.ID.String()}; !slices.Equal(got, want) {
		t.Errorf("cancelled %v, want %v", got, want)
	}
	if _, err := inspector.GetTaskInfo(jobs.QueueRuns, waiting.ID.String()); !errors.Is(err, asynq.ErrTaskNotFound) {
		t.Errorf("waiting task: %v, want deleted", err)
	}
	select {
	case <-cancelled:
	case <-time.After(10 * time.Second):
		t.Error("the active task was not cancelled on its worker")
	}
}

func exec() models.Execution { return models.Execution{ID: models.NewID()} }

// redisQueue is a Redis of the test's own, with a client that enqueues to
// it and an inspector, both closed when the test ends.
func redisQueue(t *testing.T) (asynq.RedisConnOpt, *asynq.Client, *asynq.Inspector) {
	t.Helper()
	opt, err := asynq.ParseRedisURI(testenv.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	client := asynq.NewClient(opt)
	t.Cleanup(func() { _ = client.Close() })
	inspector := asynq.NewInspector(opt)
	t.Cleanup(func() { _ = inspector.Close() })
	return opt, client, inspector
}
