package api

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// billingRoutes: the tenant's billing routes that need no Stripe call. The
// Stripe webhook and the routes that call Stripe are added by EnableBilling.
func (s *Server) billingRoutes(e *echo.Echo, tenant *echo.Group) {
	tenant.POST("/projects/resume-all", s.resumeAll, s.requireTenant)
	tenant.GET("/billing", s.billing, s.requireTenant)
}

// billing answers the tenant's billing page.
func (s *Server) billing(c echo.Context) error {
	page, err := s.svc.Billing(c.Request().Context(), tenantID(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, page)
}

// resumeAll runs every paused project of the tenant again, each through the
// gates of RUN; a project they refuse is listed with its error code.
func (s *Server) resumeAll(c echo.Context) error {
	res, err := s.svc.ResumeAll(c.Request().Context(), tenantID(c))
	if err != nil {
		return err
	}
	resumed := 0
	for _, r := range res {
		if r.Error == nil {
			resumed++
		}
	}
	return c.JSON(http.StatusOK, map[string]any{"resumed": resumed, "projects": res})
}
