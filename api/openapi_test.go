package api_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/labstack/echo/v4"

	"github.com/q2o/q2o/api"
	"github.com/q2o/q2o/billing"
	"github.com/q2o/q2o/billing/billingtest"
	"github.com/q2o/q2o/internal/apptest"
	"github.com/q2o/q2o/models"
)

// openAPIMethods are the methods an OpenAPI 3.0 path item can describe.
var openAPIMethods = []string{http.MethodGet, http.MethodPut, http.MethodPost, http.MethodDelete,
	http.MethodOptions, http.MethodHead, http.MethodPatch, http.MethodTrace}

// echoParam is a path parameter in Echo's syntax.
var echoParam = regexp.MustCompile(`:([A-Za-z0-9_]+)`)

// docPath is an Echo route path as the document writes it: :name is
// {name}, and a trailing wildcard * is {path}.
func docPath(p string) string {
	p = echoParam.ReplaceAllString(p, "{$1}")
	if strings.HasSuffix(p, "/*") {
		p = strings.TrimSuffix(p, "*") + "{path}"
	}
	return p
}

// mounted are the routes that hand every method to a handler of its own
// (the asynq web UI, registered with Echo's Any): the document describes
// the methods that handler serves, not every method Echo registers.
var mounted = map[string]bool{api.MonitoringPath: true, api.MonitoringPath + "/*": true}

// fullServer builds the API with every optional part on, as apptest builds
// it (admin token, Redis, metrics on the API, monitoring) plus billing with
// a webhook secret, so that every route exists.
func fullServer(t *testing.T) *api.Server {
	t.Helper()
	a := apptest.New(t, apptest.Options{})
	srv := api.New(a.Svc, api.Config{AdminToken: apptest.AdminToken, Redis: a.Redis,
		Metrics: a.Metrics, MetricsOnAPI: true, Monitoring: a.RedisOpt}, a.Log)
	srv.EnableBilling(billing.New(a.Svc, billing.Config{WebhookSecret: billingtest.WebhookSecret}, a.Log))
	return srv
}

// Every route the server registers is in the document with its method, and
// the document describes no route the server does not have.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	t.Parallel()
	doc, err := apptest.OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	registered := map[string]map[string]bool{} // document path → methods
	for _, r := range fullServer(t).Routes() {
		if !strings.HasPrefix(r.Path, "/") {
			continue // none today; Echo's own entries, should it list any
		}
		p := docPath(r.Path)
		if registered[p] == nil {
			registered[p] = map[string]bool{}
		}
		registered[p][r.Method] = true
		item := doc.Paths.Value(p)
		switch {
		case item == nil:
			t.Errorf("%s %s is not in api/openapi.yaml (as %s)", r.Method, r.Path, p)
		case mounted[r.Path]:
			if item.Get == nil {
				t.Errorf("%s (mounted) has no GET in api/openapi.yaml", r.Path)
			}
		case !slices.Contains(openAPIMethods, r.Method):
			t.Errorf("%s %s: OpenAPI cannot describe the method", r.Method, r.Path)
		case item.GetOperation(r.Method) == nil:
			t.Errorf("%s %s is in api/openapi.yaml without %s", r.Method, r.Path, r.Method)
		}
	}
	for p, item := range doc.Paths.Map() {
		for m := range item.Operations() {
			if !registered[p][m] {
				t.Errorf("api/openapi.yaml describes %s %s, which the server does not register", m, p)
			}
		}
	}
}

// The document loads, is a valid OpenAPI 3 document, and every operation
// answers its errors in the one error shape.
func TestOpenAPIDocumentIsValid(t *testing.T) {
	t.Parallel()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(api.OpenAPIDocument)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background(), openapi3.EnableExamplesValidation()); err != nil {
		t.Fatal(err)
	}
	errorSchema := doc.Components.Schemas["Error"]
	if errorSchema == nil {
		t.Fatal("no Error schema")
	}
	for p, item := range doc.Paths.Map() {
		for m, op := range item.Operations() {
			if op.OperationID == "" {
				t.Errorf("%s %s has no operationId", m, p)
			}
			for status, res := range op.Responses.Map() {
				if status[0] < '4' || m == http.MethodHead || strings.HasPrefix(p, "/monitoring") {
					continue
				}
				mt := res.Value.Content.Get("application/json")
				if mt == nil || mt.Schema == nil || mt.Schema.Value != errorSchema.Value {
					t.Errorf("%s %s: the %s answer is not the Error schema", m, p, status)
				}
			}
		}
	}
}

