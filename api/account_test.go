package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/q2o/q2o/internal/apptest"
	"github.com/q2o/q2o/models"
	"github.com/q2o/q2o/service"
)

func TestAccount401(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	tn := a.NewTenant("active")
	codeID, _ := a.Code(tn.ID, nil)
	for _, key := range []string{"", "nope", apptest.Tampered(tn.Key), apptest.AdminToken} {
		for _, rt := range []struct{ method, path, body string }{
			{"GET", "/api/tenant/profile", ""},
			{"PUT", "/api/tenant/profile", `{"name":"x"}`},
			{"GET", "/api/tenant/activation-codes", ""},
			{"POST", "/api/tenant/activation-codes/generate", `{"count":1}`},
			{"POST", "/api/tenant/activation-codes/" + codeID + "/revoke", ""},
		} {
			var body any
			if rt.body != "" {
				body = rt.body
			}
			r := a.Do(rt.method, rt.path, key, body)
			if r.Status != http.StatusUnauthorized || r.ErrorCode(t) != "unauthorized" {
				t.Errorf("%s %s with key %q: %d %s", rt.method, rt.path, key, r.Status, r.Body)
			}
		}
	}
	apptest.RequireCount[models.ActivationCode](t, a.DB, 1, "codes after refused requests", "")
	if p := a.Profile(tn.Key); p.Name != "Tenant active" {
		t.Errorf("profile changed by a refused request: %+v", p)
	}
}

func TestProfileGet(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	tn := a.NewTenant("active")
	a.Must(201, a.Do("POST", "/api/admin/tenants/"+tn.ID+"/activation-codes", apptest.AdminToken, map[string]any{"count": 2}))
	a.Must(201, a.Do("POST", "/api/tenant/activation-codes/generate", tn.Key, map[string]any{"count": 3}))

	r := a.Do("GET", "/api/tenant/profile", tn.Key, nil)
	p := apptest.Decode[service.Profile](t, 200, r)
	if p.ID.String() != tn.ID || p.Name != "Tenant active" || !strings.HasSuffix(p.Email, "@example.com") {
		t.Errorf("profile: %+v", p)
	}
	// The optional fields and the subscription's dates are there, as null.
	raw := r.JSON(t)
	for _, f := range []string{"phone", "logo_url", "primary_color", "domain"} {
		if v, ok := raw[f]; !ok || v != nil {
			t.Errorf("%s: %v (present %v), want null", f, v, ok)
		}
	}
	rawSub, _ := raw["subscription"].(map[string]any)
	for _, f := range []string{"current_period_end", "trial_end"} {
		if _, ok := rawSub[f]; !ok {
			t.Errorf("subscription lacks %s: %v", f, raw["subscription"])
		}
	}
	if plan := p.Plan; plan.Code != "starter" || plan.Name != "Starter" || plan.PriceCents != 4900 || plan.Currency != "usd" ||
		plan.MonthlyCodeQuota != 50 || plan.MaxConcurrentRuns != 3 {
		t.Errorf("plan: %+v", plan)
	}
	if sub := p.Subscription; sub.Status != models.SubActive || sub.CancelAtPeriodEnd {
		t.Errorf("subscription: %+v", sub)
	}
	// Codes made by an operator count against the month too.
	if q := p.CodeQuota; q.MonthlyLimit != 50 || q.UsedThisMonth != 5 || q.Remaining != 45 {
		t.Errorf("code_quota: %+v", q)
	}
	now := time.Now().UTC()
	if want := time.Date(now.Year(), now.Month()+1, 1, 0, 0, 0, 0, time.UTC).Format(time.RFC3339); !strings.Contains(string(r.Body), `"resets_at":"`+want+`"`) {
		t.Errorf("resets_at %v, want %s", p.CodeQuota.ResetsAt, want)
	}

	// Codes of an earlier month do not count.
	apptest.Set[models.ActivationCode](t, a.DB, "month", gorm.Expr("month - interval '1 month'"), "tenant_id = ?", tn.ID)
	if q := a.Profile(tn.Key).CodeQuota; q.UsedThisMonth != 0 || q.Remaining != 50 {
		t.Errorf("code_quota after the month turned: %+v", q)
	}

	// A trial tenant sees its plan's quota; a suspended one still sees its profile.
	m := apptest.Decode[apptest.CreatedTenant](t, 201, a.Do("POST", "/api/admin/tenants", apptest.AdminToken,
		map[string]any{"name": "Trial Co", "email": "trial@example.com", "plan": "trial", "subscription_status": "suspended"}))
	p = a.Profile(m.APIKey)
	if p.Plan.Code != "trial" || p.CodeQuota.Remaining != 5 || p.Subscription.Status != models.SubSuspended {
		t.Errorf("trial profile: %+v", p)
	}
}

