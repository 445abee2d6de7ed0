package db_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/q2o/q2o/db"
	"github.com/q2o/q2o/internal/testenv"
)

// Several `q2o migrate` (or starting replicas) racing on an empty database:
// goose's advisory lock lets one apply the migrations, the others find them
// applied, and every migration is recorded once.
func TestMigrateRacesUnderTheAdvisoryLock(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	name := "q2o_test_migrate_" + strings.ReplaceAll(uuid.NewString(), "-", "")[:12]
	u := strings.Replace(testenv.AdminDatabaseURL(), "/postgres?", "/"+name+"?", 1)
	if !strings.Contains(u, name) {
		t.Fatalf("cannot name a database in %s", testenv.AdminDatabaseURL())
	}
	if created, err := db.CreateDatabase(ctx, u); err != nil || !created {
		t.Fatalf("create %s: %v %v", name, created, err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), testenv.AdminDatabaseURL())
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	})

	const n = 6
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			gdb, err := db.Open(ctx, u)
			if err != nil {
				errs[i] = err
				return
			}
			defer db.Close(gdb)
			<-start
			errs[i] = db.Migrate(ctx, gdb, slog.New(slog.DiscardHandler))
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("migrate %d of %d: %v", i+1, n, err)
		}
	}
	gdb, err := db.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(gdb)
	if err := db.CheckCurrent(ctx, gdb); err != nil {
		t.Errorf("after the race: %v", err)
	}
	var dup int64
	if err := gdb.Raw(`SELECT count(*) FROM (SELECT version_id FROM goose_db_version WHERE is_applied
		GROUP BY version_id HAVING count(*) > 1) d`).Scan(&dup).Error; err != nil {
		t.Fatal(err)
	}
	if dup != 0 {
		t.Errorf("%d migrations recorded more than once", dup)
	}
}
