package api

import "github.com/labstack/echo/v4"

// liveRoutes: server-sent events, and the client's public endpoints
// (activate-project, events, download).
func (s *Server) liveRoutes(e *echo.Echo, tenant *echo.Group) {}
