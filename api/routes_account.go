package api

import "github.com/labstack/echo/v4"

// accountRoutes: tenant profile and self-service activation codes.
func (s *Server) accountRoutes(tenant *echo.Group) {
	tenant.GET("/profile", s.getProfile, s.requireTenant)
	tenant.PUT("/profile", s.updateProfile, s.requireTenant)
	tenant.POST("/profile/email-change/confirm", s.confirmEmailChange, s.requireTenant)
	tenant.DELETE("/profile/email-change", s.cancelEmailChange, s.requireTenant)
	tenant.GET("/activation-codes", s.listCodes, s.requireTenant)
	tenant.POST("/activation-codes/generate", s.generateCodes, s.requireTenant)
	tenant.POST("/activation-codes/:code_id/revoke", s.revokeTenantCode, s.requireTenant)
}
