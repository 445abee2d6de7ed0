package api

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/q2o/q2o/models"
	"github.com/q2o/q2o/service"
)

func (s *Server) createTenant(c echo.Context) error {
	var in service.NewTenant
	if err := decode(c, &in); err != nil {
		return err
	}
	t, err := s.svc.CreateTenant(c.Request().Context(), in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, t)
}

func (s *Server) issueCodes(c echo.Context) error {
	id, err := pathID(c, "tenant_id", models.ErrTenantNotFound)
	if err != nil {
		return err
	}
	var in service.NewCodes
	if err := decode(c, &in); err != nil {
		return err
	}
	codes, err := s.svc.IssueActivationCodes(c.Request().Context(), id, in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, map[string]any{"codes": codes})
}

func (s *Server) setSubscription(c echo.Context) error {
	id, err := pathID(c, "tenant_id", models.ErrTenantNotFound)
	if err != nil {
		return err
	}
	var in struct {
		Status *models.SubscriptionStatus `json:"status"`
	}
	if err := decode(c, &in); err != nil {
		return err
	}
	if in.Status == nil {
		return models.FieldError("status", "missing_field", "status is required")
	}
	sub, err := s.svc.SetSubscriptionStatus(c.Request().Context(), id, *in.Status, "")
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"tenant_id": id, "status": sub.Status, "updated_at": sub.UpdatedAt})
}

func (s *Server) revokeCode(c echo.Context) error {
	id, err := pathID(c, "code_id", models.ErrCodeNotFound)
	if err != nil {
		return err
	}
	code, err := s.svc.RevokeActivationCode(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, code)
}

func (s *Server) createProject(c echo.Context) error {
	var in service.NewProject
	if err := decode(c, &in); err != nil {
		return err
	}
	p, err := s.svc.CreateProject(c.Request().Context(), tenantID(c), in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, p)
}

func (s *Server) getProject(c echo.Context) error {
	id, err := pathID(c, "project_id", models.ErrProjectNotFound)
	if err != nil {
		return err
	}
	p, err := s.svc.Project(c.Request().Context(), tenantID(c), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, p)
}

func (s *Server) assignCode(c echo.Context) error {
	id, err := pathID(c, "project_id", models.ErrProjectNotFound)
	if err != nil {
		return err
	}
	var in struct {
		Code *string `json:"code"`
	}
	if err := decode(c, &in); err != nil {
		return err
	}
	if in.Code == nil {
		return models.FieldError("code", "missing_field", "code is required")
	}
	p, err := s.svc.AssignActivationCode(c.Request().Context(), tenantID(c), id, *in.Code)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, p)
}

func (s *Server) runProject(c echo.Context) error {
	id, err := pathID(c, "project_id", models.ErrProjectNotFound)
	if err != nil {
		return err
	}
	run, err := s.svc.StartRun(c.Request().Context(), tenantID(c), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, run)
}

func (s *Server) getExecution(c echo.Context) error {
	pid, err := pathID(c, "project_id", models.ErrExecutionNotFound)
	if err != nil {
		return err
	}
	eid, err := pathID(c, "execution_id", models.ErrExecutionNotFound)
	if err != nil {
		return err
	}
	d, err := s.svc.Execution(c.Request().Context(), tenantID(c), pid, eid)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, d)
}
