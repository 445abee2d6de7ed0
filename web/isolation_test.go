package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/q2o/q2o/internal/apptest"
	"github.com/q2o/q2o/models"
	"github.com/q2o/q2o/web"
)

// Every portal page and form that names a project, run or code answers 404
// to another tenant signed in, and every client page that names a project
// answers 404 to a client holding another project's session; the routes are
// read from the portal itself, so a new page is covered the day it is
// added. Nothing of the owner's shows, and nothing of the owner's changes.
func TestEveryPortalPageIsolates(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	owner := a.NewTenant("active")
	pid := a.ReadyProject(owner, "owner-secret-project")
	run := a.Run(owner.Key, pid)
	codeID, _ := a.Code(owner.ID, nil)

	_, email, otherKey := newTenant(t, a, "active")
	otherPID := a.Project(otherKey, "others-own")
	_, otherCode := a.Code(a.Profile(otherKey).ID.String(), nil)
	a.Must(http.StatusOK, a.Do("POST", "/api/tenant/projects/"+otherPID+"/assign-activation-code", otherKey, map[string]any{"code": otherCode}))
	tenant := newClient(t, a.URL)
	tenant.session(a, email)
	client := newClient(t, a.URL)
	sess, err := a.Svc.OpenClientSession(t.Context(), otherCode)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(a.URL)
	client.c.Jar.SetCookies(u, []*http.Cookie{{Name: web.ClientCookie, Value: sess.Token, Path: "/"}})

	e := echo.New()
	portal, err := web.New(a.Svc, web.Config{}, a.Log)
	if err != nil {
		t.Fatal(err)
	}
	portal.Register(e)
	checked := 0
	for _, r := range e.Routes() {
		if !strings.Contains(r.Path, ":") || r.Path == "/status/:code" { // a code in the path is the client's own credential
			continue
		}
		ids := map[string]string{":run": run, ":id": pid}
		if strings.HasPrefix(r.Path, "/codes/") {
			ids[":id"] = codeID
		}
		path := r.Path
		for param, id := range ids {
			path = strings.ReplaceAll(path, param, id)
		}
		if strings.Contains(path, ":") {
			t.Errorf("%s %s: a path parameter this test does not know; add it", r.Method, r.Path)
			continue
		}
		b, from := tenant, "/projects"
		if strings.HasPrefix(r.Path, "/status/") {
			b, from = client, "/status/projects/"+otherPID
		}
		checked++
		var ans answer
		switch r.Method {
		case http.MethodGet:
			ans = b.get(path)
		case http.MethodPost:
			ans = b.post(from, path, url.Values{"name": {"renamed"}, "description": {"d"}, "objectives": {"o"}, "code": {"X"}})
		default:
			t.Errorf("%s %s: a method this test does not know; add it", r.Method, r.Path)
			continue
		}
		if ans.Status != http.StatusNotFound {
			t.Errorf("%s %s as another tenant or client: %d, want 404", r.Method, r.Path, ans.Status)
		}
		if strings.Contains(ans.Body, "owner-secret-project") {
			t.Errorf("%s %s shows the owner's project", r.Method, r.Path)
		}
	}
	if checked < 10 {
		t.Errorf("only %d portal routes with ids checked", checked)
	}
	p := a.GetProject(owner.Key, pid)
	if p.Name != "owner-secret-project" || !p.IsActive || apptest.StatusOf(p) != models.StatusPending {
		t.Errorf("the owner's project changed: %+v", p)
	}
	if apptest.Row[models.ActivationCode](t, a.DB, codeID).RevokedAt != nil {
		t.Error("the owner's code was revoked by another tenant")
	}
}
