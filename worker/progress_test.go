package worker_test

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/q2o/q2o/internal/apptest"
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
	p := a.WaitProject(tn.Key, pid, 60*time.Second, apptest.StatusIs("completed"))
	if p["progress"] != float64(100) {
		t.Errorf("final progress %v, want 100", p["progress"])
	}
	e := a.Must(http.StatusOK, a.Do("GET", "/api/tenant/projects/"+pid+"/executions/"+eid, tn.Key, nil))
	started, _ := time.Parse(time.RFC3339Nano, e["started_at"].(string))
	finished, _ := time.Parse(time.RFC3339Nano, e["finished_at"].(string))
	var events int64
	a.DB.Raw("SELECT count(*) FROM execution_events WHERE execution_id = ? AND kind = 'progress'", eid).Scan(&events)
	limit := int64(finished.Sub(started)/(250*time.Millisecond)) + 3
	if events > limit {
		t.Errorf("%d progress events in %s: more than one per 250 ms", events, finished.Sub(started))
	}
	var last string
	a.DB.Raw("SELECT message FROM execution_events WHERE execution_id = ? AND kind = 'progress' ORDER BY id DESC LIMIT 1", eid).Scan(&last)
	if last != "step 299999" {
		t.Errorf("the last progress stored is %q, want the final line's", last)
	}
	log := apptest.ReadFile(t, filepath.Join(a.OutputRoot, pid, "run.log"))
	if n := strings.Count(log, "PROGRESS "); n != 300000 {
		t.Errorf("run.log holds %d PROGRESS lines, want all 300000", n)
	}
	t.Logf("300,000 lines in %s: %d progress events", finished.Sub(started).Round(time.Millisecond), events)
}
