package service

import (
	"testing"
	"time"

	"github.com/google/uuid"
)

// The cache answers for AuthCacheTTL at most, never past a session's own
// expiry, and forgets a row's entries when asked.
func TestAuthCache(t *testing.T) {
	t.Parallel()
	var c authCache
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	tenant, key, session := uuid.New(), uuid.New(), uuid.New()
	soon := now.Add(time.Second)
	c.put("q2o_key", tenant, key, now, nil)
	c.put("q2s_session", tenant, session, now, &soon)

	for _, tc := range []struct {
		token string
		at    time.Time
		hit   bool
	}{
		{"q2o_key", now, true},
		{"q2o_key", now.Add(AuthCacheTTL - time.Millisecond), true},
		{"q2o_key", now.Add(AuthCacheTTL), false},
		{"q2s_session", soon.Add(-time.Millisecond), true},
		{"q2s_session", soon, false}, // its expiry, sooner than the TTL
		{"q2o_other", now, false},
	} {
		if id, ok := c.get(tc.token, tc.at); ok != tc.hit || (ok && id != tenant) {
			t.Errorf("get(%s, +%s) = %v %v, want hit %v", tc.token, tc.at.Sub(now), id, ok, tc.hit)
		}
	}
	c.forget(key)
	if _, ok := c.get("q2o_key", now); ok {
		t.Error("a forgotten key still answers")
	}
	if _, ok := c.get("q2s_session", now); !ok {
		t.Error("forgetting a key dropped a session")
	}
	for i := range authCacheMax + 1 {
		c.put(uuid.NewString(), tenant, uuid.New(), now, nil)
		if len(c.m) > authCacheMax {
			t.Fatalf("%d entries after %d puts, bound %d", len(c.m), i+1, authCacheMax)
		}
	}
}
