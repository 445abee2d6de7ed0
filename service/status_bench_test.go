package service

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/q2o/q2o/internal/testenv"
)

// BenchmarkStatusList measures the status page (StatusPage: its count and
// its page query) on a projects table of a million rows, with the indexes of
// the migrations, and reports the median and 95th percentile latency of one
// call ("p50-ms", "p95-ms") and the rows matched ("total").
//
// The table holds Q2O_BENCH_PROJECTS projects (default 1,000,000) over 1,000
// tenants: one large tenant with a tenth of them, whom most cases query (the
// worst case), and 999 tenants of about 900 each. 95% are active; 80% have
// an execution (the latest, joined into each item). Seeding takes a minute
// or two, mostly building the trigram index. With Q2O_BENCH_EXPLAIN=1 the
// plan of each query is logged (EXPLAIN ANALYZE, BUFFERS):
//
//	go test -run '^$' -bench StatusList -benchtime 200x ./service/
//	Q2O_BENCH_EXPLAIN=1 go test -run '^$' -bench StatusList -benchtime 1x -v ./service/
func BenchmarkStatusList(b *testing.B) {
	if testing.Short() {
		b.Skip("seeds a million rows")
	}
	n := 1_000_000
	if v := os.Getenv("Q2O_BENCH_PROJECTS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 10_000 {
			b.Fatalf("Q2O_BENCH_PROJECTS=%q: want a number of projects, at least 10000", v)
		}
	}
	gdb := testenv.Postgres(b)
	start := time.Now()
	seedStatusBench(b, gdb, n)
	b.Logf("seeded %d projects in %s", n, time.Since(start).Round(time.Millisecond))
	svc := New(Deps{DB: gdb, OutputRoot: b.TempDir(), Log: slog.New(slog.DiscardHandler)})
	big, small := benchTenant(b, gdb, 0), benchTenant(b, gdb, 1)

	cases := []struct {
		name   string
		tenant uuid.UUID
		q      ProjectQuery
	}{
		{"page=1", big, ProjectQuery{}},
		{"page=500", big, ProjectQuery{Page: "500"}},
		{"q=rare", big, ProjectQuery{Q: "kubernetes"}},
		{"q=common", big, ProjectQuery{Q: "dashboard"}},
		{"q=literal-percent", big, ProjectQuery{Q: "100% of"}}, // matches every project of the tenant
		{"q=2-chars", big, ProjectQuery{Q: "zz"}},              // too short for trigrams
		{"status=running", big, ProjectQuery{Status: "running"}},
		{"status=failed&q=rare", big, ProjectQuery{Status: "failed", Q: "kubernetes"}},
		{"small-tenant/page=1", small, ProjectQuery{}},
		{"small-tenant/q=common", small, ProjectQuery{Q: "dashboard"}},
	}
	ctx := context.Background()
	for _, c := range cases {
		if os.Getenv("Q2O_BENCH_EXPLAIN") != "" {
			explainStatus(b, gdb, c.name, c.tenant, c.q)
		}
		b.Run(c.name, func(b *testing.B) {
			var lat []time.Duration
			var total int64
			for b.Loop() {
				t0 := time.Now()
				page, err := svc.StatusPage(ctx, c.tenant, c.q)
				lat = append(lat, time.Since(t0))
				if err != nil {
					b.Fatal(err)
				}
				total = page.Total
			}
			slices.Sort(lat)
			ms := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
			b.ReportMetric(ms(0.5), "p50-ms")
			b.ReportMetric(ms(0.95), "p95-ms")
			b.ReportMetric(float64(total), "total")
		})
	}
}

// benchTenant is the id of the seed's k-th tenant.
func benchTenant(b *testing.B, gdb *gorm.DB, k int) uuid.UUID {
	var id string
	if err := gdb.Raw("SELECT md5(?)::uuid::text", fmt.Sprintf("t%d", k)).Scan(&id).Error; err != nil {
		b.Fatal(err)
	}
	return uuid.MustParse(id)
}

