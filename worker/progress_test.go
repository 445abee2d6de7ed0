package worker_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/q2o/q2o/internal/apptest"
	"github.com/q2o/q2o/models"
)

// A main.py that prints 300,000 PROGRESS lines: every line reaches run.log,
// progress is stored a few times a second (not a row per line), and the
// final value is never dropped.
func TestProgressFloodIsCoalesced(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	cfg := a.WorkerConfig()
	cfg.Runner = `python3 -c 'for i in range(300000): print(f"PROGRESS {i * 100 // 299999} step {i}")'`
	a.StartWorker(cfg)
	tn := a.NewTenant("active")
	pid := a.ReadyProject(tn, "flood")
	eid := run(t, a, tn, pid)
	p := a.AwaitProject(tn.Key, pid, 60*time.Second, apptest.HasStatus(models.StatusCompleted))
	if p.Progress != 100 {
		t.Errorf("final progress %v, want 100", p.Progress)
	}
	e := a.GetExecution(tn.Key, pid, eid)
	if e.StartedAt == nil || e.FinishedAt == nil {
		t.Fatalf("execution without its times: %+v", e)
	}
	started, finished := *e.StartedAt, *e.FinishedAt
	events := apptest.Count[models.ExecutionEvent](t, a.DB, "execution_id = ? AND kind = ?", eid, models.EventProgress)
	limit := int64(finished.Sub(started)/(250*time.Millisecond)) + 3
	if events > limit {
		t.Errorf("%d progress events in %s: more than one per 250 ms", events, finished.Sub(started))
	}
	var lastEvent models.ExecutionEvent
	if err := a.DB.Where("execution_id = ? AND kind = ?", eid, models.EventProgress).Order("id DESC").Take(&lastEvent).Error; err != nil {
		t.Fatal(err)
	}
	if last := lastEvent.Message; last != "step 299999" {
		t.Errorf("the last progress stored is %q, want the final line's", last)
	}
	log := apptest.ReadFile(t, filepath.Join(a.OutputRoot, pid, "run.log"))
	if n := strings.Count(log, "PROGRESS "); n != 300000 {
		t.Errorf("run.log holds %d PROGRESS lines, want all 300000", n)
	}
	t.Logf("300,000 lines in %s: %d progress events", finished.Sub(started).Round(time.Millisecond), events)
}
