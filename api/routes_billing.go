package api

import "github.com/labstack/echo/v4"

// billingRoutes: the Stripe webhook and the tenant's billing page API.
func (s *Server) billingRoutes(e *echo.Echo, tenant *echo.Group) {}
