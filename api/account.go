package api

import (
	"context"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/q2o/q2o/models"
	"github.com/q2o/q2o/service"
)

// accountRoutes: the tenant's profile and self-service activation codes.
func (s *Server) accountRoutes(tenant *echo.Group) {
	auth := s.requireTenant
	mount(tenant, get("/profile", http.StatusOK), s.getProfile, auth)
	mount(tenant, put("/profile", http.StatusOK), s.updateProfile, auth)
	mount(tenant, post("/profile/email-change/confirm", http.StatusOK), s.confirmEmailChange, auth)
	mount(tenant, del("/profile/email-change", http.StatusNoContent), s.cancelEmailChange, auth)
	mount(tenant, get("/activation-codes", http.StatusOK), s.listCodes, auth)
	mount(tenant, post("/activation-codes/generate", http.StatusCreated), s.generateCodes, auth)
	mount(tenant, post("/activation-codes/:code_id/revoke", http.StatusOK), s.revokeTenantCode, auth)
}

// getProfile: GET /api/tenant/profile.
func (s *Server) getProfile(ctx context.Context, _ *none) (*service.Profile, error) {
	return answer(s.svc.Profile(ctx, tenantIn(ctx)))
}

type updateProfileReq struct{ Body service.ProfileUpdate }

func (r *updateProfileReq) body() any { return &r.Body }

// updateProfile: PUT /api/tenant/profile.
func (s *Server) updateProfile(ctx context.Context, req *updateProfileReq) (*service.Profile, error) {
	return answer(s.svc.UpdateProfile(ctx, tenantIn(ctx), req.Body))
}

type confirmEmailChangeReq struct{ Body service.EmailCode }

func (r *confirmEmailChangeReq) body() any { return &r.Body }

// Validate: Errors: missing_field, invalid_code_format (400).
func (r *confirmEmailChangeReq) Validate() error { return r.Body.Validate() }

// confirmEmailChange: POST /api/tenant/profile/email-change/confirm
// {"code"}: the pending email becomes the sign-in email; the profile.
func (s *Server) confirmEmailChange(ctx context.Context, req *confirmEmailChangeReq) (*service.Profile, error) {
	return answer(s.svc.ConfirmEmailChange(ctx, tenantIn(ctx), req.Body))
}

// cancelEmailChange: DELETE /api/tenant/profile/email-change; 204, pending
// or not.
func (s *Server) cancelEmailChange(ctx context.Context, _ *none) (*noContent, error) {
	return nil, s.svc.CancelEmailChange(ctx, tenantIn(ctx))
}

type listCodesReq struct{ Query service.CodeListQuery }

// bind reads ?page&per_page&status. Errors: invalid_page, invalid_per_page
// (400).
func (r *listCodesReq) bind(c echo.Context) (err error) {
	if r.Query.Page, err = positiveParam(c, "page", "invalid_page"); err != nil {
		return err
	}
	if r.Query.PerPage, err = positiveParam(c, "per_page", "invalid_per_page"); err != nil {
		return err
	}
	r.Query.Status = c.QueryParam("status")
	return nil
}

// positiveParam reads a positive integer query parameter; absent is 0 (the
// service's default).
func positiveParam(c echo.Context, name, code string) (int, error) {
	v := c.QueryParam(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, models.FieldError(name, code, "%s must be a whole number, 1 or more", name)
	}
	return n, nil
}

// listCodes: GET /api/tenant/activation-codes?page&per_page&status.
func (s *Server) listCodes(ctx context.Context, req *listCodesReq) (*service.CodePage, error) {
	return answer(s.svc.ActivationCodes(ctx, tenantIn(ctx), req.Query))
}

type generateCodesReq struct{ Body service.CodeRequest }

func (r *generateCodesReq) body() any { return &r.Body }

// generateCodes: POST /api/tenant/activation-codes/generate, up to the
// plan's monthly quota.
func (s *Server) generateCodes(ctx context.Context, req *generateCodesReq) (*service.GeneratedCodes, error) {
	return answer(s.svc.GenerateActivationCodes(ctx, tenantIn(ctx), req.Body))
}

// revokeTenantCode: POST /api/tenant/activation-codes/:code_id/revoke.
func (s *Server) revokeTenantCode(ctx context.Context, req *codePath) (*service.CodeView, error) {
	return answer(s.svc.RevokeTenantActivationCode(ctx, tenantIn(ctx), req.CodeID))
}
