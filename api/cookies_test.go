package api_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/q2o/q2o/api"
	"github.com/q2o/q2o/internal/apptest"
)

// The portal's cookie names, as the wiring gives them to the API.
const (
	tenantCookie = "q2o_session"
	clientCookie = "q2o_client"
)

// cookieServer starts a second API over a's service with the portal's
// cookies turned on, and returns its URL.
func cookieServer(t *testing.T, a *apptest.App, cfg api.Config) string {
	t.Helper()
	cfg.AdminToken, cfg.Redis = apptest.AdminToken, a.Redis
	ts := httptest.NewServer(api.New(a.Svc, cfg, a.Log).Handler())
	t.Cleanup(ts.Close)
	return ts.URL
}

// sessionTenant creates a tenant and signs it in by OTP; it returns the
// tenant (with its API key) and a session token.
func sessionTenant(t *testing.T, a *apptest.App) (apptest.Tenant, string) {
	t.Helper()
	email := "Cookie-" + uuid.NewString()[:13] + "@Example.com"
	m := a.Must(http.StatusCreated, a.Do("POST", "/api/admin/tenants", apptest.AdminToken,
		map[string]any{"name": "Cookie tenant", "email": email, "plan": "starter", "subscription_status": "active"}))
	tn := apptest.Tenant{ID: m["id"].(string), Key: m["api_key"].(string)}
	sess := a.Must(http.StatusOK, verify(a, email, requestCode(t, a, email, 1)))
	return tn, sess["token"].(string)
}

