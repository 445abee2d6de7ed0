package api

import "github.com/labstack/echo/v4"

// projectRoutes: status page, project list/edit/delete, executions list,
// cancel, resume, logs, an execution's zip. Every route answers only for the calling tenant's
// projects: another tenant's project id is a 404, as an unknown one.
func (s *Server) projectRoutes(tenant *echo.Group) {
	tenant.GET("/projects/status", s.projectStatusPage, s.requireTenant)
	tenant.GET("/projects", s.listProjects, s.requireTenant)
	tenant.PATCH("/projects/:project_id", s.updateProject, s.requireTenant)
	tenant.DELETE("/projects/:project_id", s.deleteProject, s.requireTenant)
	tenant.GET("/projects/:project_id/executions", s.listExecutions, s.requireTenant)
	tenant.POST("/projects/:project_id/cancel", s.cancelRun, s.requireTenant)
	tenant.POST("/projects/:project_id/resume", s.resumeRun, s.requireTenant)
	tenant.GET("/projects/:project_id/logs", s.projectLogs, s.requireTenant)
	tenant.GET("/projects/:project_id/executions/:execution_id/download", s.downloadExecution, s.requireTenant)
	tenant.HEAD("/projects/:project_id/executions/:execution_id/download", s.downloadExecution, s.requireTenant)
}
