// Package testenv gives tests their own Postgres database and Redis DB on the
// real local servers (Q2O_TEST_DATABASE_URL, Q2O_TEST_REDIS_URL), so packages
// and tests run in parallel without touching each other.
package testenv

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
	"gorm.io/gorm"

	"github.com/q2o/q2o/db"
)

// AdminDatabaseURL is the connection used to create test databases.
func AdminDatabaseURL() string {
	if v := os.Getenv("Q2O_TEST_DATABASE_URL"); v != "" {
		return v
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// RedisBaseURL is the Redis server tests use; each test gets its own DB.
func RedisBaseURL() string {
	if v := os.Getenv("Q2O_TEST_REDIS_URL"); v != "" {
		return v
	}
	return "redis://127.0.0.1:6379"
}

var (
	templateOnce sync.Once
	templateName string
	templateErr  error
)

// migrationsHash names the template after the migrations it holds, so a
// changed migration gets a fresh template.
func migrationsHash() string {
	h := sha256.New()
	_ = fs.WalkDir(db.Migrations(), ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := fs.ReadFile(db.Migrations(), p)
			h.Write([]byte(p))
			h.Write(b)
		}
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))[:12]
}

func withDatabase(raw, name string) string {
	u, err := url.Parse(raw)
	if err != nil {
		panic(err)
	}
	u.Path = "/" + name
	return u.String()
}

// ensureTemplate creates the migrated template database once per machine
// (guarded by an advisory lock, since test packages run in parallel).
func ensureTemplate(ctx context.Context) (string, error) {
	templateOnce.Do(func() {
		name := "q2o_test_tpl_" + migrationsHash()
		conn, err := pgx.Connect(ctx, AdminDatabaseURL())
		if err != nil {
			templateErr = fmt.Errorf("connect to test Postgres %s: %w (is Postgres running? `make test` starts it)", AdminDatabaseURL(), err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock(4242001)"); err != nil {
			templateErr = err
			return
		}
		defer conn.Exec(ctx, "SELECT pg_advisory_unlock(4242001)") //nolint:errcheck
		var exists bool
		if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1 AND datistemplate)", name).Scan(&exists); err != nil {
			templateErr = err
			return
		}
		if !exists {
			_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize())
			if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
				templateErr = err
				return
			}
			gdb, err := db.Open(ctx, withDatabase(AdminDatabaseURL(), name))
			if err != nil {
				templateErr = err
				return
			}
			err = db.Migrate(ctx, gdb, slog.New(slog.DiscardHandler))
			_ = db.Close(gdb)
			if err != nil {
				templateErr = err
				return
			}
			if _, err := conn.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{name}.Sanitize()+" WITH is_template = true"); err != nil {
				templateErr = err
				return
			}
		}
		templateName = name
	})
	return templateName, templateErr
}

// DatabaseURL creates a fresh, migrated database for this test and returns
// its URL; the database is dropped when the test ends.
func DatabaseURL(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	tpl, err := ensureTemplate(ctx)
	if err != nil {
		t.Fatalf("test database template: %v", err)
	}
	name := "q2o_test_" + strings.ReplaceAll(uuid.NewString(), "-", "")[:16]
	conn, err := pgx.Connect(ctx, AdminDatabaseURL())
	if err != nil {
		t.Fatalf("connect to test Postgres: %v", err)
	}
	defer conn.Close(ctx)
	// A template being copied by a concurrent CREATE DATABASE is briefly
	// "in use"; try again a few times.
	for i := 0; ; i++ {
		_, err = conn.Exec(ctx, fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s",
			pgx.Identifier{name}.Sanitize(), pgx.Identifier{tpl}.Sanitize()))
		if err == nil || i == 20 || !strings.Contains(err.Error(), "being accessed by other users") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), AdminDatabaseURL())
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	})
	return withDatabase(AdminDatabaseURL(), name)
}

// Postgres opens a fresh, migrated database for this test.
func Postgres(t testing.TB) *gorm.DB {
	t.Helper()
	gdb, err := db.Open(context.Background(), DatabaseURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close(gdb) })
	return gdb
}

// RedisURL reserves a Redis DB (1–15) for this test, empties it, and returns
// its URL. The DB is emptied and released when the test ends.
func RedisURL(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	opt, err := redis.ParseURL(RedisBaseURL())
	if err != nil {
		t.Fatalf("Q2O_TEST_REDIS_URL: %v", err)
	}
	opt.DB = 0
	ctl := redis.NewClient(opt)
	defer ctl.Close()
	owner := uuid.NewString()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		for n := 1; n <= 15; n++ {
			key := fmt.Sprintf("q2o:test:redis-db:%d", n)
			ok, err := ctl.SetNX(ctx, key, owner, 15*time.Minute).Result()
			if err != nil {
				t.Fatalf("reserve a Redis DB on %s: %v (is Redis running? `make test` starts it)", RedisBaseURL(), err)
			}
			if !ok {
				continue
			}
			o := *opt
			o.DB = n
			c := redis.NewClient(&o)
			if err := c.FlushDB(ctx).Err(); err != nil {
				t.Fatal(err)
			}
			_ = c.Close()
			t.Cleanup(func() {
				o := *opt
				o.DB = n
				c := redis.NewClient(&o)
				_ = c.FlushDB(context.Background()).Err()
				_ = c.Close()
				o.DB = 0
				c = redis.NewClient(&o)
				_ = c.Del(context.Background(), key).Err()
				_ = c.Close()
			})
			u, _ := url.Parse(RedisBaseURL())
			u.Path = fmt.Sprintf("/%d", n)
			return u.String()
		}
		if time.Now().After(deadline) {
			t.Fatal("no free Redis DB for this test after 2 minutes")
		}
		time.Sleep(200 * time.Millisecond)
	}
}