func TestProfileUpdate(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	tn := a.NewTenant("active")
	put := func(body any) map[string]any {
		t.Helper()
		return a.Must(200, a.Do("PUT", "/api/tenant/profile", tn.Key, body))
	}
	email := a.Profile(tn.Key).Email
	p := put(map[string]any{
		"name": "  Acme Ltd ", "email": email, "phone": "+44 20 7946-0958",
		"logo_url": "https://cdn.acme.example/logo.png", "primary_color": "#1a2b3c", "domain": "Portal.Acme.Example",
	})
	want := map[string]any{"name": "Acme Ltd", "email": email, "phone": "+442079460958",
		"logo_url": "https://cdn.acme.example/logo.png", "primary_color": "#1A2B3C", "domain": "portal.acme.example"}
	check := func(p map[string]any, want map[string]any) {
		t.Helper()
		for k, v := range want {
			if p[k] != v {
				t.Errorf("%s = %v, want %v", k, p[k], v)
			}
		}
	}
	check(p, want)
	if p["plan"].(map[string]any)["code"] != "starter" || p["code_quota"] == nil {
		t.Errorf("PUT answers the whole profile: %v", p)
	}
	check(a.Must(200, a.Do("GET", "/api/tenant/profile", tn.Key, nil)), want)

	// Absent fields are left alone.
	want["name"] = "Acme"
	check(put(`{"name":"Acme"}`), want)
	check(put(`{}`), want)
	// null and blank clear the optional fields, and only those named.
	want["phone"], want["domain"] = nil, nil
	check(put(`{"phone":null,"domain":"  "}`), want)
	want["logo_url"], want["primary_color"] = nil, nil
	check(put(`{"logo_url":null,"primary_color":null}`), want)
	check(a.Must(200, a.Do("GET", "/api/tenant/profile", tn.Key, nil)), want)

	// The tenant may change the case of its own email, at once: it is the
	// same address.
	want["email"] = strings.ToUpper(email)
	check(put(map[string]any{"email": strings.ToUpper(email)}), want)
	if p := put(`{}`); p["pending_email"] != nil {
		t.Errorf("a change of case is pending: %v", p["pending_email"])
	}
}