func TestOpenAPIServed(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	res := send(t, a, "GET", "/api/openapi.yaml", nil, "")
	if res.Status != http.StatusOK || res.Header.Get(echo.HeaderContentType) != "application/yaml" {
		t.Fatalf("GET /api/openapi.yaml: %d %q", res.Status, res.Header.Get(echo.HeaderContentType))
	}
	if string(res.Body) != string(api.OpenAPIDocument) {
		t.Error("GET /api/openapi.yaml does not serve api/openapi.yaml")
	}
	if _, err := openapi3.NewLoader().LoadFromData(res.Body); err != nil {
		t.Errorf("the served document does not load: %v", err)
	}
}

// recorder is a testing.TB that keeps its errors instead of failing.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// The check behind apptest's Do refuses what the document does not say:
// a status the route does not list, a body off its schema, an error off
// the one shape, another content type; and lets the document's own
// answers through.
func TestOpenAPICheckCatchesMismatches(t *testing.T) {
	t.Parallel()
	pid := "0192f0c4-6c1e-7a3b-9d2e-4f5a6b7c8d9e"
	jsonHeader := http.Header{"Content-Type": {"application/json"}}
	for _, c := range []struct {
		name, method, path string
		res                apptest.Response
		ok                 bool
	}{
		{"run accepted", "POST", "/api/tenant/projects/" + pid + "/run", apptest.Response{Status: 202, Header: jsonHeader,
			Body: []byte(`{"execution_id":"` + pid + `","status":"pending","output_folder_path":"/out/` + pid + `"}`)}, true},
		{"an error", "GET", "/api/tenant/projects/" + pid, apptest.Response{Status: 404, Header: jsonHeader,
			Body: []byte(`{"error":{"code":"project_not_found","message":"no such project"}}`)}, true},
		{"an unknown route is not checked", "GET", "/api/nowhere", apptest.Response{Status: 404, Header: jsonHeader,
			Body: []byte(`{}`)}, true},
		{"a status the route does not list", "GET", "/api/tenant/projects/" + pid, apptest.Response{Status: 500, Header: jsonHeader,
			Body: []byte(`{"error":{"code":"internal","message":"internal error"}}`)}, false},
		{"run accepted with s3: no output folder", "POST", "/api/tenant/projects/" + pid + "/run", apptest.Response{Status: 202, Header: jsonHeader,
			Body: []byte(`{"execution_id":"` + pid + `","status":"pending"}`)}, true},
		{"a required field missing", "POST", "/api/tenant/projects/" + pid + "/run", apptest.Response{Status: 202, Header: jsonHeader,
			Body: []byte(`{"execution_id":"` + pid + `","output_folder_path":"/out"}`)}, false},
		{"a status off its enum", "POST", "/api/tenant/projects/" + pid + "/run", apptest.Response{Status: 202, Header: jsonHeader,
			Body: []byte(`{"execution_id":"` + pid + `","status":"queued","output_folder_path":"/out"}`)}, false},
		{"an id that is not a UUID", "POST", "/api/tenant/projects/" + pid + "/run", apptest.Response{Status: 202, Header: jsonHeader,
			Body: []byte(`{"execution_id":"42","status":"pending","output_folder_path":"/out"}`)}, false},
		{"an error off the one shape", "GET", "/api/tenant/projects/" + pid, apptest.Response{Status: 404, Header: jsonHeader,
			Body: []byte(`{"message":"Not Found"}`)}, false},
		{"another content type", "GET", "/api/tenant/projects/" + pid, apptest.Response{Status: 404,
			Header: http.Header{"Content-Type": {"text/plain; charset=utf-8"}}, Body: []byte("404 page not found\n")}, false},
	} {
		req, err := http.NewRequest(c.method, "http://127.0.0.1"+c.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		r := &recorder{TB: t}
		apptest.CheckOpenAPI(r, req, c.res)
		if ok := len(r.errs) == 0; ok != c.ok {
			t.Errorf("%s: passed %v, want %v: %v", c.name, ok, c.ok, r.errs)
		}
	}
}

// send makes a request with headers of its own (which apptest's Do does not
// set) and checks its answer against the document as Do does.
func send(t *testing.T, a *apptest.App, method, path string, header map[string]string, body string) apptest.Response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, a.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := apptest.Response{Status: res.StatusCode, Header: res.Header, Body: b}
	apptest.CheckOpenAPI(t, req, r)
	return r
}

