package api_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/q2o/q2o/internal/apptest"
)

// resume-all after billing is restored resumes what billing paused, never
// what the tenant itself cancelled.
func TestResumeAllLeavesCancelledRuns(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	a.StartWorker(a.WorkerConfig("--mode sleep --seconds 30"))
	tn := a.NewTenant("active")
	cancelled, paused := a.ReadyProject(tn, "cancelled by me"), a.ReadyProject(tn, "paused by billing")
	for _, pid := range []string{cancelled, paused} {
		a.Must(http.StatusAccepted, a.Do("POST", "/api/tenant/projects/"+pid+"/run", tn.Key, nil))
		a.WaitProject(tn.Key, pid, 30*time.Second, apptest.StatusIs("running"))
	}
	a.Must(http.StatusOK, a.Do("POST", "/api/tenant/projects/"+cancelled+"/cancel", tn.Key, nil))
	a.Must(http.StatusOK, a.Do("PUT", "/api/admin/tenants/"+tn.ID+"/subscription", apptest.AdminToken, map[string]any{"status": "past_due"}))
	a.WaitProject(tn.Key, paused, 30*time.Second, apptest.StatusIs("paused"))
	a.Must(http.StatusOK, a.Do("PUT", "/api/admin/tenants/"+tn.ID+"/subscription", apptest.AdminToken, map[string]any{"status": "active"}))

	r := a.Must(http.StatusOK, a.Do("POST", "/api/tenant/projects/resume-all", tn.Key, nil))
	if r["resumed"] != float64(1) {
		t.Fatalf("resume-all: %v", r)
	}
	if p := a.Must(http.StatusOK, a.Do("GET", "/api/tenant/projects/"+cancelled, tn.Key, nil)); p["execution_status"] != "cancelled" {
		t.Errorf("the cancelled project is %v after resume-all", p["execution_status"])
	}
	a.WaitProject(tn.Key, paused, 30*time.Second, apptest.StatusIs("running"))
}
