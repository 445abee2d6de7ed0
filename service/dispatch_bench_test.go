package service

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/q2o/q2o/internal/testenv"
)

// BenchmarkDispatch: 10,000 runs waiting over 100 tenants (plan pro, 10 at
// once each). Each op dispatches one run into the one free slot and then
// ends it, so the next op finds a slot again: the figure is the dispatcher's
// cost per run (choosing the next run by tenant turn, marking it, writing
// its outbox row). "choose-ms" is the choosing query alone.
func BenchmarkDispatch(b *testing.B) {
	gdb := testenv.Postgres(b)
	seedDispatchBench(b, gdb, 100, 100)
	s := New(Deps{DB: gdb, OutputRoot: b.TempDir(), Log: slog.New(slog.DiscardHandler)})
	ctx := context.Background()
	// One worker slot: each op has exactly one run to dispatch.
	if err := s.WorkerSeen(ctx, "bench", 1); err != nil {
		b.Fatal(err)
	}
	var choose time.Duration
	n := 0
	for b.Loop() {
		if err := s.WorkerSeen(ctx, "bench", 1); err != nil { // keep the slot counted
			b.Fatal(err)
		}
		t0 := time.Now()
		err := gdb.Transaction(func(tx *gorm.DB) error {
			_, err := s.nextToDispatch(tx, time.Now())
			return err
		})
		choose += time.Since(t0)
		if err != nil {
			b.Fatal(err)
		}
		sent, err := s.Dispatch(ctx)
		if err != nil || sent != 1 {
			b.Fatalf("Dispatch: %d, %v", sent, err)
		}
		// The run ends: its slot is free for the next op.
		if err := gdb.Exec(`UPDATE executions SET status = 'completed' WHERE status = 'pending' AND dispatched_at IS NOT NULL`).Error; err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(choose.Microseconds())/1000/float64(n), "choose-ms")
}

// seedDispatchBench makes tenants, each with perTenant projects and one
// waiting run per project.
func seedDispatchBench(b *testing.B, gdb *gorm.DB, tenants, perTenant int) {
	b.Helper()
	steps := []string{
		`INSERT INTO tenants (id, name, email, plan_code)
		 SELECT md5('dt' || k)::uuid, 'Dispatch ' || k, 'dispatch-' || k || '@example.com', 'pro' FROM generate_series(1, ?) k`,
		`INSERT INTO subscriptions (tenant_id, status) SELECT id, 'active' FROM tenants WHERE email LIKE 'dispatch-%'`,
		`INSERT INTO projects (id, tenant_id, name, description, objectives, is_active, execution_status)
		 SELECT md5('dp' || k || '-' || j)::uuid, md5('dt' || k)::uuid, 'p', 'd', 'o', true, 'pending'
		 FROM generate_series(1, ?) k, generate_series(1, ?) j`,
		`INSERT INTO executions (id, project_id, tenant_id, status, attempt, output_dir, queued_at, created_at, updated_at)
		 SELECT md5('de' || k || '-' || j)::uuid, md5('dp' || k || '-' || j)::uuid, md5('dt' || k)::uuid, 'pending', 0, '/tmp/x',
		        now() - (j || ' seconds')::interval, now(), now()
		 FROM generate_series(1, ?) k, generate_series(1, ?) j`,
		`ANALYZE executions`,
	}
	args := [][]any{{tenants}, nil, {tenants, perTenant}, {tenants, perTenant}, nil}
	for i, q := range steps {
		if err := gdb.Exec(q, args[i]...).Error; err != nil {
			b.Fatalf("seed: %v\n%s", err, q)
		}
	}
}