// withCookie sends a request with one cookie (and the given headers) and
// checks the answer against the document.
func withCookie(t *testing.T, method, url, name, value string, header map[string]string, body string) apptest.Response {
	t.Helper()
	var req *http.Request
	var err error
	if body != "" {
		req, err = http.NewRequest(method, url, strings.NewReader(body))
	} else {
		req, err = http.NewRequest(method, url, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if name != "" {
		req.AddCookie(&http.Cookie{Name: name, Value: value})
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return sendReq(t, req)
}

// A session token in the tenant cookie signs in a GET, like the bearer.
func TestTenantCookie200(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	url := cookieServer(t, a, api.Config{TenantCookie: tenantCookie, ClientCookie: clientCookie})
	tn, token := sessionTenant(t, a)
	pid := a.Project(tn.Key, "cookie project")

	r := withCookie(t, "GET", url+"/api/tenant/projects/"+pid, tenantCookie, token, nil, "")
	if r.Status != http.StatusOK || r.JSON(t)["name"] != "cookie project" {
		t.Fatalf("GET with the cookie: %d %s", r.Status, r.Body)
	}
	if r := withCookie(t, "GET", url+"/api/tenant/projects", tenantCookie, token, nil, ""); r.Status != http.StatusOK {
		t.Errorf("list with the cookie: %d %s", r.Status, r.Body)
	}
	// EventSource sends only cookies.
	s := openSSE(t, url+"/api/tenant/events", map[string]string{"Cookie": tenantCookie + "=" + token})
	if s.header.Get("Content-Type") != "text/event-stream; charset=utf-8" {
		t.Errorf("events with the cookie: %v", s.header)
	}
	// The bearer still works beside the cookie, and wins.
	other := a.NewTenant("active")
	r = withCookie(t, "GET", url+"/api/tenant/projects/"+pid, tenantCookie, token, map[string]string{"Authorization": "Bearer " + other.Key}, "")
	if r.Status != http.StatusNotFound {
		t.Errorf("another tenant's bearer with this tenant's cookie: %d %s", r.Status, r.Body)
	}
}

// A cookie never changes anything (CSRF), never carries an API key, and
// works only where it is turned on.
func TestTenantCookie401(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	url := cookieServer(t, a, api.Config{TenantCookie: tenantCookie, ClientCookie: clientCookie})
	off := cookieServer(t, a, api.Config{})
	tn, token := sessionTenant(t, a)
	pid := a.ReadyProject(tn, "guarded")

	for _, c := range []struct{ method, path, body string }{
		{"POST", "/api/tenant/projects", `{"name":"n","description":"d","objectives":"o"}`},
		{"PATCH", "/api/tenant/projects/" + pid, `{"name":"renamed by a forged form"}`},
		{"POST", "/api/tenant/projects/" + pid + "/run", ""},
		{"POST", "/api/tenant/activation-codes/generate", `{}`},
		{"PUT", "/api/tenant/profile", `{"name":"forged"}`},
		{"DELETE", "/api/tenant/projects/" + pid, ""},
	} {
		r := withCookie(t, c.method, url+c.path, tenantCookie, token, nil, c.body)
		if r.Status != http.StatusUnauthorized || r.ErrorCode(t) != "unauthorized" {
			t.Errorf("%s %s with only the cookie: %d %s", c.method, c.path, r.Status, r.Body)
		}
	}
	p := a.Must(http.StatusOK, a.Do("GET", "/api/tenant/projects/"+pid, tn.Key, nil))
	if p["name"] != "guarded" || p["is_active"] != true || p["execution_status"] != nil {
		t.Errorf("the project changed: %v", p)
	}

	get := "/api/tenant/projects/" + pid
	for name, c := range map[string]struct {
		url, cookie, value string
		header             map[string]string
	}{
		"an API key in the cookie":        {url, tenantCookie, tn.Key, nil},
		"a tampered token":                {url, tenantCookie, apptest.Tampered(token), nil},
		"another cookie name":             {url, "session", token, nil},
		"the client cookie":               {url, clientCookie, token, nil},
		"cookies turned off":              {off, tenantCookie, token, nil},
		"a bad Authorization beside it":   {url, tenantCookie, token, map[string]string{"Authorization": "Bearer nope"}},
		"an empty Authorization scheme":   {url, tenantCookie, token, map[string]string{"Authorization": "Basic eDp5"}},
		"no cookie and no Authorization":  {url, "", "", nil},
		"the admin token in the cookie":   {url, tenantCookie, apptest.AdminToken, nil},
		"a client session in the cookie":  {url, tenantCookie, "q2c_abcdefgh_" + strings.Repeat("a", 32), nil},
		"a session token without prefix":  {url, tenantCookie, strings.TrimPrefix(token, "q2s_"), nil},
		"a session token, trailing space": {url, tenantCookie, token + " ", nil},
	} {
		r := withCookie(t, "GET", c.url+get, c.cookie, c.value, c.header, "")
		if r.Status != http.StatusUnauthorized {
			t.Errorf("%s: %d %s", name, r.Status, r.Body)
		}
	}

	// After logout the cookie is dead too.
	if r := a.Do("POST", "/api/auth/logout", token, nil); r.Status != http.StatusNoContent {
		t.Fatalf("logout: %d %s", r.Status, r.Body)
	}
	if r := withCookie(t, "GET", url+get, tenantCookie, token, nil, ""); r.Status != http.StatusUnauthorized {
		t.Errorf("after logout: %d %s", r.Status, r.Body)
	}
}

// The client's events and download take the client cookie (a client
// session, or an activation code) after the header and ?code=.
func TestClientCookie(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	url := cookieServer(t, a, api.Config{TenantCookie: tenantCookie, ClientCookie: clientCookie})
	off := cookieServer(t, a, api.Config{})
	tn := a.NewTenant("active")
	pid, _, code := clientProject(t, a, tn, "client cookie")
	cs, err := a.Svc.OpenClientSession(context.Background(), code)
	if err != nil {
		t.Fatal(err)
	}
	dl, events := url+downloadPath(pid), url+"/api/public/projects/"+pid+"/events"

	// Opened (no run yet): 409, not 404.
	for name, value := range map[string]string{"client session": cs.Token, "activation code": code} {
		if r := withCookie(t, "GET", dl, clientCookie, value, nil, ""); r.Status != http.StatusConflict || r.ErrorCode(t) != "project_not_completed" {
			t.Errorf("download with the %s in the cookie: %d %s", name, r.Status, r.Body)
		}
	}
	s := openSSE(t, events, map[string]string{"Cookie": clientCookie + "=" + cs.Token})
	if s.header.Get("Content-Type") != "text/event-stream; charset=utf-8" {
		t.Errorf("events with the cookie: %v", s.header)
	}
	// The session token works in the header and in activate-project too.
	if r := send(t, a, "GET", downloadPath(pid), map[string]string{"X-Activation-Code": cs.Token}, ""); r.Status != http.StatusConflict {
		t.Errorf("download with the session in the header: %d %s", r.Status, r.Body)
	}
	if m := a.Must(http.StatusOK, activate(t, a, cs.Token)); m["id"] != pid {
		t.Errorf("activate with the session: %v", m)
	}

	// Every miss is the one 404.
	other, _, otherCode := clientProject(t, a, tn, "other")
	for name, c := range map[string]struct {
		url, cookie, value string
		header             map[string]string
	}{
		"a wrong session":                   {dl, clientCookie, apptest.Tampered(cs.Token), nil},
		"another project's code":            {dl, clientCookie, otherCode, nil},
		"the session on another project":    {url + downloadPath(other), clientCookie, cs.Token, nil},
		"a wrong header beside the cookie":  {dl, clientCookie, cs.Token, map[string]string{"X-Activation-Code": "wrong"}},
		"the tenant cookie":                 {dl, tenantCookie, cs.Token, nil},
		"cookies turned off":                {off + downloadPath(pid), clientCookie, cs.Token, nil},
		"events with a wrong session":       {events, clientCookie, apptest.Tampered(cs.Token), nil},
		"events with another project's one": {url + "/api/public/projects/" + other + "/events", clientCookie, cs.Token, nil},
	} {
		r := withCookie(t, "GET", c.url, c.cookie, c.value, c.header, "")
		if r.Status != http.StatusNotFound || r.ErrorCode(t) != "not_found" {
			t.Errorf("%s: %d %s", name, r.Status, r.Body)
		}
	}
	// An expired session opens nothing.
	apptest.SetTable(t, a.DB, "client_sessions", "expires_at", gorm.Expr("now() - interval '1 second'"), "true")
	if r := withCookie(t, "GET", dl, clientCookie, cs.Token, nil, ""); r.Status != http.StatusNotFound {
		t.Errorf("an expired session: %d %s", r.Status, r.Body)
	}
	if r := activate(t, a, cs.Token); r.Status != http.StatusNotFound {
		t.Errorf("activate with an expired session: %d %s", r.Status, r.Body)
	}
}
