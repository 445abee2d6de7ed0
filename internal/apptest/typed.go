package apptest

// Typed answers: tests read an API answer as the models type or small
// response struct it is, decoded from the JSON the API sent (so a field the
// API stops sending, or sends with the wrong type, fails the test), instead of
// digging through map[string]any.

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/q2o/q2o/models"
	"github.com/q2o/q2o/service"
)

// Decode checks the status of an answer and decodes its JSON body into T.
func Decode[T any](t testing.TB, want int, r Response) T {
	t.Helper()
	if r.Status != want {
		t.Fatalf("status %d, want %d: %s", r.Status, want, r.Body)
	}
	var v T
	if err := json.Unmarshal(r.Body, &v); err != nil {
		t.Fatalf("answer is not a %T: %v: %s", v, err, r.Body)
	}
	return v
}

// Error is the one shape of every error answer's "error" object.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field"`
}

// Err returns the error of an error answer, failing the test when the body
// is not one.
func (r Response) Err(t testing.TB) Error {
	t.Helper()
	var b struct {
		Error *Error `json:"error"`
	}
	if err := json.Unmarshal(r.Body, &b); err != nil || b.Error == nil {
		t.Fatalf("not an error answer (status %d): %s", r.Status, r.Body)
	}
	return *b.Error
}

// WantError reports (t.Errorf) an answer that is not status with error code;
// what names the request in the message. It returns whether it matched.
func WantError(t testing.TB, r Response, status int, code, what string) bool {
	t.Helper()
	if r.Status != status || r.ErrorCode(t) != code {
		t.Errorf("%s: got %d %s, want %d %s", what, r.Status, r.Body, status, code)
		return false
	}
	return true
}

// WantFieldError is WantError that also wants the error's field.
func WantFieldError(t testing.TB, r Response, status int, code, field, what string) {
	t.Helper()
	if WantError(t, r, status, code, what) {
		if f := r.Err(t).Field; f != field {
			t.Errorf("%s: field %q, want %q", what, f, field)
		}
	}
}

// CreatedTenant is the answer to POST /api/admin/tenants.
type CreatedTenant struct {
	models.Tenant
	SubscriptionStatus models.SubscriptionStatus `json:"subscription_status"`
	APIKey             string                    `json:"api_key"`
}

// IssuedCode is one code of an answer that makes activation codes; Code is
// shown only this once.
type IssuedCode struct {
	models.ActivationCode
	Code string `json:"code"`
}

// IssuedCodes is the answer that makes activation codes.
type IssuedCodes struct {
	Codes []IssuedCode `json:"codes"`
}

// RunAccepted is the answer to RUN and resume (202).
type RunAccepted struct {
	ExecutionID      uuid.UUID              `json:"execution_id"`
	Status           models.ExecutionStatus `json:"status"`
	OutputFolderPath string                 `json:"output_folder_path"`
}

// Page is one page of a list, as the API sends it.
type Page[T any] = service.Page[T]

// ProjectItem is one project of a project list, with its latest execution.
type ProjectItem = service.ProjectStatus

// Execution is one execution as the tenant API shows it; Events is set by
// GET …/executions/{id} only.
type Execution struct {
	service.ExecutionDetail
}

// Kinds lists the kinds of the execution's events in order.
func (e Execution) Kinds() []string {
	var out []string
	for _, ev := range e.Events {
		out = append(out, ev.Kind)
	}
	return out
}

// Names lists the names of a page's projects in order.
func Names(items []ProjectItem) []string {
	var out []string
	for _, it := range items {
		out = append(out, it.Name)
	}
	return out
}

// StatusOf is a project's execution status, "" when it never ran.
func StatusOf(p models.Project) models.ExecutionStatus {
	if p.ExecutionStatus == nil {
		return ""
	}
	return *p.ExecutionStatus
}

// HasStatus is an AwaitProject condition.
func HasStatus(s models.ExecutionStatus) func(models.Project) bool {
	return func(p models.Project) bool { return StatusOf(p) == s }
}

// CreateProject creates a project with these fields and returns its id.
func (a *App) CreateProject(key, name, description, objectives string) string {
	a.t.Helper()
	p := Decode[models.Project](a.t, http.StatusCreated, a.Do("POST", "/api/tenant/projects", key,
		struct {
			Name        string `json:"name"`
			Description string `json:"description"`
			Objectives  string `json:"objectives"`
		}{name, description, objectives}))
	return p.ID.String()
}

