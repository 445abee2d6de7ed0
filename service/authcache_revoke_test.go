package service

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/q2o/q2o/internal/testenv"
	"github.com/q2o/q2o/models"
)

// A key revoked while a replica's check of it is in flight (read before the
// revoke committed, answered after) is not trusted past the promise: by
// another replica no later than MaxRevocationDelay after the revoke,
// however slow the read's answer was, and by the replica that revoked it at
// once.
func TestAuthCacheKeyRevokedDuringCheck(t *testing.T) {
	t.Parallel()
	db := testenv.Postgres(t)
	var mu sync.Mutex
	clock := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	advance := func(d time.Duration) { mu.Lock(); clock = clock.Add(d); mu.Unlock() }
	newReplica := func() *Service {
		s := New(Deps{DB: db, OutputRoot: t.TempDir(), Log: slog.New(slog.DiscardHandler), Now: now})
		t.Cleanup(s.Wait)
		return s
	}
	a, b := newReplica(), newReplica()
	ctx := context.Background()
	tenant := newTestTenant(t, a, models.SubActive)

	// during, once armed, runs after the next read of an API key returns
	// from Postgres and before the service looks at it.
	var during atomic.Pointer[func()]
	err := db.Callback().Query().After("gorm:query").Register("test:during_key_check", func(tx *gorm.DB) {
		if tx.Statement.Table != "api_keys" {
			return
		}
		if f := during.Swap(nil); f != nil {
			(*f)()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	arm := func(f func()) { during.Store(&f) }

	// Another replica revokes it; the answer of the read comes 4 s later.
	k1, err := a.CreateAPIKey(ctx, tenant, "k1")
	if err != nil {
		t.Fatal(err)
	}
	var revokedAt time.Time
	arm(func() {
		revokedAt = now()
		if _, err := b.RevokeAPIKey(ctx, tenant, k1.ID); err != nil {
			t.Error(err)
		}
		advance(4 * time.Second)
	})
	if _, err := a.Authenticate(ctx, k1.Key); err != nil {
		t.Fatal(err) // read before the revoke: this one answer may pass
	}
	advance(revokedAt.Add(MaxRevocationDelay).Sub(now()))
	if _, err := a.Authenticate(ctx, k1.Key); !errors.Is(err, models.ErrUnauthorized) {
		t.Errorf("replica A still trusts the key %s after another replica revoked it: err %v", MaxRevocationDelay, err)
	}

	// The same replica revokes it while its own check is in flight.
	k2, err := a.CreateAPIKey(ctx, tenant, "k2")
	if err != nil {
		t.Fatal(err)
	}
	arm(func() {
		if _, err := a.RevokeAPIKey(ctx, tenant, k2.ID); err != nil {
			t.Error(err)
		}
	})
	if _, err := a.Authenticate(ctx, k2.Key); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Authenticate(ctx, k2.Key); !errors.Is(err, models.ErrUnauthorized) {
		t.Errorf("the replica that revoked the key still trusts it: err %v", err)
	}
}
