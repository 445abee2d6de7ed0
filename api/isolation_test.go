package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/q2o/q2o/api"
	"github.com/q2o/q2o/internal/apptest"
	"github.com/q2o/q2o/models"
)

// Every tenant route that names a project, execution or code answers 404 to
// another tenant, and nothing of the owner's reaches it: the routes are read
// from the server itself, so a new route is covered the day it is added.
func TestEveryTenantRouteIsolatesTenants(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	owner, other := a.NewTenant("active"), a.NewTenant("active")
	pid := a.ReadyProject(owner, "owner-secret-project")
	eid := a.Run(owner.Key, pid)
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
	p := a.GetProject(owner.Key, pid)
	if p.Name != "owner-secret-project" || !p.IsActive || apptest.StatusOf(p) != models.StatusPending {
		t.Errorf("owner's project changed: %+v", p)
	}
}

// Every public route that names a project answers 404 not_found to a client
// holding another project's credential (its activation code, or a client
// session token), from the same tenant or another; the routes are read from
// the server, so a new public route is covered the day it is added. And no
// event stream carries another tenant's or another project's events.
func TestEveryPublicAndStreamRouteIsolates(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	owner, other := a.NewTenant("active"), a.NewTenant("active")
	pid, _, _ := liveProject(t, a, owner, "owner-secret-project")
	sibling, _, siblingCode := liveProject(t, a, owner, "owner-sibling")
	otherPID, _, otherCode := liveProject(t, a, other, "others-own")
	otherSession, err := a.Svc.OpenClientSession(t.Context(), otherCode)
	if err != nil {
		t.Fatal(err)
	}
	credentials := map[string]string{"another tenant's code": otherCode, "another tenant's client session": otherSession.Token,
		"the same tenant's other project's code": siblingCode}

	checked := 0
	for _, r := range api.New(a.Svc, api.Config{AdminToken: apptest.AdminToken}, a.Log).Routes() {
		if !strings.HasPrefix(r.Path, "/api/public/") || !strings.Contains(r.Path, ":") {
			continue
		}
		path := strings.ReplaceAll(r.Path, ":project_id", pid)
		if strings.Contains(path, ":") {
			t.Errorf("%s %s: a path parameter this test does not know; add it", r.Method, r.Path)
			continue
		}
		checked++
		for name, cred := range credentials {
			for _, how := range []string{"header", "query"} {
				req, _ := http.NewRequestWithContext(t.Context(), r.Method, a.URL+path, nil)
				if how == "header" {
					req.Header.Set("X-Activation-Code", cred)
				} else {
					req.URL.RawQuery = "code=" + cred
				}
				res := sendReq(t, req)
				if res.Status != http.StatusNotFound || (r.Method != http.MethodHead && res.ErrorCode(t) != "not_found") {
					t.Errorf("%s %s with %s (%s): %d %.200s, want 404 not_found", r.Method, r.Path, name, how, res.Status, res.Body)
				}
				if strings.Contains(string(res.Body), "owner-secret-project") {
					t.Errorf("%s %s with %s leaks the owner's project", r.Method, r.Path, name)
				}
			}
		}
	}
	if checked < 3 {
		t.Errorf("only %d public routes with ids checked", checked)
	}

	// Streams: the owner's RUN reaches the owner's tenant stream and its
	// client's, and nothing else.
	ownerStream := openSSE(t, a.URL+"/api/tenant/events", bearer(owner.Key))
	otherStream := openSSE(t, a.URL+"/api/tenant/events", bearer(other.Key))
	otherClient := openSSE(t, a.URL+"/api/public/projects/"+otherPID+"/events", map[string]string{"X-Activation-Code": otherCode})
	siblingClient := openSSE(t, a.URL+"/api/public/projects/"+sibling+"/events", map[string]string{"X-Activation-Code": siblingCode})
	startRun(t, a, owner, pid)
	if ev := ownerStream.next(); ev.json(t)["project_id"] != pid {
		t.Fatalf("the owner's stream: %+v", ev)
	}
	// A marker after the owner's event: each stream sees its own marker
	// first, so nothing of the owner's came before it.
	startRun(t, a, other, otherPID)
	if ev := otherStream.next(); ev.json(t)["project_id"] != otherPID {
		t.Errorf("another tenant's stream got %s", ev.Data)
	}
	if ev := otherClient.next(); ev.json(t)["project_id"] != otherPID {
		t.Errorf("another tenant's client stream got %s", ev.Data)
	}
	startRun(t, a, owner, sibling)
	if ev := siblingClient.next(); ev.json(t)["project_id"] != sibling {
		t.Errorf("the sibling project's client stream got %s", ev.Data)
	}
}
