package api_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/q2o/q2o/internal/apptest"
	"github.com/q2o/q2o/jobs"
	"github.com/q2o/q2o/models"
)

// POST /api/admin/tenants, by the status each request gets.
func TestAdminCreateTenant(t *testing.T) {
	t.Parallel()
	t.Run("201", func(t *testing.T) {
		t.Parallel()
		a := apptest.New(t, apptest.Options{})
		m := apptest.Decode[apptest.CreatedTenant](t, http.StatusCreated, a.Do("POST", "/api/admin/tenants", apptest.AdminToken,
			map[string]any{"name": "Acme", "email": "ops@acme.example", "plan": "pro", "subscription_status": "active"}))
		key := m.APIKey
		if !strings.HasPrefix(key, "q2o_") || m.ID == uuid.Nil || m.PlanCode != "pro" || m.SubscriptionStatus != models.SubActive {
			t.Fatalf("unexpected tenant: %+v", m)
		}
		// The key is stored as its SHA-256 hash, never in plaintext.
		hashed := apptest.Count[models.APIKey](t, a.DB, "key_hash = sha256(convert_to(?, 'UTF8'))", key)
		plain := rowsHolding(t, a, "api_keys", key[13:]) // the part after q2o_<prefix>_
		if hashed != 1 || plain != 0 {
			t.Errorf("API key storage: %d rows match its hash (want 1), %d hold its plaintext (want 0)", hashed, plain)
		}
		// And it works.
		a.Must(http.StatusCreated, a.Do("POST", "/api/tenant/projects", key,
			map[string]any{"name": "P", "description": "D", "objectives": "O"}))
	})
	t.Run("400", func(t *testing.T) {
		t.Parallel()
		a := apptest.New(t, apptest.Options{})
		cases := []struct {
			name, body, code, field string
		}{
			{"no body", "", "invalid_json", ""},
			{"not json", "{name:", "invalid_json", ""},
			{"array", `[1]`, "invalid_json", ""},
			{"two objects", `{"name":"A","email":"a@example.com"}{}`, "invalid_json", ""},
			{"unknown field", `{"name":"A","email":"a@example.com","x":1}`, "unknown_field", "x"},
			{"wrong type", `{"name":5,"email":"a@example.com"}`, "invalid_type", "name"},
			{"missing name", `{"email":"a@example.com"}`, "missing_field", "name"},
			{"blank name", `{"name":"  ","email":"a@example.com"}`, "missing_field", "name"},
			{"missing email", `{"name":"A"}`, "missing_field", "email"},
			{"bad email", `{"name":"A","email":"not an email"}`, "invalid_email", "email"},
			// One set of limits everywhere: the profile's name, an email OTP can sign in.
			{"name too long", `{"name":"` + strings.Repeat("n", 10000) + `","email":"a@example.com"}`, "field_too_long", "name"},
			{"email too long", `{"name":"A","email":"` + strings.Repeat("a", 64) + "@" + strings.Repeat("b", 231) + `.example"}`, "invalid_email", "email"},
			{"name not UTF-8", "{\"name\":\"Acm\xe9\",\"email\":\"a@example.com\"}", "invalid_field", "name"},
			{"name with NUL", `{"name":"A\u0000B","email":"a@example.com"}`, "invalid_field", "name"},
			{"unknown plan", `{"name":"A","email":"a@example.com","plan":"gold"}`, "unknown_plan", "plan"},
			{"bad status", `{"name":"A","email":"a@example.com","subscription_status":"happy"}`, "invalid_status", "subscription_status"},
		}
		for _, c := range cases {
			r := a.Do("POST", "/api/admin/tenants", apptest.AdminToken, c.body)
			if r.Status != http.StatusBadRequest || r.ErrorCode(t) != c.code {
				t.Errorf("%s: got %d %s, want 400 %s", c.name, r.Status, r.Body, c.code)
				continue
			}
			if f := r.Err(t).Field; f != c.field {
				t.Errorf("%s: field %q, want %q", c.name, f, c.field)
			}
		}
		apptest.RequireCount[models.Tenant](t, a.DB, 0, "tenants written by refused requests", "")
	})
	t.Run("401", func(t *testing.T) {
		t.Parallel()
		a := apptest.New(t, apptest.Options{})
		for _, token := range []string{"", "wrong-token-wrong-token", apptest.AdminToken + "x"} {
			r := a.Do("POST", "/api/admin/tenants", token, map[string]any{"name": "A", "email": "a@example.com"})
			if r.Status != http.StatusUnauthorized || r.ErrorCode(t) != "unauthorized" {
				t.Errorf("token %q: %d %s", token, r.Status, r.Body)
			}
		}
	})
	t.Run("409", func(t *testing.T) {
		t.Parallel()
		a := apptest.New(t, apptest.Options{})
		a.Must(http.StatusCreated, a.Do("POST", "/api/admin/tenants", apptest.AdminToken,
			map[string]any{"name": "Acme", "email": "ops@acme.example", "plan": "pro", "subscription_status": "active"}))
		r := a.Do("POST", "/api/admin/tenants", apptest.AdminToken, map[string]any{"name": "Acme 2", "email": "OPS@acme.example"})
		if r.Status != http.StatusConflict || r.ErrorCode(t) != "email_taken" {
			t.Fatalf("duplicate email: %d %s", r.Status, r.Body)
		}
	})
}