func TestProfileUpdate400(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	tn := a.NewTenant("active")
	before := a.Must(200, a.Do("GET", "/api/tenant/profile", tn.Key, nil))
	cases := []struct {
		body, code, field string
	}{
		{``, "invalid_json", ""},
		{`{"name":`, "invalid_json", ""},
		{`[]`, "invalid_json", ""},
		{`{"plan":"pro"}`, "unknown_field", "plan"},
		{`{"name":null}`, "missing_field", "name"},
		{`{"name":" "}`, "blank_field", "name"},
		{`{"name":5}`, "invalid_type", "name"},
		{`{"name":"` + strings.Repeat("n", 201) + `"}`, "field_too_long", "name"},
		{`{"name":"a\u0000b"}`, "invalid_field", "name"},
		{`{"email":null}`, "missing_field", "email"},
		{`{"email":""}`, "missing_field", "email"},
		{`{"email":"not an email"}`, "invalid_email", "email"},
		{`{"email":"Ops <ops@example.com>"}`, "invalid_email", "email"},
		{`{"email":"` + strings.Repeat("a", 250) + `@example.com"}`, "invalid_email", "email"},
		{`{"phone":"12345"}`, "invalid_phone", "phone"},
		{`{"phone":"4155550123"}`, "invalid_phone", "phone"},
		{`{"phone":"+1 415 CALL NOW"}`, "invalid_phone", "phone"},
		{`{"phone":14155550123}`, "invalid_type", "phone"},
		{`{"logo_url":"logo.png"}`, "invalid_url", "logo_url"},
		{`{"logo_url":"ftp://example.com/logo.png"}`, "invalid_url", "logo_url"},
		{`{"logo_url":"javascript:alert(1)"}`, "invalid_url", "logo_url"},
		{`{"primary_color":"red"}`, "invalid_color", "primary_color"},
		{`{"primary_color":"#12345"}`, "invalid_color", "primary_color"},
		{`{"primary_color":"#12345G"}`, "invalid_color", "primary_color"},
		{`{"domain":"https://acme.example"}`, "invalid_domain", "domain"},
		{`{"domain":"acme.example:8443"}`, "invalid_domain", "domain"},
		{`{"domain":"acme.example/portal"}`, "invalid_domain", "domain"},
		{`{"domain":"192.168.1.10"}`, "invalid_domain", "domain"},
		{`{"domain":"localhost"}`, "invalid_domain", "domain"},
		{`{"domain":"bücher.example"}`, "invalid_domain", "domain"},
		// One bad field refuses the whole change.
		{`{"name":"Changed","domain":"not a domain"}`, "invalid_domain", "domain"},
	}
	for _, c := range cases {
		r := a.Do("PUT", "/api/tenant/profile", tn.Key, c.body)
		if r.Status != http.StatusBadRequest || r.ErrorCode(t) != c.code || r.Err(t).Field != c.field {
			t.Errorf("%.80s: %d %s, want 400 %s/%s", c.body, r.Status, r.Body, c.code, c.field)
		}
	}
	after := a.Must(200, a.Do("GET", "/api/tenant/profile", tn.Key, nil))
	for _, f := range []string{"name", "email", "phone", "logo_url", "primary_color", "domain", "updated_at"} {
		if before[f] != after[f] {
			t.Errorf("refused updates changed %s: %v → %v", f, before[f], after[f])
		}
	}
}

func TestProfileEmailTaken(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	first, second := a.NewTenant("active"), a.NewTenant("active")
	taken := a.Profile(first.Key).Email
	r := a.Do("PUT", "/api/tenant/profile", second.Key, map[string]any{"name": "Second", "email": strings.ToUpper(taken)})
	if r.Status != http.StatusConflict || r.ErrorCode(t) != "email_taken" || r.Err(t).Field != "email" {
		t.Fatalf("taken email: %d %s", r.Status, r.Body)
	}
	if p := a.Profile(second.Key); p.Name == "Second" || p.PendingEmail != nil {
		t.Errorf("a refused update changed the profile: %+v", p)
	}
}

