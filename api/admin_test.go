package api_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/q2o/q2o/internal/apptest"
	"github.com/q2o/q2o/models"
	"github.com/q2o/q2o/service"
)

// as decodes a JSON answer of the wanted status into T.
func as[T any](t *testing.T, want int, r apptest.Response) T {
	t.Helper()
	if r.Status != want {
		t.Fatalf("status %d, want %d: %s", r.Status, want, r.Body)
	}
	var v T
	if err := json.Unmarshal(r.Body, &v); err != nil {
		t.Fatalf("decode %T: %v: %s", v, err, r.Body)
	}
	return v
}

// refused checks a 4xx answer's status, code and field.
func refused(t *testing.T, r apptest.Response, status int, code, field string) {
	t.Helper()
	if r.Status != status || r.ErrorCode(t) != code {
		t.Errorf("got %d %s, want %d %s", r.Status, r.Body, status, code)
		return
	}
	if f, _ := r.JSON(t)["error"].(map[string]any)["field"].(string); f != field {
		t.Errorf("field %q, want %q: %s", f, field, r.Body)
	}
}

// adminRoutes are the admin reads and key routes, each with the method the
// 401 test sends.
var adminReads = []struct{ method, path string }{
	{"GET", "/api/admin/tenants"},
	{"GET", "/api/admin/tenants/{t}"},
	{"GET", "/api/admin/tenants/{t}/activation-codes"},
	{"GET", "/api/admin/tenants/{t}/api-keys"},
	{"POST", "/api/admin/tenants/{t}/api-keys"},
	{"POST", "/api/admin/tenants/{t}/api-keys/{t}/revoke"},
	{"GET", "/api/admin/executions"},
	{"GET", "/api/admin/executions/{t}"},
}