func TestAdminCodesAndSubscription(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	tn := a.NewTenant("active")
	m := apptest.Decode[apptest.IssuedCodes](t, http.StatusCreated, a.Do("POST", "/api/admin/tenants/"+tn.ID+"/activation-codes", apptest.AdminToken,
		map[string]any{"count": 3, "max_uses": 2, "expires_at": time.Now().Add(time.Hour).Format(time.RFC3339)}))
	codes := m.Codes
	if len(codes) != 3 {
		t.Fatalf("want 3 codes, got %+v", m)
	}
	seen := map[string]bool{}
	for _, c := range codes {
		code := c.Code
		if len(strings.ReplaceAll(code, "-", "")) != 20 || strings.ContainsAny(code, "01OI") || seen[code] {
			t.Errorf("bad or repeated code %q", code)
		}
		seen[code] = true
	}

	for _, c := range []struct {
		path, body, code string
		status           int
	}{
		{"/api/admin/tenants/" + tn.ID + "/activation-codes", `{"count":0.5}`, "invalid_type", 400},
		{"/api/admin/tenants/" + tn.ID + "/activation-codes", `{"count":101}`, "invalid_count", 400},
		{"/api/admin/tenants/" + tn.ID + "/activation-codes", `{"max_uses":-1}`, "invalid_max_uses", 400},
		{"/api/admin/tenants/" + tn.ID + "/activation-codes", `{"expires_at":"tomorrow"}`, "invalid_time", 400},
		{"/api/admin/tenants/" + tn.ID + "/activation-codes", `{"expires_at":"2001-01-01T00:00:00Z"}`, "invalid_expires_at", 400},
		{"/api/admin/tenants/00000000-0000-0000-0000-000000000000/activation-codes", `{}`, "tenant_not_found", 404},
		{"/api/admin/tenants/not-a-uuid/activation-codes", `{}`, "tenant_not_found", 404},
	} {
		r := a.Do("POST", c.path, apptest.AdminToken, c.body)
		if r.Status != c.status || r.ErrorCode(t) != c.code {
			t.Errorf("%s %s: %d %s, want %d %s", c.path, c.body, r.Status, r.Body, c.status, c.code)
		}
	}

	if sub := a.SetSubscription(tn.ID, models.SubPastDue); sub.Status != models.SubPastDue {
		t.Fatalf("subscription: %+v", sub)
	}
	// Becoming inactive writes a tenant:pause task to the outbox.
	apptest.RequireOutbox(t, a.DB, jobs.TypeTenantPause, 1)
	for _, body := range []string{`{}`, `{"status":"bogus"}`} {
		r := a.Do("PUT", "/api/admin/tenants/"+tn.ID+"/subscription", apptest.AdminToken, body)
		if r.Status != 400 {
			t.Errorf("subscription %s: %d %s", body, r.Status, r.Body)
		}
	}
	r := a.Do("PUT", "/api/admin/tenants/00000000-0000-0000-0000-000000000000/subscription", apptest.AdminToken, `{"status":"active"}`)
	if r.Status != 404 || r.ErrorCode(t) != "tenant_not_found" {
		t.Errorf("unknown tenant: %d %s", r.Status, r.Body)
	}

	codeID := codes[0].ID.String()
	rev := apptest.Decode[models.ActivationCode](t, http.StatusOK, a.Do("POST", "/api/admin/activation-codes/"+codeID+"/revoke", apptest.AdminToken, nil))
	if rev.RevokedAt == nil {
		t.Errorf("revoke: %+v", rev)
	}
	r = a.Do("POST", "/api/admin/activation-codes/00000000-0000-0000-0000-000000000000/revoke", apptest.AdminToken, nil)
	if r.Status != 404 || r.ErrorCode(t) != "activation_code_not_found" {
		t.Errorf("revoke unknown: %d %s", r.Status, r.Body)
	}
}