// TestProfileEmailChange: a new sign-in email takes effect only once the
// code mailed to it is confirmed; until then the old one signs in, and a
// typo locks nobody out.
func TestProfileEmailChange(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	old, key := otpTenant(t, a)
	next := "New-" + uuid.NewString()[:13] + "@Example.com"
	p := apptest.Decode[service.Profile](t, 200, a.Do("PUT", "/api/tenant/profile", key, map[string]any{"email": next, "phone": "+44 20 7946-0958"}))
	pending := p.PendingEmail
	if p.Email != old || apptest.Deref(p.Phone) != "+442079460958" || pending == nil || pending.Email != next {
		t.Fatalf("PUT with a new email: email %v, phone %v, pending %+v; want the old email kept, the phone changed, %s pending",
			p.Email, apptest.Deref(p.Phone), pending, next)
	}
	if time.Until(pending.ExpiresAt) < 25*time.Minute {
		t.Errorf("pending expires_at %v", pending.ExpiresAt)
	}
	code := mailedCode(t, next, 1)
	if rowsHolding(t, a, "email_changes", code) != 0 {
		t.Error("the email-change code is stored in plaintext")
	}
	// The portal's form sends the current email with every save: the
	// pending change stays.
	p = apptest.Decode[service.Profile](t, 200, a.Do("PUT", "/api/tenant/profile", key, map[string]any{"email": old, "name": "Renamed"}))
	if p.Email != old || p.Name != "Renamed" || p.PendingEmail == nil {
		t.Errorf("saving the form again: %+v", p)
	}
	// The old email still signs in; the new one does not yet.
	a.Must(http.StatusOK, verify(a, old, requestCode(t, a, old, 1)))

	confirm := func(code string) apptest.Response {
		return a.Do("POST", "/api/tenant/profile/email-change/confirm", key, map[string]any{"code": code})
	}
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	wantError(t, confirm(wrong), http.StatusUnprocessableEntity, "invalid_email_code")
	wantError(t, confirm("12ab"), http.StatusBadRequest, "invalid_code_format")
	p = apptest.Decode[service.Profile](t, 200, confirm(code))
	if p.Email != next || p.PendingEmail != nil {
		t.Fatalf("after confirming: email %v, pending %+v", p.Email, p.PendingEmail)
	}
	wantError(t, confirm(code), http.StatusUnprocessableEntity, "invalid_email_code")
	a.Must(http.StatusOK, verify(a, next, requestCode(t, a, next, 2)))

	// Five wrong codes void a change; the right one then does nothing.
	third := "Third-" + uuid.NewString()[:13] + "@Example.com"
	a.Must(200, a.Do("PUT", "/api/tenant/profile", key, map[string]any{"email": third}))
	code = mailedCode(t, third, 1)
	wrong = "000000"
	if code == wrong {
		wrong = "111111"
	}
	for range 5 {
		wantError(t, confirm(wrong), http.StatusUnprocessableEntity, "invalid_email_code")
	}
	wantError(t, confirm(code), http.StatusUnprocessableEntity, "invalid_email_code")
	if p := a.Profile(key); p.Email != next || p.PendingEmail != nil {
		t.Errorf("after five wrong codes: email %v, pending %+v", p.Email, p.PendingEmail)
	}

	// A pending change can be dropped.
	a.Must(200, a.Do("PUT", "/api/tenant/profile", key, map[string]any{"email": third}))
	if r := a.Do("DELETE", "/api/tenant/profile/email-change", key, nil); r.Status != http.StatusNoContent {
		t.Fatalf("cancel: %d %s", r.Status, r.Body)
	}
	if p := a.Profile(key); p.PendingEmail != nil {
		t.Errorf("after cancel: pending %+v", p.PendingEmail)
	}
}

// Two tenants cannot claim one custom domain, whatever its case; the one
// that has it may set it again.
func TestProfileDomainTaken(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	first, second := a.NewTenant("active"), a.NewTenant("active")
	a.Must(200, a.Do("PUT", "/api/tenant/profile", first.Key, map[string]any{"domain": "portal.acme.example"}))
	r := a.Do("PUT", "/api/tenant/profile", second.Key, map[string]any{"name": "Second", "domain": "Portal.ACME.example"})
	if r.Status != http.StatusConflict || r.ErrorCode(t) != "domain_taken" || r.Err(t).Field != "domain" {
		t.Fatalf("taken domain: %d %s, want 409 domain_taken", r.Status, r.Body)
	}
	if p := a.Profile(second.Key); p.Name == "Second" || p.Domain != nil {
		t.Errorf("a refused update changed the profile: %+v", p)
	}
	a.Must(200, a.Do("PUT", "/api/tenant/profile", first.Key, map[string]any{"domain": "portal.acme.example"}))
	// Once the first lets it go, the second may take it.
	a.Must(200, a.Do("PUT", "/api/tenant/profile", first.Key, map[string]any{"domain": nil}))
	a.Must(200, a.Do("PUT", "/api/tenant/profile", second.Key, map[string]any{"domain": "portal.acme.example"}))
}

