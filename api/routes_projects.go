package api

import "github.com/labstack/echo/v4"

// projectRoutes: status page, project list/edit/delete, executions list,
// cancel, resume, logs.
func (s *Server) projectRoutes(tenant *echo.Group) {}