// The tenant's project routes refuse a missing or wrong key (401) and hide
// another tenant's projects (404).
func TestProjectRoutes(t *testing.T) {
	t.Parallel()
	t.Run("401", func(t *testing.T) {
		t.Parallel()
		a := apptest.New(t, apptest.Options{})
		tn := a.NewTenant("active")
		bad := []string{"", "nope", "q2o_aaaaaaaa_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", apptest.Tampered(tn.Key), apptest.AdminToken}
		for _, key := range bad {
			for _, rt := range [][2]string{
				{"POST", "/api/tenant/projects"},
				{"GET", "/api/tenant/projects/00000000-0000-0000-0000-000000000000"},
				{"POST", "/api/tenant/projects/00000000-0000-0000-0000-000000000000/run"},
			} {
				r := a.Do(rt[0], rt[1], key, `{"name":"a","description":"b","objectives":"c"}`)
				if r.Status != http.StatusUnauthorized || r.ErrorCode(t) != "unauthorized" {
					t.Errorf("%s %s with key %q: %d %s", rt[0], rt[1], key, r.Status, r.Body)
				}
			}
		}
	})
	t.Run("404", func(t *testing.T) {
		t.Parallel()
		a := apptest.New(t, apptest.Options{})
		owner, other := a.NewTenant("active"), a.NewTenant("active")
		pid := a.ReadyProject(owner, "mine")
		eid := a.Run(owner.Key, pid)
		_, code := a.Code(other.ID, nil)
		for _, rt := range []struct{ method, path string }{
			{"GET", "/api/tenant/projects/" + pid},
			{"POST", "/api/tenant/projects/" + pid + "/assign-activation-code"},
			{"POST", "/api/tenant/projects/" + pid + "/run"},
			{"GET", "/api/tenant/projects/" + pid + "/executions/" + eid},
		} {
			r := a.Do(rt.method, rt.path, other.Key, map[string]any{"code": code})
			if r.Status != http.StatusNotFound {
				t.Errorf("%s %s as another tenant: %d %s", rt.method, rt.path, r.Status, r.Body)
			}
			if strings.Contains(string(r.Body), "mine") {
				t.Errorf("%s %s leaks the project: %s", rt.method, rt.path, r.Body)
			}
		}
		for _, path := range []string{"/api/tenant/projects/nope", "/api/tenant/projects/" + strings.ToUpper(pid) + "x"} {
			if r := a.Do("GET", path, owner.Key, nil); r.Status != 404 || r.ErrorCode(t) != "project_not_found" {
				t.Errorf("GET %s: %d %s", path, r.Status, r.Body)
			}
		}
		if r := a.Do("GET", "/api/nothing-here", owner.Key, nil); r.Status != 404 || r.ErrorCode(t) != "route_not_found" {
			t.Errorf("unknown route: %d %s", r.Status, r.Body)
		}
		if r := a.Do("DELETE", "/api/tenant/projects", owner.Key, nil); r.Status != 405 || r.ErrorCode(t) != "method_not_allowed" {
			t.Errorf("wrong method: %d %s", r.Status, r.Body)
		}
	})
}