func TestCodesGenerateAndList(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	tn, other := a.NewTenant("active"), a.NewTenant("active")
	a.Code(other.ID, nil) // another tenant's code never shows

	m := a.Must(http.StatusCreated, a.Do("POST", "/api/tenant/activation-codes/generate", tn.Key,
		map[string]any{"count": 3, "max_uses": 2, "expires_in_days": 30}))
	codes := m["codes"].([]any)
	if len(codes) != 3 {
		t.Fatalf("want 3 codes: %v", m)
	}
	var plain []string
	for _, c := range codes {
		c := c.(map[string]any)
		code := c["code"].(string)
		if len(code) != 23 || strings.Count(code, "-") != 3 || strings.ContainsAny(code, "01OI") {
			t.Errorf("code %q", code)
		}
		exp, err := time.Parse(time.RFC3339, c["expires_at"].(string))
		if err != nil || exp.Sub(time.Now().AddDate(0, 0, 30)).Abs() > time.Minute {
			t.Errorf("expires_at %v, want 30 days from now", c["expires_at"])
		}
		if c["max_uses"] != 2.0 || c["use_count"] != 0.0 || c["hint"] != "…"+code[len(code)-4:] {
			t.Errorf("generated code: %v", c)
		}
		plain = append(plain, code)
	}
	if q := m["code_quota"].(map[string]any); q["used_this_month"] != 3.0 || q["remaining"] != 47.0 {
		t.Errorf("quota after generating: %v", q)
	}
	// Defaults: one single-use code that does not expire.
	m = a.Must(http.StatusCreated, a.Do("POST", "/api/tenant/activation-codes/generate", tn.Key, `{}`))
	single := m["codes"].([]any)[0].(map[string]any)
	if len(m["codes"].([]any)) != 1 || single["max_uses"] != 1.0 || single["expires_at"] != nil {
		t.Errorf("defaults: %v", m)
	}
	plain = append(plain, single["code"].(string))

	// The multi-use code goes to two projects, the single-use one to one.
	p1, p2, p3 := a.Project(tn.Key, "first"), a.Project(tn.Key, "second"), a.Project(tn.Key, "third")
	for _, x := range []struct{ pid, code string }{{p1, plain[0]}, {p2, plain[0]}, {p3, plain[3]}} {
		a.Must(200, a.Do("POST", "/api/tenant/projects/"+x.pid+"/assign-activation-code", tn.Key, map[string]any{"code": x.code}))
	}

	r := a.Do("GET", "/api/tenant/activation-codes", tn.Key, nil)
	list := a.Must(200, r)
	for _, code := range plain {
		for _, form := range []string{code, strings.ReplaceAll(code, "-", ""), strings.ReplaceAll(code, "-", "")[:16]} {
			if strings.Contains(string(r.Body), form) {
				t.Errorf("the list shows plaintext %q: %s", form, r.Body)
			}
		}
	}
	if list["total"] != 4.0 || list["page"] != 1.0 || list["per_page"] != 20.0 || list["total_pages"] != 1.0 {
		t.Fatalf("list: %v", list)
	}
	items := list["items"].([]any)
	// Newest first: the default single code, then the batch.
	created := func(it map[string]any) time.Time {
		ts, err := time.Parse(time.RFC3339Nano, it["created_at"].(string))
		if err != nil {
			t.Fatal(err)
		}
		return ts
	}
	byHint := map[string]map[string]any{}
	for i, it := range items {
		it := it.(map[string]any)
		byHint[it["hint"].(string)] = it
		if _, ok := it["code"]; ok {
			t.Errorf("item %d has a code field: %v", i, it)
		}
		if i > 0 && created(it).After(created(items[i-1].(map[string]any))) {
			t.Errorf("item %d is newer than item %d", i, i-1)
		}
	}
	if items[0].(map[string]any)["hint"] != "…"+plain[3][19:] {
		t.Errorf("newest code first: %v", items[0])
	}
	hint := func(code string) map[string]any { return byHint["…"+code[len(code)-4:]] }
	multi := hint(plain[0])
	if ps := multi["projects"].([]any); len(ps) != 2 || ps[0].(map[string]any)["id"] != p1 || ps[1].(map[string]any)["name"] != "second" ||
		multi["use_count"] != 2.0 || multi["status"] != "used_up" {
		t.Errorf("multi-use code: %v", multi)
	}
	if s := hint(plain[3]); len(s["projects"].([]any)) != 1 || s["projects"].([]any)[0].(map[string]any)["id"] != p3 {
		t.Errorf("single-use code: %v", s)
	}
	if free := hint(plain[1]); len(free["projects"].([]any)) != 0 || free["status"] != "available" || free["revoked_at"] != nil {
		t.Errorf("unassigned code: %v", free)
	}

	// Paging.
	page2 := a.Must(200, a.Do("GET", "/api/tenant/activation-codes?page=2&per_page=3", tn.Key, nil))
	if page2["total"] != 4.0 || page2["total_pages"] != 2.0 || len(page2["items"].([]any)) != 1 {
		t.Errorf("page 2 of 3 per page: %v", page2)
	}
	if p := a.Must(200, a.Do("GET", "/api/tenant/activation-codes?page=9", tn.Key, nil)); len(p["items"].([]any)) != 0 {
		t.Errorf("a page past the end: %v", p)
	}
	for _, c := range []struct{ query, code, field string }{
		{"page=0", "invalid_page", "page"},
		{"page=-1", "invalid_page", "page"},
		{"page=x", "invalid_page", "page"},
		{"per_page=0", "invalid_per_page", "per_page"},
		{"per_page=101", "invalid_per_page", "per_page"},
		{"per_page=1.5", "invalid_per_page", "per_page"},
		{"page=99999999999999999999", "invalid_page", "page"},
	} {
		r := a.Do("GET", "/api/tenant/activation-codes?"+c.query, tn.Key, nil)
		if r.Status != 400 || r.ErrorCode(t) != c.code || r.Err(t).Field != c.field {
			t.Errorf("?%s: %d %s", c.query, r.Status, r.Body)
		}
	}

	// The other tenant sees only its own code.
	if l := a.Must(200, a.Do("GET", "/api/tenant/activation-codes", other.Key, nil)); l["total"] != 1.0 {
		t.Errorf("other tenant's list: %v", l)
	}
}

