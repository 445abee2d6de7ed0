package worker_test

import (
	"testing"
	"time"

	"github.com/q2o/q2o/internal/apptest"
	"github.com/q2o/q2o/models"
	"github.com/q2o/q2o/worker"
)

// TestWakeOnEnqueue checks that an idle worker waits for a task in Redis
// (BLMOVE, see waker) rather than only polling: the runs are picked up by a
// wait that a pushed task ended. It fails when asynq's dequeue script no
// longer looks as the waker expects, and the worker would silently go back
// to polling every Q2O_WORKER_POLL_INTERVAL.
func TestWakeOnEnqueue(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	cfg := a.WorkerConfig()
	cfg.PollInterval = time.Millisecond // the processor is nearly always in the wait, not asleep
	w, _ := a.StartWorker(cfg)
	tn := a.NewTenant("active")
	for _, name := range []string{"first", "second", "third"} {
		pid := a.ReadyProject(tn, name)
		a.Run(tn.Key, pid)
		a.AwaitProject(tn.Key, pid, 30*time.Second, apptest.HasStatus(models.StatusCompleted))
	}
	if worker.Woken(w) == 0 {
		t.Error("no run was picked up by a wait that the enqueued task ended: the worker only polls")
	}
}