// POST /api/tenant/projects, by the status each request gets: an active
// subscription makes any number of projects, a trialing one one (403 after
// that, however many ask at once), any other none (402).
func TestCreateProject(t *testing.T) {
	t.Parallel()
	t.Run("201", func(t *testing.T) {
		t.Parallel()
		a := apptest.New(t, apptest.Options{})
		active := a.NewTenant("active")
		for i := 0; i < 3; i++ {
			a.Project(active.Key, "active project")
		}
		trial := a.NewTenant("trialing")
		a.Project(trial.Key, "first")
	})
	t.Run("400", func(t *testing.T) {
		t.Parallel()
		a := apptest.New(t, apptest.Options{})
		tn := a.NewTenant("active")
		cases := []struct {
			body, code, field string
		}{
			{`{"description":"d","objectives":"o"}`, "missing_field", "name"},
			{`{"name":"n","objectives":"o"}`, "missing_field", "description"},
			{`{"name":"n","description":"d"}`, "missing_field", "objectives"},
			{`{"name":" \t","description":"d","objectives":"o"}`, "blank_field", "name"},
			{`{"name":"n","description":"","objectives":"o"}`, "blank_field", "description"},
			{`{"name":"n","description":"d","objectives":"\n"}`, "blank_field", "objectives"},
			{`{"name":null,"description":"d","objectives":"o"}`, "missing_field", "name"},
			{`{"name":"` + strings.Repeat("x", 201) + `","description":"d","objectives":"o"}`, "field_too_long", "name"},
			{`{"name":"a\u0000b","description":"d","objectives":"o"}`, "invalid_field", "name"},
			{"{\"name\":\"caf\xe9\",\"description\":\"d\",\"objectives\":\"o\"}", "invalid_field", "name"},
			{"{\"name\":\"n\",\"description\":\"d\",\"objectives\":[\"\xff\"]}", "invalid_field", "objectives"},
			{`{"name":["n"],"description":"d","objectives":"o"}`, "invalid_type", "name"},
		}
		for _, c := range cases {
			r := a.Do("POST", "/api/tenant/projects", tn.Key, c.body)
			if r.Status != 400 || r.ErrorCode(t) != c.code || r.Err(t).Field != c.field {
				t.Errorf("%s: %d %s, want 400 %s/%s", c.body, r.Status, r.Body, c.code, c.field)
			}
		}
		apptest.RequireCount[models.Project](t, a.DB, 0, "projects written by refused requests", "")
	})
	t.Run("402", func(t *testing.T) {
		t.Parallel()
		a := apptest.New(t, apptest.Options{})
		for _, status := range []string{"past_due", "canceled", "unpaid", "suspended", "incomplete", "paused"} {
			tn := a.NewTenant(status)
			r := a.Do("POST", "/api/tenant/projects", tn.Key, map[string]any{"name": "n", "description": "d", "objectives": "o"})
			if r.Status != http.StatusPaymentRequired || r.ErrorCode(t) != "subscription_inactive" {
				t.Errorf("%s: %d %s", status, r.Status, r.Body)
			}
		}
	})
	t.Run("403", func(t *testing.T) {
		t.Parallel()
		a := apptest.New(t, apptest.Options{})
		trial := a.NewTenant("trialing")
		a.Project(trial.Key, "first")
		r := a.Do("POST", "/api/tenant/projects", trial.Key, map[string]any{"name": "second", "description": "d", "objectives": "o"})
		if r.Status != http.StatusForbidden || r.ErrorCode(t) != "trial_project_limit" {
			t.Errorf("second trial project: %d %s", r.Status, r.Body)
		}
	})
	t.Run("403_concurrent_trial", func(t *testing.T) {
		t.Parallel()
		a := apptest.New(t, apptest.Options{})
		trial := a.NewTenant("trialing")
		statuses := statusCounts(race(t, a, 20, func(int) call {
			return call{"POST", "/api/tenant/projects", trial.Key, map[string]any{"name": "n", "description": "d", "objectives": "o"}}
		}))
		if statuses[http.StatusCreated] != 1 || statuses[http.StatusForbidden] != 19 {
			t.Errorf("20 concurrent creates of a trial tenant: %v, want one 201 and nineteen 403", statuses)
		}
	})
	t.Run("413", func(t *testing.T) {
		t.Parallel()
		a := apptest.New(t, apptest.Options{})
		tn := a.NewTenant("active")
		r := a.Do("POST", "/api/tenant/projects", tn.Key, `{"name":"`+strings.Repeat("x", 2<<20)+`"}`)
		if r.Status != http.StatusRequestEntityTooLarge || r.ErrorCode(t) != "body_too_large" {
			t.Errorf("huge body: %d %.200s", r.Status, r.Body)
		}
		// The same body sent chunked (no Content-Length) is refused the same way.
		huge := `{"name":"` + strings.Repeat("x", 2<<20) + `","description":"d","objectives":"o"}`
		req, err := http.NewRequest("POST", a.URL+"/api/tenant/projects", io.MultiReader(strings.NewReader(huge)))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tn.Key)
		r = sendReq(t, req)
		if r.Status != http.StatusRequestEntityTooLarge || r.ErrorCode(t) != "body_too_large" || strings.Contains(string(r.Body), "code=") {
			t.Errorf("huge chunked body: %d %.300s, want 413 body_too_large", r.Status, r.Body)
		}
		apptest.RequireCount[models.Project](t, a.DB, 0, "projects written by refused requests", "")
	})
}

