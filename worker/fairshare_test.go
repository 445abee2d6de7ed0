package worker_test

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/q2o/q2o/internal/apptest"
	"github.com/q2o/q2o/models"
)

// waitWorkers waits until n workers have said they are there, so that
// dispatching counts their slots.
func waitWorkers(t *testing.T, a *apptest.App, n int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := apptest.CountTable(t, a.DB, "workers", "")
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d workers registered, want %d", got, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A starter tenant (max_concurrent_runs 3) RUNs 5 projects on a worker with
// 4 slots: never more than 3 run at once, and all 5 complete.
func TestPlanConcurrencyLimit(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	a.StartWorker(a.WorkerConfig("--mode sleep --seconds 0.6"))
	waitWorkers(t, a, 1)
	tn := a.NewTenant("active") // plan starter
	var pids []string
	for i := 0; i < 5; i++ {
		pids = append(pids, a.ReadyProject(tn, fmt.Sprintf("limited %d", i)))
	}
	for _, pid := range pids {
		run(t, a, tn, pid)
	}
	most := int64(0)
	deadline := time.Now().Add(60 * time.Second)
	for {
		running := apptest.Count[models.Execution](t, a.DB, "tenant_id = ? AND status = ?", tn.ID, models.StatusRunning)
		done := apptest.Count[models.Execution](t, a.DB, "tenant_id = ? AND status = ?", tn.ID, models.StatusCompleted)
		most = max(most, running)
		if done == 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of 5 runs completed", done)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if most > 3 {
		t.Errorf("%d runs at once, over the plan's 3", most)
	}
	if most < 3 {
		t.Errorf("at most %d ran at once: the plan allows 3 and a slot was free", most)
	}
}

// Tenant A queues 30 runs, tenant B one, on one worker of 4 slots: B's run
// gets the first slot that frees, before any more of A's (tenants take
// turns), instead of waiting behind A's whole queue.
func TestFairShareBetweenTenants(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	a.StartWorker(a.WorkerConfig("--mode sleep --seconds 0.8"))
	waitWorkers(t, a, 1)
	ta, tb := a.NewTenant("active"), a.NewTenant("active")
	apptest.Set[models.Tenant](t, a.DB, "plan_code", "pro", "id = ?", ta.ID) // 10 at once: more than the slots
	var pa []string
	for i := 0; i < 30; i++ {
		pa = append(pa, a.ReadyProject(ta, fmt.Sprintf("a %d", i)))
	}
	pb := a.ReadyProject(tb, "b")
	var wg sync.WaitGroup
	for _, pid := range pa {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r := a.Do("POST", "/api/tenant/projects/"+pid+"/run", ta.Key, nil); r.Status != http.StatusAccepted {
				t.Errorf("RUN: %d %s", r.Status, r.Body)
			}
		}()
	}
	wg.Wait()
	eb := run(t, a, tb, pb)
	// B's run is committed once its RUN answered: a dispatch that took its
	// time (under the dispatch lock) after this sees it. One that began
	// before may still hand A a slot, rightly: B's run was not there yet.
	accepted := time.Now()
	a.AwaitProject(tb.Key, pb, 60*time.Second, apptest.HasStatus(models.StatusCompleted))
	// Once B's run waits, the next free slot is B's: no run of A's is
	// dispatched between B's RUN and B's dispatch, however many A has queued.
	b := apptest.Row[models.Execution](t, a.DB, eb)
	cut := apptest.Count[models.Execution](t, a.DB, "tenant_id = ? AND dispatched_at > ? AND dispatched_at < ?", ta.ID, accepted, b.DispatchedAt)
	before := apptest.Count[models.Execution](t, a.DB, "tenant_id = ? AND dispatched_at <= ?", ta.ID, b.DispatchedAt)
	if cut > 0 {
		t.Errorf("%d of A's runs took a slot while B's run waited", cut)
	}
	waiting := apptest.Count[models.Execution](t, a.DB, "tenant_id = ? AND (dispatched_at IS NULL OR dispatched_at > ?)", ta.ID, b.DispatchedAt)
	if waiting == 0 {
		t.Error("A had no run left waiting when B's was dispatched: the test proved nothing")
	}
	t.Logf("B's run was dispatched after %d of A's, with %d of A's still to go", before, waiting)
}
