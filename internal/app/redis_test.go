package app_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/q2o/q2o/internal/app"
	"github.com/q2o/q2o/internal/apptest"
	"github.com/q2o/q2o/internal/testenv"
	"github.com/q2o/q2o/models"
)

// sentinelApp is q2o's API, a worker and the outbox relay over a private
// Redis reached only through its Sentinels, as Q2O_REDIS_SENTINELS
// deploys it.
func sentinelApp(t *testing.T, runnerArgs string) (*apptest.App, *testenv.Sentinel) {
	t.Helper()
	s := testenv.StartSentinel(t)
	// The URL's host points nowhere: with Sentinels only its DB number counts.
	a := apptest.New(t, apptest.Options{Redis: &app.Redis{URL: "redis://127.0.0.1:1/2",
		Sentinels: s.Sentinels, MasterName: testenv.SentinelMaster}})
	go a.Enq.Relay(t.Context(), 500*time.Millisecond)
	a.StartWorker(a.WorkerConfig(runnerArgs))
	return a, s
}

func TestRunCompletesThroughSentinel(t *testing.T) {
	t.Parallel()
	a, _ := sentinelApp(t, "")
	tn := a.NewTenant("active")
	pid := a.ReadyProject(tn, "via sentinel")
	a.Run(tn.Key, pid)
	a.AwaitProject(tn.Key, pid, 30*time.Second, apptest.HasStatus(models.StatusCompleted))
}

// The master is killed while runs are going on and more are submitted:
// the Sentinels promote the replica, the clients follow, the outbox
// re-sends what did not reach Redis, and every accepted run completes.
func TestRunsCompleteAcrossSentinelFailover(t *testing.T) {
	t.Parallel()
	a, s := sentinelApp(t, "--mode sleep --seconds 3")
	tn := a.NewTenant("active")
	var pids []string
	for i := range 3 {
		pid := a.ReadyProject(tn, fmt.Sprintf("before %d", i))
		a.Run(tn.Key, pid)
		pids = append(pids, pid)
	}
	time.Sleep(time.Second) // the runs are under way
	start := time.Now()
	s.KillMaster()
	for i := range 2 { // accepted while Redis has no master
		pid := a.ReadyProject(tn, fmt.Sprintf("during %d", i))
		a.Run(tn.Key, pid)
		pids = append(pids, pid)
	}
	s.WaitFailover(30 * time.Second)
	t.Logf("failover after %s", time.Since(start).Round(time.Millisecond))
	pid := a.ReadyProject(tn, "after")
	a.Run(tn.Key, pid)
	pids = append(pids, pid)
	for _, pid := range pids {
		p := a.AwaitProject(tn.Key, pid, 60*time.Second, func(p models.Project) bool {
			st := apptest.StatusOf(p)
			return st == models.StatusCompleted || st == models.StatusFailed
		})
		if st := apptest.StatusOf(p); st != models.StatusCompleted {
			t.Errorf("run of %s ended %s: %s", p.Name, st, apptest.Deref(p.ExecutionError))
		}
	}
	t.Logf("all %d runs completed %s after the master was killed", len(pids), time.Since(start).Round(time.Millisecond))
}