// POST /api/tenant/projects/{id}/assign-activation-code: 200 assigns a valid
// code of the tenant's once, 409 refuses a second, 422 a code that is not
// valid (revoked, expired, used up, another tenant's), 400 no code.
func TestAssignActivationCode(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	tn, other := a.NewTenant("active"), a.NewTenant("active")
	assign := func(pid, code string) apptest.Response {
		return a.Do("POST", "/api/tenant/projects/"+pid+"/assign-activation-code", tn.Key, map[string]any{"code": code})
	}

	_, good := a.Code(tn.ID, nil)
	revokedID, revoked := a.Code(tn.ID, nil)
	a.Must(200, a.Do("POST", "/api/admin/activation-codes/"+revokedID+"/revoke", apptest.AdminToken, nil))
	expiredID, expired := a.Code(tn.ID, map[string]any{"count": 1, "expires_at": time.Now().Add(time.Hour).Format(time.RFC3339)})
	apptest.Set[models.ActivationCode](t, a.DB, "expires_at", gorm.Expr("now() - interval '1 minute'"), "id = ?", expiredID)
	_, usedUp := a.Code(tn.ID, nil)
	_, foreign := a.Code(other.ID, nil)
	a.Must(200, assign(a.Project(tn.Key, "uses the single-use code"), usedUp))

	var pid string // assigned in 200, assigned again in 409
	t.Run("400_422", func(t *testing.T) {
		for _, c := range []struct {
			code, want string
			status     int
		}{
			{revoked, "activation_code_revoked", 422},
			{expired, "activation_code_expired", 422},
			{usedUp, "activation_code_used_up", 422},
			{foreign, "invalid_activation_code", 422},
			{"AAAAA-BBBBB-CCCCC-DDDDD", "invalid_activation_code", 422},
			{"", "missing_field", 400},
		} {
			pid := a.Project(tn.Key, "p")
			r := assign(pid, c.code)
			if r.Status != c.status || r.ErrorCode(t) != c.want {
				t.Errorf("code %q: %d %s, want %d %s", c.code, r.Status, r.Body, c.status, c.want)
			}
			if p := a.GetProject(tn.Key, pid); p.ActivationCodeID != nil {
				t.Errorf("code %q: refused but assigned", c.code)
			}
		}
	})
	t.Run("200", func(t *testing.T) {
		pid = a.Project(tn.Key, "p")
		// Codes are accepted in any case and without dashes.
		p := apptest.Decode[models.Project](t, 200, assign(pid, strings.ToLower(strings.ReplaceAll(good, "-", ""))))
		if p.ActivationCodeID == nil {
			t.Fatalf("assign: %+v", p)
		}
	})
	t.Run("409", func(t *testing.T) {
		_, another := a.Code(tn.ID, nil)
		if r := assign(pid, another); r.Status != 409 || r.ErrorCode(t) != "activation_code_already_assigned" {
			t.Errorf("second assign: %d %s", r.Status, r.Body)
		}
		var c models.ActivationCode
		if err := a.DB.Where("code_hint = ?", "…"+strings.ReplaceAll(another, "-", "")[16:]).Take(&c).Error; err != nil {
			t.Fatal(err)
		}
		if uses := c.UseCount; uses != 0 {
			t.Errorf("refused assignment used the code: use_count %d", uses)
		}
	})
}