func TestAdminReads(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	acme := a.NewTenant("active")
	a.Must(http.StatusOK, a.Do("PUT", "/api/tenant/profile", acme.Key, map[string]any{"name": "Acme Rockets", "domain": "rockets.example"}))
	other := a.NewTenant("past_due")
	pid := a.ReadyProject(acme, "rocket")
	a.Project(acme.Key, "spare")
	run := a.Must(http.StatusAccepted, a.Do("POST", "/api/tenant/projects/"+pid+"/run", acme.Key, nil))
	eid := run["execution_id"].(string)

	t.Run("401", func(t *testing.T) {
		for _, r := range adminReads {
			path := strings.ReplaceAll(r.path, "{t}", acme.ID)
			for _, token := range []string{"", "wrong-token-wrong-token", acme.Key} {
				var body any
				if r.method == "POST" {
					body = map[string]any{}
				}
				refused(t, a.Do(r.method, path, token, body), http.StatusUnauthorized, "unauthorized", "")
			}
		}
	})

	t.Run("ListTenants/200", func(t *testing.T) {
		page := as[service.Page[service.TenantSummary]](t, 200, a.Do("GET", "/api/admin/tenants", apptest.AdminToken, nil))
		if page.Total != 2 || len(page.Items) != 2 || page.Items[0].ID.String() != other.ID {
			t.Fatalf("tenants, newest first: %+v", page)
		}
		got := page.Items[1]
		if got.ID.String() != acme.ID || got.PlanCode != "starter" || got.SubscriptionStatus != "active" ||
			got.Projects != 2 || got.LiveRuns != 1 {
			t.Errorf("acme: %+v", got)
		}
		for q, want := range map[string]int64{"rockets": 1, "ROCKETS.EXAMPLE": 1, "past_due-": 1, "example.com": 2, "%": 0, "nobody": 0} {
			p := as[service.Page[service.TenantSummary]](t, 200, a.Do("GET", "/api/admin/tenants?q="+url.QueryEscape(q), apptest.AdminToken, nil))
			if p.Total != want {
				t.Errorf("q=%s: %d tenants, want %d", q, p.Total, want)
			}
		}
		p := as[service.Page[service.TenantSummary]](t, 200, a.Do("GET", "/api/admin/tenants?per_page=1&page=2", apptest.AdminToken, nil))
		if p.TotalPages != 2 || len(p.Items) != 1 || p.Items[0].ID.String() != acme.ID {
			t.Errorf("page 2 of 1 each: %+v", p)
		}
	})

	t.Run("ListTenants/400", func(t *testing.T) {
		refused(t, a.Do("GET", "/api/admin/tenants?page=0", apptest.AdminToken, nil), 400, "invalid_page", "page")
		refused(t, a.Do("GET", "/api/admin/tenants?per_page=101", apptest.AdminToken, nil), 400, "invalid_per_page", "per_page")
		refused(t, a.Do("GET", "/api/admin/tenants?search=acme", apptest.AdminToken, nil), 400, "unknown_parameter", "search")
	})

	t.Run("GetTenant/200", func(t *testing.T) {
		got := as[service.TenantSummary](t, 200, a.Do("GET", "/api/admin/tenants/"+other.ID, apptest.AdminToken, nil))
		if got.ID.String() != other.ID || got.SubscriptionStatus != "past_due" || got.Projects != 0 || got.LiveRuns != 0 {
			t.Errorf("other: %+v", got)
		}
	})

	t.Run("GetTenant/404", func(t *testing.T) {
		for _, id := range []string{"0192f0c4-6c1e-7a3b-9d2e-4f5a6b7c8d9e", "not-a-uuid"} {
			refused(t, a.Do("GET", "/api/admin/tenants/"+id, apptest.AdminToken, nil), 404, "tenant_not_found", "")
			refused(t, a.Do("GET", "/api/admin/tenants/"+id+"/activation-codes", apptest.AdminToken, nil), 404, "tenant_not_found", "")
			refused(t, a.Do("GET", "/api/admin/tenants/"+id+"/api-keys", apptest.AdminToken, nil), 404, "tenant_not_found", "")
			refused(t, a.Do("POST", "/api/admin/tenants/"+id+"/api-keys", apptest.AdminToken, map[string]any{}), 404, "tenant_not_found", "")
		}
	})

	t.Run("TenantCodes/200", func(t *testing.T) {
		revokedID, _ := a.Code(acme.ID, nil)
		a.Must(200, a.Do("POST", "/api/admin/activation-codes/"+revokedID+"/revoke", apptest.AdminToken, nil))
		all := as[service.CodePage](t, 200, a.Do("GET", "/api/admin/tenants/"+acme.ID+"/activation-codes", apptest.AdminToken, nil))
		if all.Total != 2 {
			t.Errorf("acme's codes: %+v", all)
		}
		for status, want := range map[string]int64{"revoked": 1, "assigned": 1, "available": 0, "used_up": 1} {
			p := as[service.CodePage](t, 200, a.Do("GET", "/api/admin/tenants/"+acme.ID+"/activation-codes?status="+status, apptest.AdminToken, nil))
			if p.Total != want {
				t.Errorf("status=%s: %d codes, want %d", status, p.Total, want)
			}
		}
		none := as[service.CodePage](t, 200, a.Do("GET", "/api/admin/tenants/"+other.ID+"/activation-codes", apptest.AdminToken, nil))
		if none.Total != 0 {
			t.Errorf("other's codes: %+v", none)
		}
	})

	t.Run("TenantCodes/400", func(t *testing.T) {
		path := "/api/admin/tenants/" + acme.ID + "/activation-codes"
		refused(t, a.Do("GET", path+"?status=lost", apptest.AdminToken, nil), 400, "invalid_status", "status")
		refused(t, a.Do("GET", path+"?state=revoked", apptest.AdminToken, nil), 400, "unknown_parameter", "state")
	})

	t.Run("ListExecutions/200", func(t *testing.T) {
		page := as[service.Page[service.AdminExecution]](t, 200, a.Do("GET", "/api/admin/executions", apptest.AdminToken, nil))
		if page.Total != 1 || page.Items[0].ID.String() != eid || page.Items[0].TenantID.String() != acme.ID ||
			page.Items[0].ProjectName != "rocket" || page.Items[0].TenantName != "Acme Rockets" || page.Items[0].Status != "pending" {
			t.Fatalf("executions: %+v", page)
		}
		created := page.Items[0].CreatedAt
		for query, want := range map[string]int64{
			"status=pending":                        1,
			"status=running":                        0,
			"tenant_id=" + acme.ID:                  1,
			"tenant_id=" + other.ID:                 0,
			"from=" + rfc(created):                  1,
			"to=" + rfc(created):                    0,
			"from=" + rfc(created.Add(time.Second)): 0,
			"to=" + rfc(created.Add(time.Second)) + "&status=pending&tenant_id=" + acme.ID: 1,
		} {
			p := as[service.Page[service.AdminExecution]](t, 200, a.Do("GET", "/api/admin/executions?"+query, apptest.AdminToken, nil))
			if p.Total != want {
				t.Errorf("%s: %d executions, want %d", query, p.Total, want)
			}
		}
	})

	t.Run("ListExecutions/400", func(t *testing.T) {
		for query, want := range map[string][2]string{
			"status=done":    {"invalid_status", "status"},
			"tenant_id=acme": {"invalid_tenant_id", "tenant_id"},
			"from=yesterday": {"invalid_time", "from"},
			"from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z": {"invalid_range", "to"},
			"per_page=0":        {"invalid_per_page", "per_page"},
			"tenant=" + acme.ID: {"unknown_parameter", "tenant"},
		} {
			refused(t, a.Do("GET", "/api/admin/executions?"+query, apptest.AdminToken, nil), 400, want[0], want[1])
		}
	})

	t.Run("GetExecution/200", func(t *testing.T) {
		d := as[service.AdminExecutionDetail](t, 200, a.Do("GET", "/api/admin/executions/"+eid, apptest.AdminToken, nil))
		if d.ID.String() != eid || d.TenantID.String() != acme.ID || len(d.Events) == 0 || d.Events[0].Kind != "queued" || d.LogTail == nil {
			t.Errorf("execution: %+v", d)
		}
	})

	t.Run("GetExecution/400", func(t *testing.T) {
		refused(t, a.Do("GET", "/api/admin/executions/"+eid+"?tail=1001", apptest.AdminToken, nil), 400, "invalid_tail", "tail")
		refused(t, a.Do("GET", "/api/admin/executions/"+eid+"?tail=x", apptest.AdminToken, nil), 400, "invalid_tail", "tail")
	})

	t.Run("GetExecution/404", func(t *testing.T) {
		for _, id := range []string{"0192f0c4-6c1e-7a3b-9d2e-4f5a6b7c8d9e", "nope"} {
			refused(t, a.Do("GET", "/api/admin/executions/"+id, apptest.AdminToken, nil), 404, "execution_not_found", "")
		}
	})
}

