package service

import (
	"crypto/sha256"
	"sync"
	"time"

	"github.com/google/uuid"
)

// AuthCacheTTL is how long an API replica trusts a credential (an API key,
// a session token) it has checked against the database, before it asks
// again: a request then costs no statement for its authentication. A key
// revoked or a session ended on any replica is refused by every replica
// within it (at once by the replica that did it, and by any long answer,
// which rechecks without the cache), so it must stay at most
// MaxRevocationDelay; a test holds it to that.
const AuthCacheTTL = 3 * time.Second

// MaxRevocationDelay is the promise: revoking a key, or ending a session,
// takes effect on every API replica within it.
const MaxRevocationDelay = 5 * time.Second

// authCacheMax bounds the entries kept; past it, expired ones go, and if
// that is not enough, all.
const authCacheMax = 10000

// authCache remembers, by the SHA-256 of the token (never the token),
// which tenant a credential authenticated, until when.
type authCache struct {
	mu sync.Mutex
	m  map[[sha256.Size]byte]authEntry
}

type authEntry struct {
	tenant uuid.UUID
	keyID  uuid.UUID // the API key's or session's row
	until  time.Time
}

func (c *authCache) get(token string, now time.Time) (uuid.UUID, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[sha256.Sum256([]byte(token))]
	if !ok || !now.Before(e.until) {
		return uuid.Nil, false
	}
	return e.tenant, true
}

// put remembers token's tenant until now+AuthCacheTTL, or until expires
// when that is sooner (a session's end).
func (c *authCache) put(token string, tenant, rowID uuid.UUID, now time.Time, expires *time.Time) {
	until := now.Add(AuthCacheTTL)
	if expires != nil && expires.Before(until) {
		until = *expires
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[[sha256.Size]byte]authEntry{}
	}
	if len(c.m) >= authCacheMax {
		for k, e := range c.m {
			if !now.Before(e.until) {
				delete(c.m, k)
			}
		}
		if len(c.m) >= authCacheMax {
			clear(c.m)
		}
	}
	c.m[sha256.Sum256([]byte(token))] = authEntry{tenant: tenant, keyID: rowID, until: until}
}

// forget drops the entries of the row rowID (a revoked key, an ended session).
func (c *authCache) forget(rowID uuid.UUID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.m {
		if e.keyID == rowID {
			delete(c.m, k)
		}
	}
}