// GetProject reads one of the tenant's projects through the API.
func (a *App) GetProject(key, id string) models.Project {
	a.t.Helper()
	return Decode[models.Project](a.t, http.StatusOK, a.Do("GET", "/api/tenant/projects/"+id, key, nil))
}

// StartRun presses RUN and returns the 202 answer.
func (a *App) StartRun(key, pid string) RunAccepted {
	a.t.Helper()
	return Decode[RunAccepted](a.t, http.StatusAccepted, a.Do("POST", "/api/tenant/projects/"+pid+"/run", key, nil))
}

// Run presses RUN and returns the execution id.
func (a *App) Run(key, pid string) string {
	a.t.Helper()
	return a.StartRun(key, pid).ExecutionID.String()
}

// Resume resumes a paused or cancelled project and returns the execution id.
func (a *App) Resume(key, pid string) string {
	a.t.Helper()
	return Decode[RunAccepted](a.t, http.StatusAccepted, a.Do("POST", "/api/tenant/projects/"+pid+"/resume", key, nil)).ExecutionID.String()
}

// Cancel cancels a project's run and returns the project.
func (a *App) Cancel(key, pid string) models.Project {
	a.t.Helper()
	return Decode[models.Project](a.t, http.StatusOK, a.Do("POST", "/api/tenant/projects/"+pid+"/cancel", key, nil))
}

// GetExecution reads one execution of a project, with its events.
func (a *App) GetExecution(key, pid, eid string) Execution {
	a.t.Helper()
	return Decode[Execution](a.t, http.StatusOK, a.Do("GET", "/api/tenant/projects/"+pid+"/executions/"+eid, key, nil))
}

// SetSubscription sets a tenant's subscription status as an operator does.
func (a *App) SetSubscription(tenantID string, status models.SubscriptionStatus) models.Subscription {
	a.t.Helper()
	return Decode[models.Subscription](a.t, http.StatusOK, a.Do("PUT", "/api/admin/tenants/"+tenantID+"/subscription", AdminToken,
		struct {
			Status models.SubscriptionStatus `json:"status"`
		}{status}))
}

// ProjectList gets a project list route (the status page or the full
// list) and checks the page shape: 10 per page unless asked, items an array.
func (a *App) ProjectList(key, path string) Page[ProjectItem] {
	a.t.Helper()
	return list[ProjectItem](a, key, path)
}

// ExecutionList gets a project's executions list, checked as ProjectList.
func (a *App) ExecutionList(key, path string) Page[Execution] {
	a.t.Helper()
	return list[Execution](a, key, path)
}

func list[T any](a *App, key, path string) Page[T] {
	a.t.Helper()
	r := a.Do("GET", path, key, nil)
	p := Decode[Page[T]](a.t, http.StatusOK, r)
	if p.PerPage != 10 {
		a.t.Fatalf("%s: per_page %v", path, p.PerPage)
	}
	if p.Items == nil { // null or missing, not []
		a.t.Fatalf("%s: items is not an array: %s", path, r.Body)
	}
	return p
}

// AwaitProject polls the project until cond holds or timeout passes.
func (a *App) AwaitProject(key, id string, timeout time.Duration, cond func(models.Project) bool) models.Project {
	a.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		p := a.GetProject(key, id)
		if cond(p) {
			return p
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("project %s: condition not met within %s; last state: %+v", id, timeout, p)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Deref is *p, or T's zero value when p is nil (a JSON null).
func Deref[T any](p *T) T {
	if p == nil {
		var zero T
		return zero
	}
	return *p
}

// Session is the answer to a verified sign-in code.
type Session struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Accepted is the answer of a request that is taken in for later (202).
type Accepted struct {
	Status string `json:"status"`
}

// Profile reads the tenant's profile (GET /api/tenant/profile).
func (a *App) Profile(key string) service.Profile {
	a.t.Helper()
	return Decode[service.Profile](a.t, http.StatusOK, a.Do("GET", "/api/tenant/profile", key, nil))
}

// ResumedAll is the answer to POST /api/tenant/projects/resume-all.
type ResumedAll struct {
	Resumed  int `json:"resumed"`
	Projects []struct {
		ProjectID   uuid.UUID              `json:"project_id"`
		ExecutionID *uuid.UUID             `json:"execution_id"`
		Status      models.ExecutionStatus `json:"status"`
		Error       *Error                 `json:"error"`
	} `json:"projects"`
}

// ResumeAll resumes every paused project of the tenant.
func (a *App) ResumeAll(key string) ResumedAll {
	a.t.Helper()
	return Decode[ResumedAll](a.t, http.StatusOK, a.Do("POST", "/api/tenant/projects/resume-all", key, nil))
}
