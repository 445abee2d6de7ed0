package api

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/q2o/q2o/models"
	"github.com/q2o/q2o/service"
)

// projectRoutes: create, read, edit and delete projects, the status page,
// assign a code, RUN, cancel and resume, the executions and an execution's
// zip. Every route answers only for the calling tenant's projects: another
// tenant's project id is a 404, as an unknown one. (The log is in logs.go,
// resume-all in billing.go.)
func (s *Server) projectRoutes(tenant *echo.Group) {
	auth := s.requireTenant
	mount(tenant, post("/projects", http.StatusCreated), s.createProject, auth)
	mount(tenant, get("/projects", http.StatusOK), s.listProjects, auth)
	mount(tenant, get("/projects/status", http.StatusOK), s.projectStatusPage, auth)
	mount(tenant, get("/projects/:project_id", http.StatusOK), s.getProject, auth)
	mount(tenant, patch("/projects/:project_id", http.StatusOK), s.updateProject, auth)
	mount(tenant, del("/projects/:project_id", http.StatusNoContent), s.deleteProject, auth)
	mount(tenant, post("/projects/:project_id/assign-activation-code", http.StatusOK), s.assignCode, auth)
	mount(tenant, post("/projects/:project_id/run", http.StatusAccepted), s.runProject, auth)
	mount(tenant, post("/projects/:project_id/cancel", http.StatusOK), s.cancelRun, auth)
	mount(tenant, post("/projects/:project_id/resume", http.StatusAccepted), s.resumeRun, auth)
	mount(tenant, get("/projects/:project_id/executions", http.StatusOK), s.listExecutions, auth)
	mount(tenant, get("/projects/:project_id/executions/:execution_id", http.StatusOK), s.getExecution, auth)
	// A download is a file answered by http.ServeContent (Range, HEAD…),
	// not a JSON value: a plain handler.
	tenant.GET("/projects/:project_id/executions/:execution_id/download", s.downloadExecution, auth)
	tenant.HEAD("/projects/:project_id/executions/:execution_id/download", s.downloadExecution, auth)
}

// projectQuery binds the list filters ?page&per_page&q&status; the service
// checks them.
type projectQuery struct{ Query service.ProjectQuery }

func (r *projectQuery) bind(c echo.Context) error {
	r.Query = service.ProjectQuery{Page: c.QueryParam("page"), Q: c.QueryParam("q"), Status: c.QueryParam("status"),
		PerPage: c.QueryParam("per_page")}
	return nil
}

type createProjectReq struct{ Body service.NewProject }

func (r *createProjectReq) body() any { return &r.Body }

// createProject: POST /api/tenant/projects.
func (s *Server) createProject(ctx context.Context, req *createProjectReq) (*models.Project, error) {
	return answer(s.svc.CreateProject(ctx, tenantIn(ctx), req.Body))
}

// listProjects: GET /api/tenant/projects?page&per_page&q&status.
func (s *Server) listProjects(ctx context.Context, req *projectQuery) (*service.Page[service.ProjectStatus], error) {
	return answer(s.svc.Projects(ctx, tenantIn(ctx), req.Query))
}

// projectStatusPage: GET /api/tenant/projects/status?page&per_page&q&status.
func (s *Server) projectStatusPage(ctx context.Context, req *projectQuery) (*service.Page[service.ProjectStatus], error) {
	return answer(s.svc.StatusPage(ctx, tenantIn(ctx), req.Query))
}

// getProject: GET /api/tenant/projects/:project_id.
func (s *Server) getProject(ctx context.Context, req *projectPath) (*models.Project, error) {
	return answer(s.svc.Project(ctx, tenantIn(ctx), req.ProjectID))
}

type updateProjectReq struct {
	projectPath
	Body service.ProjectChanges
}

func (r *updateProjectReq) body() any { return &r.Body }

// updateProject: PATCH /api/tenant/projects/:project_id.
func (s *Server) updateProject(ctx context.Context, req *updateProjectReq) (*models.Project, error) {
	return answer(s.svc.UpdateProject(ctx, tenantIn(ctx), req.ProjectID, req.Body))
}

// deleteProject: DELETE /api/tenant/projects/:project_id answers 204, the
// second time too.
func (s *Server) deleteProject(ctx context.Context, req *projectPath) (*noContent, error) {
	return nil, s.svc.DeleteProject(ctx, tenantIn(ctx), req.ProjectID)
}

type assignCodeReq struct {
	projectPath
	Body struct {
		Code *string `json:"code"`
	}
}

func (r *assignCodeReq) body() any { return &r.Body }

// Validate: Errors: missing_field (400). The service checks the code.
func (r *assignCodeReq) Validate() error {
	if r.Body.Code == nil {
		return models.FieldError("code", "missing_field", "code is required")
	}
	return nil
}

// assignCode: POST /api/tenant/projects/:project_id/assign-activation-code
// {"code"}.
func (s *Server) assignCode(ctx context.Context, req *assignCodeReq) (*models.Project, error) {
	return answer(s.svc.AssignActivationCode(ctx, tenantIn(ctx), req.ProjectID, *req.Body.Code))
}

// runProject: POST /api/tenant/projects/:project_id/run answers 202
// {execution_id, status, output_folder_path}.
func (s *Server) runProject(ctx context.Context, req *projectPath) (*service.RunStarted, error) {
	return answer(s.svc.StartRun(ctx, tenantIn(ctx), req.ProjectID))
}

// cancelRun: POST /api/tenant/projects/:project_id/cancel answers the
// project, its run now cancelled.
func (s *Server) cancelRun(ctx context.Context, req *projectPath) (*models.Project, error) {
	return answer(s.svc.CancelRun(ctx, tenantIn(ctx), req.ProjectID))
}

// resumeRun: POST /api/tenant/projects/:project_id/resume answers like RUN:
// 202 {execution_id, status, output_folder_path}.
func (s *Server) resumeRun(ctx context.Context, req *projectPath) (*service.RunStarted, error) {
	return answer(s.svc.ResumeRun(ctx, tenantIn(ctx), req.ProjectID))
}

type listExecutionsReq struct {
	projectPath
	Page string
}

func (r *listExecutionsReq) bind(c echo.Context) error {
	r.Page = c.QueryParam("page")
	return r.projectPath.bind(c)
}

// listExecutions: GET /api/tenant/projects/:project_id/executions?page.
func (s *Server) listExecutions(ctx context.Context, req *listExecutionsReq) (*service.Page[service.ExecutionView], error) {
	return answer(s.svc.ProjectExecutions(ctx, tenantIn(ctx), req.ProjectID, req.Page))
}

// getExecution: GET /api/tenant/projects/:project_id/executions/:execution_id.
func (s *Server) getExecution(ctx context.Context, req *executionPath) (*service.ExecutionDetail, error) {
	return answer(s.svc.Execution(ctx, tenantIn(ctx), req.ProjectID, req.ExecutionID))
}

// downloadExecution: GET|HEAD
// /api/tenant/projects/:project_id/executions/:execution_id/download, the
// zip of one completed run, answered like the client's download
// (downloadProject): Range, If-Range, If-None-Match, HEAD, 202 zip_pending
// and 404 zip_missing.
func (s *Server) downloadExecution(c echo.Context) error {
	var req executionPath
	if err := req.bind(c); err != nil {
		return err
	}
	d, err := s.svc.OpenExecutionDownload(c.Request().Context(), tenantID(c), req.ProjectID, req.ExecutionID)
	return serveDownload(c, d, err)
}