func TestCodesGenerate400(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	tn := a.NewTenant("active")
	for _, c := range []struct{ body, code, field string }{
		{``, "invalid_json", ""},
		{`{"count":0}`, "invalid_count", "count"},
		{`{"count":101}`, "invalid_count", "count"},
		{`{"count":-1}`, "invalid_count", "count"},
		{`{"count":1.5}`, "invalid_type", "count"},
		{`{"count":"3"}`, "invalid_type", "count"},
		{`{"max_uses":0}`, "invalid_max_uses", "max_uses"},
		{`{"max_uses":1001}`, "invalid_max_uses", "max_uses"},
		{`{"expires_in_days":0}`, "invalid_expires_in_days", "expires_in_days"},
		{`{"expires_in_days":3651}`, "invalid_expires_in_days", "expires_in_days"},
		{`{"expires_at":"2030-01-01T00:00:00Z"}`, "unknown_field", "expires_at"},
	} {
		r := a.Do("POST", "/api/tenant/activation-codes/generate", tn.Key, c.body)
		if r.Status != 400 || r.ErrorCode(t) != c.code || r.Err(t).Field != c.field {
			t.Errorf("%s: %d %s, want 400 %s/%s", c.body, r.Status, r.Body, c.code, c.field)
		}
	}
	apptest.RequireCount[models.ActivationCode](t, a.DB, 0, "codes made by refused requests", "")
}

