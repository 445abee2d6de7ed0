package api_test

import (
	"io"
	"net/http"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/q2o/q2o/internal/apptest"
	"github.com/q2o/q2o/models"
)

// TestStreamsEndWithTheirCredential: an event stream or a followed log
// opened with a session or an API key ends (within a heartbeat or so) once
// the session is logged out or expires, or the key is revoked; one whose
// credential still holds goes on.
func TestStreamsEndWithTheirCredential(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	b := a.Replica(apptest.ReplicaOptions{Heartbeat: 100 * time.Millisecond})

	_, token1 := sessionTenant(t, a)
	expired, token2 := sessionTenant(t, a)
	revoked := a.NewTenant("active")
	kept := a.NewTenant("active")
	streams := map[string]*sseStream{
		"logged out": openSSE(t, b.URL+"/api/tenant/events", bearer(token1)),
		"expired":    openSSE(t, b.URL+"/api/tenant/events", bearer(token2)),
		"revoked":    openSSE(t, b.URL+"/api/tenant/events", bearer(revoked.Key)),
	}
	keptStream := openSSE(t, b.URL+"/api/tenant/events", bearer(kept.Key))
	for name, s := range streams {
		if s.ended(300 * time.Millisecond) {
			t.Fatalf("%s: the stream ended before its credential did", name)
		}
	}

	if r := a.Do("POST", "/api/auth/logout", token1, nil); r.Status != http.StatusNoContent {
		t.Fatalf("logout: %d %s", r.Status, r.Body)
	}
	apptest.SetTable(t, a.DB, "sessions", "expires_at", gorm.Expr("now() - interval '1 second'"), "tenant_id = ?", expired.ID)
	apptest.Set[models.APIKey](t, a.DB, "revoked_at", gorm.Expr("now()"), "tenant_id = ?", revoked.ID)
	for name, s := range streams {
		if !s.ended(5 * time.Second) {
			t.Errorf("%s: /api/tenant/events goes on after its credential ended", name)
		}
	}
	if keptStream.ended(time.Second) {
		t.Error("a stream whose key still holds ended")
	}

	// A followed log (polled every second) ends the same way, with no "end"
	// event: the run has not ended.
	tn := a.NewTenant("active")
	pid := a.ReadyProject(tn, "followed by a revoked key")
	a.Run(tn.Key, pid)
	res := a.SSE(tn.Key, "/api/tenant/projects/"+pid+"/logs", "")
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, res.Body)
		close(done)
	}()
	select {
	case <-done:
		t.Fatal("the followed log ended before its key was revoked")
	case <-time.After(1500 * time.Millisecond):
	}
	apptest.Set[models.APIKey](t, a.DB, "revoked_at", gorm.Expr("now()"), "tenant_id = ?", tn.ID)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Error("the followed log goes on after its key was revoked")
	}
}
