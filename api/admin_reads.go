package api

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/q2o/q2o/models"
	"github.com/q2o/q2o/service"
)

// adminReadRoutes: the operator's view of tenants, their codes and API
// keys, and the executions of every tenant.
func (s *Server) adminReadRoutes(admin *echo.Group) {
	auth := s.requireAdmin
	mount(admin, get("/tenants", http.StatusOK), s.listTenants, auth)
	mount(admin, get("/tenants/:tenant_id", http.StatusOK), s.getTenant, auth)
	mount(admin, get("/tenants/:tenant_id/activation-codes", http.StatusOK), s.listTenantCodes, auth)
	mount(admin, post("/tenants/:tenant_id/api-keys", http.StatusCreated).withNoStore(), s.createAPIKey, auth)
	mount(admin, get("/tenants/:tenant_id/api-keys", http.StatusOK), s.listAPIKeys, auth)
	mount(admin, post("/tenants/:tenant_id/api-keys/:key_id/revoke", http.StatusOK), s.revokeAPIKey, auth)
	mount(admin, get("/executions", http.StatusOK), s.listAllExecutions, auth)
	mount(admin, get("/executions/:execution_id", http.StatusOK), s.getAnyExecution, auth)
}

type listTenantsReq struct{ Query service.TenantQuery }

// bind reads ?page&per_page&q. Errors: invalid_page, invalid_per_page (400).
func (r *listTenantsReq) bind(c echo.Context) (err error) {
	if r.Query.Page, err = positiveParam(c, "page", "invalid_page"); err != nil {
		return err
	}
	if r.Query.PerPage, err = positiveParam(c, "per_page", "invalid_per_page"); err != nil {
		return err
	}
	r.Query.Q = c.QueryParam("q")
	return nil
}

// listTenants: GET /api/admin/tenants?page&per_page&q.
func (s *Server) listTenants(ctx context.Context, req *listTenantsReq) (*service.Page[service.TenantSummary], error) {
	return answer(s.svc.AdminTenants(ctx, req.Query))
}

// getTenant: GET /api/admin/tenants/:tenant_id.
func (s *Server) getTenant(ctx context.Context, req *tenantPath) (*service.TenantSummary, error) {
	return answer(s.svc.AdminTenant(ctx, req.TenantID))
}

type listTenantCodesReq struct {
	tenantPath
	listCodesReq
}

func (r *listTenantCodesReq) bind(c echo.Context) error {
	if err := r.tenantPath.bind(c); err != nil {
		return err
	}
	return r.listCodesReq.bind(c)
}

// listTenantCodes: GET /api/admin/tenants/:tenant_id/activation-codes
// ?page&per_page&status, masked as the tenant's own list.
func (s *Server) listTenantCodes(ctx context.Context, req *listTenantCodesReq) (*service.CodePage, error) {
	return answer(s.svc.AdminTenantCodes(ctx, req.TenantID, req.Query))
}

type createAPIKeyReq struct {
	tenantPath
	Body struct {
		Name string `json:"name"`
	}
}

func (r *createAPIKeyReq) body() any { return &r.Body }

// createAPIKey: POST /api/admin/tenants/:tenant_id/api-keys {"name"}
// answers the key with its plaintext, this once, never cached.
func (s *Server) createAPIKey(ctx context.Context, req *createAPIKeyReq) (*service.CreatedAPIKey, error) {
	return answer(s.svc.CreateAPIKey(ctx, req.TenantID, req.Body.Name))
}

type apiKeyList struct {
	Items []service.APIKeyView `json:"items"`
}

// listAPIKeys: GET /api/admin/tenants/:tenant_id/api-keys, revoked ones
// too, newest first.
func (s *Server) listAPIKeys(ctx context.Context, req *tenantPath) (*apiKeyList, error) {
	keys, err := s.svc.APIKeys(ctx, req.TenantID)
	if err != nil {
		return nil, err
	}
	return &apiKeyList{Items: keys}, nil
}

type apiKeyPath struct {
	tenantPath
	KeyID uuid.UUID
}

func (r *apiKeyPath) bind(c echo.Context) (err error) {
	if err = r.tenantPath.bind(c); err != nil {
		return err
	}
	r.KeyID, err = pathID(c, "key_id", service.ErrAPIKeyNotFound)
	return err
}

// revokeAPIKey: POST /api/admin/tenants/:tenant_id/api-keys/:key_id/revoke.
func (s *Server) revokeAPIKey(ctx context.Context, req *apiKeyPath) (*service.APIKeyView, error) {
	return answer(s.svc.RevokeAPIKey(ctx, req.TenantID, req.KeyID))
}

type listAllExecutionsReq struct{ Query service.ExecutionQuery }

// bind reads ?page&per_page&status&tenant_id&from&to.
// Errors: invalid_page, invalid_per_page, invalid_tenant_id, invalid_time
// (400).
func (r *listAllExecutionsReq) bind(c echo.Context) (err error) {
	q := &r.Query
	if q.Page, err = positiveParam(c, "page", "invalid_page"); err != nil {
		return err
	}
	if q.PerPage, err = positiveParam(c, "per_page", "invalid_per_page"); err != nil {
		return err
	}
	q.Status = c.QueryParam("status")
	if v := c.QueryParam("tenant_id"); v != "" {
		id, err := uuid.Parse(v)
		if err != nil {
			return models.FieldError("tenant_id", "invalid_tenant_id", "tenant_id must be a tenant's id (a UUID)")
		}
		q.TenantID = &id
	}
	if q.From, err = timeParam(c, "from"); err != nil {
		return err
	}
	q.To, err = timeParam(c, "to")
	return err
}

// timeParam reads an RFC 3339 time query parameter; absent is nil.
func timeParam(c echo.Context, name string) (*time.Time, error) {
	v := c.QueryParam(name)
	if v == "" {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return nil, models.FieldError(name, "invalid_time", "%s must be an RFC 3339 time, such as 2026-12-31T23:59:59Z", name)
	}
	return &t, nil
}

// listAllExecutions: GET /api/admin/executions
// ?page&per_page&status&tenant_id&from&to, every tenant's, newest first.
func (s *Server) listAllExecutions(ctx context.Context, req *listAllExecutionsReq) (*service.Page[service.AdminExecution], error) {
	return answer(s.svc.AdminExecutions(ctx, req.Query))
}

type anyExecutionReq struct {
	executionIDPath
	Tail int
}

// bind reads :execution_id and ?tail. Errors: invalid_tail (400),
// execution_not_found (404).
func (r *anyExecutionReq) bind(c echo.Context) (err error) {
	if err = r.executionIDPath.bind(c); err != nil {
		return err
	}
	r.Tail = service.DefaultLogTail
	if v := c.QueryParam("tail"); v != "" {
		if r.Tail, err = strconv.Atoi(v); err != nil {
			return models.FieldError("tail", "invalid_tail", "tail must be a whole number from 0 to %d", service.MaxAdminLogTail)
		}
	}
	return nil
}

// getAnyExecution: GET /api/admin/executions/:execution_id?tail, any
// tenant's, with its events and the last tail lines of its log.
func (s *Server) getAnyExecution(ctx context.Context, req *anyExecutionReq) (*service.AdminExecutionDetail, error) {
	return answer(s.svc.AdminExecution(ctx, req.ExecutionID, req.Tail))
}