func TestCodesGenerateRefused(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	for _, status := range []string{"past_due", "canceled", "unpaid", "suspended", "incomplete"} {
		tn := a.NewTenant(status)
		r := a.Do("POST", "/api/tenant/activation-codes/generate", tn.Key, `{"count":1}`)
		if r.Status != http.StatusPaymentRequired || r.ErrorCode(t) != "subscription_inactive" {
			t.Errorf("%s: %d %s", status, r.Status, r.Body)
		}
	}
	// Trialing may make codes, within the plan's quota (starter: 50).
	trial := a.NewTenant("trialing")
	a.Must(201, a.Do("POST", "/api/tenant/activation-codes/generate", trial.Key, `{"count":48}`))
	r := a.Do("POST", "/api/tenant/activation-codes/generate", trial.Key, `{"count":3}`)
	if r.Status != http.StatusForbidden || r.ErrorCode(t) != "code_quota_exceeded" ||
		!strings.Contains(r.Err(t).Message, "2 remain") {
		t.Errorf("over the quota: %d %s", r.Status, r.Body)
	}
	a.Must(201, a.Do("POST", "/api/tenant/activation-codes/generate", trial.Key, `{"count":2}`))
	if r := a.Do("POST", "/api/tenant/activation-codes/generate", trial.Key, `{}`); r.Status != 403 ||
		!strings.Contains(string(r.Body), "0 remain") {
		t.Errorf("at the quota: %d %s", r.Status, r.Body)
	}
	apptest.RequireCount[models.ActivationCode](t, a.DB, 50, "codes of the trial tenant (its quota)", "tenant_id = ?", trial.ID)
}

func TestCodesQuotaConcurrent(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	tn := a.NewTenant("active")
	const quota, left = 50, 10
	a.Must(201, a.Do("POST", "/api/tenant/activation-codes/generate", tn.Key, map[string]any{"count": quota - left}))
	statuses := statusCounts(race(t, a, 50, func(int) call {
		return call{"POST", "/api/tenant/activation-codes/generate", tn.Key, `{"count":1}`}
	}))
	if statuses[http.StatusCreated] != left || statuses[http.StatusForbidden] != 50-left {
		t.Errorf("50 concurrent generates with %d left: %v, want %d × 201 and %d × 403", left, statuses, left, 50-left)
	}
	apptest.RequireCount[models.ActivationCode](t, a.DB, quota, "codes in the database (exactly the quota)", "tenant_id = ?", tn.ID)
	if q := a.Profile(tn.Key).CodeQuota; q.UsedThisMonth != quota || q.Remaining != 0 {
		t.Errorf("quota: %+v", q)
	}
}