// POST /api/tenant/projects/{id}/run, by the status each request gets: 202
// accepts a ready project of a tenant that may run (a trialing tenant's
// second run waits its turn), 409 a project already running, 422 one that
// is not ready, 402 a tenant whose subscription is inactive. Refused runs
// leave no execution behind.
func TestRunProject(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	tn := a.NewTenant("active")
	run := func(key, pid string) apptest.Response {
		return a.Do("POST", "/api/tenant/projects/"+pid+"/run", key, nil)
	}

	var ready string
	t.Run("202", func(t *testing.T) {
		ready = a.ReadyProject(tn, "ready")
		first := apptest.Decode[apptest.RunAccepted](t, http.StatusAccepted, run(tn.Key, ready))
		if first.Status != models.StatusPending || first.ExecutionID == uuid.Nil || !strings.HasSuffix(first.OutputFolderPath, ready) {
			t.Errorf("run: %+v", first)
		}
	})
	t.Run("409", func(t *testing.T) {
		if r := run(tn.Key, ready); r.Status != 409 || r.ErrorCode(t) != "run_in_progress" {
			t.Errorf("run while pending: %d %s", r.Status, r.Body)
		}
	})
	t.Run("422", func(t *testing.T) {
		noCode := a.Project(tn.Key, "no code")
		if r := run(tn.Key, noCode); r.Status != 422 || r.ErrorCode(t) != "activation_code_required" {
			t.Errorf("run without code: %d %s", r.Status, r.Body)
		}

		revokedProject := a.Project(tn.Key, "code revoked after assignment")
		codeID, code := a.Code(tn.ID, nil)
		a.Must(200, a.Do("POST", "/api/tenant/projects/"+revokedProject+"/assign-activation-code", tn.Key, map[string]any{"code": code}))
		a.Must(200, a.Do("POST", "/api/admin/activation-codes/"+codeID+"/revoke", apptest.AdminToken, nil))
		if r := run(tn.Key, revokedProject); r.Status != 422 || r.ErrorCode(t) != "activation_code_revoked" {
			t.Errorf("run with revoked code: %d %s", r.Status, r.Body)
		}

		// A project whose required field was emptied behind the API's back.
		blank := a.ReadyProject(tn, "blank")
		apptest.Set[models.Project](t, a.DB, "objectives", "", "id = ?", blank)
		if r := run(tn.Key, blank); r.Status != 422 || r.ErrorCode(t) != "missing_field" {
			t.Errorf("run with blank objectives: %d %s", r.Status, r.Body)
		}
	})
	t.Run("402", func(t *testing.T) {
		for _, status := range []models.SubscriptionStatus{models.SubPastDue, models.SubCanceled, models.SubUnpaid, models.SubSuspended} {
			tn := a.NewTenant("active")
			pid := a.ReadyProject(tn, "p")
			a.SetSubscription(tn.ID, status)
			if r := run(tn.Key, pid); r.Status != http.StatusPaymentRequired || r.ErrorCode(t) != "subscription_inactive" {
				t.Errorf("run as %s: %d %s", status, r.Status, r.Body)
			}
		}
	})

	apptest.RequireCount[models.Execution](t, a.DB, 1, "executions after refused runs", "")

	// 202_trial_concurrent races RUNs of a trial tenant across several
	// projects, so that only the trial rule (one run pending or running at a
	// time) can refuse them, not the one-live-run-per-project index.
	// A trialing tenant runs one project at a time: 20 concurrent RUNs over 10
	// projects are all accepted once per project, and exactly one is
	// dispatched; the rest wait their turn, pending, with their place in the
	// queue (models.RunLimit, applied by the dispatcher under its lock).
	t.Run("202_trial_concurrent", func(t *testing.T) {
		t.Parallel()
		a := apptest.New(t, apptest.Options{})
		trial := a.NewTenant("active")
		const n = 10
		pids := make([]string, n)
		for i := range pids {
			pids[i] = a.ReadyProject(trial, fmt.Sprintf("trial project %d", i))
		}
		a.SetSubscription(trial.ID, models.SubTrialing)
		answers := race(t, a, 2*n, func(i int) call { return call{"POST", "/api/tenant/projects/" + pids[i%n] + "/run", trial.Key, nil} })
		statuses := statusCounts(answers)
		if statuses[http.StatusAccepted] != n || statuses[http.StatusConflict] != n {
			t.Errorf("%d concurrent RUNs over %d projects of a trial tenant: %v, want one 202 and one 409 run_in_progress per project", 2*n, n, statuses)
		}
		dispatched := apptest.Count[models.Execution](t, a.DB, "status = ? AND dispatched_at IS NOT NULL", models.StatusPending)
		waiting := apptest.Count[models.Execution](t, a.DB, "status = ? AND dispatched_at IS NULL", models.StatusPending)
		if dispatched != 1 || waiting != n-1 {
			t.Errorf("%d dispatched and %d waiting, want 1 and %d", dispatched, waiting, n-1)
		}
	})
	t.Run("202_trial_queued", func(t *testing.T) {
		t.Parallel()
		a := apptest.New(t, apptest.Options{})
		trial := a.NewTenant("active")
		p1 := a.ReadyProject(trial, "one")
		p2 := a.ReadyProject(trial, "two")
		a.SetSubscription(trial.ID, models.SubTrialing)
		a.Run(trial.Key, p1)
		a.Run(trial.Key, p2)
		p := a.GetProject(trial.Key, p2)
		if apptest.StatusOf(p) != models.StatusPending || p.QueuePosition == nil || *p.QueuePosition != 1 {
			t.Errorf("the second trial run: %s, queue_position %v; want pending, 1", apptest.StatusOf(p), p.QueuePosition)
		}
		if q := a.GetProject(trial.Key, p1).QueuePosition; q != nil {
			t.Errorf("the dispatched run has queue_position %v", *q)
		}
	})
}

