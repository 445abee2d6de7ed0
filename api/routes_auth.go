package api

import "github.com/labstack/echo/v4"

// authRoutes: OTP sign-in and logout.
func (s *Server) authRoutes(e *echo.Echo) {}