// The answers of the routes that the other tests reach with helpers of
// their own (signed webhooks, the client's download with its headers, the
// followed log) match the document too.
func TestOpenAPIAnswersBeyondDo(t *testing.T) {
	t.Parallel()
	a := billingAppForDoc(t)
	status := func(want int, r apptest.Response) {
		t.Helper()
		if r.Status != want {
			t.Errorf("status %d, want %d: %.300s", r.Status, want, r.Body)
		}
	}
	status(200, send(t, a, "GET", "/readyz", nil, ""))

	// Stripe: refused unsigned, recorded when signed.
	ev := billingtest.Event{Type: "customer.created", Object: map[string]any{"id": "cus_doc", "object": "customer"}}.JSON(t)
	status(400, send(t, a, "POST", "/api/webhooks/stripe", nil, string(ev)))
	status(400, send(t, a, "POST", "/api/webhooks/stripe", map[string]string{"Stripe-Signature": "t=1,v1=00"}, string(ev)))
	status(200, send(t, a, "POST", "/api/webhooks/stripe",
		map[string]string{"Stripe-Signature": billingtest.Sign(ev, billingtest.WebhookSecret, time.Time{})}, string(ev)))

	// The client's routes, before and after a completed run.
	tn := a.NewTenant("active")
	pid := a.Project(tn.Key, "documented")
	_, code := a.Code(tn.ID, nil)
	a.Must(http.StatusOK, a.Do("POST", "/api/tenant/projects/"+pid+"/assign-activation-code", tn.Key, map[string]any{"code": code}))
	byCode := map[string]string{"X-Activation-Code": code}
	status(200, send(t, a, "POST", "/api/public/activate-project", nil, `{"code":"`+code+`"}`))
	status(404, send(t, a, "POST", "/api/public/activate-project", nil, `{"code":"AAAAA-BBBBB-CCCCC-DDDDD"}`))
	status(409, send(t, a, "GET", "/api/public/projects/"+pid+"/download", byCode, ""))
	status(404, send(t, a, "GET", "/api/public/projects/"+pid+"/download", map[string]string{"X-Activation-Code": "wrong"}, ""))
	status(404, send(t, a, "GET", "/api/public/projects/"+pid+"/events", map[string]string{"X-Activation-Code": "wrong"}, ""))

	a.StartWorker(a.WorkerConfig())
	a.Run(tn.Key, pid)
	a.AwaitProject(tn.Key, pid, 30*time.Second, apptest.HasStatus(models.StatusCompleted))
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := send(t, a, "GET", "/api/public/projects/"+pid+"/download", byCode, "")
		if r.Status == http.StatusOK {
			break
		}
		if r.Status != http.StatusAccepted || time.Now().After(deadline) {
			t.Fatalf("download: %d %.300s", r.Status, r.Body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	status(206, send(t, a, "GET", "/api/public/projects/"+pid+"/download", map[string]string{"X-Activation-Code": code, "Range": "bytes=0-9"}, ""))
	status(200, send(t, a, "HEAD", "/api/public/projects/"+pid+"/download", byCode, ""))
	logs := send(t, a, "GET", "/api/tenant/projects/"+pid+"/logs", map[string]string{"Authorization": "Bearer " + tn.Key, "Accept": "text/event-stream"}, "")
	status(200, logs)
	if !strings.Contains(string(logs.Body), "event: end") {
		t.Errorf("followed log of a completed run: %.300s", logs.Body)
	}
}

// billingAppForDoc is an app with the Stripe webhook on.
func billingAppForDoc(t *testing.T) *apptest.App {
	t.Helper()
	return apptest.New(t, apptest.Options{Billing: &billing.Config{WebhookSecret: billingtest.WebhookSecret}})
}
