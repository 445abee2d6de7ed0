package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/q2o/q2o/api"
	"github.com/q2o/q2o/internal/apptest"
)

// Every tenant route that names a project, execution or code answers 404 to
// another tenant, and nothing of the owner's reaches it: the routes are read
// from the server itself, so a new route is covered the day it is added.
func TestEveryTenantRouteIsolatesTenants(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	owner, other := a.NewTenant("active"), a.NewTenant("active")
	pid := a.ReadyProject(owner, "owner-secret-project")
	eid := a.Must(http.StatusAccepted, a.Do("POST", "/api/tenant/projects/"+pid+"/run", owner.Key, nil))["execution_id"].(string)
	codeID, _ := a.Code(owner.ID, nil)
	a.Project(other.Key, "others-own")

	ids := map[string]string{":project_id": pid, ":execution_id": eid, ":code_id": codeID, ":id": pid}
	checked := 0
	for _, r := range api.New(a.Svc, api.Config{AdminToken: apptest.AdminToken}, a.Log).Routes() {
		if !strings.HasPrefix(r.Path, "/api/tenant/") || !strings.Contains(r.Path, ":") {
			continue
		}
		path := r.Path
		for param, id := range ids {
			path = strings.ReplaceAll(path, param, id)
		}
		if strings.Contains(path, ":") {
			t.Errorf("%s %s: a path parameter this test does not know; add it", r.Method, r.Path)
			continue
		}
		checked++
		// A valid body, so that the refusal is about the id, not the input.
		var body any
		switch {
		case strings.HasSuffix(r.Path, "/assign-activation-code"):
			body = map[string]any{"code": "AAAAA-BBBBB-CCCCC-DDDDD"}
		case r.Method == http.MethodPatch:
			body = map[string]any{"name": "renamed by another tenant"}
		}
		res := a.Do(r.Method, path, other.Key, body)
		if res.Status != http.StatusNotFound {
			t.Errorf("%s %s as another tenant: %d %.200s", r.Method, r.Path, res.Status, res.Body)
		}
		if strings.Contains(string(res.Body), "owner-secret-project") {
			t.Errorf("%s %s leaks the owner's project", r.Method, r.Path)
		}
	}
	if checked < 10 {
		t.Errorf("only %d tenant routes with ids checked", checked)
	}
	// The owner's data is untouched by all of that.
	p := a.Must(200, a.Do("GET", "/api/tenant/projects/"+pid, owner.Key, nil))
	if p["name"] != "owner-secret-project" || p["is_active"] != true || p["execution_status"] != "pending" {
		t.Errorf("owner's project changed: %v", p)
	}
}
