package web_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/q2o/q2o/billing"
	"github.com/q2o/q2o/billing/billingtest"
	"github.com/q2o/q2o/internal/apptest"
	"github.com/q2o/q2o/models"
	"github.com/q2o/q2o/web"
)

// The portal over plain HTTP: headers, cookies, CSRF, isolation and
// escaping, without a browser.

// browserless is an HTTP client with its own cookies that does not follow
// redirects, so a test sees each answer.
type browserless struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newClient(t *testing.T, base string) *browserless {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browserless{t: t, base: base, c: &http.Client{Jar: jar, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type answer struct {
	Status int
	Header http.Header
	Body   string
}

func (b *browserless) do(method, path string, form url.Values, header map[string]string) answer {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.base+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return answer{Status: res.StatusCode, Header: res.Header, Body: string(raw)}
}

func (b *browserless) get(path string) answer { b.t.Helper(); return b.do("GET", path, nil, nil) }

// apiWithCookies sends an API request carrying only the client's cookies
// (no Authorization header) and returns its status.
func (b *browserless) apiWithCookies(method, path, jsonBody string) int {
	b.t.Helper()
	var body io.Reader
	if jsonBody != "" {
		body = strings.NewReader(jsonBody)
	}
	req, err := http.NewRequest(method, b.base+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if jsonBody != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	u, _ := url.Parse(b.base)
	for _, c := range b.c.Jar.Cookies(u) {
		req.AddCookie(c)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

var csrfRE = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

// post sends a form with the CSRF token of the page at from.
func (b *browserless) post(from, path string, form url.Values) answer {
	b.t.Helper()
	p := b.get(from)
	m := csrfRE.FindStringSubmatch(p.Body)
	if m == nil {
		b.t.Fatalf("no CSRF token on %s (%d): %s", from, p.Status, p.Body)
	}
	form.Set("_csrf", m[1])
	return b.do("POST", path, form, nil)
}

// session signs a tenant in through the JSON API (the code from mailpit)
// and gives the client the portal's session cookie.
func (b *browserless) session(a *apptest.App, email string) string {
	b.t.Helper()
	before := len(apptest.Mails(b.t, email))
	a.Must(http.StatusAccepted, a.Do("POST", "/api/auth/otp/request", "", map[string]any{"email": email}))
	mails := apptest.WaitMails(b.t, email, before+1, 20*time.Second)
	code := regexp.MustCompile(`\b\d{6}\b`).FindString(mails[0].Text)
	tok := a.Must(http.StatusOK, a.Do("POST", "/api/auth/otp/verify", "", map[string]any{"email": email, "code": code}))["token"].(string)
	u, _ := url.Parse(b.base)
	b.c.Jar.SetCookies(u, []*http.Cookie{{Name: web.SessionCookie, Value: tok, Path: "/"}})
	return tok
}

func TestPageHeaders(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	b := newClient(t, a.URL)
	for _, path := range []string{"/", "/status", "/no-such-page"} {
		p := b.get(path)
		csp := p.Header.Get("Content-Security-Policy")
		for _, want := range []string{"script-src 'self'", "style-src 'self'", "frame-ancestors 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %q", path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") {
			t.Errorf("%s: CSP allows inline code: %q", path, csp)
		}
		if got := p.Header.Get("Referrer-Policy"); got != "no-referrer" {
			t.Errorf("%s: Referrer-Policy %q", path, got)
		}
		if got := p.Header.Get("X-Frame-Options"); got != "DENY" {
			t.Errorf("%s: X-Frame-Options %q", path, got)
		}
		if strings.Contains(p.Body, "<script>") || strings.Contains(p.Body, " style=") {
			t.Errorf("%s: inline script or style in the page", path)
		}
	}
	if p := b.get("/no-such-page"); p.Status != 404 || !strings.Contains(p.Body, "Page not found") ||
		!strings.HasPrefix(p.Header.Get("Content-Type"), "text/html") {
		t.Errorf("unknown page: %d %s", p.Status, p.Header.Get("Content-Type"))
	}
	if p := b.get("/api/no-such-route"); p.Status != 404 || !strings.Contains(p.Body, `"route_not_found"`) {
		t.Errorf("unknown API route: %d %s", p.Status, p.Body)
	}
}

func TestSignInAnswersAlikeForUnknownEmail(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	_, email, _ := newTenant(t, a, "active")
	b := newClient(t, a.URL)
	known := b.post("/", "/signin", url.Values{"email": {email}})
	unknown := b.post("/", "/signin", url.Values{"email": {"nobody-" + email}})
	if known.Status != 200 || unknown.Status != 200 {
		t.Fatalf("statuses %d, %d", known.Status, unknown.Status)
	}
	if strings.ReplaceAll(unknown.Body, "nobody-"+email, email) != known.Body {
		t.Error("the sign-in page tells a known email from an unknown one")
	}
	if p := b.post("/", "/signin/verify", url.Values{"email": {email}, "code": {"000000"}}); p.Status != 401 ||
		!strings.Contains(p.Body, "code is wrong, expired or already used") {
		t.Errorf("a wrong code: %d", p.Status)
	}
	if p := b.post("/", "/signin", url.Values{"email": {"not an email"}}); p.Status != 400 ||
		!strings.Contains(p.Body, `id="email-error"`) {
		t.Errorf("a malformed email: %d", p.Status)
	}
}

func TestSessionCookie(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	_, email, _ := newTenant(t, a, "active")
	b := newClient(t, a.URL)
	b.post("/", "/signin", url.Values{"email": {email}})
	code := regexp.MustCompile(`\b\d{6}\b`).FindString(apptest.WaitMails(t, email, 1, 20*time.Second)[0].Text)
	p := b.post("/", "/signin/verify", url.Values{"email": {email}, "code": {code}})
	if p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/projects" {
		t.Fatalf("verify: %d → %s", p.Status, p.Header.Get("Location"))
	}
	var sess *http.Cookie
	for _, c := range (&http.Response{Header: p.Header}).Cookies() {
		if c.Name == web.SessionCookie {
			sess = c
		}
	}
	if sess == nil || !sess.HttpOnly || sess.SameSite != http.SameSiteLaxMode || sess.Secure || !strings.HasPrefix(sess.Value, "q2s_") {
		t.Fatalf("session cookie: %+v", sess)
	}
	if strings.Contains(b.get("/projects").Body, sess.Value) {
		t.Error("the session token is in the page")
	}
	// The cookie opens the API's GET routes (event streams, downloads)…
	if status := b.apiWithCookies("GET", "/api/tenant/profile", ""); status != 200 {
		t.Errorf("GET /api/tenant/profile with the cookie: %d", status)
	}
	// …and sign-out ends the session itself, not only the cookie.
	if p := b.post("/projects", "/signout", url.Values{}); p.Status != http.StatusSeeOther {
		t.Fatalf("sign out: %d", p.Status)
	}
	if r := a.Do("GET", "/api/tenant/profile", sess.Value, nil); r.Status != 401 {
		t.Errorf("after sign-out the session token still works: %d", r.Status)
	}
}

func TestSecureCookiesOverTLS(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{PublicURL: "https://q2o.example.com"})
	b := newClient(t, a.URL)
	p := b.get("/")
	for _, c := range (&http.Response{Header: p.Header}).Cookies() {
		if !c.Secure || !c.HttpOnly {
			t.Errorf("cookie %s over https: Secure=%v HttpOnly=%v", c.Name, c.Secure, c.HttpOnly)
		}
	}
	if len(p.Header.Values("Set-Cookie")) == 0 {
		t.Error("no cookie set on the sign-in page (its CSRF cookie)")
	}
}

func TestFormsNeedTheirCSRFToken(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	_, email, key := newTenant(t, a, "active")
	b := newClient(t, a.URL)
	b.session(a, email)
	b.get("/projects/new") // the CSRF cookie
	form := url.Values{"name": {"forged"}, "description": {"d"}, "objectives": {"o"}}
	if p := b.do("POST", "/projects", form, nil); p.Status != 403 || !strings.Contains(p.Body, "reload the page") {
		t.Errorf("without a token: %d", p.Status)
	}
	form.Set("_csrf", "not-the-token")
	if p := b.do("POST", "/projects", form, nil); p.Status != 403 {
		t.Errorf("with a wrong token: %d", p.Status)
	}
	if p := b.do("POST", "/projects", form, map[string]string{"Sec-Fetch-Site": "same-origin"}); p.Status != 403 {
		t.Errorf("same-origin without its token: %d", p.Status)
	}
	if n := a.ProjectList(key, "/api/tenant/projects?q=forged").Total; n != 0 {
		t.Fatalf("forged forms made %v projects", n)
	}
	form.Del("_csrf")
	if p := b.post("/projects/new", "/projects", form); p.Status != http.StatusSeeOther {
		t.Errorf("with its token: %d %s", p.Status, p.Body)
	}
	// The API's cookie credential is for reading only: a POST with the
	// cookie and no bearer token is refused.
	if status := b.apiWithCookies("POST", "/api/tenant/projects", `{"name":"x","description":"y","objectives":"z"}`); status != 401 {
		t.Errorf("POST to the API with only the cookie: %d, want 401", status)
	}
}

func TestAnotherTenantsPagesAre404(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	a.StartWorker(a.WorkerConfig())
	owner := a.NewTenant("active")
	pid := a.ReadyProject(owner, "theirs")
	exec := a.Run(owner.Key, pid)
	a.AwaitProject(owner.Key, pid, 30*time.Second, apptest.HasStatus(models.StatusCompleted))

	_, email, _ := newTenant(t, a, "active")
	b := newClient(t, a.URL)
	b.session(a, email)
	for _, path := range []string{"/projects/" + pid, "/projects/" + pid + "/edit", "/projects/" + pid + "/runs/" + exec,
		"/projects/not-a-uuid"} {
		if p := b.get(path); p.Status != 404 || strings.Contains(p.Body, "theirs") {
			t.Errorf("GET %s: %d", path, p.Status)
		}
	}
	for _, action := range []string{"run", "cancel", "resume", "delete", "edit", "assign"} {
		p := b.post("/projects", "/projects/"+pid+"/"+action, url.Values{"name": {"mine"}, "code": {"X"}})
		if p.Status != 404 {
			t.Errorf("POST %s of another tenant's project: %d", action, p.Status)
		}
	}
	if r := a.GetProject(owner.Key, pid); r.Name != "theirs" {
		t.Errorf("the project changed: %v", r.Name)
	}
}

func TestMarkupStaysText(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	tid, email, key := newTenant(t, a, "active")
	_ = tid
	hostile := `<img src=x onerror=alert(1)>`
	pid := a.Must(201, a.Do("POST", "/api/tenant/projects", key, map[string]any{
		"name": hostile, "description": `"><script>alert(1)</script>`, "objectives": "o"}))["id"].(string)
	b := newClient(t, a.URL)
	b.session(a, email)
	for _, path := range []string{"/projects", "/projects/status", "/projects/" + pid} {
		p := b.get(path)
		if p.Status != 200 {
			t.Fatalf("%s: %d", path, p.Status)
		}
		if strings.Contains(p.Body, "<img src=x") || strings.Contains(p.Body, "<script>alert") {
			t.Errorf("%s: markup from a name reached the page as markup", path)
		}
		if !strings.Contains(p.Body, "&lt;img src=x onerror=alert(1)&gt;") {
			t.Errorf("%s: the name is not shown as text", path)
		}
	}
}

func TestRunButtonFollowsTheRules(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	tid, email, key := newTenant(t, a, "active")
	pid := a.Project(key, "needs a code")
	b := newClient(t, a.URL)
	b.session(a, email)
	p := b.get("/projects/" + pid)
	if !strings.Contains(p.Body, `data-run-blocked="activation_code_required"`) || strings.Contains(p.Body, `action="/projects/`+pid+`/run"`) {
		t.Error("without a code the project page offers RUN")
	}
	// Assign by id from the picker; another tenant's code id is refused.
	other := a.NewTenant("active")
	otherCode, _ := a.Code(other.ID, nil)
	if p := b.post("/projects/"+pid, "/projects/"+pid+"/assign", url.Values{"code_id": {otherCode}}); p.Status != 422 ||
		!strings.Contains(p.Body, "No such activation code") {
		t.Errorf("another tenant's code id: %d", p.Status)
	}
	codeID, _ := a.Code(tid, nil)
	if p := b.post("/projects/"+pid, "/projects/"+pid+"/assign", url.Values{"code_id": {codeID}}); p.Status != http.StatusSeeOther {
		t.Fatalf("assign from the picker: %d %s", p.Status, p.Body)
	}
	p = b.get("/projects/" + pid)
	if !strings.Contains(p.Body, `action="/projects/`+pid+`/run"`) {
		t.Error("with a code the project page does not offer RUN")
	}
	// The subscription stops: RUN is shown disabled with the API's reason.
	a.SetSubscription(tid, models.SubPastDue)
	p = b.get("/projects/" + pid)
	if !strings.Contains(p.Body, `data-run-blocked="subscription_inactive"`) {
		t.Error("with a past_due subscription RUN is not disabled with subscription_inactive")
	}
	if p := b.post("/projects/"+pid, "/projects/"+pid+"/run", url.Values{}); p.Status != 402 || !strings.Contains(p.Body, "past_due") {
		t.Errorf("RUN posted anyway: %d", p.Status)
	}
}

func TestClientCodeLeavesTheAddressBar(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	a := apptest.New(t, apptest.Options{LogTo: &logs})
	tn := a.NewTenant("active")
	pid := a.Project(tn.Key, "client view")
	_, code := a.Code(tn.ID, nil)
	a.Must(200, a.Do("POST", "/api/tenant/projects/"+pid+"/assign-activation-code", tn.Key, map[string]any{"code": code}))

	b := newClient(t, a.URL)
	p := b.get("/status/" + code)
	if p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/status/projects/"+pid {
		t.Fatalf("GET /status/CODE: %d → %q", p.Status, p.Header.Get("Location"))
	}
	var ck *http.Cookie
	for _, c := range (&http.Response{Header: p.Header}).Cookies() {
		if c.Name == web.ClientCookie {
			ck = c
		}
	}
	if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || strings.Contains(ck.Value, code) || ck.MaxAge <= 0 || ck.MaxAge > 24*3600 {
		t.Fatalf("client cookie: %+v", ck)
	}
	if p := b.get("/status/projects/" + pid); p.Status != 200 || !strings.Contains(p.Body, "client view") || strings.Contains(p.Body, code) {
		t.Errorf("client page: %d", p.Status)
	}
	if got := p.Header.Get("Referrer-Policy"); got != "no-referrer" {
		t.Errorf("Referrer-Policy %q", got)
	}
	if strings.Contains(logs.String(), code) {
		t.Error("the activation code reached the log")
	}

	// Every code that opens nothing gets the same page.
	other := newClient(t, a.URL)
	wrong1, wrong2 := other.get("/status/AAAAA-BBBBB-CCCCC-DDDDD"), other.get("/status/nonsense")
	if wrong1.Status != 404 || wrong2.Status != 404 || wrong1.Body != wrong2.Body {
		t.Errorf("wrong codes: %d, %d, same page %v", wrong1.Status, wrong2.Status, wrong1.Body == wrong2.Body)
	}
	if p := other.get("/status/projects/" + pid); p.Status != 404 || strings.Contains(p.Body, "client view") {
		t.Errorf("the project page without a session: %d", p.Status)
	}
	// A revoked code ends the session.
	codeID := apptest.Deref(a.GetProject(tn.Key, pid).ActivationCodeID).String()
	a.Must(200, a.Do("POST", "/api/admin/activation-codes/"+codeID+"/revoke", apptest.AdminToken, nil))
	if p := b.get("/status/projects/" + pid); p.Status != 404 {
		t.Errorf("after revocation the client page answers %d", p.Status)
	}
	// The client form is limited per IP like the API's activate route.
	limited := false
	for i := 0; i < 25 && !limited; i++ {
		p := other.post("/status", "/status", url.Values{"code": {"AAAAA-BBBBB-CCCCC-DDDD" + string(rune('A'+i%20))}})
		limited = p.Status == 429 && p.Header.Get("Retry-After") != ""
	}
	if !limited {
		t.Error("25 wrong codes from one address were never rate limited")
	}
}

func TestBillingUpgradeGoesToStripe(t *testing.T) {
	t.Parallel()
	cfg := billing.Config{SecretKey: "sk_test_123", APIBase: billingtest.StripeMockURL(t), WebhookSecret: billingtest.WebhookSecret,
		Proration: "create_prorations", ReturnURL: "http://localhost:8080/billing"}
	a := apptest.New(t, apptest.Options{Billing: &cfg})
	if err := a.Svc.SetPlanPrices(context.Background(), map[string]string{"starter": "price_starter", "pro": "price_pro"}); err != nil {
		t.Fatal(err)
	}
	_, email, _ := newTenant(t, a, "trialing")
	b := newClient(t, a.URL)
	b.session(a, email)
	p := b.get("/billing")
	if p.Status != 200 || !strings.Contains(p.Body, "Upgrade to Pro") {
		t.Fatalf("billing page: %d, no upgrade to Pro", p.Status)
	}
	p = b.post("/billing", "/billing/upgrade", url.Values{"plan": {"pro"}})
	if loc := p.Header.Get("Location"); p.Status != http.StatusSeeOther || !strings.HasPrefix(loc, "http") || strings.HasPrefix(loc, a.URL) {
		t.Errorf("upgrade: %d → %q, want a redirect to Stripe Checkout", p.Status, loc)
	}
	if p := b.post("/billing", "/billing/upgrade", url.Values{"plan": {"gold"}}); p.Status != 404 || !strings.Contains(p.Body, "No plan") {
		t.Errorf("an unknown plan: %d", p.Status)
	}
	if p := b.get("/billing?billing=success"); !strings.Contains(p.Body, "your payment went through") {
		t.Error("the return from Checkout shows no message")
	}
}

func TestProfileBrandsTheClientPage(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	tid, email, key := newTenant(t, a, "active")
	b := newClient(t, a.URL)
	b.session(a, email)
	form := url.Values{"name": {"Acme Robotics"}, "email": {email}, "phone": {""}, "logo_url": {"https://acme.example/logo.png"},
		"primary_color": {"#0f766e"}, "domain": {""}}
	if p := b.post("/profile", "/profile", form); p.Status != http.StatusSeeOther {
		t.Fatalf("save profile: %d %s", p.Status, p.Body)
	}
	form.Set("logo_url", "javascript:alert(1)")
	if p := b.post("/profile", "/profile", form); p.Status != 400 || !strings.Contains(p.Body, `class="field-error"`) {
		t.Errorf("a bad logo URL: %d", p.Status)
	}
	pid := a.Project(key, "branded")
	_, code := a.Code(tid, nil)
	a.Must(200, a.Do("POST", "/api/tenant/projects/"+pid+"/assign-activation-code", key, map[string]any{"code": code}))
	client := newClient(t, a.URL)
	client.get("/status/" + code)
	p := client.get("/status/projects/" + pid)
	if !strings.Contains(p.Body, `data-brand="#0F766E"`) && !strings.Contains(p.Body, `data-brand="#0f766e"`) {
		t.Error("the client page does not carry the tenant's colour")
	}
	if !strings.Contains(p.Body, `src="https://acme.example/logo.png"`) || !strings.Contains(p.Body, "Acme Robotics") {
		t.Error("the client page does not carry the tenant's logo and name")
	}
}

func TestPastedCodeShowsItsClientLinkOnce(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	tid, email, key := newTenant(t, a, "active")
	pid := a.Project(key, "pasted")
	_, code := a.Code(tid, nil)
	b := newClient(t, a.URL)
	b.session(a, email)
	p := b.post("/projects/"+pid, "/projects/"+pid+"/assign", url.Values{"code": {code}})
	if p.Status != http.StatusSeeOther || strings.Contains(p.Header.Get("Location"), code) {
		t.Fatalf("assign: %d → %q (the code must not be in the URL)", p.Status, p.Header.Get("Location"))
	}
	if page := b.get("/projects/" + pid); !strings.Contains(page.Body, a.URL+"/status/"+code) {
		t.Error("after pasting, the project page does not show the client link")
	}
	if page := b.get("/projects/" + pid); strings.Contains(page.Body, code) {
		t.Error("the client link is shown again on the next visit")
	}
	if p := b.post("/projects/"+pid, "/projects/"+pid+"/assign", url.Values{"code": {code}}); p.Status != 409 {
		t.Errorf("a second assignment: %d", p.Status)
	}
}

// A page follows the tenant's events from just before its data was read: a
// change between the render and the stream's start still arrives.
func TestStatusPageMissesNoChangeBeforeItsStream(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	_, email, key := newTenant(t, a, "active")
	tid := a.Profile(key).ID.String()
	pid := a.Project(key, "watched")
	_, code := a.Code(tid, nil)
	a.Must(200, a.Do("POST", "/api/tenant/projects/"+pid+"/assign-activation-code", key, map[string]any{"code": code}))
	b := newClient(t, a.URL)
	b.session(a, email)
	page := b.get("/projects/status")
	m := regexp.MustCompile(`data-live="([^"]+)"`).FindStringSubmatch(page.Body)
	if m == nil || !strings.Contains(m[1], "last_event_id=") {
		t.Fatalf("the status page follows no stream position: %v", m)
	}
	// The run is queued after the page was read and before its stream opens.
	a.Run(key, pid)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", a.URL+strings.ReplaceAll(m[1], "&amp;", "&"), nil)
	req.Header.Set("Accept", "text/event-stream")
	u, _ := url.Parse(a.URL)
	for _, c := range b.c.Jar.Cookies(u) {
		req.AddCookie(c)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("the page's stream with its cookie: %d", res.StatusCode)
	}
	buf := make([]byte, 4096)
	var got strings.Builder
	for !strings.Contains(got.String(), "event: pending") {
		n, err := res.Body.Read(buf)
		got.Write(buf[:n])
		if err != nil {
			t.Fatalf("stream ended without the pending event: %v; got %q", err, got.String())
		}
	}
	if !strings.Contains(got.String(), pid) {
		t.Errorf("the pending event is not the project's: %q", got.String())
	}
}

// Changing the sign-in email in the profile mails a code to the new address;
// the portal asks for it, and the new address counts only once confirmed.
func TestProfileEmailChangeIsConfirmed(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	_, email, key := newTenant(t, a, "active")
	b := newClient(t, a.URL)
	b.session(a, email)
	next := "new-" + email
	form := url.Values{"name": {"Acme Robotics"}, "email": {next}, "phone": {""}, "logo_url": {""}, "primary_color": {"#4F46E5"}, "domain": {""}}
	if p := b.post("/profile", "/profile", form); p.Status != http.StatusSeeOther {
		t.Fatalf("save: %d %s", p.Status, p.Body)
	}
	page := b.get("/profile")
	if !strings.Contains(page.Body, "We sent a code to "+next) || !strings.Contains(page.Body, `id="email-code"`) {
		t.Fatal("the profile does not ask for the code sent to the new address")
	}
	if got := a.Profile(key).Email; got != email {
		t.Errorf("the sign-in email changed before it was confirmed: %v", got)
	}
	if p := b.post("/profile", "/profile/email/confirm", url.Values{"code": {"000000"}}); p.Status != 422 || !strings.Contains(p.Body, `id="email-code-error"`) {
		t.Errorf("a wrong code: %d", p.Status)
	}
	code := regexp.MustCompile(`\b\d{6}\b`).FindString(apptest.WaitMails(t, next, 1, 20*time.Second)[0].Text)
	if p := b.post("/profile", "/profile/email/confirm", url.Values{"code": {code}}); p.Status != http.StatusSeeOther {
		t.Fatalf("the right code: %d %s", p.Status, p.Body)
	}
	if got := a.Profile(key).Email; got != next {
		t.Errorf("after confirming, the email is %v", got)
	}
}
