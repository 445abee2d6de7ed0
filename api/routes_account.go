package api

import "github.com/labstack/echo/v4"

// accountRoutes: tenant profile and self-service activation codes.
func (s *Server) accountRoutes(tenant *echo.Group) {}