// The log tail of an execution that ran: its last lines.
func TestAdminExecutionLogTail(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	tn := a.NewTenant("active")
	pid := a.ReadyProject(tn, "logged")
	a.StartWorker(a.WorkerConfig())
	eid := a.Must(http.StatusAccepted, a.Do("POST", "/api/tenant/projects/"+pid+"/run", tn.Key, nil))["execution_id"].(string)
	a.AwaitProject(tn.Key, pid, 30*time.Second, apptest.HasStatus(models.StatusCompleted))
	d := as[service.AdminExecutionDetail](t, 200, a.Do("GET", "/api/admin/executions/"+eid+"?tail=2", apptest.AdminToken, nil))
	if d.Status != "completed" || len(d.LogTail) != 2 || d.WorkerID == nil {
		t.Errorf("completed run: status %s, worker %v, log tail %q", d.Status, d.WorkerID, d.LogTail)
	}
	full := as[service.AdminExecutionDetail](t, 200, a.Do("GET", "/api/admin/executions/"+eid+"?tail=1000", apptest.AdminToken, nil))
	if len(full.LogTail) < 2 || strings.Join(full.LogTail[len(full.LogTail)-2:], "\n") != strings.Join(d.LogTail, "\n") {
		t.Errorf("tail=2 %q is not the end of the whole log %q", d.LogTail, full.LogTail)
	}
	none := as[service.AdminExecutionDetail](t, 200, a.Do("GET", "/api/admin/executions/"+eid+"?tail=0", apptest.AdminToken, nil))
	if len(none.LogTail) != 0 {
		t.Errorf("tail=0: %q", none.LogTail)
	}
}

func TestAdminAPIKeys(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	tn := a.NewTenant("active")
	other := a.NewTenant("active")

	t.Run("201", func(t *testing.T) {
		r := a.Do("POST", "/api/admin/tenants/"+tn.ID+"/api-keys", apptest.AdminToken, map[string]any{"name": "ci"})
		k := as[service.CreatedAPIKey](t, 201, r)
		if r.Header.Get("Cache-Control") != "no-store" || k.Name != "ci" || !strings.HasPrefix(k.Key, "q2o_"+k.Prefix+"_") || k.RevokedAt != nil {
			t.Fatalf("new key: %+v (Cache-Control %q)", k, r.Header.Get("Cache-Control"))
		}
		a.Must(200, a.Do("GET", "/api/tenant/profile", k.Key, nil)) // it works
		if n := rowsHolding(t, a, "api_keys", k.Key[13:]); n != 0 {
			t.Errorf("%d rows hold the key's plaintext", n)
		}
		unnamed := as[service.CreatedAPIKey](t, 201, a.Do("POST", "/api/admin/tenants/"+tn.ID+"/api-keys", apptest.AdminToken, map[string]any{}))
		if unnamed.Name != "admin" {
			t.Errorf("default name %q", unnamed.Name)
		}
	})

	t.Run("400", func(t *testing.T) {
		path := "/api/admin/tenants/" + tn.ID + "/api-keys"
		refused(t, a.Do("POST", path, apptest.AdminToken, map[string]any{"name": strings.Repeat("k", 101)}), 400, "field_too_long", "name")
		refused(t, a.Do("POST", path, apptest.AdminToken, map[string]any{"label": "x"}), 400, "unknown_field", "label")
	})

	t.Run("200", func(t *testing.T) {
		list := as[struct{ Items []service.APIKeyView }](t, 200, a.Do("GET", "/api/admin/tenants/"+tn.ID+"/api-keys", apptest.AdminToken, nil))
		if len(list.Items) != 3 || list.Items[2].Name != "default" {
			t.Fatalf("keys, newest first: %+v", list.Items)
		}
		first := list.Items[2]
		revoked := as[service.APIKeyView](t, 200, a.Do("POST", "/api/admin/tenants/"+tn.ID+"/api-keys/"+first.ID.String()+"/revoke", apptest.AdminToken, nil))
		if revoked.RevokedAt == nil || revoked.ID != first.ID {
			t.Fatalf("revoked: %+v", revoked)
		}
		refused(t, a.Do("GET", "/api/tenant/profile", tn.Key, nil), 401, "unauthorized", "")
		again := as[service.APIKeyView](t, 200, a.Do("POST", "/api/admin/tenants/"+tn.ID+"/api-keys/"+first.ID.String()+"/revoke", apptest.AdminToken, nil))
		if !again.RevokedAt.Equal(*revoked.RevokedAt) {
			t.Errorf("revoking twice moved revoked_at: %v then %v", revoked.RevokedAt, again.RevokedAt)
		}
	})

	t.Run("404", func(t *testing.T) {
		list := as[struct{ Items []service.APIKeyView }](t, 200, a.Do("GET", "/api/admin/tenants/"+other.ID+"/api-keys", apptest.AdminToken, nil))
		otherKey := list.Items[0].ID.String()
		for _, id := range []string{otherKey, "0192f0c4-6c1e-7a3b-9d2e-4f5a6b7c8d9e", "x"} {
			refused(t, a.Do("POST", "/api/admin/tenants/"+tn.ID+"/api-keys/"+id+"/revoke", apptest.AdminToken, nil), 404, "api_key_not_found", "")
		}
		a.Must(200, a.Do("GET", "/api/tenant/profile", other.Key, nil)) // another tenant's key is untouched
	})
}

