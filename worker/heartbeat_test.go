package worker_test

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/q2o/q2o/internal/apptest"
	"github.com/q2o/q2o/models"
)

// However many runs a worker has, it renews their leases with one statement
// per WatchInterval, not one per run.
func TestHeartbeatOneStatementPerInterval(t *testing.T) {
	t.Parallel()
	const runs = 20
	a := apptest.New(t, apptest.Options{})
	var renewals atomic.Int64
	count := func(db *gorm.DB) {
		sql := db.Statement.SQL.String()
		if strings.HasPrefix(strings.TrimSpace(sql), "UPDATE") && strings.Contains(sql, "lease_until") && !strings.Contains(sql, "attempt\"=") {
			renewals.Add(1)
		}
	}
	if err := a.DB.Callback().Raw().After("gorm:raw").Register("test:count_raw", count); err != nil {
		t.Fatal(err)
	}
	if err := a.DB.Callback().Row().After("gorm:row").Register("test:count_row", count); err != nil {
		t.Fatal(err)
	}
	if err := a.DB.Callback().Update().After("gorm:update").Register("test:count_update", count); err != nil {
		t.Fatal(err)
	}
	cfg := a.WorkerConfig("--mode sleep --seconds 30")
	cfg.Concurrency = runs
	a.StartWorker(cfg)
	for i := range runs {
		tn := a.NewTenant("active")
		run(t, a, tn, a.ReadyProject(tn, "busy "+string(rune('a'+i))))
	}
	waitUntil(t, "every run running", 30*time.Second, func() (bool, any) {
		n := apptest.Count[models.Execution](t, a.DB, "status = ?", models.StatusRunning)
		return n == runs, n
	})
	time.Sleep(2 * cfg.WatchInterval) // the claims' own updates are over
	renewals.Store(0)
	const window = time.Second
	time.Sleep(window)
	n := renewals.Load()
	if limit := int64(window/cfg.WatchInterval) + 1; n > limit || n == 0 {
		t.Errorf("%d lease renewals in %s for %d runs; want 1..%d (one per %s)", n, window, runs, limit, cfg.WatchInterval)
	}
	if n := apptest.Count[models.Execution](t, a.DB, "status = ?", models.StatusRunning); n != runs {
		t.Errorf("%d runs still running, want %d", n, runs)
	}
}
