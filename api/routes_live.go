package api

import "github.com/labstack/echo/v4"

// liveRoutes: server-sent events, and the client's public endpoints
// (activate-project, events, download).
func (s *Server) liveRoutes(e *echo.Echo, tenant *echo.Group) {
	tenant.GET("/events", s.tenantEvents, s.requireTenant)
	e.GET("/api/public/projects/:project_id/events", s.publicProjectEvents)
	e.POST("/api/public/activate-project", s.activateProject)
	e.GET("/api/public/projects/:project_id/download", s.downloadProject)
	e.HEAD("/api/public/projects/:project_id/download", s.downloadProject)
}