func TestTenantExecution(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	tn := a.NewTenant("active")
	other := a.NewTenant("active")
	pid := a.ReadyProject(tn, "by id")
	eid := a.Must(http.StatusAccepted, a.Do("POST", "/api/tenant/projects/"+pid+"/run", tn.Key, nil))["execution_id"].(string)

	t.Run("200", func(t *testing.T) {
		byID := a.Do("GET", "/api/tenant/executions/"+eid, tn.Key, nil)
		scoped := a.Do("GET", "/api/tenant/projects/"+pid+"/executions/"+eid, tn.Key, nil)
		d := as[service.ExecutionDetail](t, 200, byID)
		if d.ID.String() != eid || d.ProjectID.String() != pid || len(d.Events) == 0 {
			t.Errorf("execution: %+v", d)
		}
		if string(byID.Body) != string(scoped.Body) {
			t.Errorf("by id:\n%s\nproject-scoped:\n%s", byID.Body, scoped.Body)
		}
	})

	t.Run("401", func(t *testing.T) {
		refused(t, a.Do("GET", "/api/tenant/executions/"+eid, "", nil), 401, "unauthorized", "")
	})

	t.Run("404", func(t *testing.T) {
		for _, c := range []struct{ key, id string }{{other.Key, eid}, {tn.Key, "0192f0c4-6c1e-7a3b-9d2e-4f5a6b7c8d9e"}, {tn.Key, "x"}} {
			refused(t, a.Do("GET", "/api/tenant/executions/"+c.id, c.key, nil), 404, "execution_not_found", "")
		}
	})
}

// A query parameter a route does not take is refused on the routes that
// take some, and the refusal names it; the routes that take none ignore a
// query string.
func TestUnknownQueryParameter400(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	tn := a.NewTenant("active")
	pid := a.Project(tn.Key, "p")
	for _, path := range []string{
		"/api/tenant/projects?stauts=failed",
		"/api/tenant/projects/status?page=1&sort=name",
		"/api/tenant/projects/" + pid + "/executions?per_page=5",
		"/api/tenant/activation-codes?status=available&x=1",
	} {
		r := a.Do("GET", path, tn.Key, nil)
		if r.Status != 400 || r.ErrorCode(t) != "unknown_parameter" {
			t.Errorf("%s: %d %s", path, r.Status, r.Body)
			continue
		}
		if msg := r.JSON(t)["error"].(map[string]any)["message"].(string); !strings.Contains(msg, "takes only") {
			t.Errorf("%s: message %q does not say which parameters the route takes", path, msg)
		}
	}
	a.Must(200, a.Do("GET", "/api/tenant/projects?status=failed&page=1&per_page=5&q=x", tn.Key, nil))
	a.Must(200, a.Do("GET", "/api/tenant/profile?_=123", tn.Key, nil))
}

func rfc(t time.Time) string { return url.QueryEscape(t.UTC().Format(time.RFC3339Nano)) }
