package api

import (
	"context"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/q2o/q2o/models"
	"github.com/q2o/q2o/service"
)

// adminRoutes: the operator's tenant and code management (the reads and
// the API keys in admin_reads.go), behind the admin token; without one (Config.AdminToken empty) the routes do not exist.
func (s *Server) adminRoutes(e *echo.Echo) {
	if s.cfg.AdminToken == "" {
		return
	}
	admin := e.Group("/api/admin")
	mount(admin, post("/tenants", http.StatusCreated), s.createTenant, s.requireAdmin)
	mount(admin, post("/tenants/:tenant_id/activation-codes", http.StatusCreated), s.issueCodes, s.requireAdmin)
	mount(admin, put("/tenants/:tenant_id/subscription", http.StatusOK), s.setSubscription, s.requireAdmin)
	mount(admin, post("/activation-codes/:code_id/revoke", http.StatusOK), s.revokeCode, s.requireAdmin)
	s.adminReadRoutes(admin)
}

type createTenantReq struct{ Body service.NewTenant }

func (r *createTenantReq) body() any { return &r.Body }

// createTenant: POST /api/admin/tenants.
func (s *Server) createTenant(ctx context.Context, req *createTenantReq) (*service.CreatedTenant, error) {
	return answer(s.svc.CreateTenant(ctx, req.Body))
}

type issueCodesReq struct {
	tenantPath
	Body service.NewCodes
}

func (r *issueCodesReq) body() any { return &r.Body }

type issuedCodes struct {
	Codes []service.IssuedCode `json:"codes"`
}

// issueCodes: POST /api/admin/tenants/:tenant_id/activation-codes answers
// {"codes"}, each with its code in clear, this once.
func (s *Server) issueCodes(ctx context.Context, req *issueCodesReq) (*issuedCodes, error) {
	codes, err := s.svc.IssueActivationCodes(ctx, req.TenantID, req.Body)
	if err != nil {
		return nil, err
	}
	return &issuedCodes{Codes: codes}, nil
}

type setSubscriptionReq struct {
	tenantPath
	Body struct {
		Status *models.SubscriptionStatus `json:"status"`
	}
}

func (r *setSubscriptionReq) body() any { return &r.Body }

// Validate: Errors: missing_field (400). The service checks the status.
func (r *setSubscriptionReq) Validate() error {
	if r.Body.Status == nil {
		return models.FieldError("status", "missing_field", "status is required")
	}
	return nil
}

// subscriptionSet is the answer of setSubscription (fields in the order
// they have always been written).
type subscriptionSet struct {
	Status    models.SubscriptionStatus `json:"status"`
	TenantID  uuid.UUID                 `json:"tenant_id"`
	UpdatedAt time.Time                 `json:"updated_at"`
}

// setSubscription: PUT /api/admin/tenants/:tenant_id/subscription
// {"status"}.
func (s *Server) setSubscription(ctx context.Context, req *setSubscriptionReq) (*subscriptionSet, error) {
	sub, err := s.svc.SetSubscriptionStatus(ctx, req.TenantID, *req.Body.Status, "")
	if err != nil {
		return nil, err
	}
	return &subscriptionSet{Status: sub.Status, TenantID: req.TenantID, UpdatedAt: sub.UpdatedAt}, nil
}

// revokeCode: POST /api/admin/activation-codes/:code_id/revoke.
func (s *Server) revokeCode(ctx context.Context, req *codePath) (*models.ActivationCode, error) {
	return answer(s.svc.RevokeActivationCode(ctx, req.CodeID))
}
