package worker_test

import (
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/q2o/q2o/internal/apptest"
)

// Q2O_KEEP_RUNS: the newest runs keep their zip and log, older ones lose
// their files (and their download), the rows stay.
func TestKeepRuns(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	cfg := a.WorkerConfig()
	cfg.KeepRuns = 2
	a.StartWorker(cfg)
	tn := a.NewTenant("active")
	pid := a.ReadyProject(tn, "kept")
	var eids []string
	var paths []apptest.ExecPaths // as each run left them, before any pruning
	for i := 0; i < 4; i++ {
		eid := run(t, a, tn, pid)
		eids = append(eids, eid)
		deadline := time.Now().Add(30 * time.Second)
		for a.Paths(eid).Zip == "" {
			if time.Now().After(deadline) {
				t.Fatalf("run %d not zipped", i)
			}
			time.Sleep(50 * time.Millisecond)
		}
		paths = append(paths, a.Paths(eid))
	}
	// The zip task prunes right after recording its zip: wait for the two
	// oldest runs to lose their files.
	old := paths[0]
	if old.Zip == "" || old.Log == "" {
		t.Fatalf("the first run's files were not recorded: %+v", old)
	}
	for deadline := time.Now().Add(10 * time.Second); a.Paths(eids[1]).Zip != ""; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the older runs were not pruned")
		}
	}
	for i, eid := range eids {
		e := a.GetExecution(tn.Key, pid, eid)
		kept := i >= len(eids)-2
		if (e.DownloadURL != nil) != kept {
			t.Errorf("run %d: download_url %v, kept %v", i, apptest.Deref(e.DownloadURL), kept)
		}
		if !kept && a.Paths(eid) != (apptest.ExecPaths{Worker: a.Paths(eid).Worker}) {
			t.Errorf("run %d keeps its paths: %+v", i, a.Paths(eid))
		}
	}
	if _, err := os.Stat(old.Zip); err == nil {
		t.Errorf("the oldest run's zip %s is still on disk", old.Zip)
	}
	if _, err := os.Stat(old.Log); err == nil {
		t.Errorf("the oldest run's log %s is still on disk", old.Log)
	}
	r := a.Do("GET", "/api/tenant/projects/"+pid+"/executions/"+eids[0]+"/download", tn.Key, nil)
	if r.Status != http.StatusNotFound {
		t.Errorf("download of a pruned run: %d %s", r.Status, r.Body)
	}
}