// seedStatusBench fills tenants, projects and executions in SQL
// (INSERT … SELECT generate_series). The secondary indexes are dropped for
// the load and built again afterwards from their own definitions, which is
// several times faster than keeping them up to date row by row; the
// foreign-key triggers are off for the load.
func seedStatusBench(b *testing.B, gdb *gorm.DB, n int) {
	b.Helper()
	err := gdb.Connection(func(tx *gorm.DB) error {
		var indexes []struct{ Name, Def string }
		err := tx.Raw(`SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS def
			FROM pg_index i WHERE i.indrelid IN ('projects'::regclass, 'executions'::regclass)
			AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)`).Scan(&indexes).Error
		if err != nil {
			return err
		}
		for _, ix := range indexes {
			if err := tx.Exec("DROP INDEX " + ix.Name).Error; err != nil {
				return err
			}
		}
		big := n / 10
		steps := []string{
			`SELECT setseed(0.42)`,
			// The rows are consistent by construction: skip the foreign-key
			// triggers for the load (the test user is a superuser).
			`SET session_replication_role = replica`,
			`INSERT INTO tenants (id, name, email, plan_code)
			 SELECT md5('t' || k)::uuid, 'Bench tenant ' || k, 'bench-' || k || '@example.com', 'pro'
			 FROM generate_series(0, 999) AS k`,
			`BEGIN`,
			fmt.Sprintf(`INSERT INTO projects (id, tenant_id, name, description, objectives, is_active, execution_status,
				progress, progress_message, latest_execution_id, created_at, updated_at)
			 SELECT md5('p' || i)::uuid,
			        md5('t' || CASE WHEN i <= %d THEN 0 ELSE 1 + i %% 999 END)::uuid,
			        'Project ' || i || ' ' || w[1 + (random() * 39)::int],
			        'A ' || w[1 + (random() * 39)::int] || ' app with ' || w[1 + (random() * 39)::int] || ' and '
			            || w[1 + (random() * 39)::int] || CASE WHEN random() < 0.005 THEN ' on Kubernetes' ELSE '' END
			            || ' for 100%% of the ' || w[1 + (random() * 39)::int] || '_team',
			        'Ship ' || w[1 + (random() * 39)::int] || ', tests and docs',
			        random() < 0.95,
			        st, CASE WHEN st = 'completed' THEN 100 ELSE 0 END, coalesce(st, ''),
			        CASE WHEN st IS NULL THEN NULL ELSE md5('e' || i)::uuid END,
			        ts, ts
			 FROM (SELECT i, now() - random() * interval '365 days' AS ts,
			              CASE WHEN r < 0.20 THEN NULL WHEN r < 0.70 THEN 'completed' WHEN r < 0.85 THEN 'failed'
			                   WHEN r < 0.95 THEN 'paused' WHEN r < 0.99 THEN 'running' ELSE 'pending' END AS st
			       FROM (SELECT i, random() AS r FROM generate_series(1, %d) AS i) g) s,
			      (SELECT ARRAY['alpha','billing','catalog','dashboard','engine','forecast','gateway','harbor',
			              'inventory','journal','kiosk','ledger','mobile','notebook','orders','portal','quote','report',
			              'search','ticket','upload','vault','webshop','xml','yield','zone','analytics','booking','chat',
			              'delivery','email','fleet','grades','helpdesk','invoice','jobs','kanban','loyalty','maps',
			              'news'] AS w) words`, big, n),
			`INSERT INTO executions (id, project_id, tenant_id, status, attempt, output_dir, exit_code, error,
				queued_at, started_at, finished_at, created_at, updated_at)
			 SELECT latest_execution_id, id, tenant_id, execution_status, 1, '/data/' || id,
			        CASE execution_status WHEN 'completed' THEN 0 WHEN 'failed' THEN 1 END,
			        CASE execution_status WHEN 'failed' THEN 'main.py exited with code 1' END,
			        updated_at, updated_at,
			        CASE WHEN execution_status IN ('completed', 'failed', 'paused') THEN updated_at END,
			        updated_at, updated_at
			 FROM projects WHERE latest_execution_id IS NOT NULL`,
			`COMMIT`,
			`RESET session_replication_role`,
			`SET maintenance_work_mem = '512MB'`,
		}
		for _, ix := range indexes {
			steps = append(steps, ix.Def)
		}
		steps = append(steps, `RESET maintenance_work_mem`, `VACUUM ANALYZE tenants, projects, executions`)
		for _, sql := range steps {
			t0 := time.Now()
			if err := tx.Exec(sql).Error; err != nil {
				return fmt.Errorf("%.60s…: %w", strings.TrimSpace(sql), err)
			}
			if d := time.Since(t0); d > time.Second {
				b.Logf("seed: %.70s… %s", strings.Join(strings.Fields(sql), " "), d.Round(time.Millisecond))
			}
		}
		return nil
	})
	if err != nil {
		b.Fatalf("seed: %v", err)
	}
}

// explainStatus logs the plans of a status page's two queries.
func explainStatus(b *testing.B, gdb *gorm.DB, name string, tenant uuid.UUID, q ProjectQuery) {
	f, err := q.parse()
	if err != nil {
		b.Fatal(err)
	}
	l := projectListSQL(tenant, f, true)
	for _, query := range []struct {
		sql  string
		args []any
	}{{l.count, l.args}, {l.page, l.pageArgs}} {
		var lines []string
		if err := gdb.Raw("EXPLAIN (ANALYZE, BUFFERS) "+query.sql, query.args...).Scan(&lines).Error; err != nil {
			b.Fatal(err)
		}
		b.Logf("%s:\n%s", name, strings.Join(lines, "\n"))
	}
}