func TestCodesRevoke(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	tn, other := a.NewTenant("active"), a.NewTenant("active")
	m := apptest.Decode[service.GeneratedCodes](t, 201, a.Do("POST", "/api/tenant/activation-codes/generate", tn.Key, `{"count":2}`))
	id, code := m.Codes[0].ID.String(), m.Codes[0].Code
	otherID, _ := a.Code(other.ID, nil)

	first := a.Must(200, a.Do("POST", "/api/tenant/activation-codes/"+id+"/revoke", tn.Key, nil))
	if first["id"] != id || first["revoked_at"] == nil || first["status"] != "revoked" {
		t.Fatalf("revoke: %v", first)
	}
	if _, ok := first["code"]; ok || strings.Contains(fmt.Sprint(first), code) {
		t.Errorf("revoke shows the plaintext: %v", first)
	}
	again := a.Must(200, a.Do("POST", "/api/tenant/activation-codes/"+id+"/revoke", tn.Key, nil))
	if again["revoked_at"] != first["revoked_at"] {
		t.Errorf("revoking twice moved revoked_at: %v → %v", first["revoked_at"], again["revoked_at"])
	}
	pid := a.Project(tn.Key, "p")
	r := a.Do("POST", "/api/tenant/projects/"+pid+"/assign-activation-code", tn.Key, map[string]any{"code": code})
	if r.Status != 422 || r.ErrorCode(t) != "activation_code_revoked" {
		t.Errorf("assign a revoked code: %d %s", r.Status, r.Body)
	}

	// Another tenant's code, an unknown id and a malformed one are all 404.
	for _, path := range []string{otherID, "00000000-0000-0000-0000-000000000000", "not-a-uuid", id + "x"} {
		r := a.Do("POST", "/api/tenant/activation-codes/"+path+"/revoke", tn.Key, nil)
		if r.Status != 404 || r.ErrorCode(t) != "activation_code_not_found" {
			t.Errorf("revoke %s: %d %s", path, r.Status, r.Body)
		}
	}
	r = a.Do("POST", "/api/tenant/activation-codes/"+id+"/revoke", other.Key, nil)
	if r.Status != 404 || strings.Contains(string(r.Body), id) {
		t.Errorf("revoke as another tenant: %d %s", r.Status, r.Body)
	}
	if apptest.Row[models.ActivationCode](t, a.DB, otherID).RevokedAt != nil {
		t.Error("another tenant revoked a code it does not own")
	}
	if r := a.Do("GET", "/api/tenant/activation-codes/"+id+"/revoke", tn.Key, nil); r.Status != 405 {
		t.Errorf("GET revoke: %d %s", r.Status, r.Body)
	}
}

func TestCodesListByStatus200(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	tn := a.NewTenant("active")
	freeID, _ := a.Code(tn.ID, nil)
	usedID, used := a.Code(tn.ID, nil)
	revokedID, _ := a.Code(tn.ID, nil)
	expiredID, _ := a.Code(tn.ID, nil)
	pid := a.Project(tn.Key, "coded")
	a.Must(200, a.Do("POST", "/api/tenant/projects/"+pid+"/assign-activation-code", tn.Key, map[string]any{"code": used}))
	a.Must(200, a.Do("POST", "/api/tenant/activation-codes/"+revokedID+"/revoke", tn.Key, nil))
	apptest.Set[models.ActivationCode](t, a.DB, "expires_at", gorm.Expr("now() - interval '1 hour'"), "id = ?", expiredID)

	for status, want := range map[string]string{
		"available": freeID, "assigned": usedID, "used_up": usedID, "revoked": revokedID, "expired": expiredID,
	} {
		m := apptest.Decode[service.CodePage](t, 200, a.Do("GET", "/api/tenant/activation-codes?status="+status, tn.Key, nil))
		if m.Total != 1 || len(m.Items) != 1 || m.Items[0].ID.String() != want {
			t.Errorf("?status=%s: %+v, want only %s", status, m, want)
		}
	}
	if m := apptest.Decode[service.CodePage](t, 200, a.Do("GET", "/api/tenant/activation-codes?status=", tn.Key, nil)); m.Total != 4 {
		t.Errorf("an empty status is no filter: %+v", m)
	}
}

func TestCodesListByStatus400(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	tn := a.NewTenant("active")
	for _, bad := range []string{"bogus", "AVAILABLE", "unassigned", "pending"} {
		r := a.Do("GET", "/api/tenant/activation-codes?status="+bad, tn.Key, nil)
		if r.Status != 400 || r.ErrorCode(t) != "invalid_status" || r.Err(t).Field != "status" {
			t.Errorf("?status=%s: %d %s", bad, r.Status, r.Body)
		}
	}
}