// GET /api/tenant/projects/{id}/executions/{eid}: 200 with its events, 404
// under another project.
func TestGetExecution(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	tn := a.NewTenant("active")
	pid := a.ReadyProject(tn, "p")
	eid := a.Run(tn.Key, pid)
	t.Run("200", func(t *testing.T) {
		e := a.GetExecution(tn.Key, pid, eid)
		if e.Status != models.StatusPending || e.Attempt != 0 || strings.Join(e.Kinds(), ",") != models.EventQueued {
			t.Errorf("execution: %+v", e)
		}
		p := a.Must(200, a.Do("GET", "/api/tenant/projects/"+pid, tn.Key, nil))
		for _, k := range []string{"id", "name", "description", "objectives", "is_active", "activation_code_id", "execution_status",
			"execution_started_at", "execution_completed_at", "execution_error", "output_folder_path", "progress", "progress_message"} {
			if _, ok := p[k]; !ok {
				t.Errorf("project JSON lacks %q: %v", k, p)
			}
		}
	})
	t.Run("404", func(t *testing.T) {
		other := a.ReadyProject(tn, "other")
		if r := a.Do("GET", "/api/tenant/projects/"+other+"/executions/"+eid, tn.Key, nil); r.Status != 404 || r.ErrorCode(t) != "execution_not_found" {
			t.Errorf("execution under the wrong project: %d %s", r.Status, r.Body)
		}
	})
}
