package api_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/q2o/q2o/internal/apptest"
	"github.com/q2o/q2o/service"
)

// refusedWithin waits until do answers 401 unauthorized, and fails the
// test when it still does not after MaxRevocationDelay and some slack (a
// loaded machine): a bound on the API's credential cache, not a timing.
func refusedWithin(t *testing.T, name string, do func() apptest.Response) {
	t.Helper()
	deadline := time.Now().Add(service.MaxRevocationDelay + 2*time.Second)
	for {
		r := do()
		if r.Status == http.StatusUnauthorized {
			wantError(t, r, http.StatusUnauthorized, "unauthorized")
			return
		}
		if r.Status != http.StatusOK {
			t.Fatalf("%s: %d %s while waiting for 401", name, r.Status, r.Body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still accepted %s after it ended, on a replica that had it cached", name, service.MaxRevocationDelay)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// The credential cache holds the promise that a revoked API key, or a
// session logged out, is refused by every API replica within
// MaxRevocationDelay: at once by the replica that ended it, within the
// cache's TTL by another that had just accepted it.
func TestRevokedCredentialRefusedOnEveryReplica(t *testing.T) {
	t.Parallel()
	if service.AuthCacheTTL > service.MaxRevocationDelay || service.MaxRevocationDelay > 5*time.Second {
		t.Fatalf("AuthCacheTTL %s, MaxRevocationDelay %s: a revocation must hold within 5 s", service.AuthCacheTTL, service.MaxRevocationDelay)
	}
	a := apptest.New(t, apptest.Options{})
	b := a.Replica(apptest.ReplicaOptions{})
	tn, session := sessionTenant(t, a)
	extra := a.Must(http.StatusCreated, a.Do("POST", "/api/admin/tenants/"+tn.ID+"/api-keys", apptest.AdminToken, map[string]any{"name": "to revoke"}))
	key, keyID := extra["key"].(string), extra["id"].(string)
	get := func(r *apptest.App, token string) func() apptest.Response {
		return func() apptest.Response { return r.Do("GET", "/api/tenant/projects", token, nil) }
	}
	// Both replicas accept both, and so remember them.
	for _, r := range []*apptest.App{a, b} {
		for _, tok := range []string{key, session, tn.Key} {
			a.Must(http.StatusOK, get(r, tok)())
		}
	}

	a.Must(http.StatusOK, a.Do("POST", "/api/admin/tenants/"+tn.ID+"/api-keys/"+keyID+"/revoke", apptest.AdminToken, nil))
	if r := a.Do("POST", "/api/auth/logout", session, nil); r.Status != http.StatusNoContent {
		t.Fatalf("logout: %d %s", r.Status, r.Body)
	}
	// The replica that ended them refuses them at once.
	wantError(t, get(a, key)(), http.StatusUnauthorized, "unauthorized")
	wantError(t, get(a, session)(), http.StatusUnauthorized, "unauthorized")
	// The other within the bound.
	refusedWithin(t, "revoked key on the other replica", get(b, key))
	refusedWithin(t, "logged-out session on the other replica", get(b, session))
	// The tenant's other key is untouched on both.
	a.Must(http.StatusOK, get(a, tn.Key)())
	a.Must(http.StatusOK, get(b, tn.Key)())
}
