package api_test

import (
	"testing"
	"time"

	"github.com/q2o/q2o/internal/apptest"
	"github.com/q2o/q2o/models"
)

// resume-all after billing is restored resumes what billing paused, never
// what the tenant itself cancelled.
func TestResumeAllLeavesCancelledRuns(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	a.StartWorker(a.WorkerConfig("--mode sleep --seconds 30"))
	tn := a.NewTenant("active")
	cancelled, paused := a.ReadyProject(tn, "cancelled by me"), a.ReadyProject(tn, "paused by billing")
	for _, pid := range []string{cancelled, paused} {
		a.Run(tn.Key, pid)
		a.AwaitProject(tn.Key, pid, 30*time.Second, apptest.HasStatus(models.StatusRunning))
	}
	a.Cancel(tn.Key, cancelled)
	a.SetSubscription(tn.ID, models.SubPastDue)
	a.AwaitProject(tn.Key, paused, 30*time.Second, apptest.HasStatus(models.StatusPaused))
	a.SetSubscription(tn.ID, models.SubActive)

	if r := a.ResumeAll(tn.Key); r.Resumed != 1 {
		t.Fatalf("resume-all: %+v", r)
	}
	if s := apptest.StatusOf(a.GetProject(tn.Key, cancelled)); s != models.StatusCancelled {
		t.Errorf("the cancelled project is %v after resume-all", s)
	}
	a.AwaitProject(tn.Key, paused, 30*time.Second, apptest.HasStatus(models.StatusRunning))
}
