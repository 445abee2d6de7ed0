package api

import (
	"context"
	"net/http"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/q2o/q2o/models"
	"github.com/q2o/q2o/service"
)

// executionRoutes: one of the tenant's executions by its id alone, for a
// client (q2o-cli) that has only the execution id a RUN answered.
func (s *Server) executionRoutes(tenant *echo.Group) {
	mount(tenant, get("/executions/:execution_id", http.StatusOK), s.getTenantExecution, s.requireTenant)
}

// executionIDPath binds :execution_id; a malformed id is an unknown
// execution.
type executionIDPath struct{ ExecutionID uuid.UUID }

func (r *executionIDPath) bind(c echo.Context) (err error) {
	r.ExecutionID, err = pathID(c, "execution_id", models.ErrExecutionNotFound)
	return err
}

// getTenantExecution: GET /api/tenant/executions/:execution_id answers as
// the project-scoped route; another tenant's execution is a 404.
func (s *Server) getTenantExecution(ctx context.Context, req *executionIDPath) (*service.ExecutionDetail, error) {
	return answer(s.svc.TenantExecution(ctx, tenantIn(ctx), req.ExecutionID))
}
