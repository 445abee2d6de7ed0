package api

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/q2o/q2o/models"
	"github.com/q2o/q2o/service"
)

// projectQuery reads the list filters from the query string; the service
// checks them.
func projectQuery(c echo.Context) service.ProjectQuery {
	return service.ProjectQuery{Page: c.QueryParam("page"), Q: c.QueryParam("q"), Status: c.QueryParam("status"),
		PerPage: c.QueryParam("per_page")}
}

// projectStatusPage: GET /api/tenant/projects/status?page&q&status.
func (s *Server) projectStatusPage(c echo.Context) error {
	page, err := s.svc.StatusPage(c.Request().Context(), tenantID(c), projectQuery(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, page)
}

// listProjects: GET /api/tenant/projects?page&q&status.
func (s *Server) listProjects(c echo.Context) error {
	page, err := s.svc.Projects(c.Request().Context(), tenantID(c), projectQuery(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, page)
}

// updateProject: PATCH /api/tenant/projects/:project_id.
func (s *Server) updateProject(c echo.Context) error {
	id, err := pathID(c, "project_id", models.ErrProjectNotFound)
	if err != nil {
		return err
	}
	var in service.ProjectChanges
	if err := decode(c, &in); err != nil {
		return err
	}
	p, err := s.svc.UpdateProject(c.Request().Context(), tenantID(c), id, in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, p)
}

// deleteProject: DELETE /api/tenant/projects/:project_id answers 204, the
// second time too.
func (s *Server) deleteProject(c echo.Context) error {
	id, err := pathID(c, "project_id", models.ErrProjectNotFound)
	if err != nil {
		return err
	}
	if err := s.svc.DeleteProject(c.Request().Context(), tenantID(c), id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// listExecutions: GET /api/tenant/projects/:project_id/executions?page.
func (s *Server) listExecutions(c echo.Context) error {
	id, err := pathID(c, "project_id", models.ErrProjectNotFound)
	if err != nil {
		return err
	}
	page, err := s.svc.ProjectExecutions(c.Request().Context(), tenantID(c), id, c.QueryParam("page"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, page)
}

// downloadExecution: GET|HEAD
// /api/tenant/projects/:project_id/executions/:execution_id/download, the
// zip of one completed run, answered like the client's download
// (downloadProject): Range, If-Range, If-None-Match, HEAD, 202 zip_pending
// and 404 zip_missing.
func (s *Server) downloadExecution(c echo.Context) error {
	pid, err := pathID(c, "project_id", models.ErrExecutionNotFound)
	if err != nil {
		return err
	}
	eid, err := pathID(c, "execution_id", models.ErrExecutionNotFound)
	if err != nil {
		return err
	}
	d, err := s.svc.OpenExecutionDownload(c.Request().Context(), tenantID(c), pid, eid)
	return serveDownload(c, d, err)
}

// cancelRun: POST /api/tenant/projects/:project_id/cancel answers the
// project, now paused.
func (s *Server) cancelRun(c echo.Context) error {
	id, err := pathID(c, "project_id", models.ErrProjectNotFound)
	if err != nil {
		return err
	}
	p, err := s.svc.CancelRun(c.Request().Context(), tenantID(c), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, p)
}

// resumeRun: POST /api/tenant/projects/:project_id/resume answers like RUN:
// 202 {execution_id, status, output_folder_path}.
func (s *Server) resumeRun(c echo.Context) error {
	id, err := pathID(c, "project_id", models.ErrProjectNotFound)
	if err != nil {
		return err
	}
	run, err := s.svc.ResumeRun(c.Request().Context(), tenantID(c), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, run)
}
