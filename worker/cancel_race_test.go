package worker_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/q2o/q2o/internal/apptest"
	"github.com/q2o/q2o/models"
)

// A cancel that lands as main.py ends: whichever comes first, the run has
// one outcome, and the database, the events and the metrics agree on it. A
// main.py that had exited by itself keeps its outcome (and its zip); one
// that was still running is cancelled, with no exit code.
func TestCancelRacingExit(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	cfg := a.WorkerConfig("--mode sleep --seconds 0.4")
	cfg.WatchInterval = 20 * time.Millisecond
	a.StartWorker(cfg)
	tn := a.NewTenant("active")
	const rounds = 12
	completed, cancelled := 0, 0
	for i := 0; i < rounds; i++ {
		pid := a.ReadyProject(tn, fmt.Sprintf("race %d", i))
		eid := run(t, a, tn, pid)
		a.AwaitProject(tn.Key, pid, 30*time.Second, apptest.HasStatus(models.StatusRunning))
		// Around the end of main.py's 0.4 s, earlier and later by turns.
		time.Sleep(time.Duration(300+40*i) * time.Millisecond)
		if r := a.Do("POST", "/api/tenant/projects/"+pid+"/cancel", tn.Key, nil); r.Status != http.StatusOK && r.Status != http.StatusConflict {
			t.Fatalf("cancel: %d %s", r.Status, r.Body)
		}
		// main.py has ended or been stopped by now (its 0.4 s, the kill
		// grace of 0.5 s); a completed one then gets its zip.
		time.Sleep(1500 * time.Millisecond)
		var e apptest.Execution
		deadline := time.Now().Add(30 * time.Second)
		for {
			e = execution(t, a, tn, pid, eid)
			if e.Status == models.StatusCancelled || e.Status == models.StatusCompleted && e.ZipSHA256 != nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: execution did not settle: %+v", i, e)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if s := apptest.StatusOf(a.GetProject(tn.Key, pid)); s != e.Status {
			t.Errorf("round %d: project %v, execution %v", i, s, e.Status)
		}
		if e.Attempt != 1 {
			t.Errorf("round %d: attempt %v: main.py ran more than once", i, e.Attempt)
		}
		switch e.Status {
		case models.StatusCompleted:
			completed++
			if e.ExitCode == nil || *e.ExitCode != 0 {
				t.Errorf("round %d: completed with exit code %v", i, e.ExitCode)
			}
		case models.StatusCancelled:
			cancelled++
			if e.ExitCode != nil {
				t.Errorf("round %d: cancelled, yet an exit code %v is recorded", i, *e.ExitCode)
			}
		}
	}
	if got := testutil.ToFloat64(a.Metrics.RunsFinished.WithLabelValues("completed")); int(got) != completed {
		t.Errorf("metrics count %v completed runs, the database %d", got, completed)
	}
	t.Logf("%d rounds: %d completed, %d cancelled", rounds, completed, cancelled)
	if completed == 0 || cancelled == 0 {
		t.Logf("the race fell one way only this time; the rounds still checked agreement")
	}
}
